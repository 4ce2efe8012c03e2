//! The walk of one request: check its framing and target, decide, forward to the engine, stream
//! the answer back, and relay the connection when it upgrades.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, StatusCode, Uri, Version};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::{LoggedBody, Outcome, Peer, Record};
use crate::api::{Method, Target};
use crate::inspect::{self, BodyPolicy, BodyRefusal, Inspection};
use crate::policy::Policy;
use crate::tunnel;
use crate::upstream::{EngineLink, RequestBody, Upstream, UpstreamError};

pub type ResponseBody = Either<LoggedBody<Incoming>, Full<Bytes>>;

/// The shared state every connection's requests go through.
pub struct Proxy {
    policy: Policy,
    body: BodyPolicy,
    upstream: Upstream,
    /// Upgraded connections outlive their request; they are tracked for shutdown.
    tunnels: TaskTracker,
    kill: CancellationToken,
}

/// A request we answer ourselves: its status and the message after `dockgate: `.
struct Refused {
    status: StatusCode,
    message: String,
    /// The variables that would allow it, for the log.
    hint: String,
}

impl Refused {
    fn bad_request(message: String) -> Refused {
        Refused {
            status: StatusCode::BAD_REQUEST,
            message,
            hint: String::new(),
        }
    }
}

/// What passed the checks: the path to send when it differs from the one received, and whether
/// the client asked to upgrade.
struct Checked {
    rewritten: Option<PathAndQuery>,
    upgrade: bool,
    /// The route's body must be read and judged before it goes on.
    inspect_body: Option<Inspection>,
}

impl Proxy {
    pub fn new(
        policy: Policy,
        body: BodyPolicy,
        upstream: Upstream,
        tunnels: TaskTracker,
        kill: CancellationToken,
    ) -> Proxy {
        Proxy {
            policy,
            body,
            upstream,
            tunnels,
            kill,
        }
    }

    /// A new client connection's engine link.
    pub fn link(&self) -> Arc<EngineLink> {
        Arc::new(self.upstream.link())
    }

    pub async fn handle(
        self: Arc<Self>,
        peer: Peer,
        link: Arc<EngineLink>,
        req: Request<Incoming>,
    ) -> Result<Response<ResponseBody>, Infallible> {
        let record = Record {
            peer,
            method: req.method().clone(),
            path: req.uri().path().into(),
            start: Instant::now(),
        };
        let head = req.method() == hyper::Method::HEAD;
        let refuse = |refused: Refused, close: bool| {
            let Refused {
                status,
                message,
                hint,
            } = refused;
            record.refused(Outcome::Refused, status.as_u16(), &message, &hint);
            error_response(status, &message, head, close)
        };
        let checked = match self.check(&req) {
            Ok(checked) => checked,
            Err(refused) => {
                // A client still uploading (a build context, an image) reads our answer only if
                // its upload is taken first; past the bound the connection closes instead.
                let drained =
                    refused.status != StatusCode::BAD_REQUEST && drain(req.into_body()).await;
                return Ok(refuse(refused, !drained));
            }
        };
        let req = match checked.inspect_body {
            None => req.map(Either::Left),
            Some(inspection) => match self.read_and_judge(req, inspection).await {
                Ok(req) => req,
                Err((refused, close)) => return Ok(refuse(refused, close)),
            },
        };
        Ok(self.forward(&link, req, checked, record).await)
    }

    fn check(&self, req: &Request<Incoming>) -> Result<Checked, Refused> {
        check_framing(req.headers())?;
        let uri = req.uri();
        let method = req.method();
        if uri.scheme().is_some() || uri.authority().is_some() {
            return Err(Refused::bad_request(format!(
                "dockgate: {method} {uri} is refused: send the path only, not an absolute URL"
            )));
        }
        let raw_path = uri.path();
        let target = Target::parse(raw_path).map_err(|e| {
            Refused::bad_request(format!("dockgate: {method} {raw_path} is refused: {e}"))
        })?;
        let upgrade = match req.headers().get(header::UPGRADE) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| {
                Refused::bad_request(format!(
                    "dockgate: {method} {raw_path} has a malformed Upgrade header"
                ))
            })?),
        };
        let allowed = self
            .policy
            .decide(Method::parse(method.as_str()), &target, upgrade)
            .map_err(|refusal| Refused {
                status: StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN),
                message: format!("dockgate: {method} {} {refusal}", target.path()),
                hint: refusal.hint(),
            })?;
        check_body_framing(method, req.headers()).map_err(|why| {
            Refused::bad_request(format!(
                "dockgate: {method} {} is refused: {why}",
                target.path()
            ))
        })?;
        let inspection = inspect::inspection(allowed.section, allowed.route);
        if let Some(inspection) = inspection {
            inspect::check_query(inspection, uri.query().unwrap_or(""), &self.body)
                .map_err(|r| body_refusal(r, method, target.path()))?;
        }
        let rewritten = match target.forward_path(raw_path) {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(path) => {
                let path_and_query = match uri.query() {
                    Some(query) => format!("{path}?{query}"),
                    None => path,
                };
                Some(PathAndQuery::try_from(path_and_query).map_err(|_| {
                    Refused::bad_request(format!(
                        "dockgate: {method} {raw_path} cannot be re-encoded"
                    ))
                })?)
            }
        };
        Ok(Checked {
            rewritten,
            upgrade: upgrade.is_some(),
            inspect_body: inspection.filter(|i| i.reads_body()),
        })
    }

    /// Reads an inspected route's body (up to MAX_BODY), judges it, and returns the request with
    /// exactly those bytes as its body. On refusal, whether the connection must close.
    async fn read_and_judge(
        &self,
        req: Request<Incoming>,
        inspection: Inspection,
    ) -> Result<Request<RequestBody>, (Refused, bool)> {
        let (mut parts, body) = req.into_parts();
        let (method, path) = (parts.method.clone(), parts.uri.path().to_string());
        let bytes = match Limited::new(body, self.body.max_body).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => {
                let message = format!(
                    "dockgate: {method} {path} is refused: its body is larger than MAX_BODY ({} bytes), \
                     and dockgate forwards only what it has read",
                    self.body.max_body
                );
                let refused = Refused {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message,
                    hint: "MAX_BODY".into(),
                };
                return Err((refused, true));
            }
            Err(error) => {
                let message = format!(
                    "dockgate: {method} {path} is refused: its body could not be read: {error}"
                );
                return Err((Refused::bad_request(message), true));
            }
        };
        if let Err(refusal) = inspect::check_body(inspection, &bytes, &self.body) {
            return Err((body_refusal(refusal, &method, &path), false));
        }
        parts.headers.remove(header::TRANSFER_ENCODING);
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        Ok(Request::from_parts(parts, Either::Right(Full::new(bytes))))
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
        let client_upgrade = checked.upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        if let Some(path_and_query) = checked.rewritten {
            parts.uri = Uri::from(path_and_query);
        }
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers, checked.upgrade);

        let mut response = match link.send(Request::from_parts(parts, body)).await {
            Ok(response) => response,
            Err(error) => {
                let status = match error {
                    UpstreamError::Unreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                    UpstreamError::Failed { .. } => StatusCode::BAD_GATEWAY,
                };
                let message = format!("dockgate: {error}");
                record.refused(Outcome::EngineError, status.as_u16(), &message, "");
                return error_response(status, &message, head, false);
            }
        };

        let status = response.status();
        if status == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                let engine_upgrade = hyper::upgrade::on(&mut response);
                let kill = self.kill.clone();
                self.tunnels.spawn(async move {
                    tokio::select! {
                        relayed = tunnel::relay(client_upgrade, engine_upgrade) => match relayed {
                            Ok(t) => record.tunnel_closed(t.from_client, t.from_engine, None),
                            Err(error) => record.tunnel_closed(0, 0, Some(&error)),
                        },
                        _ = kill.cancelled() => {
                            let error = std::io::Error::other("cut at shutdown");
                            record.tunnel_closed(0, 0, Some(&error));
                        }
                    }
                });
                return response.map(|_| Either::Right(Full::default()));
            }
        }
        response.map(|body| Either::Left(LoggedBody::new(body, record, status.as_u16())))
    }
}

/// A body refusal in the client's words: 403 names the field and the variable; 400 says why the
/// request could be read two ways.
fn body_refusal(refusal: BodyRefusal, method: &hyper::Method, path: &str) -> Refused {
    let message = match refusal.status {
        403 => format!("dockgate: {}", refusal.message),
        _ => format!("dockgate: {method} {path} is refused: {}", refusal.message),
    };
    Refused {
        status: StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST),
        message,
        hint: refusal.needs,
    }
}

/// Bodies the engine would read differently from us: form values merge over the query string in
/// Go's handlers, and a body on a route that takes none has no meaning we could have judged.
fn check_body_framing(method: &hyper::Method, headers: &HeaderMap) -> Result<(), &'static str> {
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if matches!(
        *method,
        hyper::Method::GET | hyper::Method::HEAD | hyper::Method::DELETE
    ) && has_body
    {
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
fn check_framing(headers: &HeaderMap) -> Result<(), Refused> {
    let lengths = headers.get_all(header::CONTENT_LENGTH).iter().count();
    let encodings: Vec<&HeaderValue> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    let refuse = |why: &str| {
        Err(Refused::bad_request(format!(
            "dockgate: the request is refused: {why}"
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

/// The engine's own error shape: clients print `message` only when the type is exactly
/// `application/json`.
fn error_response(
    status: StatusCode,
    message: &str,
    head: bool,
    close: bool,
) -> Response<ResponseBody> {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(serde_json::json!({ "message": message }).to_string())
    };
    let mut response = Response::new(Either::Right(Full::new(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        assert!(check_framing(&headers(&[("content-length", "3")])).is_ok());
        assert!(check_framing(&headers(&[("transfer-encoding", "chunked")])).is_ok());
        assert!(check_framing(&headers(&[("expect", "100-Continue")])).is_ok());
        for bad in [
            &[("content-length", "3"), ("content-length", "3")][..],
            &[("content-length", "3"), ("transfer-encoding", "chunked")],
            &[("transfer-encoding", "gzip, chunked")],
            &[("transfer-encoding", "Chunked")],
            &[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
        ] {
            assert!(check_framing(&headers(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hop_by_hop_headers_are_stripped_except_for_upgrades() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("expect", "100-continue"),
            ("x-registry-auth", "abc"),
            ("transfer-encoding", "chunked"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-registry-auth"]);

        let mut h = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "tcp"),
            ("content-type", "application/json"),
        ]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn error_bodies_have_the_docker_shape() {
        let r = error_response(
            StatusCode::FORBIDDEN,
            "dockgate: GET /networks is not allowed; set NETWORKS=1",
            false,
            false,
        );
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let Either::Right(body) = r.into_body() else {
            panic!()
        };
        let bytes = futures_body(body);
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            json["message"],
            "dockgate: GET /networks is not allowed; set NETWORKS=1"
        );
        let r = error_response(StatusCode::FORBIDDEN, "x", true, false);
        let Either::Right(body) = r.into_body() else {
            panic!()
        };
        assert!(futures_body(body).is_empty());
    }

    fn futures_body(body: Full<Bytes>) -> Bytes {
        use http_body_util::BodyExt;
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(body.collect())
            .unwrap()
            .to_bytes()
    }
}
