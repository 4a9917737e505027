//! One clock for deadlines (issue 12 item 6): each replica measures how far its clock is from
//! the store's (Redis `TIME`; the in-process store has none, so its offset is 0), at start and
//! then periodically. Past the bound the replica claims no deadline (its poller pauses: a fast
//! clock would settle battles early, a clock minutes fast every running battle at once) and
//! reports itself unhealthy (the server turns gRPC health NOT_SERVING), with the reason in the
//! log and the `livepk_clock_offset_seconds` / `livepk_clock_skew_exceeded` metrics; back within the
//! bound, it claims and serves again.
//!
//! The offset is measured against the midpoint of the round trip, and a replica is judged
//! outside the bound only when it is certainly outside: `|offset| - round_trip / 2 > bound`.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use livepk_core::Clock;
use livepk_store::{Store, StoreResult};
use prometheus::{Gauge, IntGauge};
use tokio::sync::watch;

use crate::metrics::METRICS;

/// Tunables of the check.
#[derive(Debug, Clone)]
pub struct ClockCheckOptions {
    /// Largest offset from the store's clock at which deadlines are still claimed; `None`
    /// switches the check off (every replica is taken as within the bound).
    pub max_skew: Option<Duration>,
    /// How often the offset is measured.
    pub interval: Duration,
}

impl Default for ClockCheckOptions {
    fn default() -> Self {
        Self { max_skew: None, interval: Duration::from_secs(10) }
    }
}

/// What the last measurement found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockState {
    /// This replica's clock minus the store's (ms; positive: this replica is fast); `None`
    /// before the first measurement.
    pub offset_ms: Option<i64>,
    /// Whether deadlines may be claimed (within the bound, or the check is off, or nothing was
    /// measured yet).
    pub within_bound: bool,
}

/// The offset of this replica's clock, in seconds (Prometheus' base unit; millisecond
/// resolution).
static OFFSET_GAUGE: LazyLock<Gauge> = LazyLock::new(|| {
    let gauge =
        Gauge::new("clock_offset_seconds", "This replica's clock minus the store's (seconds).")
            .expect("valid metric");
    METRICS.register(Box::new(gauge.clone()));
    gauge
});

/// 1 while the offset is past the bound (deadlines not claimed, health NOT_SERVING).
static EXCEEDED_GAUGE: LazyLock<IntGauge> = LazyLock::new(|| {
    let gauge = IntGauge::new(
        "clock_skew_exceeded",
        "1 while this replica's clock is off by more than the bound: it claims no deadline.",
    )
    .expect("valid metric");
    METRICS.register(Box::new(gauge.clone()));
    gauge
});

/// Measures the offset and holds the verdict the poller and the health reporter read.
pub struct ClockCheck {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    options: ClockCheckOptions,
    state: watch::Sender<ClockState>,
}

impl ClockCheck {
    /// A check of `clock` against `store`'s, nothing measured yet (within the bound).
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, options: ClockCheckOptions) -> Self {
        let (state, _) = watch::channel(ClockState { offset_ms: None, within_bound: true });
        Self { store, clock, options, state }
    }

    /// The last verdict.
    pub fn state(&self) -> ClockState {
        *self.state.borrow()
    }

    /// Whether deadlines may be claimed now.
    pub fn within_bound(&self) -> bool {
        self.state.borrow().within_bound
    }

    /// Every change of the verdict.
    pub fn watch(&self) -> watch::Receiver<ClockState> {
        self.state.subscribe()
    }

    /// Measures once and updates the verdict (a failed measurement leaves it as it was: the
    /// store's own health check reports an unreachable store).
    pub async fn measure(&self) -> StoreResult<ClockState> {
        let Some(bound) = self.options.max_skew else { return Ok(self.state()) };
        let before = self.clock.now_ms();
        let reference = self.store.server_time().await?;
        let after = self.clock.now_ms();
        let (offset_ms, uncertainty_ms) = match reference {
            None => (0, 0),
            Some(reference) => {
                let round_trip = after.saturating_sub(before);
                let local = before + round_trip / 2;
                (local as i64 - reference as i64, (round_trip / 2) as i64)
            }
        };
        let bound_ms = bound.as_millis() as i64;
        let within_bound = offset_ms.abs() - uncertainty_ms <= bound_ms;
        let previous = self.state();
        let state = ClockState { offset_ms: Some(offset_ms), within_bound };
        OFFSET_GAUGE.set(offset_ms as f64 / 1000.0);
        EXCEEDED_GAUGE.set(i64::from(!within_bound));
        if previous.within_bound && !within_bound {
            tracing::error!(
                offset_ms,
                bound_ms,
                "this replica's clock is off the store's by more than the bound \
                 (LIVEPK_MAX_CLOCK_SKEW_MS): claiming no deadlines, health NOT_SERVING; fix the \
                 host's time sync"
            );
        } else if !previous.within_bound && within_bound {
            tracing::info!(offset_ms, bound_ms, "clock back within the bound: claiming deadlines");
        }
        self.state.send_replace(state);
        Ok(state)
    }

    /// Measures every interval until `stop` (the first measurement at once).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        if self.options.max_skew.is_none() {
            return;
        }
        loop {
            if let Err(error) = self.measure().await {
                tracing::warn!(%error, "clock check: cannot read the store's clock");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.options.interval) => {}
                _ = crate::stopped(&mut stop) => return,
            }
        }
    }
}
