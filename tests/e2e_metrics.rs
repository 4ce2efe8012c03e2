//! The admin endpoint (ADMIN_LISTEN) in front of the fake engine: `/metrics` read by a Prometheus
//! text-format parser and its counters checked against the requests sent, `/healthz`, and
//! `/readyz` following the engine away and back on the paused clock.

mod harness;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use harness::fake_engine::{Behaviour, FakeEngine};
use harness::Proxy;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use prometheus_parse::{Scrape, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::Instant;

/// How long anything that should happen at once may take before the test fails instead of hangs.
const BOUND: Duration = Duration::from_secs(60);

/// One GET on a connection of its own: the status and the body.
async fn get(
    io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    path: &str,
) -> (u16, String) {
    let (mut sender, connection) = http1::handshake(TokioIo::new(io)).await.unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", "docker")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A GET on the admin endpoint, which `serve` binds once it runs, a moment after
/// [`Proxy::start`] returns.
async fn admin(socket: &Path, path: &str) -> (u16, String) {
    let start = Instant::now();
    loop {
        match UnixStream::connect(socket).await {
            Ok(io) => return get(io, path).await,
            Err(e) => assert!(start.elapsed() < BOUND, "{}: {e}", socket.display()),
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A scratch directory for sockets and the config file.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dockgate-metrics-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The scrape's samples of `metric`, by their labels in `keys` order.
fn samples(scrape: &Scrape, metric: &str, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .map(|s| {
            let labels = keys
                .iter()
                .map(|k| s.labels.get(k).unwrap_or_default().to_string())
                .collect();
            let value = match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                ref other => panic!("{metric} is not a single number: {other:?}"),
            };
            (labels, value)
        })
        .collect()
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("a Prometheus text exposition")
}

fn key(labels: &[&str]) -> Vec<String> {
    labels.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn metrics_count_the_requests_sent_by_decision_section_profile_and_needed_grant() {
    let fake = FakeEngine::start(Behaviour::Json);
    let dir = scratch("count");
    let config = dir.join("dockgate.toml");
    // TCP clients (127.0.0.1) get the profile "local"; the unix listener's get the default.
    std::fs::write(
        &config,
        "[profiles.local]\nCONTAINERS = 1\n\n[[clients]]\ncidr = \"127.0.0.1\"\nprofile = \"local\"\n",
    )
    .unwrap();
    let (unix, admin_socket) = (dir.join("dockgate.sock"), dir.join("admin.sock"));
    let listen = format!("unix://{}", unix.display());
    let admin_listen = format!("unix://{}", admin_socket.display());
    let proxy = Proxy::start(&[
        ("SOCKET_PATH", fake.socket()),
        ("LISTEN", &listen),
        ("ADMIN_LISTEN", &admin_listen),
        ("CONFIG", config.to_str().unwrap()),
    ]);
    let tcp = || TcpStream::connect(proxy.addr);
    let sent: &[(bool, &str, u16, usize)] = &[
        // (over TCP, path, status, times)
        (true, "/v1.41/containers/json", 200, 3),
        (true, "/v1.41/networks", 403, 2),
        (true, "/v1.41/debug/pprof", 403, 1),
        (false, "/_ping", 200, 2),
        (false, "/v1.41/images/json", 403, 1),
    ];
    for &(over_tcp, path, status, times) in sent {
        for _ in 0..times {
            let answered = if over_tcp {
                get(tcp().await.unwrap(), path).await
            } else {
                get(UnixStream::connect(&unix).await.unwrap(), path).await
            };
            assert_eq!(answered.0, status, "{path}: {}", answered.1);
        }
    }
    let total: usize = sent.iter().map(|s| s.3).sum();

    // A request is counted when it ends, just after its last byte is out: wait for all of them.
    let deadline = Instant::now() + BOUND;
    let scrape = loop {
        let (status, text) = admin(&admin_socket, "/metrics").await;
        assert_eq!(status, 200, "{text}");
        let scrape = parse(&text);
        let counted: f64 = samples(
            &scrape,
            "dockgate_requests_total",
            &["decision", "section", "profile"],
        )
        .values()
        .sum();
        let open = samples(&scrape, "dockgate_open_connections", &[]);
        if counted as usize == total && open[&key(&[])] == 0.0 {
            break scrape;
        }
        assert!(
            Instant::now() < deadline,
            "counted {counted} of {total} requests: {text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };

    let requests = samples(
        &scrape,
        "dockgate_requests_total",
        &["decision", "section", "profile"],
    );
    let expected: BTreeMap<Vec<String>, f64> = [
        (key(&["allow", "containers", "local"]), 3.0),
        (key(&["deny", "networks", "local"]), 2.0),
        (key(&["deny", "none", "local"]), 1.0),
        (key(&["allow", "_ping", "default"]), 2.0),
        (key(&["deny", "images", "default"]), 1.0),
    ]
    .into();
    assert_eq!(requests, expected);

    let refusals = samples(&scrape, "dockgate_refusals_total", &["grant", "profile"]);
    let expected: BTreeMap<Vec<String>, f64> = [
        (key(&["NETWORKS", "local"]), 2.0),
        (key(&["none", "local"]), 1.0),
        (key(&["IMAGES", "default"]), 1.0),
    ]
    .into();
    assert_eq!(refusals, expected);

    let durations = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "dockgate_request_duration_seconds")
        .map(|s| {
            let Value::Histogram(buckets) = &s.value else {
                panic!("not a histogram: {s:?}")
            };
            let last = buckets.last().expect("a +Inf bucket");
            assert!(last.less_than.is_infinite());
            (s.labels.get("decision").unwrap().to_string(), last.count)
        })
        .collect::<BTreeMap<_, _>>();
    assert_eq!(durations["allow"], 5.0);
    assert_eq!(durations["deny"], 4.0);
    assert_eq!(durations["error"], 0.0);

    for gauge in ["dockgate_open_streams", "dockgate_open_tunnels"] {
        assert_eq!(samples(&scrape, gauge, &[])[&key(&[])], 0.0, "{gauge}");
    }
    assert_eq!(
        samples(&scrape, "dockgate_engine_errors_total", &[])[&key(&[])],
        0.0
    );
    let build = samples(&scrape, "dockgate_build_info", &["version"]);
    assert_eq!(build[&key(&[env!("CARGO_PKG_VERSION")])], 1.0);
    let reloads = samples(&scrape, "dockgate_config_reloads_total", &["result"]);
    assert_eq!(reloads[&key(&["ok"])], 0.0);
    assert_eq!(reloads[&key(&["failed"])], 0.0);

    // The probe's pings go to the engine as dockgate's own lookups, never as a client's request.
    assert_eq!(fake.seen().len(), 5);
    drop(proxy);
    assert!(
        !admin_socket.exists(),
        "the admin socket is removed at shutdown"
    );
}

#[test]
fn readyz_turns_unready_within_2_s_of_the_engine_going_away_and_ready_when_it_returns() {
    let mut fake = FakeEngine::unstarted(Behaviour::Json);
    let dir = scratch("ready");
    let admin_socket = dir.join("admin.sock");
    let listen = format!("unix://{}", dir.join("dockgate.sock").display());
    let admin_listen = format!("unix://{}", admin_socket.display());
    let proxy = Proxy::start_paused(&[
        ("SOCKET_PATH", fake.socket()),
        ("LISTEN", &listen),
        ("ADMIN_LISTEN", &admin_listen),
    ]);
    proxy.run(async move {
        let engine_up = |text: &str| samples(&parse(text), "dockgate_engine_up", &[])[&key(&[])];
        // Polls /readyz every 50 ms of the paused clock until it answers `status`; how long that
        // took on that clock.
        let until = |status: u16| {
            let admin_socket = admin_socket.clone();
            async move {
                let start = Instant::now();
                loop {
                    let (answered, text) = admin(&admin_socket, "/readyz").await;
                    if answered == status {
                        return (start.elapsed(), text);
                    }
                    assert!(start.elapsed() < BOUND, "/readyz still says {text}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };

        // Before the first ping has an answer, dockgate is not ready.
        let (status, text) = admin(&admin_socket, "/readyz").await;
        assert_eq!(status, 503, "{text}");
        assert!(text.starts_with("unready: "), "{text}");

        fake.listen();
        let (_, text) = until(200).await;
        assert_eq!(
            text,
            "ready: the engine answers and the configuration is loaded\n"
        );
        assert_eq!(engine_up(&admin(&admin_socket, "/metrics").await.1), 1.0);

        fake.stop().await;
        let (took, text) = until(503).await;
        assert!(took <= Duration::from_secs(2), "unready after {took:?}");
        assert!(
            text.starts_with("unready: cannot reach the Docker engine at "),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1, "{text}");
        assert_eq!(engine_up(&admin(&admin_socket, "/metrics").await.1), 0.0);
        // The process is alive all the same.
        assert_eq!(admin(&admin_socket, "/healthz").await, (200, "ok\n".into()));

        // Still unready much later, while the engine stays away.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(admin(&admin_socket, "/readyz").await.0, 503);

        fake.listen();
        let (took, _) = until(200).await;
        assert!(took <= Duration::from_secs(2), "ready again after {took:?}");
        assert_eq!(engine_up(&admin(&admin_socket, "/metrics").await.1), 1.0);
    });
}

#[tokio::test]
async fn healthz_answers_and_other_paths_are_not_found() {
    let fake = FakeEngine::start(Behaviour::Json);
    let dir = scratch("health");
    let admin_socket = dir.join("admin.sock");
    let admin_listen = format!("unix://{}", admin_socket.display());
    let _proxy = Proxy::start(&[
        ("SOCKET_PATH", fake.socket()),
        ("ADMIN_LISTEN", &admin_listen),
    ]);
    assert_eq!(admin(&admin_socket, "/healthz").await, (200, "ok\n".into()));
    let (status, text) = admin(&admin_socket, "/containers/json").await;
    assert_eq!(status, 404, "{text}");
    assert!(
        text.contains("/metrics, /healthz, /readyz and /learned"),
        "{text}"
    );
    // What learn mode learned is served too: nothing yet.
    let (status, learned) = admin(&admin_socket, "/learned").await;
    assert_eq!(status, 200, "{learned}");
    assert!(learned.starts_with("learned (MODE=enforce)"), "{learned}");
    // Nothing of the admin endpoint reached the engine as a request.
    assert!(fake.seen().is_empty());
}

/// Scrapes until `done` holds for the parsed scrape; a request is counted when it ends, a
/// moment after its last byte is out.
async fn scrape_until(admin_socket: &Path, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let start = Instant::now();
    loop {
        let (status, text) = admin(admin_socket, "/metrics").await;
        assert_eq!(status, 200, "{text}");
        let scrape = parse(&text);
        if done(&scrape) {
            return scrape;
        }
        assert!(start.elapsed() < BOUND, "never came to pass: {text}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn gauge(scrape: &Scrape, name: &str) -> f64 {
    samples(scrape, name, &[])[&key(&[])]
}

#[tokio::test]
async fn a_follow_stream_is_open_until_it_ends_and_an_unreachable_engine_is_an_engine_error() {
    let mut fake = FakeEngine::start(Behaviour::Stream);
    let dir = scratch("stream");
    let admin_socket = dir.join("admin.sock");
    let admin_listen = format!("unix://{}", admin_socket.display());
    let proxy = Proxy::start(&[
        ("SOCKET_PATH", fake.socket()),
        ("CONTAINERS", "1"),
        ("ADMIN_LISTEN", &admin_listen),
    ]);
    let io = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut sender, connection) = http1::handshake(TokioIo::new(io)).await.unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get("/v1.41/containers/web/logs?follow=1&stdout=1")
        .header("host", "docker")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let mut body = sender.send_request(request).await.unwrap().into_body();
    body.frame().await.unwrap().unwrap();
    let open = |s: &Scrape| {
        gauge(s, "dockgate_open_streams") == 1.0 && gauge(s, "dockgate_open_connections") == 1.0
    };
    let scrape = scrape_until(&admin_socket, open).await;
    assert!(samples(&scrape, "dockgate_requests_total", &["decision"]).is_empty());

    fake.end_streams();
    while body.frame().await.is_some() {}
    let ended = |s: &Scrape| gauge(s, "dockgate_open_streams") == 0.0;
    let scrape = scrape_until(&admin_socket, ended).await;
    let requests = samples(&scrape, "dockgate_requests_total", &["decision", "section"]);
    assert_eq!(requests[&key(&["allow", "containers"])], 1.0);

    fake.stop().await;
    let (status, _) = get(
        TcpStream::connect(proxy.addr).await.unwrap(),
        "/v1.41/containers/json",
    )
    .await;
    assert_eq!(status, 503);
    let counted = |s: &Scrape| gauge(s, "dockgate_engine_errors_total") == 1.0;
    let scrape = scrape_until(&admin_socket, counted).await;
    let requests = samples(&scrape, "dockgate_requests_total", &["decision", "section"]);
    assert_eq!(requests[&key(&["error", "containers"])], 1.0);
}

#[test]
fn an_engine_that_accepts_and_never_answers_is_unready_within_2_s() {
    let dir = scratch("hang");
    let engine = dir.join("engine.sock");
    let admin_socket = dir.join("admin.sock");
    let listen = format!("unix://{}", dir.join("dockgate.sock").display());
    let admin_listen = format!("unix://{}", admin_socket.display());
    let proxy = Proxy::start_paused(&[
        ("SOCKET_PATH", engine.to_str().unwrap()),
        ("LISTEN", &listen),
        ("ADMIN_LISTEN", &admin_listen),
    ]);
    proxy.run(async move {
        // Accepts every connection and holds it, reading nothing and answering nothing.
        let listener = tokio::net::UnixListener::bind(&engine).unwrap();
        tokio::spawn(async move {
            let mut held = vec![];
            while let Ok((io, _)) = listener.accept().await {
                held.push(io);
            }
        });
        let start = Instant::now();
        loop {
            let (status, text) = admin(&admin_socket, "/readyz").await;
            assert_eq!(status, 503, "{text}");
            if text.contains("did not answer its ping within 1 s") {
                break;
            }
            assert!(start.elapsed() < BOUND, "{text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            start.elapsed() <= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    });
}

#[test]
fn config_reloads_are_counted_by_result() {
    let dir = scratch("reload");
    let config = dir.join("dockgate.toml");
    std::fs::write(&config, "[profiles.local]\nCONTAINERS = 1\n").unwrap();
    let fake = FakeEngine::unstarted(Behaviour::Json);
    let admin_socket = dir.join("admin.sock");
    let listen = format!("unix://{}", dir.join("dockgate.sock").display());
    let admin_listen = format!("unix://{}", admin_socket.display());
    let proxy = Proxy::start_paused(&[
        ("SOCKET_PATH", fake.socket()),
        ("LISTEN", &listen),
        ("ADMIN_LISTEN", &admin_listen),
        ("CONFIG", config.to_str().unwrap()),
    ]);
    proxy.run(async move {
        let reloads = || async {
            let (_, text) = admin(&admin_socket, "/metrics").await;
            let counted = samples(&parse(&text), "dockgate_config_reloads_total", &["result"]);
            (counted[&key(&["ok"])], counted[&key(&["failed"])])
        };
        assert_eq!(reloads().await, (0.0, 0.0));
        // The file is looked at once a second; the paused clock makes that instant.
        std::fs::write(&config, "[profiles.local]\nCONTAINERS = \"perhaps\"\n").unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(reloads().await, (0.0, 1.0));
        std::fs::write(&config, "[profiles.local]\nCONTAINERS = 1\nNETWORKS = 1\n").unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(reloads().await, (1.0, 1.0));
    });
}
