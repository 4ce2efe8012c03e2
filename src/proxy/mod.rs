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
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, StatusCode, Uri, Version};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::{End, Judged, LoggedBody, Peer, Record};
use crate::api::{Body, Inspection, Lookup, Method, Section, Seg, Target, Upgrade};
use crate::engine_facts::EngineFacts;
use crate::inspect::{self, BodyPolicy, Judgement};
use crate::policy;
use crate::profile::Profile;
use crate::refusal::Refusal;
use crate::session::{Session, Sessions, Who};
use crate::telemetry::Telemetry;
use crate::tunnel;
use crate::upstream::{EngineLink, RequestBody, Upstream, UpstreamError};

pub type ResponseBody = Either<LoggedBody<Incoming>, Full<Bytes>>;

/// How many rounds of engine lookups one judgement may take (a `container:` mode of a container
/// that takes its network from another, ...); past that the request is refused.
const MAX_LOOKUP_ROUNDS: usize = 8;

/// How many objects one request may borrow from: a body naming thousands of containers would
/// otherwise make dockgate ask the engine thousands of times. No real client comes near it.
const MAX_LOOKUPS: usize = 64;

/// The shared state every connection's requests go through.
pub struct Proxy {
    /// Who each connection is and which grant it has.
    sessions: Arc<Sessions>,
    /// Where each finished request is reported besides the log.
    telemetry: Arc<Telemetry>,
    /// The largest body read for inspection (`MAX_BODY`).
    max_body: usize,
    upstream: Upstream,
    engine: EngineFacts,
    /// Upgraded connections outlive their request; they are tracked for shutdown.
    tunnels: TaskTracker,
    kill: CancellationToken,
}

/// What passed the checks: the path to send when it differs from the one received, and whether
/// the client asked to upgrade.
#[derive(Debug)]
struct Checked {
    /// The API section of the route it matched.
    section: Section,
    /// The canonical path it was judged by, for the record (taken from here).
    judged: Judged,
    rewritten: Option<PathAndQuery>,
    /// The protocol it asks to switch to, which its route takes.
    upgrade: Option<Upgrade>,
    /// What is judged before the request goes on, with the canonical path and the object the
    /// path names.
    inspection: Option<(Inspection, String, Option<String>)>,
}

impl Proxy {
    pub fn new(
        sessions: Arc<Sessions>,
        telemetry: Arc<Telemetry>,
        max_body: usize,
        upstream: Upstream,
        tunnels: TaskTracker,
        kill: CancellationToken,
    ) -> Proxy {
        Proxy {
            sessions,
            telemetry,
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
        let profile = &who.assignment.profile;
        let (parts, body) = req.into_parts();
        let mut checked = self.check(&who, &parts);
        let (section, judged, upgrade) = match &mut checked {
            Ok(checked) => (
                Some(checked.section),
                std::mem::replace(&mut checked.judged, Judged::Unparsed),
                checked.upgrade,
            ),
            Err(_) => (section_of(&parts), judged_of(&parts), None),
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
        let req = match checked.inspection.take() {
            None => Request::from_parts(parts, Either::Left(body)),
            Some((inspection, path, subject)) => {
                let judged = self.inspect(
                    profile,
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

    /// The request's head, judged: framing, canonical target, the grant's decision, whether it
    /// may carry a body, and what must be inspected. Needs no socket.
    fn check(&self, who: &Who, req: &Parts) -> Result<Checked, Refusal> {
        let profile = &who.assignment.profile;
        check_framing(&req.headers)?;
        let uri = &req.uri;
        let method = &req.method;
        if uri.scheme().is_some() || uri.authority().is_some() {
            return Err(Refusal::bad_request(format!(
                "{method} {uri} is refused: send the path only, not an absolute URL"
            )));
        }
        let raw_path = uri.path();
        let target = Target::parse(raw_path)
            .map_err(|e| Refusal::bad_request(format!("{method} {raw_path} is refused: {e}")))?;
        let upgrade = match req.headers.get(header::UPGRADE) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| {
                Refusal::bad_request(format!(
                    "{method} {raw_path} has a malformed Upgrade header"
                ))
            })?),
        };
        let allowed = profile
            .policy
            .decide(Method::parse(method.as_str()), &target, upgrade)
            .map_err(|refusal| Refusal {
                status: StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN),
                message: match refusal {
                    policy::Refusal::NotGranted { .. } => {
                        who.not_granted(&format!("{method} {}", target.path()), &refusal.hint())
                    }
                    _ => format!("{method} {} {refusal}", target.path()),
                },
                needs: refusal.needs(),
            })?;
        let route = allowed.route;
        let inspection = route.inspection;
        let body_read = inspection.is_some_and(Inspection::reads_body);
        check_body_framing(&req.headers, body_read || route.body != Body::None).map_err(|why| {
            Refusal::bad_request(format!("{method} {} is refused: {why}", target.path()))
        })?;
        let rewritten = match target.forward_path(raw_path) {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(path) => {
                let path_and_query = match uri.query() {
                    Some(query) => format!("{path}?{query}"),
                    None => path,
                };
                Some(PathAndQuery::try_from(path_and_query).map_err(|_| {
                    Refusal::bad_request(format!("{method} {raw_path} cannot be re-encoded"))
                })?)
            }
        };
        // The object the path names: `/containers/{id}/exec` → `id`.
        let subject = || {
            (route.pattern.first() == Some(&Seg::Var))
                .then(|| target.path().split('/').nth(2).map(str::to_string))
                .flatten()
        };
        Ok(Checked {
            section: allowed.section,
            judged: Judged::of(raw_path, target.path()),
            rewritten,
            upgrade: upgrade.and(route.upgrade),
            inspection: inspection.map(|i| (i, target.path().to_string(), subject())),
        })
    }

    /// Reads an inspected route's body (up to MAX_BODY) if it judges one, judges the request,
    /// and returns it with exactly the bytes judged as its body. On refusal, whether the
    /// connection must close.
    async fn inspect(
        &self,
        profile: &Profile,
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
            .map_err(|why| {
                let refusal = Refusal::bad_request(format!("{method} {path} is refused: {why}"));
                (refusal, false)
            })?;
        let request = inspect::Request {
            inspection,
            subject,
            query: parts.uri.query().unwrap_or(""),
            body: parsed.as_ref(),
        };
        let verdict = self
            .judge(&profile.body, link, request, &method, path)
            .await;
        if let Err(refusal) = verdict {
            let close = match body {
                Either::Left(unread) => {
                    refusal.status == StatusCode::BAD_REQUEST || !drain(unread).await
                }
                Either::Right(_) => false,
            };
            return Err((refusal, close));
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
            Err(error) if error.is::<LengthLimitError>() => Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{method} {path} is refused: its body is larger than MAX_BODY ({} bytes), \
                     and dockgate forwards only what it has read",
                    self.max_body
                ),
            )),
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
        let strictest = inspect::Facts::new(inspect::EngineDefaults::strictest());
        let first = inspect::judge(request, body, &strictest)
            .map_err(|why| Refusal::bad_request(format!("{method} {path} is refused: {why}")))?;
        if first.findings.is_empty() && first.unresolved.is_empty() {
            return Ok(());
        }
        let mut facts = self.engine.facts(link).await;
        let mut looked_up = 0;
        for _ in 0..MAX_LOOKUP_ROUNDS {
            let judgement: Judgement = inspect::judge(request, body, &facts).map_err(|why| {
                Refusal::bad_request(format!("{method} {path} is refused: {why}"))
            })?;
            if judgement.unresolved.is_empty() {
                if judgement.findings.is_empty() {
                    return Ok(());
                }
                return Err(Refusal::forbidden(judgement.message(), judgement.needs()));
            }
            looked_up += judgement.unresolved.len();
            if looked_up > MAX_LOOKUPS {
                return Err(Refusal::bad_request(format!(
                    "{method} {path} is refused: it takes from more than {MAX_LOOKUPS} other objects"
                )));
            }
            self.engine
                .resolve(link, &mut facts, &judgement.unresolved)
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
        Err(Refusal::forbidden(
            format!("{method} {path} is refused: it takes from objects that take from others more than {MAX_LOOKUP_ROUNDS} deep"),
            crate::needs::Needs::none(),
        ))
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

/// The section a refused request's route is in, when it names one (for logs and metrics).
fn section_of(parts: &Parts) -> Option<Section> {
    let target = Target::parse(parts.uri.path()).ok()?;
    match target.route(Method::parse(parts.method.as_str())) {
        Lookup::Route(section, _) => Some(section),
        _ => None,
    }
}

/// The canonical path of a refused request, when its target parses (for logs).
fn judged_of(parts: &Parts) -> Judged {
    let raw = parts.uri.path();
    match Target::parse(raw) {
        Ok(target) => Judged::of(raw, target.path()),
        Err(_) => Judged::Unparsed,
    }
}

/// Bodies the engine would read differently from us: form values merge over the query string in
/// Go's handlers, and a body on a route that takes none has no meaning we could have judged.
fn check_body_framing(headers: &HeaderMap, takes_body: bool) -> Result<(), &'static str> {
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body && !takes_body {
        return Err("this route takes no request body");
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let media = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            media == "application/x-www-form-urlencoded" || media == "multipart/form-data"
        });
    if form {
        return Err("form-encoded bodies are not accepted (the engine merges them over the query)");
    }
    Ok(())
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

/// Requests whose length two parsers could read differently are refused before anything else.
fn check_framing(headers: &HeaderMap) -> Result<(), Refusal> {
    let lengths = headers.get_all(header::CONTENT_LENGTH).iter().count();
    let encodings: Vec<&HeaderValue> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    let refuse = |why: &str| {
        Err(Refusal::bad_request(format!(
            "the request is refused: {why}"
        )))
    };
    if lengths > 1 {
        return refuse("more than one Content-Length");
    }
    if lengths == 1 && !encodings.is_empty() {
        return refuse("both Content-Length and Transfer-Encoding");
    }
    let only_chunked = match encodings.as_slice() {
        [] => true,
        [only] => only.as_bytes() == b"chunked",
        _ => false,
    };
    if !only_chunked {
        return refuse("a Transfer-Encoding other than exactly \"chunked\"");
    }
    // hyper answers 100-continue itself; any other expectation is one nobody here can meet.
    for expect in headers.get_all(header::EXPECT) {
        if !expect.as_bytes().eq_ignore_ascii_case(b"100-continue") {
            return refuse("an Expect other than 100-continue");
        }
    }
    Ok(())
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
