//! The Docker Engine API as data: its sections and routes, and the canonical form of a request target.
//!
//! Matching works the way the engine routes, minus its leniency: the target is percent-decoded once,
//! one `/vX.Y` prefix is stripped, and the rest is compared anchored, case-sensitively, segment by
//! segment. Anything the engine might read differently from us (dot segments, empty segments,
//! encoded separators, control characters, a second version prefix) is an error, never a guess.
//!
//! Longer than most modules because it holds the route table itself: one line a route, each with
//! its access, facet, body and inspection, in moby's registration order.

use std::borrow::Cow;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// The HTTP methods the Docker API uses; anything else matches no route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other,
}

impl Method {
    pub fn parse(name: &str) -> Method {
        match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }

    /// A name that parses back to this method, for tests that build requests from routes.
    #[cfg(test)]
    pub(crate) fn name_for_tests(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Other => "PATCH",
        }
    }
}

/// Declares the sections once: each one's first path segment, the Tecnativa-compatible variable
/// that grants it, and its route table. Adding a section is one line here and its table below.
macro_rules! sections {
    ($($section:ident = $segment:literal, $var:literal, $routes:ident;)*) => {
        /// An API section: the first path segment after the optional version prefix, and the
        /// Tecnativa-compatible variable that grants it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Section {
            $($section,)*
        }

        impl Section {
            pub const ALL: [Section; [$(stringify!($section),)*].len()] = [$(Section::$section,)*];

            /// The environment variable that grants this section.
            pub fn var(self) -> &'static str {
                match self {
                    $(Section::$section => $var,)*
                }
            }

            /// The first path segment that selects this section.
            pub fn segment(self) -> &'static str {
                match self {
                    $(Section::$section => $segment,)*
                }
            }

            /// The inverse of [`Section::segment`], as a `match` the compiler turns into a
            /// length switch: it runs on every request.
            fn from_segment(segment: &str) -> Option<Section> {
                Some(match segment {
                    $($segment => Section::$section,)*
                    _ => return None,
                })
            }

            /// This section's routes, in the engine's registration order (the first match wins).
            pub fn routes(self) -> &'static [Route] {
                match self {
                    $(Section::$section => $routes,)*
                }
            }
        }
    };
}

sections! {
    Auth = "auth", "AUTH", AUTH;
    Build = "build", "BUILD", BUILD;
    Commit = "commit", "COMMIT", COMMIT;
    Configs = "configs", "CONFIGS", CONFIGS;
    Containers = "containers", "CONTAINERS", CONTAINERS;
    Distribution = "distribution", "DISTRIBUTION", DISTRIBUTION;
    Events = "events", "EVENTS", EVENTS;
    Exec = "exec", "EXEC", EXEC;
    Grpc = "grpc", "GRPC", GRPC;
    Images = "images", "IMAGES", IMAGES;
    Info = "info", "INFO", INFO;
    Networks = "networks", "NETWORKS", NETWORKS;
    Nodes = "nodes", "NODES", NODES;
    Ping = "_ping", "PING", PING;
    Plugins = "plugins", "PLUGINS", PLUGINS;
    Secrets = "secrets", "SECRETS", SECRETS;
    Services = "services", "SERVICES", SERVICES;
    Session = "session", "SESSION", SESSION;
    Swarm = "swarm", "SWARM", SWARM;
    System = "system", "SYSTEM", SYSTEM;
    Tasks = "tasks", "TASKS", TASKS;
    Version = "version", "VERSION", VERSION;
    Volumes = "volumes", "VOLUMES", VOLUMES;
}

/// Whether a route only observes, or changes the engine (or feeds a container's stdin).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The protocol a route may switch its connection to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upgrade {
    /// attach and exec start: `Upgrade: tcp`, then a raw duplex stream.
    Tcp,
    /// attach over a websocket.
    WebSocket,
    /// BuildKit's session and gRPC tunnels: HTTP/2 inside the connection.
    H2c,
}

impl Upgrade {
    /// Whether an `Upgrade` header value asks for this protocol.
    pub fn accepts(self, header: &str) -> bool {
        let wanted = match self {
            Upgrade::Tcp => "tcp",
            Upgrade::WebSocket => "websocket",
            Upgrade::H2c => "h2c",
        };
        header.trim().eq_ignore_ascii_case(wanted)
    }
}

/// A capability inside a section that has its own variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Facet {
    /// Creating an exec instance, which lives under `/containers`.
    ExecCreate,
    /// Container file contents, read or written.
    Archive,
    /// A container's whole filesystem.
    Export,
    Logs,
    Top,
    Changes,
    Start,
    Stop,
    Restart,
    Kill,
    Pause,
    Unpause,
}

/// One path segment of a route pattern, after the section's own segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seg {
    Lit(&'static str),
    /// One segment: an id or a name.
    Var,
    /// One or more segments (image and plugin names contain `/`); only literals may follow.
    Rest,
}

/// What dockgate reads of a route before forwarding it: the body, the query, or the object the
/// path names, as `crate::inspect` judges them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inspection {
    ContainerCreate,
    /// Before API 1.24 the engine takes a whole HostConfig in a start body (still served by
    /// engines up to 26, which accept API 1.12); `checkpoint-dir` names a host directory.
    ContainerStart,
    ContainerUpdate,
    /// The exec's own `Privileged`, and the container it runs in.
    ExecCreate,
    /// Attach and archive: whatever the container they reach into can reach.
    IntoContainer,
    VolumeCreate,
    ServiceSpec,
    /// The network the path names.
    NetworkConnect,
    Build,
    ImageCreate,
    PluginInstall,
}

impl Inspection {
    /// Whether the JSON body is read and judged; the others are judged on their query or path
    /// (their bodies are tar streams, or described by the route's [`Body`]).
    pub fn reads_body(self) -> bool {
        matches!(
            self,
            Inspection::ContainerCreate
                | Inspection::ContainerStart
                | Inspection::ContainerUpdate
                | Inspection::ExecCreate
                | Inspection::VolumeCreate
                | Inspection::ServiceSpec
        )
    }
}

/// What a route's request body is, when it is not read and judged. A route declares it, or
/// takes no body: a route added later cannot pass a body nobody looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body: one that comes anyway is refused.
    None,
    /// The engine's handler reads no body, in any version it serves (moby's routers, 20.10 to
    /// today); dockerode sends its options there as JSON all the same.
    Ignored,
    /// Data the engine takes as it is and that names no host power: a tar stream (build
    /// context, image, archive), credentials, or a spec whose fields grant nothing on the host
    /// (docs/body-policy.md lists each).
    Data,
}

/// One route of the engine's API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub pattern: &'static [Seg],
    pub access: Access,
    pub upgrade: Option<Upgrade>,
    pub facet: Option<Facet>,
    pub body: Body,
    pub inspection: Option<Inspection>,
    /// Where the pattern's [`Seg::Rest`] is, if it has one: then it takes `pattern.len()`
    /// segments or more.
    rest_at: Option<usize>,
}

impl Route {
    const fn new(method: Method, pattern: &'static [Seg], access: Access) -> Route {
        let mut rest_at = None;
        let mut i = 0;
        while i < pattern.len() {
            if rest_at.is_none() && matches!(pattern[i], Seg::Rest) {
                rest_at = Some(i);
            }
            i += 1;
        }
        Route {
            method,
            pattern,
            access,
            upgrade: None,
            facet: None,
            body: Body::None,
            inspection: None,
            rest_at,
        }
    }
    const fn body(self, body: Body) -> Route {
        Route { body, ..self }
    }
    const fn inspect(self, inspection: Inspection) -> Route {
        Route {
            inspection: Some(inspection),
            ..self
        }
    }
    const fn upgrade(self, upgrade: Upgrade) -> Route {
        Route {
            upgrade: Some(upgrade),
            ..self
        }
    }
    const fn facet(self, facet: Facet) -> Route {
        Route {
            facet: Some(facet),
            ..self
        }
    }

    /// Whether the path's segments after the section's own are this route's.
    fn matches(&self, segments: &[&str]) -> bool {
        let fits = match self.rest_at {
            Some(_) => segments.len() >= self.pattern.len(),
            None => segments.len() == self.pattern.len(),
        };
        if !fits {
            return false;
        }
        let fixed = |pattern: &[Seg], segments: &[&str]| {
            pattern
                .iter()
                .zip(segments)
                .all(|(seg, segment)| match seg {
                    Seg::Lit(lit) => lit == segment,
                    Seg::Var => true,
                    Seg::Rest => false,
                })
        };
        match self.rest_at {
            None => fixed(self.pattern, segments),
            // Rest takes whatever lies between the segments before it and those after it.
            Some(at) => {
                let after = self.pattern.len() - at - 1;
                fixed(&self.pattern[..at], &segments[..at])
                    && fixed(&self.pattern[at + 1..], &segments[segments.len() - after..])
            }
        }
    }
}

const fn get(pattern: &'static [Seg]) -> Route {
    Route::new(Method::Get, pattern, Access::Read)
}
const fn head(pattern: &'static [Seg]) -> Route {
    Route::new(Method::Head, pattern, Access::Read)
}
const fn post(pattern: &'static [Seg]) -> Route {
    Route::new(Method::Post, pattern, Access::Write)
}
const fn put(pattern: &'static [Seg]) -> Route {
    Route::new(Method::Put, pattern, Access::Write)
}
const fn delete(pattern: &'static [Seg]) -> Route {
    Route::new(Method::Delete, pattern, Access::Write)
}

use Body::{Data, Ignored};
use Inspection as I;
use Seg::{Lit as L, Rest as R, Var as V};

// The tables follow moby's api/server/router/*; a route missing here is denied, never guessed.
// Each body-taking route says what its body is (docs/body-policy.md has the field table).
const AUTH: &[Route] = &[post(&[]).body(Data)];
const BUILD: &[Route] = &[
    post(&[]).inspect(I::Build).body(Data),
    post(&[L("prune")]).body(Ignored),
    post(&[L("cancel")]).body(Ignored),
];
// The body is an image Config: what the image runs, nothing on the host.
const COMMIT: &[Route] = &[post(&[]).body(Data)];
const CONFIGS: &[Route] = &[
    get(&[]),
    post(&[L("create")]).body(Data),
    get(&[V]),
    delete(&[V]),
    post(&[V, L("update")]).body(Data),
];
const CONTAINERS: &[Route] = &[
    head(&[V, L("archive")])
        .facet(Facet::Archive)
        .inspect(I::IntoContainer),
    get(&[L("json")]),
    get(&[V, L("export")]).facet(Facet::Export),
    get(&[V, L("changes")]).facet(Facet::Changes),
    get(&[V, L("json")]),
    get(&[V, L("top")]).facet(Facet::Top),
    get(&[V, L("logs")]).facet(Facet::Logs),
    get(&[V, L("stats")]),
    // A websocket attach feeds the container's stdin although it is a GET.
    Route::new(Method::Get, &[V, L("attach"), L("ws")], Access::Write)
        .upgrade(Upgrade::WebSocket)
        .inspect(I::IntoContainer),
    get(&[V, L("archive")])
        .facet(Facet::Archive)
        .inspect(I::IntoContainer),
    post(&[L("create")]).inspect(I::ContainerCreate),
    post(&[V, L("kill")]).facet(Facet::Kill).body(Ignored),
    post(&[V, L("pause")]).facet(Facet::Pause).body(Ignored),
    post(&[V, L("unpause")]).facet(Facet::Unpause).body(Ignored),
    post(&[V, L("restart")]).facet(Facet::Restart).body(Ignored),
    post(&[V, L("start")])
        .facet(Facet::Start)
        .inspect(I::ContainerStart),
    post(&[V, L("stop")]).facet(Facet::Stop).body(Ignored),
    // Waiting only observes; `docker run` opens it before start.
    Route::new(Method::Post, &[V, L("wait")], Access::Read).body(Ignored),
    post(&[V, L("resize")]).body(Ignored),
    post(&[V, L("attach")])
        .upgrade(Upgrade::Tcp)
        .inspect(I::IntoContainer)
        .body(Ignored),
    post(&[V, L("exec")])
        .facet(Facet::ExecCreate)
        .inspect(I::ExecCreate),
    post(&[V, L("rename")]).body(Ignored),
    post(&[V, L("update")]).inspect(I::ContainerUpdate),
    post(&[L("prune")]).body(Ignored),
    put(&[V, L("archive")])
        .facet(Facet::Archive)
        .inspect(I::IntoContainer)
        .body(Data),
    delete(&[V]),
];
const DISTRIBUTION: &[Route] = &[get(&[R, L("json")])];
const EVENTS: &[Route] = &[get(&[])];
const EXEC: &[Route] = &[
    get(&[V, L("json")]),
    // Detach, Tty and ConsoleSize: how the exec made earlier is run.
    post(&[V, L("start")]).upgrade(Upgrade::Tcp).body(Data),
    post(&[V, L("resize")]).body(Ignored),
];
const GRPC: &[Route] = &[post(&[]).upgrade(Upgrade::H2c).body(Ignored)];
const IMAGES: &[Route] = &[
    get(&[L("json")]),
    get(&[L("search")]),
    get(&[L("get")]),
    get(&[R, L("get")]),
    get(&[R, L("history")]),
    get(&[R, L("json")]),
    post(&[L("load")]).body(Data),
    post(&[L("create")]).inspect(I::ImageCreate).body(Data),
    post(&[L("prune")]).body(Ignored),
    // Older clients send the registry credentials as the body.
    post(&[R, L("push")]).body(Data),
    post(&[R, L("tag")]).body(Ignored),
    delete(&[R]),
];
const INFO: &[Route] = &[get(&[])];
const NETWORKS: &[Route] = &[
    get(&[]),
    get(&[V]),
    post(&[L("create")]).body(Data),
    post(&[V, L("connect")])
        .inspect(I::NetworkConnect)
        .body(Data),
    post(&[V, L("disconnect")]).body(Data),
    post(&[L("prune")]).body(Ignored),
    delete(&[V]),
];
const NODES: &[Route] = &[
    get(&[]),
    get(&[V]),
    delete(&[V]),
    post(&[V, L("update")]).body(Data),
];
const PING: &[Route] = &[get(&[]), head(&[])];
const PLUGINS: &[Route] = &[
    get(&[]),
    get(&[L("privileges")]),
    get(&[R, L("json")]),
    post(&[L("pull")]).inspect(I::PluginInstall).body(Data),
    post(&[L("create")]).inspect(I::PluginInstall).body(Data),
    post(&[R, L("enable")]).body(Ignored),
    post(&[R, L("disable")]).body(Ignored),
    post(&[R, L("push")]).body(Ignored),
    post(&[R, L("upgrade")])
        .inspect(I::PluginInstall)
        .body(Data),
    post(&[R, L("set")]).inspect(I::PluginInstall).body(Data),
    delete(&[R]),
];
const SECRETS: &[Route] = &[
    get(&[]),
    post(&[L("create")]).body(Data),
    get(&[V]),
    delete(&[V]),
    post(&[V, L("update")]).body(Data),
];
const SERVICES: &[Route] = &[
    get(&[]),
    get(&[V]),
    get(&[V, L("logs")]),
    post(&[L("create")]).inspect(I::ServiceSpec),
    post(&[V, L("update")]).inspect(I::ServiceSpec),
    delete(&[V]),
];
const SESSION: &[Route] = &[post(&[]).upgrade(Upgrade::H2c).body(Ignored)];
const SWARM: &[Route] = &[
    get(&[]),
    get(&[L("unlockkey")]),
    post(&[L("init")]).body(Data),
    post(&[L("join")]).body(Data),
    post(&[L("leave")]).body(Ignored),
    post(&[L("update")]).body(Data),
    post(&[L("unlock")]).body(Data),
];
const SYSTEM: &[Route] = &[get(&[L("df")])];
const TASKS: &[Route] = &[get(&[]), get(&[V]), get(&[V, L("logs")])];
const VERSION: &[Route] = &[get(&[])];
const VOLUMES: &[Route] = &[
    get(&[]),
    get(&[V]),
    post(&[L("create")]).inspect(I::VolumeCreate),
    post(&[L("prune")]).body(Ignored),
    // A cluster volume's new spec (availability): swarm only.
    put(&[V]).body(Data),
    delete(&[V]),
];

/// Every route of every section, for documentation and exhaustive tests.
pub fn all_routes() -> impl Iterator<Item = (Section, &'static Route)> {
    Section::ALL
        .into_iter()
        .flat_map(|s| s.routes().iter().map(move |r| (s, r)))
}

/// Splits `a/b/c` into `a` and `b/c`; an empty string has no segments.
fn split_first(rest: &str) -> Option<(&str, &str)> {
    if rest.is_empty() {
        return None;
    }
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// Why a request target was refused before any route was looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the request target is not an absolute path")]
    NotOriginForm,
    #[error("the path has an invalid percent-encoding")]
    BadEncoding,
    #[error("the path encodes a '/' or '\\'")]
    EncodedSeparator,
    #[error("the path has a control character or a backslash")]
    ForbiddenCharacter,
    #[error("the path has an empty segment")]
    EmptySegment,
    #[error("the path has a '.' or '..' segment")]
    DotSegment,
    #[error("the path has a malformed API version")]
    BadVersion,
    #[error("the path has a second API version prefix")]
    SecondVersion,
}

/// A request path in the form the engine routes on: decoded once, version prefix set apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    decoded: Cow<'a, str>,
    /// Where the path after the version prefix starts in `decoded` (at its `/`).
    rest_at: usize,
}

impl<'a> Target<'a> {
    /// Canonicalises the path of an origin-form request target (no query string).
    pub fn parse(raw_path: &'a str) -> Result<Target<'a>, TargetError> {
        if !raw_path.starts_with('/') {
            return Err(TargetError::NotOriginForm);
        }
        let decoded = decode(raw_path)?;
        if decoded.bytes().any(|b| b.is_ascii_control() || b == b'\\') {
            return Err(TargetError::ForbiddenCharacter);
        }
        let segments = || decoded[1..].split('/');
        // `/` alone names nothing, but it is not malformed: it is simply not a route.
        if decoded.len() > 1 {
            for segment in segments() {
                match segment {
                    "" => return Err(TargetError::EmptySegment),
                    "." | ".." => return Err(TargetError::DotSegment),
                    _ => {}
                }
            }
        }
        let mut rest_at = 0;
        let mut rest = segments();
        if let Some(first) = rest.next().filter(|s| looks_like_version(s)) {
            if !is_version(&first[1..]) {
                return Err(TargetError::BadVersion);
            }
            if rest.next().is_some_and(looks_like_version) {
                return Err(TargetError::SecondVersion);
            }
            rest_at = 1 + first.len();
        }
        Ok(Target { decoded, rest_at })
    }

    /// The path after the version prefix, e.g. `/containers/json`; empty for a bare `/v1.41`.
    pub fn path(&self) -> &str {
        &self.decoded[self.rest_at..]
    }

    /// The API version the client asked for, without the `v`.
    pub fn version(&self) -> Option<&str> {
        (self.rest_at > 0).then(|| &self.decoded[2..self.rest_at])
    }

    /// The path to send to the engine: what was judged, encoded so the engine decodes it back to
    /// exactly `path()`. A target that needed no decoding goes out as it came.
    pub fn forward_path(&self, raw_path: &'a str) -> Cow<'a, str> {
        match &self.decoded {
            Cow::Borrowed(_) => Cow::Borrowed(raw_path),
            Cow::Owned(decoded) => {
                let mut out = String::with_capacity(decoded.len() + 8);
                for segment in decoded[1..].split('/') {
                    out.push('/');
                    out.extend(utf8_percent_encode(segment, SEGMENT_RESERVED));
                }
                Cow::Owned(out)
            }
        }
    }

    /// The section and route this target names for `method`, if any.
    pub fn route(&self, method: Method) -> Lookup {
        let path = self.path();
        let rest = path.strip_prefix('/').unwrap_or(path);
        let (first, rest) = split_first(rest).unwrap_or(("", ""));
        match first {
            "debug" => return Lookup::Debug,
            "libpod" => return Lookup::Libpod,
            _ => {}
        }
        let Some(section) = Section::from_segment(first) else {
            return Lookup::Unknown;
        };
        with_segments(rest, |segments| {
            let routes = section.routes();
            // The first route in registration order with this method and path, as the engine's
            // router picks it.
            if let Some(route) = routes
                .iter()
                .find(|r| r.method == method && r.matches(segments))
            {
                Lookup::Route(section, route)
            } else if routes.iter().any(|r| r.matches(segments)) {
                Lookup::WrongMethod(section)
            } else {
                Lookup::Unknown
            }
        })
    }
}

/// Calls `f` with the `/`-separated segments of `rest` (none when it is empty), split once and
/// kept on the stack for all but the longest paths.
fn with_segments<R>(rest: &str, f: impl FnOnce(&[&str]) -> R) -> R {
    const ON_STACK: usize = 16;
    if rest.is_empty() {
        return f(&[]);
    }
    let mut stack = [""; ON_STACK];
    let mut count = 0;
    for segment in rest.split('/') {
        if count == ON_STACK {
            return f(&rest.split('/').collect::<Vec<_>>());
        }
        stack[count] = segment;
        count += 1;
    }
    f(&stack[..count])
}

/// What a target names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Route(Section, &'static Route),
    /// The path is a route, but not with this method.
    WrongMethod(Section),
    /// `/debug/...`: the engine's pprof and expvar endpoints, never forwarded.
    Debug,
    /// `/libpod/...`: Podman's own API.
    Libpod,
    Unknown,
}

/// Characters a path segment may not carry unencoded: anything but RFC 3986 `pchar`.
const SEGMENT_RESERVED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn decode(raw: &str) -> Result<Cow<'_, str>, TargetError> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    for (i, _) in raw.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3).ok_or(TargetError::BadEncoding)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(TargetError::BadEncoding);
        }
        if matches!(hex, [b'2', b'f' | b'F'] | [b'5', b'c' | b'C']) {
            return Err(TargetError::EncodedSeparator);
        }
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| TargetError::BadEncoding)?;
    Ok(Cow::Owned(decoded.into_owned()))
}

/// The engine's router takes `/v` followed by digits and dots as a version prefix.
fn looks_like_version(segment: &str) -> bool {
    segment.len() > 1
        && segment.starts_with('v')
        && segment[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
}

fn is_version(number: &str) -> bool {
    number
        .split('.')
        .all(|part| !part.is_empty() && part.len() <= 6)
}

#[cfg(test)]
mod tests;
