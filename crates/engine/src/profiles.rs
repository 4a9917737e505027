//! Senders' display profiles, kept beside a battle's boards so that a board can be shown with
//! names and avatars without asking the gateway: each counted gift writes its sender's profile
//! (the latest one wins) in the same script as the score.
//!
//! One profile is kept per gifter of every battle, so its stored form is the JSON array
//! `[nick, icon, level, wealth]` (issue 15, memory per gifter): the object form with field
//! names was 31 bytes longer per gifter. Both forms are read (serde's derived `Deserialize`
//! takes a struct as a sequence too), so profiles written by an older release, and an older
//! release reading these, decode the same.

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
        (hash.to_owned(), sender.user_id.to_string(), Self::of(sender).stored())
    }

    /// The stored form: `[nick, icon, level, wealth]` (see the module's docs).
    fn stored(&self) -> String {
        // Serializing strings and integers to JSON cannot fail.
        serde_json::to_string(&(&self.nick, &self.icon, self.level, self.wealth))
            .unwrap_or_default()
    }

    /// Reads a stored profile, in either form.
    fn from_stored(stored: &str) -> serde_json::Result<Self> {
        serde_json::from_str(stored)
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
                let profile = GifterProfile::from_stored(&value).map_err(|error| {
                    EngineError::corrupt(format!("gifter profile of {user}: {error}"))
                })?;
                profiles.insert(user, profile);
            }
        }
        Ok(profiles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> SenderProfile {
        SenderProfile {
            user_id: UserId::from_trusted(100_123),
            user_nick: "user-100123 \"quoted\" 名".into(),
            user_icon: "https://img.example/u100123.png".into(),
            user_level: 4,
            user_wealth: 3,
        }
    }

    #[test]
    fn a_profile_is_stored_as_an_array_and_read_back() {
        let (hash, field, stored) = GifterProfile::credit_field("users", &sender());
        assert_eq!((hash.as_str(), field.as_str()), ("users", "100123"));
        assert_eq!(
            stored,
            r#"["user-100123 \"quoted\" 名","https://img.example/u100123.png",4,3]"#
        );
        assert_eq!(GifterProfile::from_stored(&stored).unwrap(), GifterProfile::of(&sender()));
    }

    #[test]
    fn a_profile_stored_by_an_older_release_as_an_object_is_read_too() {
        let older = serde_json::to_string(&GifterProfile::of(&sender())).unwrap();
        assert!(older.starts_with(r#"{"nick":"#), "{older}");
        assert_eq!(GifterProfile::from_stored(&older).unwrap(), GifterProfile::of(&sender()));
        let stored = GifterProfile::of(&sender()).stored();
        assert!(older.len() - stored.len() >= 30, "{} vs {}", older.len(), stored.len());
    }

    #[test]
    fn a_stored_profile_that_is_neither_form_is_an_error() {
        for bad in ["", "[]", r#"["nick","icon",1]"#, r#"["nick","icon","1",2]"#, "x"] {
            assert!(GifterProfile::from_stored(bad).is_err(), "{bad}");
        }
    }
}
