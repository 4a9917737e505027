//! An invitation that lapses by itself: LinkCallPk's 15 s popup (seed 004), AcrossPk's 60 s
//! challenge (seed 002), a show invitation (seed 003). The party invited holds it until it
//! answers or it lapses; past its expiry it counts as gone even if its expiry job has not run
//! yet, so a late timer never keeps anyone blocked.

use serde::{Deserialize, Serialize};

use crate::MS_PER_SECOND;

/// An invitation from `from` to `to` (anchor ids, room ids, user ids: the mode's parties).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Invitation<P> {
    /// Who invited (LinkCallPk: the host).
    pub from: P,
    /// Who is invited (LinkCallPk: the guest).
    pub to: P,
    /// When it was sent (`popup_time`).
    pub sent_at_ms: u64,
    /// When it lapses unanswered.
    pub expires_at_ms: u64,
}

impl<P: Copy> Invitation<P> {
    /// An invitation sent at `now_ms` that lapses `lifetime_ms` later.
    pub fn new(from: P, to: P, now_ms: u64, lifetime_ms: u64) -> Self {
        Self { from, to, sent_at_ms: now_ms, expires_at_ms: now_ms.saturating_add(lifetime_ms) }
    }

    /// Whether it still waits for an answer at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.expires_at_ms
    }

    /// Whole seconds it still has at `now_ms`, rounded up (0 once lapsed), so a reconnecting
    /// client can resume its countdown.
    pub fn live_secs(&self, now_ms: u64) -> u64 {
        self.expires_at_ms.saturating_sub(now_ms).div_ceil(MS_PER_SECOND)
    }

    /// When it was sent, in seconds.
    pub fn sent_at_secs(&self) -> u64 {
        self.sent_at_ms / MS_PER_SECOND
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_lapses_at_its_expiry() {
        let invitation = Invitation::new(1u64, 2u64, 10_000, 15_000);
        assert!(invitation.is_live(24_999));
        assert!(!invitation.is_live(25_000));
        assert_eq!(invitation.live_secs(10_001), 15);
        assert_eq!(invitation.live_secs(24_001), 1);
        assert_eq!(invitation.live_secs(30_000), 0);
        assert_eq!(invitation.sent_at_secs(), 10);
    }
}
