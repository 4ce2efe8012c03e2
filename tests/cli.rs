//! The `dockgate` binary as an operator meets it: start-up errors, warnings, help, signals.
//! No engine needed: these run with a cleared environment and an engine socket nobody listens on
//! (or a stand-in engine where a test needs answers).
//!
//! These run the built binary, which is their subject; every other test starts dockgate with
//! `harness::Proxy` (its header says why), and proxy behaviour is tested there.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dockgate::api::Section;

fn dockgate(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dockgate"));
    command.env_clear().envs(env.iter().copied());
    command
}

fn stderr_of(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = dockgate(env).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A socket file nothing listens on, as an engine that is down leaves: dockgate starts, warns,
/// and answers 503 until the engine is back.
fn engine_down(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("dockgate-cli-down-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    path.display().to_string()
}

/// A running proxy on an ephemeral port, found from its "listening on" log line.
struct Running {
    child: Child,
    port: u16,
    log: Vec<String>,
    /// The lines logged after "listening on", as they come.
    later: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn start(env: &[(&str, &str)]) -> Running {
    start_command(&[], env)
}

/// [`start`] with a subcommand's arguments.
fn start_command(args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut env = env.to_vec();
    env.extend([("LISTEN", "tcp://127.0.0.1:0"), ("RUN_AS", "0")]);
    let mut child = dockgate(&env)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = vec![];
    let port = loop {
        let line = lines
            .next()
            .expect("dockgate exited before listening")
            .unwrap();
        log.push(line.clone());
        if let Some(rest) = line.split("listening on tcp://127.0.0.1:").nth(1) {
            break rest.split(',').next().unwrap().parse().unwrap();
        }
    };
    // Keep draining so the proxy never blocks on a full pipe.
    let later: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
    std::thread::spawn({
        let later = std::sync::Arc::clone(&later);
        move || lines.for_each(|l| later.lock().unwrap().extend(l.ok()))
    });
    Running {
        child,
        port,
        log,
        later,
    }
}

/// A test that fails before terminate() must not leave its proxy running.
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn request(&self, head: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    /// Waits until `n` logged lines after "listening on" hold `text`; the log then.
    fn wait_for(&self, text: &str, n: usize) -> String {
        // Generous: only a guard against a line that never comes.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.later.lock().unwrap().join("\n");
            if log.matches(text).count() >= n {
                return log;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{text:?} x{n} not in {log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    fn terminate(mut self) -> Option<i32> {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        self.child.wait().unwrap().code()
    }
}

#[test]
fn version_and_help_document_every_variable() {
    let out = dockgate(&[]).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("dockgate {}\n", env!("CARGO_PKG_VERSION"))
    );
    let help =
        String::from_utf8_lossy(&dockgate(&[]).arg("--help").output().unwrap().stdout).into_owned();
    // Taken from the code, so a variable added later cannot go undocumented.
    let sections = Section::ALL.into_iter().map(Section::var);
    let others = dockgate::config::VARIABLES.iter().map(|v| v.name);
    for var in sections.chain(others) {
        let documented = help
            .lines()
            .any(|line| line.trim_start().starts_with(&format!("{var} ")));
        assert!(documented, "--help has no line for {var}:\n{help}");
    }
    assert!(help.contains("LIBPOD_"), "{help}");
}

#[test]
fn a_bad_boolean_stops_start_up_with_one_line_naming_the_variable() {
    let (code, stderr) = stderr_of(&[("CONTAINERS", "2")]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "dockgate: CONTAINERS=\"2\" is not valid: 1/0, true/false, yes/no or on/off (any case)\n"
    );
    let (code, stderr) = stderr_of(&[("POST", "maybe")]);
    assert_eq!((code, stderr.lines().count()), (Some(2), 1));
    assert!(stderr.contains("POST=\"maybe\""));
}

#[test]
fn a_bad_listen_address_stops_start_up_naming_the_variable() {
    let (code, stderr) = stderr_of(&[("LISTEN", "0.0.0.0:2375")]);
    assert_eq!((code, stderr.lines().count()), (Some(2), 1));
    assert!(
        stderr.starts_with(
            "dockgate: LISTEN=\"0.0.0.0:2375\" is not valid: expected tcp://HOST:PORT"
        ),
        "{stderr}"
    );
}

#[test]
fn misspelled_variables_are_warned_about_at_start_up() {
    let socket = engine_down("misspelled");
    let proxy = start(&[
        ("ALOW_START", "1"),
        ("CONTAINER", "1"),
        ("SOCKET_PATH", &socket),
    ]);
    let log = proxy.log.join("\n");
    assert!(
        log.contains(
            "ALOW_START is not a dockgate variable and is ignored; did you mean ALLOW_START?"
        ),
        "{log}"
    );
    assert!(
        log.contains(
            "CONTAINER is not a dockgate variable and is ignored; did you mean CONTAINERS?"
        ),
        "{log}"
    );
    assert_eq!(proxy.terminate(), Some(0));
}

#[test]
fn an_engine_that_is_down_keeps_the_proxy_up_with_503_naming_the_path() {
    let socket = engine_down("503");
    let proxy = start(&[("SOCKET_PATH", &socket)]);
    assert!(
        proxy.log.iter().any(|l| l.contains("not reachable yet")),
        "{:?}",
        proxy.log
    );
    let answer = proxy.request("GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("content-type: application/json\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains(&format!(
            r#"{{"message":"dockgate: cannot reach the Docker engine at {socket}: Connection refused"#
        )),
        "{answer}"
    );
    // Refusals are answered without the engine.
    let answer =
        proxy.request("GET /v1.41/networks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.ends_with(r#"{"message":"dockgate: GET /networks is not allowed; set NETWORKS=1"}"#),
        "{answer}"
    );
    assert_eq!(proxy.terminate(), Some(0));
}

#[test]
fn sigterm_exits_zero() {
    let socket = engine_down("sigterm");
    let proxy = start(&[("SOCKET_PATH", &socket), ("SHUTDOWN_GRACE", "1s")]);
    assert_eq!(proxy.terminate(), Some(0));
}

/// Nothing at SOCKET_PATH cannot fix itself: dockgate stops at start-up, naming the variable,
/// whether it would drop privileges (root) or not (RUN_AS=0, or started as another user).
#[test]
fn without_the_socket_it_exits_naming_socket_path() {
    for run_as in ["65534", "0"] {
        let (code, stderr) = stderr_of(&[
            ("SOCKET_PATH", "/nonexistent/docker.sock"),
            ("LISTEN", "tcp://127.0.0.1:0"),
            ("RUN_AS", run_as),
        ]);
        assert_eq!(code, Some(1), "RUN_AS={run_as}: {stderr}");
        assert!(
            stderr.contains("SOCKET_PATH=/nonexistent/docker.sock does not exist; "),
            "RUN_AS={run_as}: {stderr}"
        );
        assert!(stderr.contains("dockerd"), "RUN_AS={run_as}: {stderr}");
        assert!(!stderr.contains("listening on"), "{stderr}");
    }
    let dir = std::env::temp_dir().join(format!("dockgate-cli-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (code, stderr) = stderr_of(&[
        ("SOCKET_PATH", &dir.display().to_string()),
        ("LISTEN", "tcp://127.0.0.1:0"),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("is a directory, not the engine's socket"),
        "{stderr}"
    );
}

/// Found by `sigterm_exits_zero` failing under load: the signal handlers were installed only
/// after "listening on" was logged, so a SIGTERM sent on seeing that line killed the process
/// (no exit status) instead of shutting it down. Several proxies at once make the gap likely.
#[test]
fn sigterm_right_after_listening_exits_zero() {
    let socket = engine_down("sigterm-early");
    let socket = socket.as_str();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..3 {
                    let proxy = start(&[("SOCKET_PATH", socket)]);
                    assert_eq!(proxy.terminate(), Some(0));
                }
            });
        }
    });
}

/// A stand-in engine on a unix socket: `/events` answers with a chunked stream that sends its
/// next event each time the test says so; an `Upgrade: tcp` request (attach) switches and then
/// echoes; anything else gets `200 OK`.
struct FakeEngine {
    path: std::path::PathBuf,
    next_event: std::sync::mpsc::Sender<()>,
}

fn fake_engine(name: &str) -> FakeEngine {
    use std::os::unix::net::UnixListener;
    use std::sync::{Arc, Mutex};
    let dir = std::env::temp_dir().join(format!("dockgate-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("engine.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (next_event, events) = std::sync::mpsc::channel::<()>();
    let events = Arc::new(Mutex::new(events));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let events = events.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                loop {
                    let mut head = vec![];
                    let mut byte = [0u8];
                    while !head.ends_with(b"\r\n\r\n") {
                        if conn.read(&mut byte)? == 0 {
                            return Ok(());
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    if head.contains("upgrade: tcp") {
                        conn.write_all(
                            b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\
                              Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
                        )?;
                        let mut buf = [0u8; 1024];
                        loop {
                            let n = conn.read(&mut buf)?;
                            if n == 0 {
                                return Ok(());
                            }
                            conn.write_all(&buf[..n])?;
                        }
                    }
                    if head.contains("user-agent: dockgate/") {
                        // dockgate's own lookups (what an attach reaches into): nothing there.
                        conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}")?;
                        continue;
                    }
                    if !head.contains("/events") {
                        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")?;
                        continue;
                    }
                    conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                          Transfer-Encoding: chunked\r\n\r\n",
                    )?;
                    for n in 1.. {
                        let event = format!("{{\"n\":{n}}}\n");
                        write!(conn, "{:x}\r\n{event}\r\n", event.len())?;
                        if events.lock().unwrap().recv().is_err() {
                            return Ok(());
                        }
                    }
                }
            });
        }
    });
    FakeEngine { path, next_event }
}

/// Reads from `stream` until what was read contains `wanted`; panics on end of stream.
fn read_until(stream: &mut TcpStream, seen: &mut String, wanted: &str) {
    let mut buf = [0u8; 4096];
    while !seen.contains(wanted) {
        let n = stream.read(&mut buf).unwrap();
        assert_ne!(n, 0, "closed before {wanted:?}; read {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// A client that sends half a request head loses its connection after HEAD_TIMEOUT, as with
/// HAProxy's `timeout http-request`; an event stream and an attached (upgraded) connection,
/// quiet for longer than that, are not cut.
#[test]
fn half_a_head_is_cut_after_head_timeout_but_a_quiet_stream_is_not() {
    let engine = fake_engine("head-timeout");
    let socket = engine.path.display().to_string();
    let proxy = start(&[
        ("SOCKET_PATH", &socket),
        ("HEAD_TIMEOUT", "1s"),
        ("CONTAINERS", "1"),
        ("POST", "1"),
    ]);

    let mut attach = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    attach
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    attach
        .write_all(
            b"POST /v1.41/containers/c/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\
              Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
    let mut attached = String::new();
    read_until(&mut attach, &mut attached, "\r\n\r\n");
    assert!(attached.starts_with("HTTP/1.1 101"), "{attached}");

    let mut events = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    events
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    events
        .write_all(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut seen = String::new();
    read_until(&mut events, &mut seen, "{\"n\":1}");
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");

    let mut slow = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    slow.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Half: ")
        .unwrap();
    // Generous: configured 1s, closed within 10s.
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = vec![];
    let closed = slow.read_to_end(&mut rest);
    assert!(
        closed.is_ok(),
        "half a head still open after 10s: {closed:?}"
    );

    // The stream has been quiet for longer than HEAD_TIMEOUT, yet carries the next event.
    std::thread::sleep(Duration::from_secs(2));
    engine.next_event.send(()).unwrap();
    read_until(&mut events, &mut seen, "{\"n\":2}");
    // So has the attached connection, which still carries bytes both ways.
    attach.write_all(b"still here").unwrap();
    read_until(&mut attach, &mut attached, "still here");
    drop((events, attach));
    assert_eq!(proxy.terminate(), Some(0));
}

#[test]
fn head_timeout_is_a_duration() {
    let (code, stderr) = stderr_of(&[("HEAD_TIMEOUT", "soon")]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "dockgate: HEAD_TIMEOUT=\"soon\" is not valid: a whole number with a unit: ms, s or m (e.g. 10s)\n"
    );
}

/// A socket this user may not use cannot fix itself either: dockgate stops at start-up with the
/// socket's group in its advice instead of answering 503 to every request.
#[test]
fn without_the_socket_group_it_exits_with_advice() {
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !nix::unistd::geteuid().is_root() || !setpriv.exists() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("dockgate-cli-denied-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.join("docker.sock");
    let _engine = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::os::unix::fs::chown(&path, Some(0), Some(4242)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).unwrap();
    let out = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_dockgate"))
        .env_clear()
        .env("SOCKET_PATH", &path)
        .env("LISTEN", "tcp://127.0.0.1:0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("owned by 0:4242 with mode 0660 and dockgate runs as uid 65534"),
        "{stderr}"
    );
    assert!(stderr.contains("4242"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `dockgate exec` replaces itself with the command as the user, with the socket's group added
/// and the user's HOME in the command's environment (built for the child, not set on dockgate).
#[test]
fn exec_runs_the_command_as_the_user_with_its_home() {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let Some(home) = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .and_then(|l| l.split(':').nth(5))
    else {
        return;
    };
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("dockgate-cli-exec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.join("docker.sock");
    let _engine = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::os::unix::fs::chown(&path, Some(0), Some(4242)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).unwrap();
    let out = dockgate(&[("PATH", "/usr/bin:/bin"), ("HOME", "/root")])
        .args(["exec", "--user", "nobody", "--socket"])
        .arg(&path)
        .args(["--", "sh", "-c", "echo $HOME; id -u; id -G"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..2], [home, "65534"], "{stdout}");
    assert!(
        lines[2].split(' ').any(|g| g == "4242"),
        "the socket's group: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// HTTP/2 prior knowledge is refused (the connection closed) and said so in the log, recognised
/// by hyper's error kind rather than its text.
#[test]
fn http2_prior_knowledge_is_refused_and_logged() {
    let socket = engine_down("h2");
    let proxy = start(&[("SOCKET_PATH", &socket)]);
    let mut stream = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    let mut rest = vec![];
    let _ = stream.read_to_end(&mut rest);
    // Generous: the line is written within 50 ms of the connection closing.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let wanted = "refused HTTP/2 prior knowledge: dockgate speaks HTTP/1.1";
    while !proxy
        .later
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains(wanted))
    {
        let log = proxy.later.lock().unwrap().join("\n");
        assert!(std::time::Instant::now() < deadline, "{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(proxy.terminate(), Some(0));
}

/// A refusal's log line is for scripts too: `needs=` holds `VAR=VALUE` items separated by
/// commas, and the client's message stands in its own quoted `reason=` field.
#[test]
fn a_refusal_log_line_parses_into_needs_and_the_clients_message() {
    let engine = fake_engine("log-fields");
    let socket = engine.path.display().to_string();
    let proxy = start(&[("SOCKET_PATH", &socket), ("CONTAINERS", "1"), ("POST", "1")]);
    let body = r#"{"Image":"b","HostConfig":{"Privileged":true,"Binds":["/srv/a b:/x:ro"]}}"#;
    let answer = proxy.request(&format!(
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let (_, json) = answer.split_once("\r\n\r\n").unwrap();
    let message = serde_json::from_str::<serde_json::Value>(json).unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let line = loop {
        let later = proxy.later.lock().unwrap().clone();
        if let Some(line) = later.into_iter().find(|l| l.contains("decision=deny")) {
            break line;
        }
        assert!(std::time::Instant::now() < deadline, "no refusal logged");
        std::thread::sleep(Duration::from_millis(20));
    };
    let needs = line
        .split(' ')
        .find_map(|field| field.strip_prefix("needs="))
        .expect("a needs= field");
    // A value's spaces and commas are percent-encoded, so the field splits cleanly.
    assert_eq!(
        needs.split(',').collect::<Vec<_>>(),
        ["ALLOW_PRIVILEGED=1", "ALLOW_BIND_MOUNTS=/srv/a%20b:ro"]
    );
    // The reason is the last field: a quoted string with escapes, the client's message exactly.
    let quoted = line.split_once(" reason=").expect("a reason= field").1;
    let reason: String = serde_json::from_str(quoted).expect("a quoted string");
    assert_eq!(reason, message);
}

#[test]
fn check_prints_each_profiles_grant_and_refuses_a_broken_file_with_its_line() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = dockgate(&[])
        .args([
            "check",
            &format!("{root}/examples/many-clients/dockgate.toml"),
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains(
            "profile inventory (line 11; rule on line 31):\n  CONTAINERS=1 EVENTS=1 NETWORKS=1"
        ),
        "{printed}"
    );
    assert!(
        printed.contains("profile traefik (preset; rule on line 23):"),
        "{printed}"
    );
    assert!(
        printed.contains("profile default (the environment"),
        "{printed}"
    );
    for entry in std::fs::read_dir(format!("{root}/tests/config/invalid")).unwrap() {
        let path = entry.unwrap().path();
        let out = dockgate(&[]).arg("check").arg(&path).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {said}", path.display());
        assert!(
            said.starts_with(&format!("dockgate check: {}:", path.display())),
            "{said}"
        );
        assert_eq!(said.lines().count(), 1, "{said}");
    }
    // CONFIG names the file when no argument does.
    let valid = format!("{root}/tests/config/valid/listener-per-client.toml");
    let out = dockgate(&[
        ("CONFIG", &valid),
        ("LISTEN", "unix:///run/dockgate/traefik.sock"),
    ])
    .arg("check")
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `dockgate learn` is MODE=learn: a request only a grant keeps out goes on to the engine (here
/// one that is down: 503, not 403), and the learned grant is printed on SIGUSR1, which does not
/// stop the proxy, and again at exit.
#[test]
fn learn_prints_the_learned_grant_on_sigusr1_and_at_exit() {
    let socket = engine_down("learn");
    let proxy = start_command(&["learn"], &[("SOCKET_PATH", &socket)]);
    let answer = proxy.request("GET /networks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    proxy.wait_for("decision=warn", 1);
    proxy.signal("USR1");
    let log = proxy.wait_for("learned (MODE=learn): 1 client", 1);
    assert!(log.contains("      NETWORKS: \"1\""), "{log}");
    let answer = proxy.request("GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(
        answer.starts_with("HTTP/1.1 503 "),
        "still serving after SIGUSR1: {answer}"
    );
    let later = std::sync::Arc::clone(&proxy.later);
    assert_eq!(proxy.terminate(), Some(0));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while later
        .lock()
        .unwrap()
        .join("\n")
        .matches("learned (MODE=learn)")
        .count()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "no summary at exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// In enforce mode SIGUSR1 prints what was refused, and the proxy keeps running.
#[test]
fn sigusr1_never_stops_the_proxy() {
    let socket = engine_down("usr1");
    let proxy = start(&[("SOCKET_PATH", &socket)]);
    let answer = proxy.request("GET /networks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
    proxy.signal("USR1");
    let log = proxy.wait_for("learned (MODE=enforce): 1 client", 1);
    assert!(log.contains("NETWORKS=1"), "{log}");
    assert_eq!(proxy.terminate(), Some(0));
}
