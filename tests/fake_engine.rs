//! dockgate between clients and the fake engine (`harness::fake_engine`): HTTP framing, bodies
//! both ways, keep-alive, HEAD and headers, upgrades with half-close, large streams, hang-ups, the
//! engine going away or cutting answers short, refusals that never reach the engine, the
//! connection limit, shutdown, and timeouts over paused minutes. Fast and exact; the real engine is
//! in the e2e_*.rs tests.
//!
//! Requests are written and responses read byte by byte wherever framing is the point, so the
//! client cannot paper over what the proxy does. Nothing here asserts how long something took in
//! real time; bounds only turn a hang into a failure.
//!
//! Long because it is the one suite for framing, streaming, upgrades and faults against the one
//! fake engine; each test stands alone.

mod harness;

use std::future::Future;
use std::time::Duration;

use harness::fake_engine::{
    self as fake, Behaviour, Digest, FakeEngine, Hashing, Hijack, PatternBody,
};
use harness::Proxy;
use http_body_util::BodyExt;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::Instant;

/// How long anything that should happen at once may take before the test fails instead of hangs.
const BOUND: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(BOUND, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: nothing after {BOUND:?}"),
    }
}

/// The routes these tests use.
const GRANTS: &[(&str, &str)] = &[
    ("CONTAINERS", "1"),
    ("EXEC", "1"),
    ("IMAGES", "1"),
    ("POST", "1"),
    ("ALLOW_ARCHIVE", "1"),
    ("ALLOW_EXPORT", "1"),
];

/// A proxy in front of `fake` that allows every route these tests use.
fn proxy_for(fake: &FakeEngine) -> Proxy {
    proxy_with(fake, &[])
}

/// [`proxy_for`] with more variables.
fn proxy_with(fake: &FakeEngine, more: &[(&str, &str)]) -> Proxy {
    let mut env = vec![("SOCKET_PATH", fake.socket())];
    env.extend_from_slice(GRANTS);
    env.extend_from_slice(more);
    Proxy::start(&env)
}

/// A proxy whose clock is paused, listening on a unix socket beside a fake engine that is not
/// started yet: start it inside [`Proxy::run`], so the fake, the client and the proxy share one
/// runtime and one clock. When everything waits, the clock jumps to the next timer, so any timer
/// the proxy keeps fires during a sleep of virtual minutes.
fn paused(behaviour: Behaviour) -> (Proxy, FakeEngine) {
    paused_with(behaviour, &[])
}

/// [`paused`] with more variables.
fn paused_with(behaviour: Behaviour, more: &[(&str, &str)]) -> (Proxy, FakeEngine) {
    let fake = FakeEngine::unstarted(behaviour);
    let listen = format!(
        "unix://{}",
        fake.path().with_file_name("dockgate.sock").display()
    );
    let mut env = vec![("SOCKET_PATH", fake.socket()), ("LISTEN", listen.as_str())];
    env.extend_from_slice(GRANTS);
    env.extend_from_slice(more);
    (Proxy::start_paused(&env), fake)
}

async fn connect(proxy: &Proxy) -> BufReader<TcpStream> {
    BufReader::new(
        within("connect", TcpStream::connect(proxy.addr))
            .await
            .unwrap(),
    )
}

/// A response as it came off the wire.
#[derive(Debug)]
struct RawResponse {
    status_line: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let value = values.next().map(|(_, v)| v.as_str());
        assert!(values.next().is_none(), "{name} is repeated: {self:?}");
        value
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding") == Some("chunked")
    }

    /// The `message` of a Docker-shaped JSON error body.
    fn message(&self) -> String {
        let json: serde_json::Value = serde_json::from_slice(&self.body).expect("a JSON body");
        json["message"].as_str().expect("a message").to_string()
    }
}

async fn read_line(r: &mut (impl AsyncBufRead + Unpin)) -> String {
    let mut line = vec![];
    within("read a line", r.read_until(b'\n', &mut line))
        .await
        .unwrap();
    let line = String::from_utf8(line).expect("a UTF-8 line");
    line.strip_suffix("\r\n")
        .unwrap_or_else(|| panic!("a line ended by CRLF, got {line:?}"))
        .to_string()
}

/// Reads a status line and headers; the body is left on the wire.
async fn read_head(r: &mut (impl AsyncBufRead + Unpin)) -> RawResponse {
    let status_line = read_line(r).await;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line, got {status_line:?}"));
    let mut headers = vec![];
    loop {
        let line = read_line(r).await;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("a header line");
        headers.push((name.to_string(), value.trim().to_string()));
    }
    RawResponse {
        status_line,
        status,
        headers,
        body: vec![],
    }
}

/// One chunk of a chunked body; `None` for the last, empty one (its trailer is read too).
async fn read_chunk(r: &mut (impl AsyncBufRead + Unpin)) -> Option<Vec<u8>> {
    let size = read_line(r).await;
    let size = usize::from_str_radix(size.split(';').next().unwrap(), 16).expect("a chunk size");
    if size == 0 {
        while !read_line(r).await.is_empty() {}
        return None;
    }
    let mut chunk = vec![0; size + 2];
    within("read a chunk", r.read_exact(&mut chunk))
        .await
        .unwrap();
    assert_eq!(&chunk[size..], b"\r\n", "a chunk ends with CRLF");
    chunk.truncate(size);
    Some(chunk)
}

/// Reads a whole response framed as HTTP/1.1 says; `head` for the answer to a HEAD request.
async fn read_response(r: &mut (impl AsyncBufRead + Unpin), head: bool) -> RawResponse {
    let mut response = read_head(r).await;
    if head {
        return response;
    }
    if response.chunked() {
        while let Some(chunk) = read_chunk(r).await {
            response.body.extend(chunk);
        }
    } else if let Some(len) = response.header("content-length") {
        response.body = vec![0; len.parse().unwrap()];
        within("read a body", r.read_exact(&mut response.body))
            .await
            .unwrap();
    } else {
        within("read a body to EOF", r.read_to_end(&mut response.body))
            .await
            .unwrap();
    }
    response
}

/// Everything until the peer closes.
async fn read_to_end(r: &mut (impl AsyncBufRead + Unpin)) -> Vec<u8> {
    let mut rest = vec![];
    within("read to EOF", r.read_to_end(&mut rest))
        .await
        .unwrap();
    rest
}

/// Sends `request` on a fresh connection and reads the answer and everything up to EOF.
async fn exchange(proxy: &Proxy, request: &str) -> RawResponse {
    let mut conn = connect(proxy).await;
    conn.write_all(request.as_bytes()).await.unwrap();
    let response = read_response(&mut conn, false).await;
    assert!(
        read_to_end(&mut conn).await.is_empty(),
        "bytes after the response"
    );
    response
}

#[tokio::test]
async fn content_length_body_reaches_engine_intact() {
    let fake = FakeEngine::start(Behaviour::Echo);
    let proxy = proxy_for(&fake);
    // Larger than any read buffer on the way, so it crosses reads and writes.
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut conn = connect(&proxy).await;
    let head = format!(
        "PUT /v1.41/containers/web/archive?path=%2Ftmp HTTP/1.1\r\nHost: docker\r\n\
         Content-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body).await.unwrap();
    let response = read_response(&mut conn, false).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(response.body == body, "the echo differs from the body sent");

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(seen[0].target, "/v1.41/containers/web/archive?path=%2Ftmp");
    assert_eq!(seen[0].body, Some(Digest::of(&body)));
    assert_eq!(seen[0].headers["content-length"], body.len().to_string());
    assert!(!seen[0].headers.contains_key("transfer-encoding"));
}

#[tokio::test]
async fn chunked_upload_reaches_engine_intact() {
    let fake = FakeEngine::start(Behaviour::Echo);
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    conn.write_all(
        b"POST /v1.41/images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\n\
          Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    // Chunk sizes no buffer lines up with, each in its own write, one with an extension.
    let mut sent = Hashing::default();
    let mut all = vec![];
    for (i, size) in [1usize, 2, 4093, 65_536, 100_003, 7]
        .into_iter()
        .enumerate()
    {
        let chunk: Vec<u8> = (0..size).map(|j| (i * 31 + j % 241) as u8).collect();
        let extension = if i == 2 { ";name=value" } else { "" };
        let framed = [
            format!("{size:x}{extension}\r\n").as_bytes(),
            &chunk,
            b"\r\n",
        ]
        .concat();
        conn.write_all(&framed).await.unwrap();
        sent.update(&chunk);
        all.extend(chunk);
    }
    conn.write_all(b"0\r\n\r\n").await.unwrap();
    let response = read_response(&mut conn, false).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(response.body == all, "the echo differs from the body sent");

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, Some(sent.finish()));
    assert!(!seen[0].headers.contains_key("content-length"));
}

/// Sixteen times MAX_BODY's default and more than the socket buffers on the way hold: a proxy
/// that kept a body whole, or capped it at any buffer, fails these.
const LARGE: u64 = 16 << 20;

/// The engine has half of the body while the client still holds the other half back: nothing on
/// the way waits for a body's end.
#[tokio::test]
async fn large_chunked_upload_streams_to_the_engine() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    conn.write_all(
        b"POST /v1.41/images/load HTTP/1.1\r\nHost: docker\r\n\
          Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    let mut body = PatternBody::new(LARGE);
    let (mut sent, mut held) = (0, false);
    while let Some(frame) = body.frame().await {
        let chunk = frame.unwrap().into_data().unwrap();
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        within("send a chunk", conn.write_all(&framed))
            .await
            .unwrap();
        sent += chunk.len() as u64;
        if sent >= LARGE / 2 && !held {
            held = true;
            fake.wait_body_bytes(LARGE / 4).await;
        }
    }
    conn.write_all(b"0\r\n\r\n").await.unwrap();
    let response = read_response(&mut conn, false).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, fake::FIXED_JSON.as_bytes());

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["transfer-encoding"], "chunked");
    assert_eq!(seen[0].body, Some(PatternBody::digest(LARGE)));
}

/// The client has a quarter of the body while the engine still holds its second half back.
#[tokio::test]
async fn large_download_streams_to_the_client() {
    let fake = FakeEngine::start(Behaviour::HeldDownload(LARGE));
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    conn.write_all(b"GET /v1.41/containers/web/export HTTP/1.1\r\nHost: docker\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut conn).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert!(head.chunked(), "{head:?}");
    let mut received = Hashing::default();
    let mut released = false;
    while let Some(chunk) = read_chunk(&mut conn).await {
        received.update(&chunk);
        if !released && received.finish().len >= LARGE / 4 {
            released = true;
            fake.release();
        }
    }
    assert_eq!(received.finish(), PatternBody::digest(LARGE));
}

#[tokio::test]
async fn keep_alive_connection_serves_sequential_requests_over_one_engine_connection() {
    let fake = FakeEngine::start(Behaviour::Echo);
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    const REQUESTS: usize = 20;
    for i in 0..REQUESTS {
        let body = format!("request {i}");
        let request = format!(
            "PUT /containers/web/archive?path=%2Ftmp HTTP/1.1\r\nHost: docker\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes()).await.unwrap();
        let response = read_response(&mut conn, false).await;
        assert_eq!(response.status, 200, "request {i}: {response:?}");
        assert_eq!(response.body, body.as_bytes(), "request {i}");
        assert_eq!(response.header("connection"), None, "request {i}");
    }
    assert_eq!(fake.seen().len(), REQUESTS);
    // The client connection's own engine connection carries them all.
    assert_eq!(fake.accepted(), 1);

    // Three requests pipelined in one write are answered in order on one connection.
    let ping = "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
    let mut conn = connect(&proxy).await;
    conn.write_all(format!("{ping}{ping}{ping}").as_bytes())
        .await
        .unwrap();
    for i in 0..3 {
        let response = read_response(&mut conn, false).await;
        assert_eq!(response.status, 200, "pipelined request {i}: {response:?}");
    }
    assert_eq!(fake.seen().len(), REQUESTS + 3);
    assert_eq!(fake.accepted(), 2);
}

#[tokio::test]
async fn head_response_has_the_engine_headers_and_no_body() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    conn.write_all(
        b"HEAD /v1.41/containers/web/archive?path=%2Fetc HTTP/1.1\r\nHost: docker\r\n\r\n",
    )
    .await
    .unwrap();
    let head = read_response(&mut conn, true).await;
    assert_eq!(head.status, 200, "{head:?}");
    // The length a GET would have, which `docker cp` reads before it asks.
    let length = fake::FIXED_JSON.len().to_string();
    assert_eq!(head.header("content-length"), Some(length.as_str()));
    for (name, value) in fake::DOCKER_HEADERS {
        assert_eq!(head.header(name), Some(*value), "{name}");
    }
    // Were any body bytes sent after the head, they would be read as the next response.
    conn.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        .await
        .unwrap();
    let next = read_response(&mut conn, false).await;
    assert_eq!(next.status_line, "HTTP/1.1 200 OK");
    assert_eq!(next.body, fake::FIXED_JSON.as_bytes());

    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "HEAD");
    assert_eq!(seen[0].target, "/v1.41/containers/web/archive?path=%2Fetc");
}

#[tokio::test]
async fn docker_response_headers_arrive_unchanged() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    let response = exchange(
        &proxy,
        "GET /v1.41/_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    for (name, value) in fake::DOCKER_HEADERS {
        assert_eq!(response.header(name), Some(*value), "{name}");
    }
    // The CLI parses error bodies only when the type is exactly this.
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.body, fake::FIXED_JSON.as_bytes());
}

/// `docker exec -i` as the CLI starts it: the JSON body, then stdin.
fn exec_start(stdin: &str) -> String {
    let body = r#"{"Detach":false,"Tty":false}"#;
    format!(
        "POST /v1.41/exec/3f2a/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}{stdin}",
        body.len()
    )
}

#[tokio::test]
async fn exec_upgrade_relays_coalesced_bytes_and_stdin_half_close() {
    let fake = FakeEngine::start(Behaviour::Hijack(Hijack::Echo));
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    // Stdin in the same write as the request head: it must wait in the proxy for the upgrade.
    conn.write_all(exec_start("early").as_bytes())
        .await
        .unwrap();
    let upgraded = read_head(&mut conn).await;
    assert_eq!(upgraded.status, 101, "{upgraded:?}");
    assert_eq!(upgraded.header("upgrade"), Some("tcp"));
    assert_eq!(upgraded.header("connection"), Some("Upgrade"));
    assert_eq!(
        upgraded.header("content-type"),
        Some("application/vnd.docker.raw-stream")
    );
    // The engine wrote its first output in the same write as its 101.
    let mut output = vec![0; fake::GREETING.len() + "early".len()];
    within("greeting and echo", conn.read_exact(&mut output))
        .await
        .unwrap();
    assert_eq!(output, [fake::GREETING, b"early"].concat());

    conn.write_all(b"hi").await.unwrap();
    conn.get_mut().shutdown().await.unwrap();
    // Stdin has ended; the output has not.
    let rest = read_to_end(&mut conn).await;
    assert_eq!(rest, [b"hi", fake::TRAILER].concat());

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["upgrade"], "tcp");
    assert_eq!(seen[0].headers["connection"], "Upgrade");
    assert_eq!(
        seen[0].body,
        Some(Digest::of(br#"{"Detach":false,"Tty":false}"#))
    );
    assert_eq!(seen[0].stdin, Some(Digest::of(b"earlyhi")));
}

#[tokio::test]
async fn exec_upgrade_output_end_leaves_stdin_open() {
    let fake = FakeEngine::start(Behaviour::Hijack(Hijack::OutputEndsFirst));
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    conn.write_all(exec_start("").as_bytes()).await.unwrap();
    assert_eq!(read_head(&mut conn).await.status, 101);
    // The engine shut its output down right after the greeting.
    assert_eq!(read_to_end(&mut conn).await, fake::GREETING);
    // Stdin still reaches it.
    conn.write_all(b"stdin after output ended").await.unwrap();
    conn.get_mut().shutdown().await.unwrap();
    fake.wait_open_connections(0).await;
    assert_eq!(
        fake.seen()[0].stdin,
        Some(Digest::of(b"stdin after output ended"))
    );
}

#[tokio::test]
async fn client_hanging_up_mid_stream_closes_the_engine_connection() {
    let fake = FakeEngine::start(Behaviour::Stream);
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    conn.write_all(
        b"GET /v1.41/containers/web/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(read_head(&mut conn).await.status, 200);
    assert_eq!(
        read_chunk(&mut conn).await.unwrap(),
        fake::STREAM_OPENED.as_bytes()
    );
    fake.wait_open_connections(1).await;
    // The stream is silent: only noticing the hang-up can free the engine's side.
    drop(conn);
    fake.wait_open_connections(0).await;
}

#[tokio::test]
async fn engine_gone_is_a_503_naming_the_socket_until_it_is_back() {
    let mut fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    let ping = "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(&proxy, ping).await.status, 200);

    fake.stop().await;
    let gone = exchange(&proxy, ping).await;
    assert_eq!(gone.status, 503, "{gone:?}");
    assert_eq!(gone.header("content-type"), Some("application/json"));
    let message = gone.message();
    assert!(
        message.starts_with(&format!(
            "dockgate: cannot reach the Docker engine at {}: ",
            fake.socket()
        )),
        "{message}"
    );

    // A crashed engine leaves its socket file behind, with nothing listening.
    drop(std::os::unix::net::UnixListener::bind(fake.path()).unwrap());
    let crashed = exchange(&proxy, ping).await;
    assert_eq!(crashed.status, 503, "{crashed:?}");
    assert!(crashed.message().contains(fake.socket()));

    fake.listen();
    let back = exchange(&proxy, ping).await;
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(back.body, fake::FIXED_JSON.as_bytes());
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn end_to_end_headers_reach_the_engine_and_hop_by_hop_ones_do_not() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    // A build sends every registry credential the client has in this one header.
    let registry_config = "eyJyZWdpc3RyeSI6e319".repeat(3277);
    let request = format!(
        "POST /v1.41/images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\n\
         X-Registry-Config: {registry_config}\r\nX-Registry-Auth: eyJ1c2VybmFtZSI6ImEifQ==\r\n\
         Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n\
         Proxy-Connection: keep-alive\r\nTE: trailers\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    let mut conn = connect(&proxy).await;
    conn.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut conn, false).await.status, 200);

    let seen = &fake.seen()[0];
    assert_eq!(seen.headers["x-registry-config"], registry_config.as_str());
    assert_eq!(seen.headers["x-registry-auth"], "eyJ1c2VybmFtZSI6ImEifQ==");
    assert_eq!(seen.headers["host"], "docker");
    for hop in [
        "connection",
        "x-hop",
        "keep-alive",
        "proxy-connection",
        "te",
    ] {
        assert!(!seen.headers.contains_key(hop), "{hop}: {:?}", seen.headers);
    }
    assert_eq!(seen.body, Some(Digest::of(b"{}")));
}

#[tokio::test]
async fn expect_100_continue_upload_gets_its_continue_and_reaches_the_engine() {
    let fake = FakeEngine::start(Behaviour::Echo);
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    conn.write_all(
        b"PUT /containers/web/archive?path=%2Ftmp HTTP/1.1\r\nHost: docker\r\n\
          Expect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .await
    .unwrap();
    // curl holds the body back until this arrives (or a second passes).
    assert_eq!(read_head(&mut conn).await.status, 100);
    conn.write_all(b"hello").await.unwrap();
    let response = read_response(&mut conn, false).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, b"hello");
    let seen = &fake.seen()[0];
    assert!(!seen.headers.contains_key("expect"));
    assert_eq!(seen.body, Some(Digest::of(b"hello")));
}

/// An image load or `docker cp` cut short must not reach the engine looking whole.
#[tokio::test]
async fn client_hanging_up_mid_upload_is_not_passed_off_as_complete() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    let cut_short = [
        ("Transfer-Encoding: chunked", "5\r\nhello\r\n"),
        ("Content-Length: 10", "hello"),
    ];
    for (i, (framing, partial)) in cut_short.into_iter().enumerate() {
        let mut conn = connect(&proxy).await;
        let request = format!(
            "POST /v1.41/images/load HTTP/1.1\r\nHost: docker\r\n{framing}\r\n\r\n{partial}"
        );
        conn.write_all(request.as_bytes()).await.unwrap();
        fake.wait_seen(i + 1).await;
        drop(conn);
        fake.wait_open_connections(0).await;
        assert_eq!(
            fake.seen()[i].body,
            None,
            "{framing}: the engine read a whole body"
        );
    }
}

#[tokio::test]
async fn engine_closing_without_an_answer_is_a_502_and_is_not_retried() {
    let fake = FakeEngine::start(Behaviour::Raw(b""));
    let proxy = proxy_for(&fake);
    let response = exchange(
        &proxy,
        "POST /v1.41/containers/web/start HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 502, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    let message = response.message();
    let expected = format!(
        "dockgate: the Docker engine at {} failed to answer: ",
        fake.socket()
    );
    assert!(message.starts_with(&expected), "{message}");
    // The engine may have acted on it: sending it again could start something twice.
    assert_eq!(fake.seen().len(), 1);
}

/// The engine may close a kept connection between two requests of one client connection (a
/// restart, or its own idle limit): the next request goes over a new one.
#[tokio::test]
async fn engine_closing_a_kept_connection_is_replaced_at_the_next_request() {
    let fake = FakeEngine::start(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK",
    ));
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    for i in 0..3 {
        conn.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
            .await
            .unwrap();
        let response = read_response(&mut conn, false).await;
        assert_eq!(response.status, 200, "request {i}: {response:?}");
        assert_eq!(response.body, b"OK", "request {i}");
    }
    assert_eq!(fake.accepted(), 3);
}

/// What `docker attach` without `Upgrade` gets: a 200 with neither length nor chunks.
#[tokio::test]
async fn close_delimited_engine_body_reaches_the_client_whole() {
    let fake = FakeEngine::start(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n\
          output until the engine closes\n",
    ));
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    conn.write_all(
        b"POST /v1.41/containers/web/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n\
          Content-Length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    let response = read_response(&mut conn, false).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, b"output until the engine closes\n");
}

/// Reads until the peer closes or resets; a cut connection may end either way.
async fn read_until_cut(r: &mut (impl AsyncBufRead + Unpin)) -> Vec<u8> {
    let mut rest = vec![];
    let _ = within("the connection to end", r.read_to_end(&mut rest)).await;
    rest
}

/// A truncated export or `docker cp` must not reach the client looking whole.
#[tokio::test]
async fn engine_cutting_a_chunked_body_short_is_not_passed_off_as_complete() {
    let fake = FakeEngine::start(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n",
    ));
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    conn.write_all(b"GET /containers/web/export HTTP/1.1\r\nHost: docker\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut conn).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert!(head.chunked(), "{head:?}");
    assert_eq!(read_chunk(&mut conn).await.unwrap(), b"hello");
    // No last chunk: the connection just ends.
    assert_eq!(read_until_cut(&mut conn).await, b"");
}

#[tokio::test]
async fn engine_cutting_a_sized_body_short_is_not_passed_off_as_complete() {
    let fake = FakeEngine::start(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: 10\r\n\r\nhello",
    ));
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    conn.write_all(b"GET /containers/web/export HTTP/1.1\r\nHost: docker\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut conn).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.header("content-length"), Some("10"));
    // Five of the ten bytes promised, then the end.
    assert_eq!(read_until_cut(&mut conn).await, b"hello");
}

#[tokio::test]
async fn http10_client_gets_a_complete_response() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    let response = exchange(&proxy, "GET /v1.41/version HTTP/1.0\r\n\r\n").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(
        response.status_line.starts_with("HTTP/1.0 "),
        "{response:?}"
    );
    assert_eq!(
        response.header("content-length"),
        Some(fake::FIXED_JSON.len().to_string().as_str())
    );
    assert_eq!(response.body, fake::FIXED_JSON.as_bytes());
    assert_eq!(fake.seen()[0].target, "/v1.41/version");
}

#[tokio::test]
async fn http10_client_gets_a_chunked_engine_stream_whole_and_unchunked() {
    const LEN: u64 = 1 << 20;
    let fake = FakeEngine::start(Behaviour::Download(LEN));
    let proxy = proxy_for(&fake);
    // HTTP/1.0 has no chunked encoding: the end of the body is the end of the connection.
    let response = exchange(&proxy, "GET /containers/web/export HTTP/1.0\r\n\r\n").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("transfer-encoding"), None);
    assert_eq!(Digest::of(&response.body), PatternBody::digest(LEN));
}

#[tokio::test]
async fn http2_prior_knowledge_is_refused_before_the_engine() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    let mut conn = connect(&proxy).await;
    // The preface, then an empty SETTINGS frame, as an HTTP/2 client opens.
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&read_to_end(&mut conn).await).into_owned();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4") || answer.starts_with("HTTP/1.1 5"),
        "{answer}"
    );
    assert_eq!(fake.accepted(), 0);
}

#[tokio::test]
async fn refused_requests_never_reach_the_engine() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    for (status, request) in [
        (403, "GET /v1.41/networks"),
        (403, "GET /secrets"),
        (403, "DELETE /v1.41/_ping"),
        (403, "GET /debug/vars"),
        (400, "GET /containers/../info"),
        (400, "GET /v1.41/v1.41/info"),
        (400, "GET /containers%2Fjson"),
        (400, "GET //containers/json"),
        (400, "GET http://docker/containers/json"),
    ] {
        let response = exchange(
            &proxy,
            &format!("{request} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(response.status, status, "{request}: {response:?}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert!(response.message().starts_with("dockgate: "), "{request}");
    }
    // On an upgrade route's neighbour: the upgrade itself is refused.
    let response = exchange(
        &proxy,
        "POST /v1.41/containers/web/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 400, "{response:?}");

    // A bare LF in the second head of a kept connection, after a chunked body, in one write.
    let mut conn = connect(&proxy).await;
    conn.write_all(
        b"POST /build HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
          GET /_ping HTTP/1.1\nHost: docker\n\n",
    )
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&read_until_cut(&mut conn).await).into_owned();
    assert!(answer.contains("HTTP/1.1 400 "), "{answer}");
    assert!(!answer.contains("HTTP/1.1 200 "), "{answer}");

    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
    assert_eq!(fake.accepted(), 0);
}

/// MODE=warn with no grant: what a grant would allow goes on (route and body alike), what no
/// grant allows is refused as in enforce mode; both are learned, and enforce mode learns its
/// refusals too.
#[tokio::test]
async fn warn_mode_forwards_only_what_some_grant_allows() {
    let fake = FakeEngine::start(Behaviour::Json);
    let post = |body: &str| {
        format!(
            "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let get =
        |path: &str| format!("GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n");
    let privileged = r#"{"Image":"x","HostConfig":{"Privileged":true}}"#;
    let label = r#"{"Image":"x","Labels":{"dockgate.profile":"admin"}}"#;
    // The status in warn mode, and in enforce mode.
    let requests = [
        ((200, 403), get("/v1.41/networks")),
        ((200, 403), post(privileged)),
        ((403, 403), post(label)),
        ((403, 403), get("/debug/vars")),
        ((400, 400), get("/containers/../info")),
    ];
    // Enforce mode refuses the create on its route, before its body is judged.
    for (mode, forwarded, expected) in [
        (
            "warn",
            2,
            &["CONTAINERS=1", "NETWORKS=1", "POST=1", "ALLOW_PRIVILEGED=1"][..],
        ),
        ("enforce", 0, &["CONTAINERS=1", "NETWORKS=1", "POST=1"][..]),
    ] {
        let before = fake.seen().len();
        let proxy = Proxy::start(&[("SOCKET_PATH", fake.socket()), ("MODE", mode)]);
        for ((warn, enforce), request) in &requests {
            let status = if mode == "warn" { *warn } else { *enforce };
            let response = exchange(&proxy, request).await;
            assert_eq!(response.status, status, "{mode}: {request}: {response:?}");
        }
        assert_eq!(fake.seen().len() - before, forwarded, "{mode}");
        let learned = proxy.learned().clients();
        let [client] = learned.as_slice() else {
            panic!("{mode}: one client: {learned:?}")
        };
        let set: Vec<String> = client.minimal.set.iter().map(ToString::to_string).collect();
        assert_eq!(set, expected, "{mode}");
        // In enforce mode the labelled create is refused on its route too, so a grant is learned.
        let no_grant = if mode == "warn" { 3 } else { 2 };
        assert_eq!(
            client.no_grant.len(),
            no_grant,
            "{mode}: {:?}",
            client.no_grant
        );
        assert!(proxy
            .learned()
            .summary(dockgate::learn::Mode::Warn)
            .contains(&format!("no grant allows these ({no_grant})")));
    }
}

#[tokio::test]
async fn ambiguous_framing_is_refused_before_the_engine() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    let head = "PUT /containers/web/archive?path=%2Ftmp HTTP/1.1\r\nHost: docker\r\n";
    let chunked = "5\r\nhello\r\n0\r\n\r\n";
    for (framing, body) in [
        ("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
        ("Content-Length: 5, 6\r\n", "hello!"),
        ("Content-Length: +5\r\n", "hello"),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            chunked,
        ),
        ("Transfer-Encoding: chunked, chunked\r\n", chunked),
        ("Transfer-Encoding: gzip, chunked\r\n", chunked),
        ("Transfer-Encoding: Chunked\r\n", chunked),
    ] {
        let response = exchange(&proxy, &format!("{head}{framing}\r\n{body}")).await;
        assert_eq!(response.status, 400, "{framing:?}: {response:?}");
    }
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
    assert_eq!(fake.accepted(), 0);
}

/// Found by `docker cp` into a container and `docker build` through configs that refuse them:
/// the CLI printed `write: broken pipe` instead of the refusal, because the connection was closed
/// under the body it was still sending.
#[tokio::test]
async fn refused_upload_reads_the_refusal_not_a_broken_pipe() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = Proxy::start(&[("SOCKET_PATH", fake.socket())]);
    let (read, mut write) = TcpStream::connect(proxy.addr).await.unwrap().into_split();
    let mut read = BufReader::new(read);
    // Far more than socket buffers hold, so a connection closed early fails the write.
    let body = vec![b'x'; 8 << 20];
    let head = format!(
        "PUT /v1.41/containers/c/archive?path=/ HTTP/1.1\r\nHost: docker\r\n\
         Content-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let upload = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        write.write_all(&body).await?;
        Ok::<_, std::io::Error>(write)
    });
    let refused = read_response(&mut read, false).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        refused.message(),
        "dockgate: PUT /containers/c/archive is not allowed; \
         set CONTAINERS=1, POST=1 and ALLOW_ARCHIVE=1"
    );
    let mut write = within("the upload", upload)
        .await
        .unwrap()
        .expect("the whole body is accepted");
    // The connection is still good for the next request.
    write
        .write_all(b"GET /v1.41/info HTTP/1.1\r\nHost: docker\r\n\r\n")
        .await
        .unwrap();
    let next = read_response(&mut read, false).await;
    assert!(next.message().ends_with("set INFO=1"), "{next:?}");
    assert_eq!(fake.accepted(), 0);
}

/// hyper resolves a Content-Length beside chunked encoding before dockgate sees the request: it
/// drops the length, reads the body as chunked, and closes the connection after answering (RFC
/// 9112 §6.3). What matters is that nothing after the chunked body is taken as a request.
#[tokio::test]
async fn length_beside_chunked_is_refused_before_the_engine() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_for(&fake);
    // Read by its length, the body is one request; read as chunked, it is two.
    let body = "5\r\nhello\r\n0\r\n\r\nGET /_ping?smuggled=1 HTTP/1.1\r\nHost: docker\r\n\r\n";
    let length = format!("Content-Length: {}\r\n", body.len());
    for framing in [
        format!("{length}Transfer-Encoding: chunked\r\n"),
        format!("Transfer-Encoding: chunked\r\n{length}"),
    ] {
        let mut conn = connect(&proxy).await;
        let request = format!(
            "PUT /containers/web/archive?path=%2Ftmp HTTP/1.1\r\nHost: docker\r\n{framing}\r\n{body}"
        );
        conn.write_all(request.as_bytes()).await.unwrap();
        let response = read_response(&mut conn, false).await;
        assert_eq!(response.status, 400, "{framing:?}");
        assert_eq!(response.header("connection"), Some("close"), "{framing:?}");
        assert!(read_to_end(&mut conn).await.is_empty(), "{framing:?}");
    }
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_and_refuses_new_connections() {
    let fake = FakeEngine::start(Behaviour::Stream);
    // Far longer than any bound here: finishing must not wait for the grace period to run out.
    let mut proxy = proxy_with(&fake, &[("SHUTDOWN_GRACE", "10m")]);
    let addr = proxy.addr;
    let mut conn = connect(&proxy).await;
    conn.write_all(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_head(&mut conn).await.status, 200);
    assert_eq!(
        read_chunk(&mut conn).await.unwrap(),
        fake::STREAM_OPENED.as_bytes()
    );

    proxy.begin_shutdown();
    within("new connections to be refused", async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    fake.send_line("last line\n");
    fake.end_streams();
    assert_eq!(read_chunk(&mut conn).await.unwrap(), b"last line\n");
    assert_eq!(
        read_chunk(&mut conn).await,
        None,
        "the response is complete"
    );
    assert!(read_to_end(&mut conn).await.is_empty());
    proxy.stopped().await.unwrap();
}

#[tokio::test]
async fn shutdown_cuts_a_never_ending_stream_after_the_grace_period() {
    let fake = FakeEngine::start(Behaviour::Stream);
    let mut proxy = proxy_with(&fake, &[("SHUTDOWN_GRACE", "200ms")]);
    let mut conn = connect(&proxy).await;
    conn.write_all(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_head(&mut conn).await.status, 200);
    assert!(read_chunk(&mut conn).await.is_some());

    proxy.begin_shutdown();
    proxy.stopped().await.unwrap();
    // Cut: no last chunk, just the end of the connection.
    assert!(read_to_end(&mut conn).await.is_empty());
    fake.wait_open_connections(0).await;
}

#[tokio::test]
async fn shutdown_cuts_an_exec_tunnel_after_the_grace_period() {
    let fake = FakeEngine::start(Behaviour::Hijack(Hijack::Echo));
    let mut proxy = proxy_with(&fake, &[("SHUTDOWN_GRACE", "200ms")]);
    let mut conn = connect(&proxy).await;
    conn.write_all(exec_start("").as_bytes()).await.unwrap();
    assert_eq!(read_head(&mut conn).await.status, 101);
    let mut greeting = vec![0; fake::GREETING.len()];
    within("greeting", conn.read_exact(&mut greeting))
        .await
        .unwrap();

    proxy.begin_shutdown();
    proxy.stopped().await.unwrap();
    // The engine never saw stdin end, so it never wrote its trailer: the tunnel was cut.
    assert!(read_to_end(&mut conn).await.is_empty());
    fake.wait_open_connections(0).await;
}

/// The default of the `HEAD_TIMEOUT` variable (src/config/vars.rs).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn silent_follow_stream_is_never_timed_out() {
    let (proxy, mut fake) = paused(Behaviour::Stream);
    let socket = proxy.socket().to_path_buf();
    proxy.run(async move {
        fake.listen();
        let mut conn = BufReader::new(UnixStream::connect(&socket).await.unwrap());
        conn.write_all(
            b"GET /v1.41/containers/web/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n\r\n",
        )
        .await
        .unwrap();
        assert_eq!(read_head(&mut conn).await.status, 200);
        assert!(read_chunk(&mut conn).await.is_some());

        // Nothing runs while the test sleeps, so the paused clock jumps from timer to timer: any
        // timer dockgate keeps on this stream fires here.
        let silent_since = Instant::now();
        tokio::time::sleep(Duration::from_secs(16 * 60)).await;
        fake.send_line("a line after 16 minutes\n");
        assert_eq!(
            read_chunk(&mut conn).await.unwrap(),
            b"a line after 16 minutes\n"
        );
        assert!(silent_since.elapsed() >= Duration::from_secs(16 * 60));
    });
}

/// Reads until the peer closes, on a paused clock; returns what came and the time it took.
async fn idle_until_closed(conn: &mut (impl AsyncBufRead + Unpin)) -> (Vec<u8>, Duration) {
    let since = Instant::now();
    let mut rest = vec![];
    tokio::time::timeout(10 * HEAD_TIMEOUT, conn.read_to_end(&mut rest))
        .await
        .expect("the connection is closed at last")
        .unwrap();
    (rest, since.elapsed())
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_head_timeout() {
    let (proxy, mut fake) = paused(Behaviour::Json);
    let socket = proxy.socket().to_path_buf();
    proxy.run(async move {
        fake.listen();
        let mut conn = BufReader::new(UnixStream::connect(&socket).await.unwrap());
        conn.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut conn, false).await.status, 200);

        let (rest, idle) = idle_until_closed(&mut conn).await;
        assert!(
            (HEAD_TIMEOUT..HEAD_TIMEOUT + Duration::from_secs(1)).contains(&idle),
            "closed after {idle:?} idle"
        );
        assert!(
            rest.is_empty() || rest.starts_with(b"HTTP/1.1 408 "),
            "{}",
            String::from_utf8_lossy(&rest)
        );
    });
}

#[test]
fn slow_request_head_is_cut_at_the_head_timeout() {
    let (proxy, mut fake) = paused(Behaviour::Json);
    let socket = proxy.socket().to_path_buf();
    proxy.run(async move {
        fake.listen();
        let mut conn = BufReader::new(UnixStream::connect(&socket).await.unwrap());
        conn.write_all(b"GET /_ping HTTP/1.1\r\nHost: do")
            .await
            .unwrap();

        let (rest, waited) = idle_until_closed(&mut conn).await;
        assert!(
            (HEAD_TIMEOUT..HEAD_TIMEOUT + Duration::from_secs(1)).contains(&waited),
            "closed after {waited:?}"
        );
        assert!(
            rest.is_empty() || rest.starts_with(b"HTTP/1.1 408 "),
            "{}",
            String::from_utf8_lossy(&rest)
        );
        assert_eq!(fake.accepted(), 0);
    });
}

/// MAX_CONNECTIONS: a connection over the limit is not refused; it waits in the kernel's backlog
/// until a slot is free. The one real-time window in this file: "not served within 300 ms" can
/// pass wrongly on a stalled machine, never fail wrongly.
#[tokio::test]
async fn connections_over_the_limit_wait_for_a_free_slot() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = proxy_with(&fake, &[("MAX_CONNECTIONS", "1")]);
    let ping = "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
    let mut first = connect(&proxy).await;
    first.write_all(ping.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut first, false).await.status, 200);
    // Accepted by the kernel, but not served while the first connection holds the slot.
    let mut second = connect(&proxy).await;
    second.write_all(ping.as_bytes()).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut byte)).await;
    assert!(early.is_err(), "served over the limit: {early:?}");
    drop(first);
    let response = read_response(&mut second, false).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(fake.seen().len(), 2);
}

/// MAX_CONNECTIONS counts connections being served, not listeners waiting for one.
#[test]
fn an_idle_listener_holds_no_connection_slot() {
    // The harness's loopback TCP port, idle, beside the unix socket the client uses.
    let (proxy, mut fake) = paused_with(Behaviour::Json, &[("MAX_CONNECTIONS", "1")]);
    let socket = proxy.socket().to_path_buf();
    proxy.run(async move {
        fake.listen();
        let mut conn = BufReader::new(UnixStream::connect(&socket).await.unwrap());
        conn.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut conn, false).await.status, 200);
    });
}
