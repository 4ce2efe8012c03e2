//! The JSON audit log (`LOG_FORMAT=json`, docs/audit-log.md): every line dockgate writes is one
//! JSON object, every request object validates against docs/audit-log.schema.json and names its
//! client. In-process against the fake engine for each way a request ends, and once as the built
//! binary, reading its real stderr (where start-up, the batching writer and shutdown are too).
//!
//! Logs are read after the proxy has stopped, when every request has ended and been written: no
//! waiting on the clock.

mod harness;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use harness::fake_engine::{self as fake, Behaviour, FakeEngine, Hijack};
use harness::Proxy;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

const SCHEMA: &str = include_str!("../docs/audit-log.schema.json");
const DOC: &str = include_str!("../docs/audit-log.md");

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema is a valid JSON Schema")
}

/// Checks every line of a log and returns its request objects: each line is a JSON object that
/// validates, and each request names its client and listener.
fn requests(lines: &[String]) -> Vec<Value> {
    let validator = validator();
    assert!(!lines.is_empty(), "nothing logged");
    let mut requests = vec![];
    for line in lines {
        let object: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let errors: Vec<String> = validator
            .iter_errors(&object)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{line}\n{}", errors.join("\n"));
        if object["kind"] == "request" {
            let client = &object["client"];
            assert!(client["address"].as_str().is_some_and(|a| !a.is_empty()));
            assert!(client["listener"].as_str().is_some_and(|l| !l.is_empty()));
            requests.push(object);
        }
    }
    requests
}

/// The one request object for `method path`.
fn find<'a>(requests: &'a [Value], method: &str, path: &str) -> &'a Value {
    let found: Vec<&Value> = requests
        .iter()
        .filter(|r| r["method"] == method && r["path"] == path)
        .collect();
    assert_eq!(found.len(), 1, "{method} {path} in {requests:#?}");
    found[0]
}

async fn exchange(proxy: &Proxy, request: &str) -> String {
    let mut conn = TcpStream::connect(proxy.addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![];
    conn.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
}

fn post_json(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

async fn stop(mut proxy: Proxy) -> Vec<String> {
    let log = proxy.log();
    proxy.begin_shutdown();
    proxy.stopped().await.unwrap();
    log.lines()
}

#[tokio::test]
async fn allowed_refused_and_malformed_requests_are_one_valid_object_each() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = Proxy::start(&[
        ("SOCKET_PATH", fake.socket()),
        ("LOG_FORMAT", "json"),
        ("CONTAINERS", "1"),
        ("POST", "1"),
    ]);
    let sent = [
        get("/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22secret%22%5D%7D"),
        get("/v1.41/containers/a%62c/json"),
        get("/v1.41/volumes"),
        post_json(
            "/v1.41/containers/create",
            r#"{"Image":"busybox","HostConfig":{"Privileged":true,"Binds":["/srv:/srv"]}}"#,
        ),
        get("/v1.41/containers/../json"),
        "GET /v1.41/containers/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\
         X-Registry-Auth: c2VjcmV0\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_string(),
    ];
    let mut statuses = vec![];
    for request in &sent {
        let answer = exchange(&proxy, request).await;
        statuses.push(answer.split(' ').nth(1).unwrap().to_string());
    }
    assert_eq!(statuses, ["200", "200", "403", "403", "400", "400"]);
    let lines = stop(proxy).await;
    let requests = requests(&lines);
    // The ambiguous framing never became a request: the head check answered it, with an event.
    assert_eq!(requests.len(), sent.len() - 1, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains(r#""kind":"event""#)
            && l.contains("refused a request head with LengthAndEncoding")),
        "{lines:#?}"
    );
    let whole = lines.join("\n");
    for secret in ["secret", "filters", "c2VjcmV0", "X-Registry-Auth", "?all"] {
        assert!(!whole.contains(secret), "{secret} logged: {whole}");
    }

    let allowed = find(&requests, "GET", "/containers/json");
    assert_eq!(allowed["decision"], "allow");
    assert_eq!(allowed["level"], "info");
    assert_eq!(allowed["raw_path"], "/v1.41/containers/json");
    assert_eq!(allowed["section"], "CONTAINERS");
    assert_eq!(allowed["bytes"], fake::FIXED_JSON.len());
    assert_eq!(allowed["complete"], true);
    assert!(allowed["client"]["address"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(allowed["client"].get("profile").is_none(), "no CONFIG");

    let decoded = find(&requests, "GET", "/containers/abc/json");
    assert_eq!(decoded["raw_path"], "/v1.41/containers/a%62c/json");

    let route = find(&requests, "GET", "/volumes");
    assert_eq!(
        (&route["decision"], &route["level"], &route["status"]),
        (&"deny".into(), &"warn".into(), &403.into())
    );
    assert_eq!(route["section"], "VOLUMES");
    assert_eq!(
        route["needs"],
        serde_json::json!({"grants": [{"var": "VOLUMES", "value": "1"}], "text": "VOLUMES=1"})
    );
    assert_eq!(
        route["reason"],
        "dockgate: GET /volumes is not allowed; set VOLUMES=1"
    );

    let body = find(&requests, "POST", "/containers/create");
    assert_eq!(body["decision"], "deny");
    assert_eq!(
        body["needs"]["text"],
        "ALLOW_PRIVILEGED=1,ALLOW_BIND_MOUNTS=/srv"
    );
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("Privileged"), "{reason}");

    let malformed = find(&requests, "GET", "/v1.41/containers/../json");
    assert_eq!(malformed["status"], 400);
    assert!(malformed.get("raw_path").is_none() && malformed.get("needs").is_none());
}

#[tokio::test]
async fn a_stream_is_logged_when_it_ends_with_its_lifetime() {
    let fake = FakeEngine::start(Behaviour::Stream);
    let proxy = Proxy::start(&[
        ("SOCKET_PATH", fake.socket()),
        ("LOG_FORMAT", "json"),
        ("EVENTS", "1"),
    ]);
    let mut conn = TcpStream::connect(proxy.addr).await.unwrap();
    conn.write_all(get("/v1.41/events").as_bytes())
        .await
        .unwrap();
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(fake::STREAM_OPENED) {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "the stream ended before it opened");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        !proxy
            .log()
            .lines()
            .iter()
            .any(|l| l.contains(r#""kind":"request""#)),
        "an open stream is not logged yet"
    );
    fake.send_line("{\"status\":\"start\"}\n");
    fake.end_streams();
    conn.read_to_end(&mut got).await.unwrap();
    let requests = requests(&stop(proxy).await);
    let events = find(&requests, "GET", "/events");
    assert_eq!(events["stream"], true);
    assert_eq!(events["complete"], true);
    assert_eq!(events["section"], "EVENTS");
    assert!(events["bytes"].as_u64().unwrap() > fake::STREAM_OPENED.len() as u64);
}

#[tokio::test]
async fn a_tunnel_is_logged_when_it_closes_with_both_directions() {
    let fake = FakeEngine::start(Behaviour::Hijack(Hijack::Echo));
    let proxy = Proxy::start(&[
        ("SOCKET_PATH", fake.socket()),
        ("LOG_FORMAT", "json"),
        ("CONTAINERS", "1"),
        ("EXEC", "1"),
        ("POST", "1"),
    ]);
    let body = r#"{"Detach":false,"Tty":false}"#;
    let request = format!(
        "POST /v1.41/exec/3f2a/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}stdin",
        body.len()
    );
    let mut conn = TcpStream::connect(proxy.addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    conn.shutdown().await.unwrap();
    let mut answer = vec![];
    conn.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    let requests = requests(&stop(proxy).await);
    let exec = find(&requests, "POST", "/exec/3f2a/start");
    assert_eq!(exec["status"], 101);
    assert_eq!(exec["upgrade"], "tcp");
    assert_eq!(exec["bytes_in"], "stdin".len());
    assert_eq!(
        exec["bytes"],
        fake::GREETING.len() + "stdin".len() + fake::TRAILER.len()
    );
    assert_eq!(exec["complete"], true);
    assert!(exec.get("stream").is_none());
}

#[tokio::test]
async fn an_engine_error_is_an_error_object() {
    let gone = FakeEngine::unstarted(Behaviour::Json);
    let proxy = Proxy::start(&[("SOCKET_PATH", gone.socket()), ("LOG_FORMAT", "json")]);
    let answer = exchange(&proxy, &get("/_ping")).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let requests = requests(&stop(proxy).await);
    let ping = find(&requests, "GET", "/_ping");
    assert_eq!(
        (&ping["decision"], &ping["level"], &ping["status"]),
        (&"error".into(), &"error".into(), &503.into())
    );
    assert!(ping["reason"]
        .as_str()
        .unwrap()
        .contains("cannot reach the Docker engine"));
}

/// In warn mode a refusal some grant would lift is logged as `warn` when let through, then the
/// request's own object when it ends; both validate.
#[tokio::test]
async fn a_waived_refusal_is_a_warn_object_then_the_request() {
    let fake = FakeEngine::start(Behaviour::Json);
    let proxy = Proxy::start(&[
        ("SOCKET_PATH", fake.socket()),
        ("LOG_FORMAT", "json"),
        ("MODE", "warn"),
    ]);
    let answer = exchange(&proxy, &get("/v1.41/networks")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let requests = requests(&stop(proxy).await);
    let both: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"] == "/networks")
        .collect();
    assert_eq!(both.len(), 2, "{requests:#?}");
    assert_eq!(
        (&both[0]["decision"], &both[0]["level"]),
        (&"warn".into(), &"warn".into())
    );
    assert_eq!(both[0]["needs"]["text"], "NETWORKS=1");
    assert_eq!(
        (&both[1]["decision"], &both[1]["status"]),
        (&"allow".into(), &200.into())
    );
}

/// With a config file, each request names the profile its client got; a unix client is named by
/// its credentials.
#[tokio::test]
async fn with_a_config_file_the_client_carries_its_profile() {
    let fake = FakeEngine::start(Behaviour::Json);
    let dir = fake.path().with_file_name("audit-config");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("dockgate.toml");
    std::fs::write(
        &config,
        "[profiles.ci]\nCONTAINERS = 1\n\n[[clients]]\ncidr = \"127.0.0.0/8\"\nprofile = \"ci\"\n",
    )
    .unwrap();
    let socket = dir.join("dockgate.sock");
    let listen = format!("unix://{}", socket.display());
    let proxy = Proxy::start(&[
        ("SOCKET_PATH", fake.socket()),
        ("LOG_FORMAT", "json"),
        ("CONFIG", config.to_str().unwrap()),
        ("LISTEN", &listen),
    ]);
    let allowed = exchange(&proxy, &get("/v1.41/containers/json")).await;
    assert!(allowed.starts_with("HTTP/1.1 200"), "{allowed}");
    let refused = exchange(&proxy, &get("/v1.41/networks")).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let mut unix = UnixStream::connect(proxy.socket()).await.unwrap();
    unix.write_all(get("/v1.41/containers/json").as_bytes())
        .await
        .unwrap();
    let mut answer = vec![];
    unix.read_to_end(&mut answer).await.unwrap();
    let requests = requests(&stop(proxy).await);
    assert_eq!(requests.len(), 3);
    let tcp: Vec<&Value> = requests
        .iter()
        .filter(|r| {
            r["client"]["listener"]
                .as_str()
                .unwrap()
                .starts_with("tcp://")
        })
        .collect();
    assert_eq!(tcp.len(), 2, "{requests:#?}");
    for request in tcp {
        assert_eq!(request["client"]["profile"], "ci", "{request}");
    }
    let networks = find(&requests, "GET", "/networks");
    assert!(
        networks["reason"]
            .as_str()
            .unwrap()
            .contains("add NETWORKS=1 to profile ci"),
        "{networks}"
    );
    let local = requests
        .iter()
        .find(|r| r["client"]["listener"] == listen.as_str())
        .expect("the unix client's request");
    assert_eq!(local["client"]["profile"], "default");
    assert_eq!(local["client"]["uid"], nix::unistd::getuid().as_raw());
    assert!(local["client"]["address"]
        .as_str()
        .unwrap()
        .starts_with("unix:"));
}

/// Every example in docs/audit-log.md is a line the schema accepts.
#[test]
fn the_documented_examples_validate() {
    let validator = validator();
    let examples: Vec<&str> = DOC
        .split("```json\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().trim())
        .collect();
    assert!(examples.len() >= 4, "the doc shows an example per decision");
    for example in examples {
        let object: Value = serde_json::from_str(example).expect(example);
        assert!(validator.is_valid(&object), "{example}");
    }
}

/// The schema holds the promises: a request without its client's listener, with a field the doc
/// does not name, or a refusal at info, does not validate.
#[test]
fn the_schema_refuses_what_the_doc_does_not_promise() {
    let validator = validator();
    let example = |decision: &str| -> Value {
        DOC.split("```json\n")
            .skip(1)
            .map(|block| serde_json::from_str::<Value>(block.split("```").next().unwrap()).unwrap())
            .find(|object| object["decision"] == decision)
            .unwrap()
    };
    let mut unnamed = example("allow");
    unnamed["client"]
        .as_object_mut()
        .unwrap()
        .remove("listener");
    let mut renamed = example("allow");
    renamed["duration_ms"] = 7.into();
    let mut quiet = example("deny");
    quiet["level"] = "info".into();
    let mut late = example("deny");
    late["time"] = "yesterday".into();
    for (what, object) in [
        ("no listener", unnamed),
        ("an unknown field", renamed),
        ("a refusal at info", quiet),
        ("a time that is not RFC 3339", late),
    ] {
        assert!(!validator.is_valid(&object), "{what} validates: {object}");
    }
}

/// A value that stops start-up is said as the JSON log would, naming the variable.
#[test]
fn a_bad_value_at_start_is_a_json_error_event() {
    let out = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .env_clear()
        .envs([("LOG_FORMAT", "json"), ("CONTAINERS", "maybe")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<String> = stderr.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(requests(&lines).is_empty(), "validates, and is no request");
    let event: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(event["level"], "error");
    assert!(event["message"]
        .as_str()
        .unwrap()
        .starts_with("CONTAINERS=\"maybe\" is not valid"));
}

/// The binary's real stderr: start-up, requests and shutdown, every line an object.
#[test]
fn the_binary_writes_only_json_to_stderr() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = {
        let _entered = runtime.enter();
        FakeEngine::start(Behaviour::Json)
    };
    // The fake runs on this runtime, driven from a thread while the test talks to the binary.
    let (stop_engine, engine_stopped) = tokio::sync::oneshot::channel::<()>();
    let driver = std::thread::spawn(move || {
        runtime.block_on(async {
            let _ = engine_stopped.await;
        })
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .env_clear()
        .envs([
            ("LOG_FORMAT", "json"),
            ("LISTEN", "tcp://127.0.0.1:0"),
            ("RUN_AS", "0"),
            ("SOCKET_PATH", engine.socket()),
            ("CONTAINERS", "1"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut lines = vec![];
    let port: u16 = loop {
        let mut line = String::new();
        let read = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(read > 0, "dockgate exited before listening: {lines:#?}");
        let object: Value = serde_json::from_str(&line).expect(&line);
        lines.push(line.trim_end().to_string());
        if let Some(rest) = object["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("listening on tcp://127.0.0.1:"))
        {
            break rest.split(',').next().unwrap().parse().unwrap();
        }
    };
    let request = |head: &str| {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(request(&get("/v1.41/containers/json")).starts_with("HTTP/1.1 200"));
    assert!(request(&get("/v1.41/volumes")).starts_with("HTTP/1.1 403"));
    assert!(request(&get("/v1.41/containers/%00")).starts_with("HTTP/1.1 400"));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    let _ = stop_engine.send(());
    driver.join().unwrap();
    lines.extend(rest.lines().map(str::to_string));
    let requests = requests(&lines);
    assert_eq!(requests.len(), 3, "{lines:#?}");
    assert_eq!(find(&requests, "GET", "/volumes")["decision"], "deny");
    assert_eq!(
        find(&requests, "GET", "/containers/json")["decision"],
        "allow"
    );
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["message"], "stopped");
}
