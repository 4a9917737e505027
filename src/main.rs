//! `livepk`: reads the configuration, sets up logging, and serves until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use livepk::config::Config;
use tokio::net::TcpListener;

/// mimalloc rather than glibc malloc: the gift path allocates many small short-lived buffers
/// across threads, where glibc's free-list work showed up as ~9% of the server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("livepk: {error}");
            return ExitCode::from(2);
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if config.worker_threads > 0 {
        runtime.worker_threads(config.worker_threads);
    }
    match runtime.build() {
        Ok(runtime) => runtime.block_on(serve(config)),
        Err(error) => {
            eprintln!("livepk: cannot start the runtime: {error}");
            ExitCode::from(1)
        }
    }
}

/// Sets up logs and traces, serves, then flushes the last spans.
async fn serve(config: Config) -> ExitCode {
    // Logs, and traces when LIVEPK_OTLP_ENDPOINT is set (src/telemetry.rs).
    let telemetry = match livepk::telemetry::init(config.log_format) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("livepk: {error}");
            return ExitCode::from(2);
        }
    };
    let code = serve_logged(config).await;
    telemetry.shutdown();
    code
}

/// Serves `config` until SIGTERM or Ctrl-C, with logging set up.
async fn serve_logged(config: Config) -> ExitCode {
    if let Some(address) = config.metrics_listen {
        let (_keep, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _keep = _keep;
            if let Err(error) = livepk::metrics::serve(address, stop).await {
                tracing::error!(%address, %error, "metrics listener failed");
            }
        });
    }

    let listener = match TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(address = %config.listen, %error, "cannot listen");
            return ExitCode::from(1);
        }
    };
    if let Some(path) = &config.address_file
        && let Err(error) = write_address(path, &listener)
    {
        tracing::error!(path = %path.display(), %error, "cannot write the address file");
        return ExitCode::from(1);
    }
    match livepk::run(listener, config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "livepk stopped");
            ExitCode::from(1)
        }
    }
}

/// Writes the bound address to `path` whole (a temporary file renamed into place), so a reader
/// never sees half of it.
fn write_address(path: &std::path::Path, listener: &TcpListener) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let partial = path.with_extension("partial");
    std::fs::write(&partial, address.to_string())?;
    std::fs::rename(&partial, path)
}

/// Completes on SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
