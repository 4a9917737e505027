//! The configuration values the state machine reads. The adapter resolves them (file,
//! environment, the 60 s cached SQL config table of seed §B.0) and passes a plain copy in.

use serde::{Deserialize, Serialize};

use crate::model::MS_PER_SECOND;

/// LinkCallPk settings (`linkcall.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCallConfig {
    /// `linkcall.min_star`: the lowest star level that may open the function (seed §1.1).
    pub min_star: u32,
    /// `linkcall.whitelist_enabled`: when set, only whitelisted anchors may open the function
    /// (seed 004 §三.3.1).
    pub whitelist_enabled: bool,
    /// `linkcall.page_size`: rows per page of the online and applicant lists (seed: 10).
    pub page_size: u32,
    /// `linkcall.popup_seconds`: how long an invitation waits for an answer (seed 004: 15 s).
    pub popup_seconds: u64,
    /// `linkcall.pk_seconds`: scoring phase length (seed 004: 6 min).
    pub pk_seconds: u64,
    /// `linkcall.punish_seconds`: punishment phase length (seed 004: 2 min). 0 skips the phase.
    pub punish_seconds: u64,
    /// `linkcall.addtime_seconds`: how much scoring time one AddTime adds. The seeds give no
    /// number; the default is this crate's choice.
    pub addtime_seconds: u64,
}

impl Default for LinkCallConfig {
    fn default() -> Self {
        Self {
            min_star: 0,
            whitelist_enabled: false,
            page_size: 10,
            popup_seconds: 15,
            pk_seconds: 360,
            punish_seconds: 120,
            addtime_seconds: 60,
        }
    }
}

impl LinkCallConfig {
    pub(crate) fn popup_ms(&self) -> u64 {
        self.popup_seconds.saturating_mul(MS_PER_SECOND)
    }

    pub(crate) fn pk_ms(&self) -> u64 {
        self.pk_seconds.saturating_mul(MS_PER_SECOND)
    }

    pub(crate) fn punish_ms(&self) -> u64 {
        self.punish_seconds.saturating_mul(MS_PER_SECOND)
    }

    pub(crate) fn addtime_ms(&self) -> u64 {
        self.addtime_seconds.saturating_mul(MS_PER_SECOND)
    }

    /// The page size, never 0 (a zero would make every page empty and the window arithmetic
    /// meaningless).
    pub fn rows_per_page(&self) -> u32 {
        self.page_size.max(1)
    }
}

/// What OpenFunction's gate needs to know about the anchor, looked up by the adapter (the star
/// level from the profile cache of seed §B.1, the whitelist from the admin table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenGate {
    /// `singer_star`.
    pub singer_star: u32,
    /// Whether the anchor is on the whitelist (only consulted when the whitelist is enabled).
    pub singer_whitelisted: bool,
}
