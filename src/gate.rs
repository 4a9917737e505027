//! The gate every RPC passes: bearer-token checks, load shedding, the request timeout and
//! per-method metrics, in one tower layer in front of all services.
//!
//! * Health and reflection are open (Kubernetes probes and grpcurl carry no token).
//! * `Admin` needs the admin token, or the gateway token when no admin token is set (it is never
//!   open while either is set); every other service the gateway token. A service whose token is
//!   unset is open: the binary allows that only on the embedded store or with an explicit
//!   `LIVEPK_INSECURE=1` (see `Config::validate`), and warns at start-up. A blank token accepts
//!   nothing. Tokens are compared as SHA-256 digests in constant time, so neither where they
//!   differ nor the expected token's length shows in the timing.
//! * At most `max_concurrent_requests` calls run at once; the next one fails at once with
//!   RESOURCE_EXHAUSTED rather than queueing without bound. Health checks are never shed, so an
//!   overloaded replica is not also killed by its liveness probe. A call whose answer has not
//!   started within the request timeout ends with DEADLINE_EXCEEDED and frees its permit (an
//!   idle upload cannot hold one for ever).
//! * Metrics are labelled by method only for the methods of the services this server registers
//!   (one `unknown` label for every other path, so random paths cannot grow the series), and
//!   record a call's real final status: from the trailers, read as the answer's body ends, for
//!   streams as for unary calls (`1`, CANCELLED, when the caller went away first).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response};
use http_body::{Body as HttpBody, Frame};
use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::metrics::METRICS;
use crate::status::ServiceError;

/// Configuration of the gate.
#[derive(Clone)]
pub struct GateOptions {
    /// Token of the gateway's calls.
    pub auth_token: Option<String>,
    /// Token of `Admin` calls.
    pub admin_token: Option<String>,
    /// Calls served at once.
    pub max_concurrent_requests: usize,
}

impl std::fmt::Debug for GateOptions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("GateOptions")
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<redacted>"))
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .finish()
    }
}

/// The tower layer.
#[derive(Clone)]
pub struct GateLayer {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    /// Digest of the gateway token.
    gateway: Option<Expected>,
    /// Digest of the token `Admin` needs: the admin token, else the gateway's.
    admin: Option<Expected>,
    permits: Arc<Semaphore>,
    request_timeout: Option<Duration>,
}

/// A configured token, kept only as its digest; a blank one accepts nothing.
#[derive(Clone)]
struct Expected {
    digest: [u8; 32],
    blank: bool,
}

impl Expected {
    fn new(token: &str) -> Self {
        Self { digest: digest(token.as_bytes()), blank: token.trim().is_empty() }
    }
}

impl GateLayer {
    /// A gate with `options` and no request timeout.
    pub fn new(options: GateOptions) -> Self {
        let gateway = options.auth_token.as_deref().map(Expected::new);
        let admin =
            options.admin_token.as_deref().or(options.auth_token.as_deref()).map(Expected::new);
        let permits = Arc::new(Semaphore::new(options.max_concurrent_requests.max(1)));
        Self { shared: Arc::new(Shared { gateway, admin, permits, request_timeout: None }) }
    }

    /// The same gate ending a call whose answer has not started within `timeout` with
    /// DEADLINE_EXCEEDED (`limits.request_timeout_ms`).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        // A layer already cloned keeps its own copy; this one (and its clones) get the timeout.
        Arc::make_mut(&mut self.shared).request_timeout = Some(timeout);
        self
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Gate { inner, shared: self.shared.clone() }
    }
}

/// The service the layer wraps around the routes.
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// Which token a path needs.
enum Access {
    Open,
    Gateway,
    Admin,
}

fn access_of(path: &str) -> Access {
    if path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
        Access::Open
    } else if path.starts_with("/pk.admin.") {
        Access::Admin
    } else {
        Access::Gateway
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn check_token(expected: Option<&Expected>, headers: &http::HeaderMap) -> Result<(), ServiceError> {
    let Some(expected) = expected else { return Ok(()) };
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(token)
            if !expected.blank
                && !token.is_empty()
                && constant_time_eq(&digest(token.as_bytes()), &expected.digest) =>
        {
            Ok(())
        }
        Some(_) => Err(ServiceError::Unauthenticated("wrong bearer token".into())),
        None => Err(ServiceError::Unauthenticated(
            "missing `authorization: Bearer <token>` metadata".into(),
        )),
    }
}

/// Compares two digests without leaking where they differ through timing (both are always 32
/// bytes, so the tokens' lengths do not show either).
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The metric label of every path this server serves: `/pk.gift.v1.Gifts/RecordGift` ->
/// `Gifts/RecordGift`, read from the descriptors of the services it registers (every mode's,
/// the core ones, health, reflection).
static KNOWN_METHODS: LazyLock<HashMap<String, Arc<str>>> = LazyLock::new(|| {
    let registered: Vec<&str> =
        crate::service_names().into_iter().chain(["grpc.health.v1.Health"]).collect();
    let mut methods = HashMap::new();
    for encoded in [crate::pb::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET] {
        // The descriptor sets are compiled in by build.rs / tonic-health; a broken one is a build
        // bug that every test would show, so the label map is then only the reflection methods.
        let Ok(set) = prost_types::FileDescriptorSet::decode(encoded) else { continue };
        for file in set.file {
            for service in &file.service {
                let full = format!("{}.{}", file.package(), service.name());
                if !registered.contains(&full.as_str()) {
                    continue;
                }
                for method in &service.method {
                    let path = format!("/{full}/{}", method.name());
                    methods.insert(path.clone(), Arc::from(method_label(&path)));
                }
            }
        }
    }
    for version in ["v1", "v1alpha"] {
        let path = format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo");
        methods.insert(path.clone(), Arc::from(method_label(&path)));
    }
    methods
});

/// The label of every path no registered service has.
pub const UNKNOWN_METHOD: &str = "unknown";

/// The metric label of `path`: a registered method's short name, else [`UNKNOWN_METHOD`].
pub fn metric_label(path: &str) -> Arc<str> {
    KNOWN_METHODS.get(path).cloned().unwrap_or_else(|| Arc::from(UNKNOWN_METHOD))
}

/// The method label of a path: `/pk.gift.v1.Gifts/RecordGift` -> `Gifts/RecordGift`.
fn method_label(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((service, method)) => {
            format!("{}/{}", service.rsplit('.').next().unwrap_or(service), method)
        }
        None => trimmed.to_owned(),
    }
}

fn record(method: &str, code: &str, started: Instant) {
    METRICS.rpc_requests.with_label_values(&[method, code]).inc();
    METRICS.rpc_seconds.with_label_values(&[method]).observe(started.elapsed().as_secs_f64());
}

fn refuse(status: Status, method: &str) -> Response<Body> {
    METRICS.rpc_requests.with_label_values(&[method, &(status.code() as i32).to_string()]).inc();
    status.into_http()
}

impl<S, ReqBody> Service<Request<ReqBody>> for Gate<S>
where
    S: Service<Request<ReqBody>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = metric_label(request.uri().path());
        let access = access_of(request.uri().path());
        let shared = &self.shared;
        let token_check = match access {
            Access::Open => Ok(()),
            Access::Gateway => check_token(shared.gateway.as_ref(), request.headers()),
            Access::Admin => check_token(shared.admin.as_ref(), request.headers()),
        };
        if let Err(error) = token_check {
            let response = refuse(error.into(), &method);
            return Box::pin(async move { Ok(response) });
        }
        let permit = match access {
            Access::Open => None,
            _ => match shared.permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    METRICS.shed_requests.with_label_values(&[&method]).inc();
                    let response = refuse(ServiceError::Overloaded.into(), &method);
                    return Box::pin(async move { Ok(response) });
                }
            },
        };
        let timeout = match access {
            // Health `Watch` and reflection streams are long by design.
            Access::Open => None,
            _ => shared.request_timeout,
        };
        // The ready service is the one that was polled; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let started = Instant::now();
            let call = inner.call(request);
            let response = match timeout {
                None => call.await,
                Some(timeout) => match tokio::time::timeout(timeout, call).await {
                    Ok(response) => response,
                    Err(_) => {
                        let status = Status::deadline_exceeded(format!(
                            "no answer within limits.request_timeout_ms ({} ms)",
                            timeout.as_millis()
                        ));
                        Ok(status.into_http())
                    }
                },
            };
            drop(permit);
            Ok(metered(response?, method, started))
        })
    }
}

/// Records the call's final status: at once for a trailers-only answer (an error, with
/// `grpc-status` in the headers), else when its body yields the trailers.
fn metered(response: Response<Body>, method: Arc<str>, started: Instant) -> Response<Body> {
    if let Some(code) = response.headers().get("grpc-status") {
        record(&method, code.to_str().unwrap_or("2"), started);
        return response;
    }
    response.map(|body| Body::new(MeteredBody { inner: body, method, started, recorded: false }))
}

/// An answer's body that records the metrics of its call when its trailers pass, or when it
/// is dropped before them (the caller went away: CANCELLED).
struct MeteredBody {
    inner: Body,
    method: Arc<str>,
    started: Instant,
    recorded: bool,
}

impl MeteredBody {
    fn record(&mut self, code: &str) {
        if !self.recorded {
            self.recorded = true;
            record(&self.method, code, self.started);
        }
    }
}

impl HttpBody for MeteredBody {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = trailers
                        .get("grpc-status")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or("2")
                        .to_owned();
                    self.record(&code);
                }
            }
            // A body error resets the stream: the caller sees INTERNAL.
            Poll::Ready(Some(Err(_))) => self.record("13"),
            // The end without trailers: not a gRPC answer; count it as UNKNOWN.
            Poll::Ready(None) => self.record("2"),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        self.record("1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_access() {
        assert_eq!(method_label("/pk.gift.v1.Gifts/RecordGift"), "Gifts/RecordGift");
        assert_eq!(&*metric_label("/pk.gift.v1.Gifts/RecordGift"), "Gifts/RecordGift");
        assert_eq!(&*metric_label("/grpc.health.v1.Health/Check"), "Health/Check");
        assert_eq!(&*metric_label("/pk.gift.v1.Gifts/NoSuchMethod"), UNKNOWN_METHOD);
        assert_eq!(&*metric_label("/x.y/z"), UNKNOWN_METHOD);
        assert!(matches!(access_of("/grpc.health.v1.Health/Check"), Access::Open));
        assert!(matches!(access_of("/pk.admin.v1.Admin/SetConfig"), Access::Admin));
        assert!(matches!(access_of("/pk.gift.v1.Gifts/RecordGift"), Access::Gateway));
    }

    #[test]
    fn tokens_are_checked() {
        let expected = Expected::new("s3cret");
        let mut headers = http::HeaderMap::new();
        assert!(check_token(None, &headers).is_ok());
        assert!(check_token(Some(&expected), &headers).is_err());
        headers.insert(http::header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(check_token(Some(&expected), &headers).is_err());
        headers.insert(http::header::AUTHORIZATION, "Bearer s3cret-longer".parse().unwrap());
        assert!(check_token(Some(&expected), &headers).is_err());
        headers.insert(http::header::AUTHORIZATION, "Bearer s3cre".parse().unwrap());
        assert!(check_token(Some(&expected), &headers).is_err());
        headers.insert(http::header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(check_token(Some(&expected), &headers).is_ok());
    }

    #[test]
    fn item3_a_blank_token_accepts_nothing() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, "Bearer ".parse().unwrap());
        for blank in ["", " "] {
            assert!(check_token(Some(&Expected::new(blank)), &headers).is_err(), "{blank:?}");
        }
        headers.insert(http::header::AUTHORIZATION, "Bearer  ".parse().unwrap());
        assert!(check_token(Some(&Expected::new(" ")), &headers).is_err());
    }

    #[test]
    fn item3_admin_takes_the_gateway_token_when_it_has_none() {
        let gate = GateLayer::new(GateOptions {
            auth_token: Some("gateway".into()),
            admin_token: None,
            max_concurrent_requests: 1,
        });
        let headers = http::HeaderMap::new();
        assert!(check_token(gate.shared.admin.as_ref(), &headers).is_err());
        let printed = format!(
            "{:?}",
            GateOptions {
                auth_token: Some("gateway".into()),
                admin_token: Some("admin".into()),
                max_concurrent_requests: 1
            }
        );
        assert!(!printed.contains("gateway") && !printed.contains("admin\""), "{printed}");
    }
}
