//! Logs and traces: the process's `tracing` subscriber, W3C trace context from the gateway, and
//! the OpenTelemetry (OTLP) export of spans.
//!
//! * Every gRPC call runs in a `grpc request` span ([`request_span`], installed with tonic's
//!   `trace_fn`). When the call's metadata carries a W3C `traceparent`, the span continues that
//!   trace: it is the child of the gateway's span, and its `trace_id` field is the gateway's
//!   trace id, so every log line written during the call (JSON logs list the span's fields)
//!   names the trace.
//! * With `LIVEPK_OTLP_ENDPOINT` set (e.g. `http://otel-collector:4317`, OTLP over gRPC), spans
//!   are exported in batches to that collector with the service name `livepk` (or
//!   `OTEL_SERVICE_NAME`); the standard `OTEL_BSP_*` variables tune the batches. Unset, nothing
//!   is exported and the trace id still comes from the `traceparent`.
//! * Health checks and reflection get no span (a probe every few seconds is not a trace).

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// The variable naming the OTLP/gRPC collector spans are exported to; unset exports nothing.
pub const OTLP_ENDPOINT_VARIABLE: &str = "LIVEPK_OTLP_ENDPOINT";

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built (a malformed endpoint).
    #[error("{OTLP_ENDPOINT_VARIABLE}: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global subscriber was already installed.
    #[error("logging already initialised: {0}")]
    AlreadyInitialised(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps the exporter alive; [`Telemetry::shutdown`] flushes the spans not yet sent.
#[must_use = "dropping it without shutdown loses the last batch of spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "flushing the last spans failed");
        }
    }
}

/// Installs the process's subscriber: `RUST_LOG` filtering (default `info`), text or JSON logs
/// on stdout, and the OpenTelemetry layer when `LIVEPK_OTLP_ENDPOINT` is set. Call it inside
/// the Tokio runtime (the exporter's connection runs on it).
pub fn init(log_format: LogFormat) -> Result<Telemetry, TelemetryError> {
    let endpoint = std::env::var(OTLP_ENDPOINT_VARIABLE).ok().filter(|value| !value.is_empty());
    init_with(log_format, endpoint.as_deref())
}

/// [`init`] with the collector given (`None`: no export).
pub fn init_with(
    log_format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> Result<Telemetry, TelemetryError> {
    // W3C trace context is what the gateways send (`traceparent`, `tracestate`).
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs: Box<dyn Layer<Layered<EnvFilter, Registry>> + Send + Sync> = match log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
    };
    let provider = match otlp_endpoint {
        Some(endpoint) => {
            use opentelemetry_otlp::WithExportConfig;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()?;
            let service_name =
                std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "livepk".to_owned());
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(
                        opentelemetry_sdk::Resource::builder()
                            .with_service_name(service_name)
                            .build(),
                    )
                    .build(),
            )
        }
        None => None,
    };
    let traces = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("livepk")));
    tracing_subscriber::registry().with(filter).with(logs).with(traces).try_init()?;
    if let Some(endpoint) = otlp_endpoint {
        tracing::info!(endpoint, "exporting spans over OTLP");
    }
    Ok(Telemetry { provider })
}

/// Reads W3C trace context from gRPC request metadata (HTTP/2 headers).
struct MetadataExtractor<'a>(&'a http::HeaderMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The trace id a `traceparent` in `headers` names, if it is a valid one.
pub fn remote_trace_id(headers: &http::HeaderMap) -> Option<TraceId> {
    let context = TraceContextPropagator::new().extract(&MetadataExtractor(headers));
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id())
}

/// The span of one gRPC call (tonic's `trace_fn`): named after the method, the child of the
/// caller's span when the call carries a valid `traceparent`, with the trace id in its
/// `trace_id` field (the caller's, or the new trace's when spans are exported).
pub fn request_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    if path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
        return tracing::Span::none();
    }
    let method = path.trim_start_matches('/');
    let span = tracing::info_span!(
        "grpc request",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = method,
        trace_id = tracing::field::Empty,
    );
    let context = TraceContextPropagator::new().extract(&MetadataExtractor(request.headers()));
    let remote = context.span().span_context().clone();
    if remote.is_valid() {
        let _ = span.set_parent(context);
    }
    // With the OpenTelemetry layer the span has its own context (the caller's trace, or a new
    // one); without it, the caller's trace id is all there is.
    let own = span.context().span().span_context().trace_id();
    let trace_id = if own != TraceId::INVALID { own } else { remote.trace_id() };
    if trace_id != TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(traceparent: Option<&str>) -> http::Request<()> {
        let mut builder = http::Request::builder().uri("/pk.gift.v1.Gifts/RecordGift");
        if let Some(value) = traceparent {
            builder = builder.header("traceparent", value);
        }
        builder.body(()).expect("a valid request")
    }

    #[test]
    fn a_valid_traceparent_names_the_trace() {
        let request = request(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert_eq!(
            remote_trace_id(request.headers()).map(|id| id.to_string()),
            Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned())
        );
    }

    #[test]
    fn a_missing_or_malformed_traceparent_names_none() {
        assert_eq!(remote_trace_id(request(None).headers()), None);
        let zero = request(Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
        assert_eq!(remote_trace_id(zero.headers()), None);
        assert_eq!(remote_trace_id(request(Some("garbage")).headers()), None);
    }
}
