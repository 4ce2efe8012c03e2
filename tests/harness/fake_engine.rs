//! The fake Docker engine: a unix socket in a temporary directory, for tests of what dockgate does
//! to HTTP framing, to streams and to faults, and for the corpus and property tests.
//!
//! It records every request that reaches it (so a test can assert that a refused one never did),
//! counts the connections dockgate opens to it, and answers with one [`Behaviour`] per fake. It
//! runs on the runtime of the test that starts it, so a test with paused time pauses it too.
//!
//! Long because one fake serves every fault the suites need (streams, hijacks, raw answers,
//! held downloads): keeping them in one engine is the point.

use std::convert::Infallible;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

/// How long a wait for the fake to reach a state may take before the test fails instead of hangs.
const BOUND: Duration = Duration::from_secs(60);

/// How the fake answers every request it receives.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// [`FIXED_JSON`] with [`DOCKER_HEADERS`], once any request body has been read to its end:
    /// also the sink for uploads. HEAD gets the same head and no body.
    Json,
    /// The request body back, as `application/octet-stream`.
    Echo,
    /// This many bytes of [`PatternBody`], chunked, as an export or `docker cp` would send.
    Download(u64),
    /// As [`Behaviour::Download`], but only the first half until [`FakeEngine::release`]: a
    /// client that receives that half has it before the engine has sent the rest.
    HeldDownload(u64),
    /// A follow stream (events, logs): [`STREAM_OPENED`] at once, then each line given to
    /// [`FakeEngine::send_line`], never ending on its own.
    Stream,
    /// `POST /exec/{id}/start` the way the engine hijacks it, written byte by byte.
    Hijack(Hijack),
    /// Exactly these bytes, then the connection closed: answers hyper would never write, such as
    /// a body cut short or none at all.
    Raw(&'static [u8]),
}

/// What the engine does with a hijacked connection after reading the request.
#[derive(Clone, Copy, Debug)]
pub enum Hijack {
    /// Writes [`UPGRADED`] and [`GREETING`] in one write, echoes stdin until it ends, then writes
    /// [`TRAILER`] and closes: `echo hi | docker exec -i c cat`.
    Echo,
    /// Writes [`UPGRADED`] and [`GREETING`] and shuts its output at once, then reads stdin until
    /// it ends: a container whose output ended while its stdin is still open.
    OutputEndsFirst,
}

/// The engine's answer to a hijack, as `moby` writes it.
pub const UPGRADED: &[u8] = b"HTTP/1.1 101 UPGRADED\r\n\
Content-Type: application/vnd.docker.raw-stream\r\n\
Connection: Upgrade\r\n\
Upgrade: tcp\r\n\r\n";
/// Output the engine sends in the same write as [`UPGRADED`].
pub const GREETING: &[u8] = b"container output before any stdin\n";
/// Output the engine sends after stdin has ended.
pub const TRAILER: &[u8] = b"output after stdin ended\n";

/// The body of [`Behaviour::Json`].
pub const FIXED_JSON: &str = r#"{"ApiVersion":"1.41","Os":"linux","Name":"fake engine"}"#;
/// The first line of every [`Behaviour::Stream`] answer, sent as soon as the stream opens.
pub const STREAM_OPENED: &str = "{\"status\":\"stream opened\"}\n";

/// Headers the engine sends that clients read; the values are the engine's own.
pub const DOCKER_HEADERS: &[(&str, &str)] = &[
    ("Api-Version", "1.41"),
    ("Ostype", "linux"),
    ("Docker-Experimental", "false"),
    ("Builder-Version", "1"),
    ("Swarm", "inactive"),
    (
        "X-Docker-Container-Path-Stat",
        "eyJuYW1lIjoiZXRjIiwic2l6ZSI6NDA5NiwibW9kZSI6MjE0NzQ4NDE0MSwibXRpbWUiOiIyMDI0LTAxLTAxVDAwOjAwOjAwWiIsImxpbmtUYXJnZXQiOiIifQ==",
    ),
    ("Content-Encoding", "identity"),
];

/// One request as it reached the engine.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent on the request line.
    pub target: String,
    pub headers: HeaderMap,
    /// The request body, once it has been read to its end.
    pub body: Option<Digest>,
    /// On a hijacked connection: what the client sent after the upgrade, once it ended.
    pub stdin: Option<Digest>,
}

/// The length and hash of a byte stream, to compare streams without keeping them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    pub len: u64,
    pub hash: u64,
}

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        let mut hashing = Hashing::default();
        hashing.update(bytes);
        hashing.finish()
    }
}

/// A running [`Digest`]. The same bytes give the same digest however they are split: std's
/// SipHash buffers partial words across `write` calls, and `new()` has fixed keys.
#[derive(Default)]
pub struct Hashing {
    len: u64,
    hasher: std::hash::DefaultHasher,
}

impl Hashing {
    pub fn update(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        self.hasher.write(bytes);
    }

    pub fn finish(&self) -> Digest {
        Digest {
            len: self.len,
            hash: self.hasher.finish(),
        }
    }
}

/// The bytes of large test streams: a pseudo-random block repeated. Its period is prime, so no
/// power-of-two chunking lines up with it, and a chunk lost, repeated or moved changes the hash.
const PERIOD: usize = 65_521;

fn pattern_block() -> &'static Bytes {
    static BLOCK: OnceLock<Bytes> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        // Two periods, so a chunk of up to one period is a slice from any phase.
        (0..2 * PERIOD)
            .map(|i| {
                if i == PERIOD {
                    state = 0x2545_f491_4f6c_dd1d;
                }
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect::<Vec<u8>>()
            .into()
    })
}

/// `len` bytes of the pattern as a body of unknown length (so HTTP/1.1 sends it chunked),
/// produced as it is polled and never held whole.
pub struct PatternBody {
    sent: u64,
    len: u64,
}

impl PatternBody {
    const CHUNK: usize = 32 * 1024;

    pub fn new(len: u64) -> PatternBody {
        PatternBody { sent: 0, len }
    }

    /// The digest of the whole body, computed the same streaming way.
    pub fn digest(len: u64) -> Digest {
        let mut hashing = Hashing::default();
        let mut body = PatternBody::new(len);
        while let Some(chunk) = body.next_chunk() {
            hashing.update(&chunk);
        }
        hashing.finish()
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        let left = self.len - self.sent;
        if left == 0 {
            return None;
        }
        let phase = (self.sent % PERIOD as u64) as usize;
        let n = Self::CHUNK.min(left as usize);
        self.sent += n as u64;
        Some(pattern_block().slice(phase..phase + n))
    }
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.next_chunk().map(|chunk| Ok(Frame::data(chunk))))
    }
}

/// A follow stream's body: whatever the test sends, until the fake lets go of the sender.
struct Lines(mpsc::UnboundedReceiver<Bytes>);

impl Body for Lines {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|line| line.map(|line| Ok(Frame::data(line))))
    }
}

/// A body fed by a task through a bounded channel, ending when the task lets go of the sender.
struct Chunks(mpsc::Receiver<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| Ok(Frame::data(chunk))))
    }
}

type FakeBody = BoxBody<Bytes, Infallible>;

/// What the fake's connections share; it outlives a stop and restart.
struct Shared {
    behaviour: Behaviour,
    seen: watch::Sender<Vec<Seen>>,
    /// dockgate's own lookups (`User-Agent: dockgate/...`), kept apart from the requests.
    lookups: Mutex<Vec<String>>,
    accepted: AtomicUsize,
    open: watch::Sender<usize>,
    streams: Mutex<Vec<mpsc::UnboundedSender<Bytes>>>,
    /// Request body bytes read so far, over all requests, as they arrive.
    body_bytes: watch::Sender<u64>,
    released: watch::Sender<bool>,
}

/// Counts a connection as open for as long as its task lives, aborted or not.
struct OpenConnection(Arc<Shared>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.send_modify(|open| *open -= 1);
    }
}

impl Shared {
    fn record(&self, method: &str, target: &str, headers: HeaderMap) -> usize {
        let mut index = 0;
        self.seen.send_modify(|seen| {
            seen.push(Seen {
                method: method.into(),
                target: target.into(),
                headers,
                body: None,
                stdin: None,
            });
            index = seen.len() - 1;
        });
        index
    }

    /// dockgate's question about an object a request borrows from: an engine on cgroup v2 that
    /// holds no objects.
    fn lookup(&self, target: &str) -> (u16, &'static str) {
        self.lookups.lock().unwrap().push(target.to_string());
        let path = target.split('?').next().unwrap_or("");
        match path.strip_prefix("/v1.41").unwrap_or(path) {
            "/info" => (200, r#"{"CgroupVersion":"2","DefaultRuntime":"runc"}"#),
            "/version" => (200, r#"{"Version":"28.5.1"}"#),
            // The admin endpoint's readiness probe.
            "/_ping" => (200, "OK"),
            _ => (404, r#"{"message":"no such object"}"#),
        }
    }

    fn update(&self, index: usize, update: impl FnOnce(&mut Seen)) {
        self.seen.send_modify(|seen| update(&mut seen[index]));
    }

    async fn serve(self: Arc<Self>, io: UnixStream) {
        // A broken connection is what some tests cause on purpose; the record tells the rest.
        match self.behaviour {
            Behaviour::Hijack(hijack) => {
                let _ = self.hijack(io, hijack).await;
            }
            Behaviour::Raw(answer) => {
                let _ = self.answer_raw(io, answer).await;
            }
            _ => {
                let service = service_fn(move |req| self.clone().answer(req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(io), service)
                    .await;
            }
        }
    }

    async fn answer(self: Arc<Self>, req: Request<Incoming>) -> hyper::Result<Response<FakeBody>> {
        let (parts, mut body) = req.into_parts();
        let target = parts.uri.path_and_query().map_or("", |pq| pq.as_str());
        if is_lookup(parts.method.as_str(), &parts.headers) {
            let (status, body) = self.lookup(target);
            let mut response = Response::new(Full::from(body).boxed());
            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            return Ok(response);
        }
        let index = self.record(parts.method.as_str(), target, parts.headers);
        let mut hashing = Hashing::default();
        let mut echo = vec![];
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame?.data_ref() {
                hashing.update(data);
                self.body_bytes.send_modify(|n| *n += data.len() as u64);
                if matches!(self.behaviour, Behaviour::Echo) {
                    echo.extend_from_slice(data);
                }
            }
        }
        self.update(index, |seen| seen.body = Some(hashing.finish()));

        let (content_type, body) = match self.behaviour {
            Behaviour::Json => ("application/json", Full::from(FIXED_JSON).boxed()),
            Behaviour::Echo => ("application/octet-stream", Full::from(echo).boxed()),
            Behaviour::Download(len) => ("application/x-tar", PatternBody::new(len).boxed()),
            Behaviour::HeldDownload(len) => ("application/x-tar", self.held_download(len)),
            Behaviour::Stream => {
                let (tx, rx) = mpsc::unbounded_channel();
                tx.send(Bytes::from_static(STREAM_OPENED.as_bytes()))
                    .unwrap();
                self.streams.lock().unwrap().push(tx);
                ("application/json", Lines(rx).boxed())
            }
            Behaviour::Hijack(_) | Behaviour::Raw(_) => unreachable!("answered without hyper"),
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        for (name, value) in DOCKER_HEADERS {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        Ok(response)
    }

    /// [`PatternBody`] of `len` bytes, sent by a task that waits for [`FakeEngine::release`]
    /// halfway; the channel holds one chunk, so the task is held back by the client too.
    fn held_download(&self, len: u64) -> FakeBody {
        let (tx, rx) = mpsc::channel(1);
        let mut released = self.released.subscribe();
        tokio::spawn(async move {
            let mut body = PatternBody::new(len);
            let mut held = false;
            while let Some(chunk) = body.next_chunk() {
                if !held && body.sent > len / 2 {
                    held = true;
                    if released.wait_for(|r| *r).await.is_err() {
                        return;
                    }
                }
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        });
        Chunks(rx).boxed()
    }

    /// Reads and records one request whose body, if any, has a Content-Length; returns its index
    /// in the record and the bytes read past it. `None` when the client left first.
    async fn read_request(&self, io: &mut UnixStream) -> std::io::Result<Option<(usize, Vec<u8>)>> {
        let mut buf = vec![];
        let (head_len, method, target, headers) = loop {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                if io.read_buf(&mut buf).await? == 0 {
                    return Ok(None);
                }
                continue;
            };
            let (method, target, headers) = parse_head(&buf[..end + 4]);
            if !is_lookup(&method, &headers) {
                break (end + 4, method, target, headers);
            }
            // Answered apart, on a connection of dockgate's own; then the next request.
            let (status, body) = self.lookup(&target);
            let answer = format!(
                "HTTP/1.1 {status} Lookup\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            io.write_all(answer.as_bytes()).await?;
            buf.drain(..end + 4);
        };
        let body_len: usize = headers
            .get("content-length")
            .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
        while buf.len() < head_len + body_len {
            if io.read_buf(&mut buf).await? == 0 {
                return Ok(None);
            }
        }
        let index = self.record(&method, &target, headers);
        let body = Digest::of(&buf[head_len..head_len + body_len]);
        self.update(index, |seen| seen.body = Some(body));
        Ok(Some((index, buf.split_off(head_len + body_len))))
    }

    async fn answer_raw(&self, mut io: UnixStream, answer: &[u8]) -> std::io::Result<()> {
        if self.read_request(&mut io).await?.is_some() {
            io.write_all(answer).await?;
        }
        Ok(())
    }

    async fn hijack(&self, mut io: UnixStream, hijack: Hijack) -> std::io::Result<()> {
        let Some((index, early)) = self.read_request(&mut io).await? else {
            return Ok(());
        };
        // One write: the client must cope with output that arrives with the 101.
        io.write_all(&[UPGRADED, GREETING].concat()).await?;
        if let Hijack::OutputEndsFirst = hijack {
            io.shutdown().await?;
        }
        let mut stdin = Hashing::default();
        let mut chunk = early;
        loop {
            stdin.update(&chunk);
            if let Hijack::Echo = hijack {
                io.write_all(&chunk).await?;
            }
            chunk.resize(16 * 1024, 0);
            let n = io.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            chunk.truncate(n);
        }
        self.update(index, |seen| seen.stdin = Some(stdin.finish()));
        if let Hijack::Echo = hijack {
            io.write_all(TRAILER).await?;
        }
        Ok(())
    }
}

/// The request line and headers of a head that ends with the blank line.
fn parse_head(head: &[u8]) -> (String, String, HeaderMap) {
    let head = std::str::from_utf8(head).expect("a UTF-8 request head");
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_string();
    let target = request_line.next().unwrap().to_string();
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').expect("a header line");
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    (method, target, headers)
}

/// A fake engine listening on `<temporary directory>/docker.sock`; dropping it stops it and
/// removes the directory.
pub struct FakeEngine {
    dir: PathBuf,
    path: PathBuf,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeEngine {
    /// Starts listening; must be called inside the runtime that should run the fake.
    pub fn start(behaviour: Behaviour) -> FakeEngine {
        let mut fake = FakeEngine::unstarted(behaviour);
        fake.listen();
        fake
    }

    /// A fake with its socket path chosen but not yet listening, for a proxy that must be
    /// configured before the runtime the fake will run on exists ([`FakeEngine::listen`]).
    pub fn unstarted(behaviour: Behaviour) -> FakeEngine {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dockgate-fake-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the fake engine's directory");
        FakeEngine {
            path: dir.join("docker.sock"),
            dir,
            shared: Arc::new(Shared {
                behaviour,
                seen: watch::Sender::new(vec![]),
                lookups: Mutex::new(vec![]),
                accepted: AtomicUsize::new(0),
                open: watch::Sender::new(0),
                streams: Mutex::new(vec![]),
                body_bytes: watch::Sender::new(0),
                released: watch::Sender::new(false),
            }),
            accept: None,
        }
    }

    /// Listens, for the first time or again after [`FakeEngine::stop`], with the same behaviour
    /// and record; must be called inside the runtime that should run the fake.
    pub fn listen(&mut self) {
        assert!(self.accept.is_none(), "the fake engine is running");
        // As dockerd does, replace the socket file a crash left behind.
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).expect("bind the fake engine's socket");
        let shared = self.shared.clone();
        self.accept = Some(tokio::spawn(async move {
            // Dropped with this task, which aborts every connection: that is how `stop` closes them.
            let mut connections = JoinSet::new();
            loop {
                // An accept error is a client that left first: there is nothing to serve.
                let Ok((io, _)) = listener.accept().await else {
                    continue;
                };
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                shared.open.send_modify(|open| *open += 1);
                let open = OpenConnection(shared.clone());
                let shared = shared.clone();
                connections.spawn(async move {
                    let _open = open;
                    shared.serve(io).await
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// The socket path, for `SOCKET_PATH`.
    pub fn socket(&self) -> &str {
        self.path.to_str().expect("a UTF-8 temporary directory")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The targets of dockgate's own lookups so far (not among [`FakeEngine::seen`]).
    pub fn lookups(&self) -> Vec<String> {
        self.shared.lookups.lock().unwrap().clone()
    }

    /// Every request received so far, in arrival order, across restarts, but dockgate's own
    /// lookups.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.borrow().clone()
    }

    /// Waits until `n` requests have reached the fake; panics after a generous bound.
    pub async fn wait_seen(&self, n: usize) {
        let mut seen = self.shared.seen.subscribe();
        let waited = tokio::time::timeout(BOUND, seen.wait_for(|s| s.len() >= n));
        if waited.await.is_err() {
            panic!(
                "the fake engine has seen {:?}, expected {n} requests",
                *seen.borrow()
            );
        }
    }

    /// Connections accepted so far, across restarts.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Waits until exactly `n` connections are open; panics after a generous bound.
    pub async fn wait_open_connections(&self, n: usize) {
        let mut open = self.shared.open.subscribe();
        let waited = tokio::time::timeout(BOUND, open.wait_for(|o| *o == n));
        if waited.await.is_err() {
            panic!(
                "the fake engine still has {} open connections, expected {n}",
                *open.borrow()
            );
        }
    }

    /// Waits until request bodies have brought at least `n` bytes, counted as they arrive, not
    /// when a body ends; panics after a generous bound.
    pub async fn wait_body_bytes(&self, n: u64) {
        let mut bytes = self.shared.body_bytes.subscribe();
        let waited = tokio::time::timeout(BOUND, bytes.wait_for(|b| *b >= n));
        if waited.await.is_err() {
            panic!(
                "the fake engine has read {} body bytes, expected {n} before the body ends",
                *bytes.borrow()
            );
        }
    }

    /// Lets [`Behaviour::HeldDownload`] answers send their second half.
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// Sends a line on every open follow stream.
    pub fn send_line(&self, line: &str) {
        let line = Bytes::copy_from_slice(line.as_bytes());
        let mut streams = self.shared.streams.lock().unwrap();
        streams.retain(|stream| stream.send(line.clone()).is_ok());
        assert!(!streams.is_empty(), "no follow stream is open");
    }

    /// Ends every open follow stream normally.
    pub fn end_streams(&self) {
        self.shared.streams.lock().unwrap().clear();
    }

    /// Stops listening, closes every connection and removes the socket: the engine is gone.
    pub async fn stop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        self.wait_open_connections(0).await;
        std::fs::remove_file(&self.path).expect("remove the fake engine's socket");
    }
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// dockgate's own lookups carry `User-Agent: dockgate/<version>`.
fn is_lookup(method: &str, headers: &HeaderMap) -> bool {
    method == "GET"
        && headers
            .get("user-agent")
            .is_some_and(|ua| ua.as_bytes().starts_with(b"dockgate/"))
}
