//! The admin endpoint (ADMIN_LISTEN): `/metrics`, `/healthz` and `/readyz` on a listener of its
//! own, apart from the proxy's so that no client of the Docker API reaches it by accident and a
//! scrape never takes a MAX_CONNECTIONS slot.
//!
//! It is bound inside [`crate::server::serve`], after privileges are dropped: a TCP port below
//! 1024 needs the process to keep root (RUN_AS=0), and a unix socket's directory must be
//! writable by the user dockgate runs as. It stops with the proxy, at the same shutdown.
//!
//! - `/healthz`: the process serves; always 200.
//! - `/readyz`: 200 while the engine answered a ping in the last 2 s ([`crate::engine_probe`]);
//!   503 with the reason otherwise. The configuration is part of it by construction: nothing is
//!   served before it was read and checked, and a reload that fails keeps the previous one.
//! - `/metrics`: [`crate::metrics`], in the OpenMetrics text format Prometheus scrapes.

use std::convert::Infallible;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ListenAddr, UnixSocketAccess};
use crate::engine_probe::{self, Reachability};
use crate::learn::Mode;
use crate::metrics;
use crate::server::{Accept, Listener};
use crate::telemetry::Telemetry;
use crate::upstream::Upstream;

/// How long a request head may take, and a kept connection idle.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What the endpoint answers from.
struct State {
    telemetry: Arc<Telemetry>,
    reachability: Arc<Reachability>,
    /// For `/learned`, which says what the mode does with what it learned.
    mode: Mode,
}

/// Binds ADMIN_LISTEN and serves it, and starts the engine probe, until `stop` (then open
/// scrapes finish) or `kill`. Must run inside the runtime.
pub fn start(
    addr: &ListenAddr,
    config: &Config,
    upstream: &Upstream,
    telemetry: Arc<Telemetry>,
    tasks: &TaskTracker,
    (stop, kill): (&CancellationToken, &CancellationToken),
) -> io::Result<()> {
    // Owned by the user dockgate runs as; SOCKET_OWNER and SOCKET_GROUP are for API clients.
    let access = UnixSocketAccess {
        owner: None,
        group: None,
        mode: config.unix_socket.mode,
    };
    let listener = Listener::bind(addr, &access)
        .map_err(|e| io::Error::new(e.kind(), format!("ADMIN_LISTEN: {e}")))?;
    tracing::info!(
        "admin endpoint on {}: /metrics, /healthz, /readyz, /learned",
        listener.describe()
    );
    let reachability = Arc::new(Reachability::default());
    engine_probe::start(
        upstream,
        reachability.clone(),
        telemetry.clone(),
        tasks,
        stop.clone(),
    );
    let state = Arc::new(State {
        telemetry,
        reachability,
        mode: config.mode,
    });
    let serving = Serving {
        state,
        tasks: tasks.clone(),
        stop: stop.clone(),
        kill: kill.clone(),
    };
    match listener {
        Listener::Tcp(std) => {
            std.set_nonblocking(true)?;
            let listener = TcpListener::from_std(std)?;
            tasks.spawn(serving.accept_loop(listener, None));
        }
        Listener::Unix {
            listener: std,
            path,
        } => {
            std.set_nonblocking(true)?;
            let listener = UnixListener::from_std(std)?;
            tasks.spawn(serving.accept_loop(listener, Some(path)));
        }
    }
    Ok(())
}

#[derive(Clone)]
struct Serving {
    state: Arc<State>,
    tasks: TaskTracker,
    stop: CancellationToken,
    kill: CancellationToken,
}

impl Serving {
    /// Accepts until `stop`, then removes the socket file, if any.
    async fn accept_loop(self, listener: impl Accept, socket_file: Option<PathBuf>) {
        loop {
            let accepted = tokio::select! {
                _ = self.stop.cancelled() => break,
                accepted = listener.accept_peer() => accepted,
            };
            match accepted {
                Ok((io, _)) => {
                    self.tasks.spawn(self.clone().serve_connection(io));
                }
                Err(e) => {
                    tracing::warn!("admin endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        if let Some(path) = socket_file {
            let _ = std::fs::remove_file(path);
        }
    }

    async fn serve_connection(
        self,
        io: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    ) {
        let state = self.state.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(answer(&state, &req)) }
        });
        // A scraper sends its head at once; a connection that does not is not kept waiting on.
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEAD_TIMEOUT)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let ended = tokio::select! {
            ended = conn.as_mut() => ended,
            _ = self.stop.cancelled() => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    ended = conn.as_mut() => ended,
                    _ = self.kill.cancelled() => Ok(()),
                }
            }
        };
        if let Err(e) = ended {
            tracing::debug!("admin connection ended: {e}");
        }
    }
}

fn answer(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match state.reachability.check() {
            Ok(()) => text(
                StatusCode::OK,
                "ready: the engine answers and the configuration is loaded\n".into(),
            ),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("unready: {why}\n")),
        },
        "/learned" => text(StatusCode::OK, state.telemetry.learned.summary(state.mode)),
        "/metrics" => {
            let Some(metrics) = &state.telemetry.metrics else {
                return text(StatusCode::NOT_FOUND, "metrics are not kept\n".into());
            };
            let mut response = text(StatusCode::OK, metrics.render());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            response
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: the admin endpoint serves /metrics, /healthz, /readyz and /learned\n"
                .into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
