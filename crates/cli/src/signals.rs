//! How a long-running command learns it should stop: Ctrl-C (SIGINT) or SIGTERM (what
//! `kill`, systemd and container runtimes send), handled alike.

/// Completes on the first SIGINT or SIGTERM. If a handler cannot be installed, that signal
/// keeps its default action (the process ends), so this never completes early.
pub async fn shutdown() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
