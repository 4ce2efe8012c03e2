//! The engine side: a pooled HTTP/1 client over the Docker engine's unix socket.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::UnixStream;

use crate::privilege::{self, SocketOwnership};

/// Idle connections kept per engine: enough for a busy dashboard's parallel calls, few enough
/// that the engine never sees a pile of forgotten sockets.
const MAX_IDLE: usize = 32;
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Dials the engine's socket for each new pooled connection.
#[derive(Clone)]
struct UnixConnector {
    path: Arc<Path>,
}

impl tower_service::Service<Uri> for UnixConnector {
    type Response = TokioIo<UnixStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<UnixStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let path = self.path.clone();
        Box::pin(async move { UnixStream::connect(&*path).await.map(TokioIo::new) })
    }
}

/// Why the engine could not answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The socket is missing, refuses, or may not be opened: the engine is not reachable at all.
    /// `hint` explains a permission problem.
    #[error("cannot reach the Docker engine at {path}: {source}{hint}")]
    Unreachable {
        path: PathBuf,
        source: io::Error,
        hint: String,
    },
    /// The engine was reached but the exchange failed.
    #[error("the Docker engine at {path} failed to answer: {source}")]
    Failed {
        path: PathBuf,
        source: hyper_util::client::legacy::Error,
    },
}

/// What goes to the engine: the client's body streamed through, or the bytes dockgate read and
/// inspected, sent exactly as judged.
pub type RequestBody = http_body_util::Either<Incoming, http_body_util::Full<bytes::Bytes>>;

/// The engine, behind a pool of idle connections.
#[derive(Clone)]
pub struct Upstream {
    client: Client<UnixConnector, RequestBody>,
    path: Arc<Path>,
}

impl Upstream {
    pub fn new(socket_path: &Path) -> Upstream {
        let path: Arc<Path> = socket_path.into();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(MAX_IDLE)
            .pool_timer(TokioTimer::new())
            .build(UnixConnector { path: path.clone() });
        Upstream { client, path }
    }

    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Sends a request whose URI is the origin-form path and query to send to the engine.
    pub async fn send(
        &self,
        mut req: Request<RequestBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        // The pool keys connections by authority; there is only one engine.
        let mut parts = req.uri().clone().into_parts();
        parts.scheme = Some(hyper::http::uri::Scheme::HTTP);
        parts.authority = Some(hyper::http::uri::Authority::from_static("docker"));
        *req.uri_mut() =
            Uri::from_parts(parts).expect("an origin-form path with a fixed authority");
        self.client.request(req).await.map_err(|source| {
            if source.is_connect() {
                let io = std::error::Error::source(&source)
                    .and_then(|e| e.downcast_ref::<io::Error>())
                    .map(|e| io::Error::new(e.kind(), e.to_string()))
                    .unwrap_or_else(|| io::Error::other(source.to_string()));
                let hint = match io.kind() {
                    io::ErrorKind::PermissionDenied => permission_hint(&self.path),
                    _ => String::new(),
                };
                UpstreamError::Unreachable {
                    path: self.path.to_path_buf(),
                    source: io,
                    hint,
                }
            } else {
                UpstreamError::Failed {
                    path: self.path.to_path_buf(),
                    source,
                }
            }
        })
    }
}

/// `; <why and how to fix>` when the socket's permissions keep this process out.
fn permission_hint(path: &Path) -> String {
    let Ok(ownership) = SocketOwnership::of(path) else {
        return String::new();
    };
    let (uid, groups) = privilege::current_ids();
    match privilege::explain_denied(path, ownership, uid, &groups) {
        Some(why) => format!("; {why}"),
        None => String::new(),
    }
}
