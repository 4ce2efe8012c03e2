//! The `dockgate` binary as an operator meets it: start-up errors, warnings, help, signals. No
//! engine needed: these run with a cleared environment and a socket path that does not exist.
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

/// A running proxy on an ephemeral port, found from its "listening on" log line.
struct Running {
    child: Child,
    port: u16,
    log: Vec<String>,
}

fn start(env: &[(&str, &str)]) -> Running {
    let mut env = env.to_vec();
    env.extend([("LISTEN", "tcp://127.0.0.1:0"), ("RUN_AS", "0")]);
    let mut child = dockgate(&env).stderr(Stdio::piped()).spawn().unwrap();
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
    std::thread::spawn(move || lines.for_each(drop));
    Running { child, port, log }
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
    let proxy = start(&[
        ("ALOW_START", "1"),
        ("CONTAINER", "1"),
        ("SOCKET_PATH", "/nonexistent/docker.sock"),
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
fn missing_engine_socket_keeps_the_proxy_up_with_503_naming_the_path() {
    let proxy = start(&[("SOCKET_PATH", "/nonexistent/docker.sock")]);
    let answer = proxy.request("GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("content-type: application/json\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains(r#"{"message":"dockgate: cannot reach the Docker engine at /nonexistent/docker.sock: No such file or directory"#),
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
    let proxy = start(&[
        ("SOCKET_PATH", "/nonexistent/docker.sock"),
        ("SHUTDOWN_GRACE", "1s"),
    ]);
    assert_eq!(proxy.terminate(), Some(0));
}

#[test]
fn started_as_root_without_the_socket_it_says_why_it_cannot_drop_privileges() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let (code, stderr) = stderr_of(&[
        ("SOCKET_PATH", "/nonexistent/docker.sock"),
        ("LISTEN", "tcp://127.0.0.1:0"),
    ]);
    assert_eq!(code, Some(1));
    assert!(
        stderr
            .contains("cannot read the Docker socket /nonexistent/docker.sock to learn its group"),
        "{stderr}"
    );
}

/// Found by `sigterm_exits_zero` failing under load: the signal handlers were installed only
/// after "listening on" was logged, so a SIGTERM sent on seeing that line killed the process
/// (no exit status) instead of shutting it down. Several proxies at once make the gap likely.
#[test]
fn sigterm_right_after_listening_exits_zero() {
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..3 {
                    let proxy = start(&[("SOCKET_PATH", "/nonexistent/docker.sock")]);
                    assert_eq!(proxy.terminate(), Some(0));
                }
            });
        }
    });
}
