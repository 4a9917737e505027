//! The hot configuration keys of the engine itself (every mode's keys are declared by the mode).

use livepk_core::ConfigSpec;

/// Gift value (smallest coin unit) per score point (seed 004: 0.1 鹅肝 = 1 point).
pub static SCORE_VALUE_PER_POINT: ConfigSpec = ConfigSpec {
    name: "score.value_per_point",
    default: 1,
    min: 1,
    max: 1_000_000,
    description: "gift value (smallest coin unit) per score point",
};

/// Coalescing window for score-change notifications per battle side, in milliseconds; 0
/// disables coalescing. State changes are never coalesced.
pub static EVENTS_SCORE_COALESCE_MS: ConfigSpec = ConfigSpec {
    name: "events.score_coalesce_ms",
    default: 500,
    min: 0,
    max: 60_000,
    description: "milliseconds to coalesce score notifications per pk; 0 disables",
};

/// How long after a scoring deadline the deadline's settle waits, in milliseconds: a gift sent
/// before the deadline and confirmed (recorded) a moment after it still counts, because the
/// battle's scoring window — which ends at the deadline, by the gift's own send time — stays
/// open until the settle. Read when the deadline is scheduled, so a change never moves a running
/// PK's settle. An explicit settle by a party (LinkCallPk's Count) or a close does not wait.
/// GiftPk keeps its own `giftpk.settle_grace_ms`.
pub static SCORE_GRACE_MS: ConfigSpec = ConfigSpec {
    name: "score.grace_ms",
    default: 3_000,
    min: 0,
    max: 60_000,
    description: "milliseconds a scoring deadline's settle waits for gifts sent before it",
};

/// The engine's own keys.
pub static ENGINE_KEYS: [&ConfigSpec; 3] =
    [&SCORE_VALUE_PER_POINT, &EVENTS_SCORE_COALESCE_MS, &SCORE_GRACE_MS];
