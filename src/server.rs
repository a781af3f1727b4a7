//! The accept loops: TCP → (TLS) → HTTP/1.1 or HTTP/2 → the axum router, with graceful
//! shutdown. Each loop also answers liveness probes, so the watchdog can tell a live accept
//! loop from a wedged one.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tower::ServiceExt;

use crate::app::AppRef;
use crate::http::ConnInfo;

/// A liveness probe: the accept loop answers it between accepts.
pub type Probe = oneshot::Sender<()>;

/// Longest a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` until `app.shutdown` fires, then lets in-flight requests
/// finish (up to `drain`) before returning.
pub async fn serve(
    app: AppRef,
    listener: TcpListener,
    router: Router,
    mut probes: mpsc::Receiver<Probe>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(Builder::new(TokioExecutor::new()));
    loop {
        let (stream, peer) = tokio::select! {
            _ = app.shutdown.cancelled() => break,
            Some(probe) = probes.recv() => {
                let _ = probe.send(());
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(ERROR = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let tls = app.tls();
        let tls_config = tls
            .as_ref()
            .as_ref()
            .map(|bundle| bundle.server_config.clone());
        let info = ConnInfo {
            peer,
            tls: tls_config.is_some(),
        };
        let service = router.clone().map_request(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(info.clone());
                request.map(axum::body::Body::new)
            },
        );
        let service = TowerToHyperService::new(service);
        let builder = builder.clone();
        let app_for_conn = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            app_for_conn
                .counters
                .open_connections
                .fetch_add(1, Ordering::Relaxed);
            match tls_config {
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => {
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
                            if let Err(e) = watcher.watch(conn.into_owned()).await {
                                tracing::debug!(ERROR = %e, "connection ended with an error");
                            }
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(ERROR = %e, REMOTE_ADDR = %peer, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(REMOTE_ADDR = %peer, "TLS handshake timed out"),
                    }
                }
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(ERROR = %e, "connection ended with an error");
                    }
                }
            }
            app_for_conn
                .counters
                .open_connections
                .fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open when the drain time ran out");
    }
}
