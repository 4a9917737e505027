//! Prometheus metrics: what an on-call engineer looks at first. The server serves them as text
//! at `/metrics`.

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// All metrics of the process.
pub struct Metrics {
    registry: Registry,
    /// Finished RPCs by method and gRPC status code.
    pub rpc_requests: IntCounterVec,
    /// RPC latency by method.
    pub rpc_seconds: HistogramVec,
    /// Gifts by outcome: applied (counted in at least one PK), duplicate, unscored (no PK
    /// counted it), invalid.
    pub gifts: IntCounterVec,
    /// How late a deadline fired, from its due time to its handler start.
    pub timer_lag_seconds: HistogramVec,
    /// Delay-queue jobs handled, by topic and outcome (done, failed, unknown_topic,
    /// dead_lettered: given up after `timers::MAX_JOB_ATTEMPTS` deliveries).
    pub timer_jobs: IntCounterVec,
    /// Dead-lettered delay-queue jobs kept (`Admin.ListDeadJobs`), as last seen by this
    /// replica (set when it buries one, and when it starts).
    pub timer_dead_jobs: IntGauge,
    /// Events appended to the stream, by mode and type.
    pub events_appended: IntCounterVec,
    /// Open `Events.Subscribe` streams.
    pub event_subscribers: IntGauge,
    /// 1 while the store answers pings.
    pub store_up: IntGauge,
    /// Requests refused because the server was at its concurrency limit.
    pub shed_requests: IntCounterVec,
    /// 1 while SQL answers pings (records and configuration wait for it when 0).
    pub sql_up: IntGauge,
    /// Outbox relays that failed, by stage (commit: right after a change; sweep: the retry).
    pub relay_failures: IntCounterVec,
    /// Outboxes still holding events after the last sweep: notifications committed but not
    /// yet in the stream (the relay backlog).
    pub relay_backlog_outboxes: IntGauge,
}

/// The process-wide metrics (Prometheus collectors are global by nature).
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new_custom(Some("livepk".into()), None)
            .expect("a static prefix is a valid registry");
        // Registration only fails on duplicate names or invalid label names, both fixed at
        // compile time below, so `expect` cannot fire.
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(metric.clone())).expect("unique metric");
            metric
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let metric = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
                .expect("valid metric");
            registry.register(Box::new(metric.clone())).expect("unique metric");
            metric
        };
        let gauge = |name: &str, help: &str| {
            let metric = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(metric.clone())).expect("unique metric");
            metric
        };
        let latency =
            vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
        Self {
            rpc_requests: counter("rpc_requests_total", "Finished RPCs.", &["method", "code"]),
            rpc_seconds: histogram("rpc_duration_seconds", "RPC latency.", &["method"], latency),
            gifts: counter("gifts_total", "Recorded gifts by outcome.", &["outcome"]),
            timer_lag_seconds: histogram(
                "timer_lag_seconds",
                "Delay from a deadline's due time to its handler start.",
                &["topic"],
                vec![0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0, 30.0],
            ),
            timer_jobs: counter(
                "timer_jobs_total",
                "Delay-queue jobs handled.",
                &["topic", "outcome"],
            ),
            timer_dead_jobs: gauge(
                "timer_dead_jobs",
                "Dead-lettered delay-queue jobs kept (Admin.ListDeadJobs).",
            ),
            events_appended: counter(
                "events_appended_total",
                "Events appended.",
                &["mode", "type"],
            ),
            event_subscribers: gauge("event_subscribers", "Open Events.Subscribe streams."),
            store_up: gauge("store_up", "1 while the store answers pings."),
            shed_requests: counter(
                "shed_requests_total",
                "Requests refused at the limit.",
                &["method"],
            ),
            sql_up: gauge("sql_up", "1 while SQL answers pings."),
            relay_failures: counter(
                "relay_failures_total",
                "Outbox relays that failed.",
                &["stage"],
            ),
            relay_backlog_outboxes: gauge(
                "relay_backlog_outboxes",
                "Outboxes still holding events after the last sweep.",
            ),
            registry,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// Adds a collector a module keeps itself (e.g. the clock check's gauges). A name already
    /// registered is logged and left out.
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        if let Err(error) = self.registry.register(collector) {
            tracing::error!(%error, "metric not registered");
        }
    }
}
