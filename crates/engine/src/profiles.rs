//! Senders' display profiles, kept beside a battle's boards so that a board can be shown with
//! names and avatars without asking the gateway: each counted gift writes its sender's profile
//! (the latest one wins) in the same script as the score.

use std::collections::HashMap;

use livepk_core::{SenderProfile, UserId};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{EngineError, EngineResult};

/// A sender's display profile (seed 000 §B.2), as stored with each counted gift.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GifterProfile {
    /// Nickname.
    pub nick: String,
    /// Avatar URL.
    pub icon: String,
    /// Level.
    pub level: u32,
    /// Wealth level.
    pub wealth: u32,
}

impl GifterProfile {
    /// The profile of a gift's sender.
    pub fn of(sender: &SenderProfile) -> Self {
        Self {
            nick: sender.user_nick.clone(),
            icon: sender.user_icon.clone(),
            level: sender.user_level,
            wealth: sender.user_wealth,
        }
    }

    /// The [`crate::Credit::fields`] entry that stores `sender`'s profile in hash `hash` of the
    /// battle's tag when the gift counts.
    pub fn credit_field(hash: &str, sender: &SenderProfile) -> (String, String, String) {
        // Serializing this plain struct to JSON cannot fail.
        let json = serde_json::to_string(&Self::of(sender)).unwrap_or_default();
        (hash.to_owned(), sender.user_id.to_string(), json)
    }
}

impl Engine {
    /// The stored profiles of `users` in hash `hash` under `tag` (one read; each user once;
    /// users without a stored profile are left out).
    pub async fn gifter_profiles(
        &self,
        tag: &str,
        hash: &str,
        users: &[UserId],
    ) -> EngineResult<HashMap<UserId, GifterProfile>> {
        let mut unique = users.to_vec();
        unique.sort_unstable();
        unique.dedup();
        if unique.is_empty() {
            return Ok(HashMap::new());
        }
        let fields: Vec<String> = unique.iter().map(UserId::to_string).collect();
        let values = self.store.hash_get_fields(tag, hash, &fields).await?;
        let mut profiles = HashMap::with_capacity(unique.len());
        for (user, value) in unique.into_iter().zip(values) {
            if let Some(value) = value {
                let profile = serde_json::from_str(&value).map_err(|error| {
                    EngineError::corrupt(format!("gifter profile of {user}: {error}"))
                })?;
                profiles.insert(user, profile);
            }
        }
        Ok(profiles)
    }
}
