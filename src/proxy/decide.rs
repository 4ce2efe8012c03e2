//! What the proxy decides without the engine: a request's head judged (framing, canonical target,
//! the grant's decision, what must be inspected), and its body judged round by round, the
//! caller feeding in what the engine says of the objects it borrows. The proxy and
//! `dockgate explain` both decide here, so what explain says is what the proxy does.

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::request::Parts;
use hyper::http::uri::PathAndQuery;
use hyper::StatusCode;

use crate::access::Judged;
use crate::api::{Body, Inspection, Lookup, Method, Route, Section, Seg, Target, Upgrade};
use crate::inspect::{self, BodyPolicy, Facts, Ref};
use crate::needs::Needs;
use crate::policy;
use crate::refusal::Refusal;
use crate::session::Who;

/// How many rounds of engine lookups one judgement may take (a `container:` mode of a container
/// that takes its network from another, ...); past that the request is refused.
const MAX_LOOKUP_ROUNDS: usize = 8;

/// How many objects one request may borrow from: a body naming thousands of containers would
/// otherwise make dockgate ask the engine thousands of times. No real client comes near it.
const MAX_LOOKUPS: usize = 64;

/// What passed the checks: the path to send when it differs from the one received, and whether
/// the client asked to upgrade.
#[derive(Debug)]
pub struct Checked {
    /// The API section of the route it matched.
    pub section: Section,
    /// The route it matched.
    pub route: &'static Route,
    /// The canonical path it was judged by, for the record (taken from here).
    pub judged: Judged,
    pub rewritten: Option<PathAndQuery>,
    /// The protocol it asks to switch to, which its route takes.
    pub upgrade: Option<Upgrade>,
    /// What is judged before the request goes on, with the canonical path and the object the
    /// path names.
    pub inspection: Option<(Inspection, String, Option<String>)>,
    /// The route refusal `MODE=warn|learn` let through.
    pub waived: Option<Refusal>,
}

/// The request's head, judged: framing, canonical target, the grant's decision, whether it
/// may carry a body, and what must be inspected. Needs no socket. With `waive` (`MODE=warn` or
/// `learn`), a route refusal some grant would lift is carried in `Checked::waived` instead, and
/// the request is judged on as if granted: its body still answers to the client's own grant.
pub fn head(who: &Who, req: &Parts, waive: bool) -> Result<Checked, Refusal> {
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
    let refused = |refusal: policy::Refusal| Refusal {
        status: StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN),
        message: match refusal {
            policy::Refusal::NotGranted { .. } => {
                who.not_granted(&format!("{method} {}", target.path()), &refusal.hint())
            }
            _ => format!("{method} {} {refusal}", target.path()),
        },
        needs: refusal.needs(),
    };
    let method_of = Method::parse(method.as_str());
    let (allowed, waived) = match profile.policy.decide(method_of, &target, upgrade) {
        Ok(allowed) => (allowed, None),
        Err(refusal) => {
            let refusal = refused(refusal);
            if !waive || refusal.needs.is_empty() {
                return Err(refusal);
            }
            let allowed = policy::Policy::new(policy::Flags::all_on())
                .decide(method_of, &target, upgrade)
                .map_err(refused)?;
            (allowed, Some(refusal))
        }
    };
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
        route,
        section: allowed.section,
        judged: Judged::of(raw_path, target.path()),
        rewritten,
        upgrade: upgrade.and(route.upgrade),
        inspection: inspection.map(|i| (i, target.path().to_string(), subject())),
        waived,
    })
}

/// A body larger than `MAX_BODY`: dockgate forwards only what it has read.
pub fn too_large(method: &hyper::Method, path: &str, max_body: usize) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "{method} {path} is refused: its body is larger than MAX_BODY ({max_body} bytes), \
             and dockgate forwards only what it has read"
        ),
    )
}

/// A body or query the engine could read another way than dockgate.
pub fn ambiguous(method: &hyper::Method, path: &str, why: impl std::fmt::Display) -> Refusal {
    Refusal::bad_request(format!("{method} {path} is refused: {why}"))
}

/// The first judgement, before any word to the engine: true when the request passes even an
/// engine with the strictest defaults and borrows nothing, as most do.
pub fn passes_unseen(
    request: inspect::Request<'_>,
    body: &BodyPolicy,
    method: &hyper::Method,
    path: &str,
) -> Result<bool, Refusal> {
    let strictest = Facts::new(inspect::EngineDefaults::strictest());
    let first =
        inspect::judge(request, body, &strictest).map_err(|why| ambiguous(method, path, why))?;
    Ok(first.findings.is_empty() && first.unresolved.is_empty())
}

/// The judgement's later rounds, with the engine's facts: each says what to ask the engine
/// next, until nothing is unknown.
#[derive(Debug, Default)]
pub struct Rounds {
    done: usize,
    looked_up: usize,
}

impl Rounds {
    /// Judges with `facts`: `Ok(None)` when allowed, `Ok(Some(refs))` when the engine must be
    /// asked about `refs` (added to the facts) before the next round.
    pub fn next(
        &mut self,
        request: inspect::Request<'_>,
        body: &BodyPolicy,
        facts: &Facts,
        method: &hyper::Method,
        path: &str,
    ) -> Result<Option<Vec<Ref>>, Refusal> {
        if self.done == MAX_LOOKUP_ROUNDS {
            return Err(Refusal::forbidden(
                format!("{method} {path} is refused: it takes from objects that take from others more than {MAX_LOOKUP_ROUNDS} deep"),
                Needs::none(),
            ));
        }
        self.done += 1;
        let judgement =
            inspect::judge(request, body, facts).map_err(|why| ambiguous(method, path, why))?;
        if judgement.unresolved.is_empty() {
            if judgement.findings.is_empty() {
                return Ok(None);
            }
            return Err(Refusal::forbidden(judgement.message(), judgement.needs()));
        }
        self.looked_up += judgement.unresolved.len();
        if self.looked_up > MAX_LOOKUPS {
            return Err(ambiguous(
                method,
                path,
                format_args!("it takes from more than {MAX_LOOKUPS} other objects"),
            ));
        }
        Ok(Some(judgement.unresolved))
    }
}

/// The section a refused request's route is in, when it names one (for logs and metrics).
pub fn section_of(parts: &Parts) -> Option<Section> {
    let target = Target::parse(parts.uri.path()).ok()?;
    match target.route(Method::parse(parts.method.as_str())) {
        Lookup::Route(section, _) => Some(section),
        _ => None,
    }
}

/// The canonical path of a refused request, when its target parses (for logs).
pub fn judged_of(parts: &Parts) -> Judged {
    let raw = parts.uri.path();
    match Target::parse(raw) {
        Ok(target) => Judged::of(raw, target.path()),
        Err(_) => Judged::Unparsed,
    }
}

/// Bodies the engine would read differently from us: form values merge over the query string in
/// Go's handlers, and a body on a route that takes none has no meaning we could have judged.
pub(crate) fn check_body_framing(
    headers: &HeaderMap,
    takes_body: bool,
) -> Result<(), &'static str> {
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

/// Requests whose length two parsers could read differently are refused before anything else.
pub(crate) fn check_framing(headers: &HeaderMap) -> Result<(), Refusal> {
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

#[cfg(test)]
mod tests;
