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

/// The engine's own keys.
pub static ENGINE_KEYS: [&ConfigSpec; 2] = [&SCORE_VALUE_PER_POINT, &EVENTS_SCORE_COALESCE_MS];
