//! HTTP framing and faults, against an in-process fake engine on a unix socket (fast and exact;
//! the real engine is in e2e_docker.rs): bodies both ways, keep-alive, HEAD, upgrades with
//! half-close, large streams, hang-ups, the engine going away, shutdown, and no timeouts on streams.

mod harness;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use harness::fake_engine::{pattern, Digest, FakeEngine};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_stream::wrappers::ReceiverStream;

/// A request body streamed from a task, as a client uploading a build context does.
type Upload = StreamBody<ReceiverStream<Result<Frame<Bytes>, std::io::Error>>>;

/// Bounds waits so a broken build fails instead of hanging; never asserted as a time.
const PATIENCE: Duration = Duration::from_secs(60);

fn socket_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dockgate-fake-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("engine.sock")
}

fn proxy(engine: &FakeEngine, env: &[(&str, &str)]) -> harness::Proxy {
    let socket = engine.path().display().to_string();
    let mut env = env.to_vec();
    env.push(("SOCKET_PATH", &socket));
    harness::Proxy::start(&env)
}

/// Sends raw bytes on a new connection and reads until the proxy closes it.
async fn raw(proxy: &harness::Proxy, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = vec![];
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the proxy closes");
    String::from_utf8_lossy(&answer).into_owned()
}

async fn wait_for(what: &str, mut probe: impl FnMut() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !probe() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting for {what}"));
}

fn client() -> Client<HttpConnector, Upload> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get(uri: String) -> hyper::Request<Upload> {
    hyper::Request::get(uri).body(streamed_body(0)).unwrap()
}

fn streamed_body(len: u64) -> Upload {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut at = 0;
        while at < len {
            let n = (len - at).min(200_000);
            let chunk: Vec<u8> = (at..at + n).map(pattern).collect();
            if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                return;
            }
            at += n;
        }
    });
    StreamBody::new(ReceiverStream::new(rx))
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_reaches_engine_intact() {
    let engine = FakeEngine::start(&socket_dir("upload"));
    let proxy = proxy(&engine, &[("BUILD", "1"), ("POST", "1")]);
    let len = 64 << 20;
    let request = hyper::Request::post(format!("{}/v1.41/build", proxy.url()))
        .body(streamed_body(len))
        .unwrap();
    let response = client().request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let expected = Digest::of_pattern(len);
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!("{{\"len\":{},\"sum\":{}}}", expected.len, expected.sum)
    );
    let sent = &engine.received()[0];
    assert_eq!(
        sent.headers.get("transfer-encoding").unwrap(),
        "chunked",
        "sent on as it came: chunked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn content_length_upload_reaches_engine_intact() {
    let engine = FakeEngine::start(&socket_dir("cl-upload"));
    let proxy = proxy(&engine, &[("BUILD", "1"), ("POST", "1")]);
    let body: Vec<u8> = (0..100_000).map(pattern).collect();
    let mut head = format!(
        "POST /build HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    head.extend(&body);
    let answer = raw(&proxy, &head).await;
    let expected = Digest::of_pattern(100_000);
    assert!(
        answer.ends_with(&format!(
            "{{\"len\":{},\"sum\":{}}}",
            expected.len, expected.sum
        )),
        "{answer}"
    );
    assert_eq!(
        engine.received()[0].headers.get("content-length").unwrap(),
        "100000"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn large_download_streams_intact() {
    let engine = FakeEngine::start(&socket_dir("download"));
    let proxy = proxy(&engine, &[("IMAGES", "1")]);
    let len: u64 = 256 << 20;
    let uri = format!("{}/v1.41/images/busybox/get?size={len}", proxy.url());
    let response = client().request(get(uri)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "identity");
    let mut body = response.into_body();
    let mut got = Digest::default();
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.unwrap().data_ref() {
            got.update(data);
        }
    }
    assert_eq!(got, Digest::of_pattern(len));
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_serves_many_requests_over_reused_connections() {
    let engine = FakeEngine::start(&socket_dir("keepalive"));
    let proxy = proxy(&engine, &[]);
    // Three requests on one client connection, pipelined in one write.
    let ping = "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";
    let answer = raw(
        &proxy,
        format!("{ping}{ping}GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 3, "{answer}");
    // Sequential requests reuse their client connection's engine connection.
    let client = client();
    for _ in 0..20 {
        let response = client
            .request(get(format!("{}/_ping", proxy.url())))
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    assert!(
        engine.connections() <= 3,
        "{} engine connections for 23 requests",
        engine.connections()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn head_answers_headers_only_and_engine_headers_pass_unchanged() {
    let engine = FakeEngine::start(&socket_dir("head"));
    let proxy = proxy(&engine, &[("CONTAINERS", "1"), ("ALLOW_ARCHIVE", "1")]);
    let answer = raw(
        &proxy,
        b"HEAD /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(body.is_empty(), "HEAD has no body: {body:?}");
    for header in [
        "api-version: 1.41",
        "ostype: linux",
        "docker-experimental: false",
        "builder-version: 1",
        "swarm: inactive",
        "content-length: 2",
    ] {
        assert!(head.contains(header), "{header} missing from {head}");
    }
    let answer = raw(
        &proxy,
        b"HEAD /containers/c/archive?path=/etc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.contains("x-docker-container-path-stat: eyJuYW1lIjoiZXRjIn0="),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_relays_early_bytes_and_each_half_close() {
    let engine = FakeEngine::start(&socket_dir("upgrade"));
    let proxy = proxy(
        &engine,
        &[("CONTAINERS", "1"), ("EXEC", "1"), ("POST", "1")],
    );
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    // stdin bytes ride in the same write as the request head and body.
    stream
        .write_all(b"POST /v1.41/exec/e1/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}hi")
        .await
        .unwrap();
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    // Read until the echo has come back, then half-close: output must keep flowing.
    while !String::from_utf8_lossy(&got).ends_with("early\nhi") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend(&buf[..n]);
    }
    stream.shutdown().await.unwrap();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: tcp"), "{head}");
    assert_eq!(rest, "early\nhitrailer\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_hanging_up_mid_stream_closes_the_engine_side() {
    let engine = FakeEngine::start(&socket_dir("hangup"));
    let proxy = proxy(&engine, &[("CONTAINERS", "1")]);
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(b"GET /containers/c/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = vec![];
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("first") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.extend(&buf[..n]);
    }
    drop(stream);
    // The engine notices on its next write.
    wait_for("the engine side to close", || {
        engine.log_line("more");
        engine.log_stream_closed()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_gone_answers_503_then_recovers_without_restart() {
    let path = socket_dir("gone");
    let mut engine = FakeEngine::start(&path);
    let proxy = proxy(&engine, &[]);
    let ping = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert!(raw(&proxy, ping).await.starts_with("HTTP/1.1 200"));
    engine.stop();
    let answer = raw(&proxy, ping).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("content-type: application/json\r\n"),
        "{answer}"
    );
    let message = format!(
        "{{\"message\":\"dockgate: cannot reach the Docker engine at {}: ",
        path.display()
    );
    assert!(answer.contains(&message), "{answer}");
    let _engine = FakeEngine::start(&path);
    assert!(
        raw(&proxy, ping).await.starts_with("HTTP/1.1 200"),
        "recovered by itself"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_1_0_clients_get_complete_responses() {
    let engine = FakeEngine::start(&socket_dir("http10"));
    let proxy = proxy(&engine, &[("IMAGES", "1")]);
    let answer = raw(&proxy, b"GET /_ping HTTP/1.0\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.0 200") && answer.ends_with("\r\n\r\nOK"),
        "{answer:?}"
    );
    // A streamed body of unknown length is delimited by closing, not chunked, for HTTP/1.0.
    let answer = raw(&proxy, b"GET /images/x/get?size=300000 HTTP/1.0\r\n\r\n").await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    assert_eq!(
        body.len(),
        String::from_utf8_lossy(&(0..300_000).map(pattern).collect::<Vec<u8>>()).len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_prior_knowledge_is_refused_and_never_forwarded() {
    let engine = FakeEngine::start(&socket_dir("h2"));
    let proxy = proxy(&engine, &[]);
    let answer = raw(
        &proxy,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    )
    .await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer:?}"
    );
    assert!(engine.received().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_requests_never_reach_the_engine() {
    let engine = FakeEngine::start(&socket_dir("refused"));
    let proxy = proxy(&engine, &[("CONTAINERS", "1")]);
    let cases = [
        ("GET /v1.41/networks HTTP/1.1", "403"),
        ("POST /v1.41/containers/create HTTP/1.1", "403"),
        ("GET /debug/vars HTTP/1.1", "403"),
        ("GET /containersx/json HTTP/1.1", "403"),
        ("GET /containers/../info HTTP/1.1", "400"),
        ("GET /v1.41/v1.41/containers/json HTTP/1.1", "400"),
        ("GET /containers%2Fjson HTTP/1.1", "400"),
        ("GET //containers/json HTTP/1.1", "400"),
        ("GET http://docker/containers/json HTTP/1.1", "400"),
        (
            "GET /containers/c/json HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade",
            "400",
        ),
    ];
    for (request, status) in cases {
        let answer = raw(
            &proxy,
            format!("{request}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{request}: {answer}"
        );
        assert!(
            answer.contains("content-type: application/json\r\n"),
            "{request}: {answer}"
        );
        assert!(
            answer.contains("{\"message\":\"dockgate: "),
            "{request}: {answer}"
        );
    }
    for request in [
        "POST /build HTTP/1.1\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
        // Identical repeats are folded by hyper (RFC 9112 allows it); differing ones are ambiguous.
        "POST /build HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        "POST /build HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "GET /_ping HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n",
        "GET /_ping HTTP/1.1\nHost: x\n\n",
        "GET /_ping HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
        "GET /_ping HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n",
        // A bare LF in the second head of a keep-alive connection, after a chunked body.
        "POST /build HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /_ping HTTP/1.1\nHost: x\n\n",
    ] {
        let answer = raw(&proxy, request.as_bytes()).await;
        assert!(answer.contains("HTTP/1.1 400"), "{request:?}: {answer}");
        assert!(!answer.contains("HTTP/1.1 200"), "{request:?}: {answer}");
    }
    assert!(engine.received().is_empty(), "{:?}", engine.received());
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_limit_wait_for_a_free_slot() {
    let engine = FakeEngine::start(&socket_dir("limit"));
    let proxy = proxy(&engine, &[("MAX_CONNECTIONS", "1")]);
    let mut first = TcpStream::connect(proxy.addr).await.unwrap();
    first
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(first.read(&mut buf).await.unwrap() > 0);
    // The second connection is accepted by the kernel but not served while the first holds the slot.
    let mut second = TcpStream::connect(proxy.addr).await.unwrap();
    second
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf))
            .await
            .is_err()
    );
    drop(first);
    let mut answer = vec![];
    tokio::time::timeout(PATIENCE, second.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_finishes_requests_in_flight_and_cuts_streams_after_the_grace() {
    let engine = FakeEngine::start(&socket_dir("shutdown"));
    let proxy = proxy(&engine, &[("CONTAINERS", "1"), ("SHUTDOWN_GRACE", "1s")]);
    let addr = proxy.addr;
    let mut held = TcpStream::connect(addr).await.unwrap();
    held.write_all(b"GET /containers/c/json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /containers/c/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    wait_for("both requests at the engine", || {
        engine.received().len() == 2
    })
    .await;

    let stopping = std::thread::spawn(move || proxy.stop());
    wait_for("the listener to close", || {
        std::net::TcpStream::connect(addr).is_err()
    })
    .await;
    engine.release();
    let mut answer = vec![];
    tokio::time::timeout(PATIENCE, held.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("{}"),
        "{answer}"
    );
    // The follow stream never ends by itself: the grace period ends it, and serve() returns.
    let mut rest = vec![];
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&rest).contains("first"));
    stopping.join().unwrap().unwrap();
}

/// Runs `serve`, the fake engine and the client on one current-thread runtime whose clock is
/// paused: when everything waits, tokio jumps to the next timer, so any timer the proxy held on a
/// stream would fire during a sleep of virtual minutes.
fn with_paused_clock(test: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(test);
}

async fn serve_here(
    engine: &FakeEngine,
    env: &[(&str, &str)],
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut vars: std::collections::BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert("SOCKET_PATH".into(), engine.path().display().to_string());
    let config = dockgate::config::Config::from_env(&vars, &Default::default()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        dockgate::server::serve(
            vec![dockgate::server::Listener::Tcp(listener)],
            &config,
            shutdown,
        )
        .await
        .unwrap();
    });
    (addr, stop)
}

#[test]
fn a_silent_follow_stream_is_still_alive_after_sixteen_minutes() {
    with_paused_clock(async {
        let engine = FakeEngine::start(&socket_dir("silent"));
        let (addr, _stop) = serve_here(&engine, &[("CONTAINERS", "1")]).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /containers/c/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut got = vec![];
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains("first") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend(&buf[..n]);
        }
        tokio::time::sleep(Duration::from_secs(16 * 60)).await;
        engine.log_line("after sixteen minutes");
        while !String::from_utf8_lossy(&got).contains("after sixteen minutes") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "the stream was cut: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend(&buf[..n]);
        }
    });
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_head_timeout() {
    with_paused_clock(async {
        let engine = FakeEngine::start(&socket_dir("idle"));
        let (addr, _stop) = serve_here(&engine, &[]).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut got = vec![];
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).ends_with("OK") {
            let n = stream.read(&mut buf).await.unwrap();
            got.extend(&buf[..n]);
        }
        tokio::time::sleep(Duration::from_secs(61)).await;
        let n = stream.read(&mut buf).await.unwrap_or(0);
        assert_eq!(
            n, 0,
            "an idle connection is closed after 60 s without a request"
        );
    });
}
