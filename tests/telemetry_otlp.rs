//! Trace propagation end to end: the real `livepk` binary with `LIVEPK_OTLP_ENDPOINT` pointing
//! at an OTLP/gRPC collector running in this test (a tonic server implementing the
//! opentelemetry-proto `TraceService`). A gateway call carrying a W3C `traceparent` must come
//! back as an exported server span of the gateway's trace, the child of the gateway's span, and
//! the server's own spans inside the call (SQL's `set_config`) its children, and the JSON log
//! line written during the call must name the same trace id.

mod support;

use std::sync::{Arc, Mutex};

use livepk::pb::admin::SetConfigRequest;
use livepk::pb::admin::admin_client::AdminClient;
use livepk::pb::linkcall::UserSeekPkRequest;
use livepk::pb::linkcall::link_call_pk_client::LinkCallPkClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use support::*;
use tokio_stream::wrappers::TcpListenerStream;

/// The gateway's trace and the spans of its two calls (W3C `traceparent` ids, hex).
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CONFIG_CALL_SPAN: &str = "00f067aa0ba902b7";
const SEEK_CALL_SPAN: &str = "b7ad6b7169203331";

/// One exported span, as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    service_name: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    kind: i32,
}

/// The in-process collector: keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service_name = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.as_ref()?.value.clone())
                .map(|value| match value {
                    Value::StringValue(name) => name,
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service_name: service_name.clone(),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        kind: span.kind,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn traced<T>(message: T, span_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let traceparent = format!("00-{TRACE_ID}-{span_id}-01");
    request.metadata_mut().insert("traceparent", traceparent.parse().expect("ascii"));
    request
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateways_trace_continues_into_exported_spans_and_json_logs() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let collector_address = listener.local_addr().expect("collector address");
    let collector = Collector::default();
    let serving = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(serving))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .expect("the collector serves");
    });

    let deployment = Deployment::new();
    let endpoint = format!("http://{collector_address}");
    let server = deployment
        .spawn_with_env(&[
            ("LIVEPK_OTLP_ENDPOINT", &endpoint),
            ("LIVEPK_LOG_FORMAT", "json"),
            // Export each batch after 100 ms rather than the default 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ])
        .await;

    // Two calls of the gateway's trace, each from its own client span; one logs a line.
    AdminClient::new(server.channel.clone())
        .set_config(traced(
            SetConfigRequest { key: "linkcall.pk_seconds".into(), value: "90s".into() },
            CONFIG_CALL_SPAN,
        ))
        .await
        .expect("SetConfig");
    LinkCallPkClient::new(server.channel.clone())
        .user_seek_pk(traced(UserSeekPkRequest { singer_id: 7, singer_sid: 700 }, SEEK_CALL_SPAN))
        .await
        .expect("UserSeekPk");
    // And one call with no trace context: the server starts a trace of its own for it.
    LinkCallPkClient::new(server.channel.clone())
        .user_seek_pk(UserSeekPkRequest { singer_id: 8, singer_sid: 800 })
        .await
        .expect("UserSeekPk without traceparent");

    let spans = eventually("the three call spans to be exported", READY_TIMEOUT, || {
        let spans = collector.spans.lock().unwrap().clone();
        let grpc: Vec<Received> =
            spans.into_iter().filter(|span| span.name.starts_with("pk.")).collect();
        async move { (grpc.len() >= 3).then_some(grpc) }
    })
    .await;
    let find = |name: &str, parent: &str| {
        spans
            .iter()
            .find(|span| span.name == name && span.parent_span_id == parent)
            .unwrap_or_else(|| panic!("no span {name} with parent {parent} among {spans:#?}"))
    };
    let config = find("pk.admin.v1.Admin/SetConfig", CONFIG_CALL_SPAN);
    let seek = find("pk.linkcall.v1.LinkCallPk/UserSeekPk", SEEK_CALL_SPAN);
    for span in [config, seek] {
        assert_eq!(span.trace_id, TRACE_ID, "{span:?}");
        assert_eq!(span.kind, SpanKind::Server as i32, "{span:?}");
        assert_eq!(span.service_name, "livepk", "{span:?}");
    }
    // The server's own spans inside the call continue the trace (SQL's `set_config`).
    let exported = collector.spans.lock().unwrap().clone();
    let inner = exported
        .iter()
        .find(|span| span.name == "set_config")
        .unwrap_or_else(|| panic!("no set_config span among {exported:#?}"));
    assert_eq!((&inner.trace_id, &inner.parent_span_id), (&config.trace_id, &config.span_id));
    let untraced = find("pk.linkcall.v1.LinkCallPk/UserSeekPk", "");
    assert_ne!(untraced.trace_id, TRACE_ID, "a call without traceparent joined another trace");
    assert_eq!(untraced.trace_id.len(), 32, "{untraced:?}");
    // Health probes (the spawn waited for SERVING) are not traced.
    assert!(
        !collector.spans.lock().unwrap().iter().any(|span| span.name.contains("grpc.health")),
        "health checks were exported as spans"
    );

    // The JSON log line of the SetConfig call carries the gateway's trace id in its span.
    let log = server.log_text();
    let line = log
        .lines()
        .find(|line| line.contains(r#""message":"config changed""#))
        .unwrap_or_else(|| panic!("no \"config changed\" line in:\n{log}"));
    let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(entry["span"]["trace_id"], TRACE_ID, "{line}");
    assert_eq!(entry["span"]["rpc.method"], "pk.admin.v1.Admin/SetConfig", "{line}");
}
