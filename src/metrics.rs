//! Prometheus metrics: what an on-call engineer looks at first. The collectors are the engine's
//! (`livepk_engine::metrics`); this serves them as text at `/metrics`.

use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
pub use livepk_engine::metrics::{METRICS, Metrics};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `/metrics` on `address` until `shutdown` turns true.
pub async fn serve(
    address: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(address).await?;
    tracing::info!(%address, "metrics listening");
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = livepk_engine::stopped(&mut shutdown) => return Ok(()),
        };
        tokio::spawn(async move {
            let service = service_fn(|request: Request<hyper::body::Incoming>| async move {
                if request.uri().path() == "/metrics" {
                    Response::builder()
                        .header("content-type", "text/plain; version=0.0.4")
                        .body(Full::new(Bytes::from(METRICS.render())))
                } else {
                    Response::builder()
                        .status(404)
                        .body(Full::new(Bytes::from_static(b"not found\n")))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "metrics connection ended");
            }
        });
    }
}
