//! `dockgate explain`: one request judged offline by the proxy's own decision code (the head
//! guard, [`crate::proxy::decide`], [`crate::inspect`]) under the grant a client would get, and
//! told in full: the route and section, the grant that decided, or the smallest change that
//! would allow it. With no engine to ask, a judgement that depends on the engine (the objects a
//! request borrows, or the engine's defaults) says so and what it depends on.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hyper::header::{self, HeaderMap};
use hyper::http::request::Parts;

use crate::access::Peer;
use crate::api::{Route, Section, Seg};
use crate::clients::{Clients, Container, Identity, DEFAULT_PROFILE};
use crate::config::ListenAddr;
use crate::head::HeadScanner;
use crate::inspect::{self, BodyPolicy, EngineDefaults, Facts, Ref};
use crate::needs::Grant;
use crate::policy::{self, Flag};
use crate::proxy::decide::{self, Checked};
use crate::refusal::Refusal;
use crate::session::{self, Who};

/// The most headers a request given to explain may have.
const MAX_HEADERS: usize = 128;

/// What stops explain before it judges anything (exit status 2).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("{0:?} is not an HTTP method")]
    Method(String),
    #[error("{0:?} is not a request target: give a path such as /v1.41/containers/json")]
    Target(String),
    #[error(
        "--client {0:?}: give a container name, project/service, an IP address, uid:N or gid:N"
    )]
    Client(String),
    #[error("not an HTTP/1 request: {0}")]
    Http(String),
}

/// A request as explain takes it: a head and a whole body.
#[derive(Debug)]
pub struct Asked {
    parts: Parts,
    body: Vec<u8>,
}

/// A request that reaches judging, or the head guard's refusal of its bytes.
pub type Read = Result<Asked, Refusal>;

impl Asked {
    /// `METHOD PATH` and a body, as the command line gives them; a body is sent with its
    /// Content-Length, as clients send JSON. A URL (`http://localhost:2375/v1.41/...`, as curl
    /// takes it) stands for its path, which is what curl sends.
    pub fn new(method: &str, target: &str, body: Option<&[u8]>) -> Result<Read, ExplainError> {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ExplainError::Method(method.into()));
        }
        let path = strip_url(target);
        if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_whitespace() || b < 0x20) {
            return Err(ExplainError::Target(target.into()));
        }
        let mut wire = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\n");
        if let Some(body) = body {
            wire.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        wire.push_str("\r\n");
        let mut wire = wire.into_bytes();
        wire.extend_from_slice(body.unwrap_or_default());
        Asked::from_http(&wire)
    }

    /// A whole request as sent on the wire (a capture, a corpus file): the head guard first,
    /// as on a connection, then its head and body as hyper reads them.
    pub fn from_http(bytes: &[u8]) -> Result<Read, ExplainError> {
        let mut mended = vec![];
        let bytes = match HeadScanner::default().feed_mending(bytes, &mut mended) {
            Err(error) => return Ok(Err(error.refusal())),
            Ok(true) => mended.as_slice(),
            Ok(false) => bytes,
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let head_len = match request.parse(bytes) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return Err(ExplainError::Http("the head does not end".into()))
            }
            Err(error) => return Err(ExplainError::Http(error.to_string())),
        };
        let mut builder = hyper::Request::builder()
            .method(request.method.unwrap_or_default())
            .uri(request.path.unwrap_or_default());
        for h in request.headers.iter() {
            builder = builder.header(h.name, h.value);
        }
        let parts = builder
            .body(())
            .map_err(|e| ExplainError::Http(e.to_string()))?
            .into_parts()
            .0;
        let body = body_of(&parts.headers, &bytes[head_len..])?;
        Ok(Ok(Asked { parts, body }))
    }
}

/// `http://host:port/path` → `/path`; anything else as it is.
fn strip_url(target: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = target.strip_prefix(scheme) {
            return rest.find('/').map_or("/", |at| &rest[at..]);
        }
    }
    target
}

/// The body as the head frames it. Framing the proxy refuses is refused by the head's judgement
/// before the body counts, so here the bytes are only taken as far as they can be.
fn body_of(headers: &HeaderMap, rest: &[u8]) -> Result<Vec<u8>, ExplainError> {
    let chunked = headers
        .get(header::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"chunked");
    if chunked {
        return dechunk(rest).ok_or_else(|| ExplainError::Http("a malformed chunked body".into()));
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    match length {
        Some(n) if n > rest.len() => Err(ExplainError::Http(format!(
            "the body has {} bytes, its Content-Length says {n}",
            rest.len()
        ))),
        Some(n) => Ok(rest[..n].to_vec()),
        None => Ok(rest.to_vec()),
    }
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = vec![];
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Who asks, from `--client`: a container name, `project/service`, an address, `uid:N` or
/// `gid:N`; none for a client no rule names. Its listener is the first LISTEN address of its
/// kind, as the proxy would see it arrive there.
pub fn identity(client: Option<&str>, listen: &[ListenAddr]) -> Result<Identity, ExplainError> {
    let unix = |uid, gid| Peer::Unix {
        pid: None,
        uid,
        gid,
    };
    let id = |text: &str| {
        text.parse::<u32>()
            .map_err(|_| ExplainError::Client(client.unwrap_or_default().into()))
    };
    let (peer, container) = match client {
        None => (unix(None, None), None),
        Some(text) => {
            if let Some(uid) = text.strip_prefix("uid:") {
                let uid = Some(id(uid)?);
                (unix(uid, None), None)
            } else if let Some(gid) = text.strip_prefix("gid:") {
                let gid = Some(id(gid)?);
                (unix(None, gid), None)
            } else if let Ok(ip) = text.parse::<IpAddr>() {
                (Peer::Tcp(SocketAddr::new(ip, 0)), None)
            } else if let Ok(addr) = text.parse::<SocketAddr>() {
                (Peer::Tcp(addr), None)
            } else if text.is_empty() || text.contains(char::is_whitespace) {
                return Err(ExplainError::Client(text.into()));
            } else {
                let mut container = Container {
                    name: text.into(),
                    ..Container::default()
                };
                let (project, service) = match text.split_once('/') {
                    Some((project, service)) => (Some(project), service),
                    None => (None, text),
                };
                if let Some(project) = project {
                    container
                        .labels
                        .insert("com.docker.compose.project".into(), project.into());
                }
                container
                    .labels
                    .insert("com.docker.compose.service".into(), service.into());
                let ip = IpAddr::from([0, 0, 0, 0]);
                (Peer::Tcp(SocketAddr::new(ip, 0)), Some(Arc::new(container)))
            }
        }
    };
    let tcp = matches!(peer, Peer::Tcp(_));
    let listener = listen
        .iter()
        .find(|l| matches!(l, ListenAddr::Tcp { .. }) == tcp)
        .or(listen.first())
        .map_or_else(String::new, ToString::to_string);
    Ok(Identity {
        listener: listener.into(),
        peer,
        container,
    })
}

/// What explain knows of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Nothing: a judgement that depends on the engine says so.
    Offline,
    /// An engine with the strictest defaults that holds no objects: what "if none of them
    /// exist" means, and what the tests' fake engine is.
    Empty,
}

/// The engine defaults most lenient to a request: an engine of the oldest release dockgate knows
/// (20.10, fewer masked paths) on a cgroup v1 host.
fn most_lenient() -> EngineDefaults {
    EngineDefaults::for_release(Some("20.10.0"), true, "runc")
}

/// What the engine's answer would decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Depends {
    /// The objects the request borrows from, which the proxy asks the engine about, and the
    /// verdict if the engine has none of them.
    Objects {
        refs: Vec<Ref>,
        if_none: Box<Verdict>,
    },
    /// The engine's defaults: refused on the newest engine, allowed on an older one or on cgroup
    /// v1, by what the engine does anyway.
    Defaults(Refusal),
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `grants`: the route's grants that decided; `body`: each body grant that allowed
    /// something the body asks for, with what it allowed.
    Allowed {
        grants: Vec<Grant>,
        body: Vec<(Grant, Vec<String>)>,
    },
    /// Exactly what the proxy answers.
    Refused(Refusal),
    Depends(Depends),
}

/// A request explained.
#[derive(Debug)]
pub struct Explanation {
    /// `METHOD /path` as the proxy logs it.
    pub request: String,
    pub who: Who,
    pub section: Option<Section>,
    pub route: Option<&'static Route>,
    pub verdict: Verdict,
}

/// Exit statuses: allowed, refused, and an answer that depends on the engine.
pub const EXIT_ALLOWED: u8 = 0;
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_DEPENDS: u8 = 3;

impl Explanation {
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            Verdict::Allowed { .. } => EXIT_ALLOWED,
            Verdict::Refused(_) => EXIT_REFUSED,
            Verdict::Depends(_) => EXIT_DEPENDS,
        }
    }
}

/// Judges `asked` as the proxy would for `identity`, under `clients`, with bodies up to
/// `max_body` bytes.
pub fn explain(
    clients: &Clients,
    identity: &Identity,
    read: &Read,
    max_body: usize,
    engine: Engine,
) -> Explanation {
    let who = Who {
        assignment: clients.assign(identity),
        identity: identity.clone(),
    };
    let asked = match read {
        Ok(asked) => asked,
        Err(refusal) => {
            // The head guard answers before any client or grant is looked at.
            let verdict = Verdict::Refused(refusal.clone());
            return Explanation {
                request: "(its head was refused before it was read)".into(),
                who,
                section: None,
                route: None,
                verdict,
            };
        }
    };
    let request = format!("{} {}", asked.parts.method, asked.parts.uri.path());
    let (section, route, verdict) = match decide::head(&who, &asked.parts, false) {
        Err(refusal) => {
            let (section, route) = match route_of(&asked.parts) {
                Some((section, route)) => (Some(section), Some(route)),
                None => (decide::section_of(&asked.parts), None),
            };
            (section, route, Verdict::Refused(refusal))
        }
        Ok(checked) => {
            let verdict = match body(&who, asked, &checked, max_body, engine) {
                Err(refusal) => Verdict::Refused(refusal),
                Ok(verdict) => verdict,
            };
            (Some(checked.section), Some(checked.route), verdict)
        }
    };
    let verdict = told(&who, verdict, &request);
    Explanation {
        request,
        who,
        section,
        route,
        verdict,
    }
}

/// A verdict's refusals as the proxy words them for `who`.
fn told(who: &Who, verdict: Verdict, request: &str) -> Verdict {
    match verdict {
        Verdict::Refused(refusal) => Verdict::Refused(who.explain(refusal, request)),
        Verdict::Depends(Depends::Defaults(refusal)) => {
            Verdict::Depends(Depends::Defaults(who.explain(refusal, request)))
        }
        Verdict::Depends(Depends::Objects { refs, if_none }) => {
            Verdict::Depends(Depends::Objects {
                refs,
                if_none: Box::new(told(who, *if_none, request)),
            })
        }
        allowed => allowed,
    }
}

/// The body phase, as `Proxy::inspect` and `Proxy::judge` walk it, with `engine` in place of
/// the engine's answers; and, when allowed, what decided.
fn body(
    who: &Who,
    asked: &Asked,
    checked: &Checked,
    max_body: usize,
    engine: Engine,
) -> Result<Verdict, Refusal> {
    let profile = &who.assignment.profile;
    let grants = route_grants(profile.policy, checked);
    let Some((inspection, path, subject)) = &checked.inspection else {
        return Ok(Verdict::Allowed {
            grants,
            body: vec![],
        });
    };
    let method = &asked.parts.method;
    let bytes: &[u8] = if inspection.reads_body() {
        if asked.body.len() > max_body {
            return Err(decide::too_large(method, path, max_body));
        }
        &asked.body
    } else {
        &[]
    };
    let parsed = inspect::parse_body(*inspection, bytes)
        .map_err(|why| decide::ambiguous(method, path, why))?;
    let request = inspect::Request {
        inspection: *inspection,
        subject: subject.as_deref(),
        query: asked.parts.uri.query().unwrap_or(""),
        body: parsed.as_ref(),
    };
    let allowed = |facts: &Facts| Verdict::Allowed {
        grants: grants.clone(),
        body: body_grants(request, &profile.body, facts),
    };
    let strictest = Facts::new(EngineDefaults::strictest());
    if decide::passes_unseen(request, &profile.body, method, path)? {
        return Ok(allowed(&strictest));
    }
    let mut facts = strictest;
    let mut rounds = decide::Rounds::default();
    loop {
        let next = rounds.next(request, &profile.body, &facts, method, path);
        match (next, engine) {
            (Ok(None), _) => return Ok(allowed(&facts)),
            (Ok(Some(refs)), Engine::Offline) => {
                let if_none = body(who, asked, checked, max_body, Engine::Empty)
                    .unwrap_or_else(Verdict::Refused);
                return Ok(Verdict::Depends(Depends::Objects {
                    refs,
                    if_none: Box::new(if_none),
                }));
            }
            (Ok(Some(refs)), Engine::Empty) => {
                for r in refs {
                    match r {
                        Ref::Container(name) => facts.add_container(&name, None),
                        Ref::Network(name) => facts.add_network(&name, None),
                        Ref::Volume(name) => facts.add_volume(&name, None),
                    }
                }
            }
            // Findings on the newest engine that an older one's defaults could make moot.
            (Err(refusal), Engine::Offline) if !refusal.needs.is_empty() => {
                let lenient = Facts::new(most_lenient());
                let again =
                    decide::Rounds::default().next(request, &profile.body, &lenient, method, path);
                return match again {
                    Ok(None) => Ok(Verdict::Depends(Depends::Defaults(refusal))),
                    _ => Err(refusal),
                };
            }
            (Err(refusal), _) => return Err(refusal),
        }
    }
}

/// The grants that opened the route: a narrow alternative the profile has (`ALLOW_START`),
/// else every variable the route needs.
fn route_grants(policy: policy::Policy, checked: &Checked) -> Vec<Grant> {
    let needs = policy::requires(checked.section, checked.route);
    let granted = policy.granted();
    let by_alternative: Vec<Flag> = needs.any.iter().filter(|f| granted.has(*f)).collect();
    let flags = if by_alternative.is_empty() {
        needs.all.iter().collect()
    } else {
        by_alternative
    };
    flags.into_iter().map(|f| Grant::on(f.var())).collect()
}

/// Each of the profile's body grants that allows something the body asks for: what the body
/// would need under no body grant at all, and the profile's entry for that variable.
fn body_grants(
    request: inspect::Request<'_>,
    policy: &BodyPolicy,
    facts: &Facts,
) -> Vec<(Grant, Vec<String>)> {
    let Ok(bare) = inspect::judge(request, &BodyPolicy::default(), facts) else {
        return vec![];
    };
    let entries = crate::profile::Profile {
        policy: policy::Policy::new(policy::Flags::default()),
        body: policy.clone(),
    }
    .entries();
    let mut out: Vec<(Grant, Vec<String>)> = vec![];
    for finding in &bare.findings {
        let Some((var, value)) = finding
            .needs
            .choices
            .iter()
            .flatten()
            .find_map(|g| entries.iter().find(|(var, _)| *var == g.var))
        else {
            continue;
        };
        let grant = Grant::value(var, value.clone());
        match out.iter_mut().find(|(g, _)| *g == grant) {
            Some((_, texts)) => texts.push(finding.text.clone()),
            None => out.push((grant, vec![finding.text.clone()])),
        }
    }
    out
}

/// The route a refused request names, when it names one.
fn route_of(parts: &Parts) -> Option<(Section, &'static Route)> {
    let target = crate::api::Target::parse(parts.uri.path()).ok()?;
    match target.route(crate::api::Method::parse(parts.method.as_str())) {
        crate::api::Lookup::Route(section, route) => Some((section, route)),
        _ => None,
    }
}

/// `/containers/{id}/start`: a route as the API reference writes it.
fn route_text(section: Section, route: &Route) -> String {
    let mut text = format!("/{}", section.segment());
    for seg in route.pattern {
        match seg {
            Seg::Lit(lit) => text.push_str(&format!("/{lit}")),
            Seg::Var => text.push_str("/{id}"),
            Seg::Rest => text.push_str("/{name}"),
        }
    }
    text
}

impl Explanation {
    /// Where a grant of this client's lives: `in profile P`, or the environment's.
    fn place(&self) -> String {
        match self.who.profile() {
            None => "in the environment".into(),
            Some(DEFAULT_PROFILE) => "in the environment (profile default)".into(),
            Some(profile) => format!("in profile {profile}"),
        }
    }

    /// The smallest change, in the words refusals use; none when no grant allows it.
    fn fix(&self, refusal: &Refusal) -> Option<String> {
        let first: Vec<String> = refusal
            .needs
            .first_choices()
            .iter()
            .map(ToString::to_string)
            .collect();
        if first.is_empty() {
            return None;
        }
        let grants = first.join(" ");
        Some(match self.who.profile() {
            None => format!("set {grants} in the environment"),
            Some(profile) => session::add(profile, &grants),
        })
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "request: {}", self.request)?;
        let grant = match self.who.profile() {
            None => "the environment's grant".to_string(),
            Some(profile) => format!("profile {profile}"),
        };
        let anonymous = Peer::Unix {
            pid: None,
            uid: None,
            gid: None,
        };
        let identity = &self.who.identity;
        if identity.peer == anonymous && identity.container.is_none() {
            writeln!(f, "client:  an unnamed client ({grant})")?;
        } else {
            writeln!(f, "client:  {identity} ({grant})")?;
        }
        match (self.section, self.route) {
            (Some(section), Some(route)) => writeln!(
                f,
                "route:   {} {}, section {}",
                self.request.split(' ').next().unwrap_or(""),
                route_text(section, route),
                section.var()
            )?,
            (Some(section), None) => writeln!(f, "route:   in section {}", section.var())?,
            (None, _) => writeln!(f, "route:   none")?,
        }
        let refused = |f: &mut fmt::Formatter<'_>, refusal: &Refusal| -> fmt::Result {
            writeln!(f, "answer:  {} {}", refusal.status.as_u16(), refusal.text())?;
            match self.fix(refusal) {
                Some(fix) => {
                    writeln!(f, "needs:   {}", refusal.needs)?;
                    writeln!(f, "fix:     {fix}")
                }
                None => writeln!(f, "fix:     none: no grant allows this request"),
            }
        };
        match &self.verdict {
            Verdict::Allowed { grants, body } => {
                writeln!(f, "verdict: allowed")?;
                let place = self.place();
                let grants: Vec<String> = grants
                    .iter()
                    .map(|g| {
                        let default =
                            Flag::all().any(|flag| flag.var() == g.var && flag.default_on());
                        let on = if default { " (on by default)" } else { "" };
                        format!("{g}{on}")
                    })
                    .collect();
                writeln!(f, "granted: {} {place}", grants.join(" and "))?;
                for (grant, texts) in body {
                    writeln!(f, "body:    {grant} {place} allows:")?;
                    for text in texts {
                        writeln!(f, "           {text}")?;
                    }
                }
                Ok(())
            }
            Verdict::Refused(refusal) => {
                writeln!(f, "verdict: refused")?;
                refused(f, refusal)
            }
            Verdict::Depends(Depends::Objects { refs, if_none }) => {
                writeln!(f, "verdict: depends on the engine")?;
                let names: Vec<String> = refs
                    .iter()
                    .map(|r| match r {
                        Ref::Container(n) => format!("container {n:?}"),
                        Ref::Network(n) => format!("network {n:?}"),
                        Ref::Volume(n) => format!("volume {n:?}"),
                    })
                    .collect();
                writeln!(
                    f,
                    "asks:    {}: the request takes from these, and the running proxy asks the \
                     engine about them before it decides",
                    names.join(", ")
                )?;
                match &**if_none {
                    Verdict::Allowed { .. } => writeln!(f, "if none exists: allowed"),
                    Verdict::Refused(refusal) => {
                        writeln!(f, "if none exists: refused")?;
                        refused(f, refusal)
                    }
                    Verdict::Depends(_) => Ok(()),
                }
            }
            Verdict::Depends(Depends::Defaults(refusal)) => {
                writeln!(f, "verdict: depends on the engine")?;
                writeln!(
                    f,
                    "why:     refused on an engine of the newest release on cgroup v2; allowed on \
                     an older engine or a cgroup v1 host, whose defaults already give it"
                )?;
                refused(f, refusal)
            }
        }
    }
}

#[cfg(test)]
mod tests;
