//! The engine side: each client connection's own HTTP/1 connection to the engine's unix socket.
//!
//! A client connection is given one engine connection, dialled at its first forwarded request and
//! reused for every request after it; both close together. HTTP/1 serves one request at a time
//! per connection on both sides, so nothing is shared between client connections: no pool lock,
//! no checkout, and the number of engine connections is bounded by MAX_CONNECTIONS. An engine
//! connection the engine has closed is replaced at the next request.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use crate::privilege::{self, SocketOwnership};

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
    Failed { path: PathBuf, source: hyper::Error },
}

/// What goes to the engine: the client's body streamed through, or the bytes dockgate read and
/// inspected, sent exactly as judged.
pub type RequestBody = http_body_util::Either<Incoming, http_body_util::Full<bytes::Bytes>>;

/// The engine's socket.
#[derive(Clone)]
pub struct Upstream {
    path: Arc<Path>,
}

impl Upstream {
    pub fn new(socket_path: &Path) -> Upstream {
        Upstream {
            path: socket_path.into(),
        }
    }

    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// The engine connection for one client connection; nothing is dialled until it is used.
    pub fn link(&self) -> EngineLink {
        EngineLink {
            upstream: self.clone(),
            sender: Mutex::new(None),
        }
    }

    async fn dial(&self) -> Result<SendRequest<RequestBody>, UpstreamError> {
        let stream = UnixStream::connect(&*self.path)
            .await
            .map_err(|source| self.unreachable(source))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| self.failed(source))?;
        // The connection ends by itself once the engine closes it or its sender is dropped.
        tokio::spawn(connection.with_upgrades());
        Ok(sender)
    }

    fn unreachable(&self, source: io::Error) -> UpstreamError {
        let hint = match source.kind() {
            io::ErrorKind::PermissionDenied => permission_hint(&self.path),
            _ => String::new(),
        };
        UpstreamError::Unreachable {
            path: self.path.to_path_buf(),
            source,
            hint,
        }
    }

    fn failed(&self, source: hyper::Error) -> UpstreamError {
        UpstreamError::Failed {
            path: self.path.to_path_buf(),
            source,
        }
    }
}

/// A client connection's engine connection.
pub struct EngineLink {
    upstream: Upstream,
    /// Taken while a request is being sent: a request whose client went away drops it, which
    /// closes the engine connection with it (HTTP/1 cannot abandon one exchange and go on).
    sender: Mutex<Option<SendRequest<RequestBody>>>,
}

impl EngineLink {
    /// Sends a request whose URI is the origin-form path and query to send to the engine.
    pub async fn send(
        &self,
        mut req: Request<RequestBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        // Go's server refuses an HTTP/1.1 request without Host; the client may have sent none.
        req.headers_mut()
            .entry(header::HOST)
            .or_insert(HeaderValue::from_static("docker"));
        let kept = self.sender.lock().expect("never poisoned").take();
        if let Some(mut sender) = kept {
            // The previous response may still be finishing in the connection task; an error
            // means the engine closed the connection while it was idle.
            if sender.ready().await.is_ok() {
                match sender.try_send_request(req).await {
                    Ok(response) => return Ok(self.keep(sender, response)),
                    // Refused before a byte was written: the engine closed it just now.
                    Err(mut error) => match error.take_message() {
                        Some(unsent) => req = unsent,
                        None => return Err(self.upstream.failed(error.into_error())),
                    },
                }
            }
        }
        let mut sender = self.upstream.dial().await?;
        let response = sender
            .send_request(req)
            .await
            .map_err(|source| self.upstream.failed(source))?;
        Ok(self.keep(sender, response))
    }

    fn keep(
        &self,
        sender: SendRequest<RequestBody>,
        response: Response<Incoming>,
    ) -> Response<Incoming> {
        *self.sender.lock().expect("never poisoned") = Some(sender);
        response
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
