//! The gate every RPC passes: bearer-token checks, load shedding and per-method metrics, in
//! one tower layer in front of all services.
//!
//! * Health and reflection are open (Kubernetes probes and grpcurl carry no token).
//! * `Admin` needs the admin token; every other service the gateway token. An unset token
//!   disables its check (development), which the server warns about at start-up.
//! * At most `max_concurrent_requests` calls run at once; the next one fails at once with
//!   RESOURCE_EXHAUSTED rather than queueing without bound. Health checks are never shed, so an
//!   overloaded replica is not also killed by its liveness probe.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tokio::sync::Semaphore;
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::metrics::METRICS;
use crate::status::ServiceError;

/// Configuration of the gate.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// Token of the gateway's calls.
    pub auth_token: Option<String>,
    /// Token of `Admin` calls.
    pub admin_token: Option<String>,
    /// Calls served at once.
    pub max_concurrent_requests: usize,
}

/// The tower layer.
#[derive(Clone)]
pub struct GateLayer {
    shared: Arc<Shared>,
}

struct Shared {
    options: GateOptions,
    permits: Arc<Semaphore>,
}

impl GateLayer {
    /// A gate with `options`.
    pub fn new(options: GateOptions) -> Self {
        let permits = Arc::new(Semaphore::new(options.max_concurrent_requests.max(1)));
        Self { shared: Arc::new(Shared { options, permits }) }
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

fn check_token(expected: Option<&str>, headers: &http::HeaderMap) -> Result<(), ServiceError> {
    let Some(expected) = expected else { return Ok(()) };
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ServiceError::Unauthenticated("wrong bearer token".into())),
        None => Err(ServiceError::Unauthenticated(
            "missing `authorization: Bearer <token>` metadata".into(),
        )),
    }
}

/// Compares tokens without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
        let path = request.uri().path().to_owned();
        let method = method_label(&path);
        let options = &self.shared.options;
        let access = access_of(&path);
        let token_check = match access {
            Access::Open => Ok(()),
            Access::Gateway => check_token(options.auth_token.as_deref(), request.headers()),
            Access::Admin => check_token(options.admin_token.as_deref(), request.headers()),
        };
        if let Err(error) = token_check {
            let response = refuse(error.into(), &method);
            return Box::pin(async move { Ok(response) });
        }
        let permit = match access {
            Access::Open => None,
            _ => match self.shared.permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    METRICS.shed_requests.with_label_values(&[&method]).inc();
                    let response = refuse(ServiceError::Overloaded.into(), &method);
                    return Box::pin(async move { Ok(response) });
                }
            },
        };
        // The ready service is the one that was polled; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let started = Instant::now();
            let response = inner.call(request).await;
            drop(permit);
            if let Ok(response) = &response {
                // Errors come back as trailers-only responses with `grpc-status` in the headers;
                // a success carries it in the trailers, which have not been sent yet.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("0")
                    .to_owned();
                METRICS.rpc_requests.with_label_values(&[&method, &code]).inc();
                METRICS
                    .rpc_seconds
                    .with_label_values(&[&method])
                    .observe(started.elapsed().as_secs_f64());
            }
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_access() {
        assert_eq!(method_label("/pk.gift.v1.Gifts/RecordGift"), "Gifts/RecordGift");
        assert!(matches!(access_of("/grpc.health.v1.Health/Check"), Access::Open));
        assert!(matches!(access_of("/pk.admin.v1.Admin/SetConfig"), Access::Admin));
        assert!(matches!(access_of("/pk.gift.v1.Gifts/RecordGift"), Access::Gateway));
    }

    #[test]
    fn tokens_are_checked() {
        let mut headers = http::HeaderMap::new();
        assert!(check_token(None, &headers).is_ok());
        assert!(check_token(Some("s3cret"), &headers).is_err());
        headers.insert(http::header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(check_token(Some("s3cret"), &headers).is_err());
        headers.insert(http::header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(check_token(Some("s3cret"), &headers).is_ok());
    }
}
