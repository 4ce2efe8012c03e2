//! The walk of one request: check its framing and target, decide, forward to the engine, stream
//! the answer back, and relay the connection when it upgrades.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode, Uri, Version};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::{End, Judged, LoggedBody, Peer, Record};
use crate::api::Inspection;
use crate::engine_facts::EngineFacts;
use crate::inspect::{self, BodyPolicy};
use crate::learn::Mode;
use crate::refusal::Refusal;
use crate::session::{Session, Sessions, Who};
use crate::telemetry::Telemetry;
use crate::tunnel;
use crate::upstream::{EngineLink, RequestBody, Upstream, UpstreamError};

pub mod decide;

use decide::Checked;

pub type ResponseBody = Either<LoggedBody<Incoming>, Full<Bytes>>;

/// The shared state every connection's requests go through.
pub struct Proxy {
    /// Who each connection is and which grant it has.
    sessions: Arc<Sessions>,
    /// Where each finished request is reported besides the log.
    telemetry: Arc<Telemetry>,
    /// Whether a refusal a grant would lift is let through (warn, learn).
    mode: Mode,
    /// The largest body read for inspection (`MAX_BODY`).
    max_body: usize,
    upstream: Upstream,
    engine: EngineFacts,
    /// Upgraded connections outlive their request; they are tracked for shutdown.
    tunnels: TaskTracker,
    kill: CancellationToken,
}

impl Proxy {
    pub fn new(
        sessions: Arc<Sessions>,
        telemetry: Arc<Telemetry>,
        mode: Mode,
        max_body: usize,
        upstream: Upstream,
        tunnels: TaskTracker,
        kill: CancellationToken,
    ) -> Proxy {
        Proxy {
            sessions,
            telemetry,
            mode,
            max_body,
            engine: EngineFacts::default(),
            upstream,
            tunnels,
            kill,
        }
    }

    /// A new connection's client, worked out once; its requests are judged by the grant it
    /// has when each arrives.
    pub async fn open(&self, listener: Arc<str>, peer: Peer) -> Session {
        self.sessions.open(listener, peer).await
    }

    /// A new client connection's engine link.
    pub fn link(&self) -> Arc<EngineLink> {
        Arc::new(self.upstream.link())
    }

    pub async fn handle(
        self: Arc<Self>,
        session: Arc<Session>,
        link: Arc<EngineLink>,
        req: Request<Incoming>,
    ) -> Result<Response<ResponseBody>, Infallible> {
        let start = Instant::now();
        let who = self.sessions.current(&session);
        let (parts, body) = req.into_parts();
        let mut checked = decide::head(&who, &parts, self.waives(&who));
        let (section, judged, upgrade) = match &mut checked {
            Ok(checked) => (
                Some(checked.section),
                std::mem::replace(&mut checked.judged, Judged::Unparsed),
                checked.upgrade,
            ),
            Err(_) => (decide::section_of(&parts), decide::judged_of(&parts), None),
        };
        let record = Record {
            who: who.clone(),
            method: parts.method.clone(),
            path: parts.uri.path().into(),
            judged,
            upgrade,
            section,
            start,
            telemetry: self.telemetry.clone(),
        };
        let head = parts.method == hyper::Method::HEAD;
        let refuse = |refusal: Refusal, close: bool| {
            let refusal = who.explain(refusal, &format!("{} {}", record.method, record.path));
            record.end(End::Refused(&refusal));
            refusal.response(head, close).map(Either::Right)
        };
        let mut checked = match checked {
            Ok(checked) => checked,
            Err(refusal) => {
                // A client still uploading (a build context, an image) reads our answer only if
                // its upload is taken first; past the bound the connection closes instead.
                let drained = refusal.status != StatusCode::BAD_REQUEST && drain(body).await;
                return Ok(refuse(refusal, !drained));
            }
        };
        if let Some(refusal) = checked.waived.take() {
            record.waived(&refusal);
        }
        let req = match checked.inspection.take() {
            None => Request::from_parts(parts, Either::Left(body)),
            Some((inspection, path, subject)) => {
                let judged = self.inspect(
                    &record,
                    &link,
                    (parts, body),
                    inspection,
                    &path,
                    subject.as_deref(),
                );
                match judged.await {
                    Ok(req) => req,
                    Err((refusal, close)) => return Ok(refuse(refusal, close)),
                }
            }
        };
        Ok(self.forward(&link, req, checked, record).await)
    }

    /// Whether `MODE=warn|learn` lets a refusal some grant would lift through for this client:
    /// never for one whose label names a profile nobody defined.
    fn waives(&self, who: &Who) -> bool {
        self.mode.forwards() && who.assignment.undefined.is_none()
    }

    /// Reads an inspected route's body (up to MAX_BODY) if it judges one, judges the request,
    /// and returns it with exactly the bytes judged as its body. On refusal, whether the
    /// connection must close.
    async fn inspect(
        &self,
        record: &Record,
        link: &EngineLink,
        (mut parts, body): (Parts, Incoming),
        inspection: Inspection,
        path: &str,
        subject: Option<&str>,
    ) -> Result<Request<RequestBody>, (Refusal, bool)> {
        let method = parts.method.clone();
        let (bytes, body) = if inspection.reads_body() {
            let bytes = self
                .read_body(body, &method, path)
                .await
                .map_err(|refusal| (refusal, true))?;
            (Some(bytes.clone()), Either::Right(Full::new(bytes)))
        } else {
            (None, Either::Left(body))
        };
        let parsed = inspect::parse_body(inspection, bytes.as_deref().unwrap_or_default())
            .map_err(|why| (decide::ambiguous(&method, path, why), false))?;
        let request = inspect::Request {
            inspection,
            subject,
            query: parts.uri.query().unwrap_or(""),
            body: parsed.as_ref(),
        };
        let verdict = self
            .judge(
                &record.who.assignment.profile.body,
                link,
                request,
                &method,
                path,
            )
            .await;
        match verdict {
            Err(refusal) if self.waives(&record.who) && !refusal.needs.is_empty() => {
                record.waived(&refusal)
            }
            Err(refusal) => {
                let close = match body {
                    Either::Left(unread) => {
                        refusal.status == StatusCode::BAD_REQUEST || !drain(unread).await
                    }
                    Either::Right(_) => false,
                };
                return Err((refusal, close));
            }
            Ok(()) => {}
        }
        if let Some(bytes) = &bytes {
            parts.headers.remove(header::TRANSFER_ENCODING);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        }
        Ok(Request::from_parts(parts, body))
    }

    async fn read_body(
        &self,
        body: Incoming,
        method: &hyper::Method,
        path: &str,
    ) -> Result<Bytes, Refusal> {
        match Limited::new(body, self.max_body).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<LengthLimitError>() => {
                Err(decide::too_large(method, path, self.max_body))
            }
            Err(error) => Err(Refusal::bad_request(format!(
                "{method} {path} is refused: its body could not be read: {error}"
            ))),
        }
    }

    /// Judges a request, asking the engine about what it borrows until nothing is unknown.
    async fn judge(
        &self,
        body: &BodyPolicy,
        link: &EngineLink,
        request: inspect::Request<'_>,
        method: &hyper::Method,
        path: &str,
    ) -> Result<(), Refusal> {
        // Most requests pass even an engine with the strictest defaults, and borrow nothing:
        // those are judged without a word to the engine.
        if decide::passes_unseen(request, body, method, path)? {
            return Ok(());
        }
        let mut facts = self.engine.facts(link).await;
        let mut rounds = decide::Rounds::default();
        while let Some(unresolved) = rounds.next(request, body, &facts, method, path)? {
            self.engine
                .resolve(link, &mut facts, &unresolved)
                .await
                .map_err(|error| {
                    Refusal::new(
                        StatusCode::BAD_GATEWAY,
                        format!(
                            "{method} {path} is refused: dockgate could not ask the engine about \
                             what it takes from other objects: {error}"
                        ),
                    )
                })?;
        }
        Ok(())
    }

    async fn forward(
        &self,
        link: &EngineLink,
        mut req: Request<RequestBody>,
        checked: Checked,
        record: Record,
    ) -> Response<ResponseBody> {
        let head = req.method() == hyper::Method::HEAD;
        // Taken before the request moves on: hyper hands the client's connection over here.
        let client_upgrade = checked.upgrade.map(|_| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        if let Some(path_and_query) = checked.rewritten {
            parts.uri = Uri::from(path_and_query);
        }
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers, checked.upgrade.is_some());

        let mut response = match link.send(Request::from_parts(parts, body)).await {
            Ok(response) => response,
            Err(error) => {
                let status = match error {
                    UpstreamError::Unreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                    UpstreamError::Failed { .. } => StatusCode::BAD_GATEWAY,
                };
                let refusal = Refusal::new(status, error.to_string());
                record.end(End::EngineError(&refusal));
                return refusal.response(head, false).map(Either::Right);
            }
        };

        let status = response.status();
        if status == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                let engine_upgrade = hyper::upgrade::on(&mut response);
                let kill = self.kill.clone();
                self.telemetry.tunnel_opened();
                self.tunnels.spawn(async move {
                    let (relayed, error) = tokio::select! {
                        relayed = tunnel::relay(client_upgrade, engine_upgrade) => match relayed {
                            Ok(t) => ((t.from_client, t.from_engine), None),
                            Err(error) => ((0, 0), Some(error)),
                        },
                        _ = kill.cancelled() => ((0, 0), Some(std::io::Error::other("cut at shutdown"))),
                    };
                    record.end(End::Tunnel {
                        from_client: relayed.0,
                        from_engine: relayed.1,
                        error: error.as_ref(),
                    });
                });
                return response.map(|_| Either::Right(Full::default()));
            }
        }
        response.map(|body| Either::Left(LoggedBody::new(body, record, status.as_u16())))
    }
}

/// How much of a refused request's body is read and discarded so the client sees the refusal.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Reads and discards a refused request's body; false when it was cut short.
async fn drain(mut body: Incoming) -> bool {
    use http_body_util::BodyExt;
    let mut read = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        read += frame.data_ref().map_or(0, |d| d.len() as u64);
        if read > DRAIN_LIMIT {
            return false;
        }
    }
    true
}

/// Connection-level headers belong to one hop; the engine gets its own framing from hyper.
/// An upgrade keeps `Connection` and `Upgrade`: without them the engine hijacks with a 200 that
/// clients reject.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    if !upgrade {
        let named: Vec<String> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        for name in named {
            headers.remove(name.as_str());
        }
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
    for name in [
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::EXPECT,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

#[cfg(test)]
mod tests;
