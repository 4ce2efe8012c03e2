//! Grants per client, end to end on the real engine: containers on one user-defined network get
//! their own profiles through one dockgate (the many-clients example, run with docker-compose),
//! a uid rule tells two local users apart on a unix socket, and a reload (file edit, SIGHUP)
//! changes a client's answers while its event and log streams opened before go on streaming.

mod harness;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::docker::{docker, ok, run, Scope, Streaming};

const IMAGE: &str = "dockgate:latest";

fn client_image() -> String {
    std::env::var("DOCKGATE_TEST_CLIENT_IMAGE").unwrap_or("dockgate-test-client:latest".into())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[track_caller]
fn wait_until(what: &str, mut probe: impl FnMut() -> bool) {
    let start = Instant::now();
    while !probe() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited a minute for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The many-clients example with docker-compose, its images replaced by the client image and
/// its network given a subnet of the test's; brought down when dropped.
struct Compose {
    socket: PathBuf,
    project: String,
    overlay: PathBuf,
    /// Containers the test adds on the project's network.
    extra: std::cell::RefCell<Vec<String>>,
}

impl Compose {
    fn up(socket: &Path) -> Compose {
        let project = format!("dgclients{}", std::process::id());
        let overlay = std::env::temp_dir().join(format!("{project}.override.yaml"));
        let client = "    image: ${CLIENT_IMAGE}\n    command: [\"sleep\", \"600\"]\n";
        let mut yaml = String::from(
            "networks:\n  default:\n    ipam:\n      config:\n        - subnet: 10.231.61.0/24\nservices:\n",
        );
        for service in ["dashboard", "proxy", "updater", "inventory"] {
            yaml.push_str(&format!("  {service}:\n{client}"));
        }
        std::fs::write(&overlay, yaml).unwrap();
        let compose = Compose {
            socket: socket.to_path_buf(),
            project,
            overlay,
            extra: Default::default(),
        };
        let out = compose.run(&["up", "-d"]);
        assert!(out.status.success(), "compose up: {}", text(&out));
        compose
    }

    fn run(&self, args: &[&str]) -> Output {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/many-clients");
        let mut command = Command::new("docker-compose");
        command
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKGATE_IMAGE", IMAGE)
            .env("CLIENT_IMAGE", client_image())
            .args(["-p", &self.project, "-f"])
            .arg(dir.join("compose.yaml"))
            .arg("-f")
            .arg(&self.overlay)
            .args(args);
        command.output().expect("docker-compose runs")
    }

    fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.project)
    }

    /// One raw HTTP request from inside a container to dockgate (busybox nc: the presets'
    /// clients need neither /_ping nor /version, which the docker CLI does); the whole answer.
    fn http_in(&self, container: &str, request: &str, body: &str) -> String {
        let head = if body.is_empty() {
            format!("{request} HTTP/1.0\r\nHost: d\r\n\r\n")
        } else {
            format!(
                "{request} HTTP/1.0\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let mut command = harness::docker::engine(&self.socket);
        // nc half-closes when its input ends, which ends the request; 3 s is ample for an answer.
        command.args([
            "exec",
            "-i",
            container,
            "sh",
            "-c",
            "(cat; sleep 3) | nc dockgate 2375",
        ]);
        String::from_utf8_lossy(&harness::docker::run(&mut command, head.as_bytes()).stdout)
            .into_owned()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        for name in self.extra.borrow().iter() {
            let _ = harness::docker::engine(&self.socket)
                .args(["rm", "-f", name])
                .output();
        }
        let _ = self.run(&["down", "-v", "--remove-orphans"]);
        let _ = std::fs::remove_file(&self.overlay);
    }
}

#[test]
fn example_many_clients_answers_each_container_from_its_own_profile() {
    let Some(socket) = harness::real_engine_with_images(&[IMAGE, &client_image()]) else {
        return;
    };
    let compose = Compose::up(&socket);
    let (dashboard, inventory, updater) = (
        compose.container("dashboard"),
        compose.container("inventory"),
        compose.container("updater"),
    );
    wait_until("dockgate to answer", || {
        compose
            .http_in(&inventory, "GET /v1.41/containers/json", "")
            .starts_with("HTTP/1.0 200")
    });

    // The same request from two containers on one network: each gets its own profile's answer.
    let listed = compose.http_in(&inventory, "GET /v1.41/volumes", "");
    assert!(listed.starts_with("HTTP/1.0 200"), "{listed}");
    let refused = compose.http_in(&dashboard, "GET /v1.41/volumes", "");
    let expected = format!(
        "dockgate: GET /volumes is not allowed for {dashboard} (profile homepage); add VOLUMES=1 \
         to profile homepage"
    );
    assert!(
        refused.starts_with("HTTP/1.0 403") && refused.contains(&expected),
        "{refused}"
    );
    let log = text(
        &harness::docker::engine(&socket)
            .args(["logs", &compose.container("dockgate")])
            .output()
            .unwrap(),
    );
    let line = log
        .lines()
        .find(|l| {
            l.contains("path=/v1.41/volumes") && l.contains(&format!("container={dashboard} "))
        })
        .unwrap_or_else(|| panic!("no log line for the refusal: {log}"));
    assert!(
        line.contains(" profile=homepage ") && line.contains("decision=deny"),
        "{line}"
    );
    let allowed = log
        .lines()
        .find(|l| {
            l.contains("path=/v1.41/volumes") && l.contains(&format!("container={inventory} "))
        })
        .unwrap_or_else(|| panic!("no log line for the allowed request: {log}"));
    assert!(
        allowed.contains(" profile=inventory ") && allowed.contains("decision=allow"),
        "{allowed}"
    );

    // A label the operator set chooses among the profiles; one naming no profile gets nothing.
    let network = format!("{}_default", compose.project);
    let labelled = |name: &str, profile: &str| {
        let name = format!("{}_{name}", compose.project);
        compose.extra.borrow_mut().push(name.clone());
        let label = format!("dockgate.profile={profile}");
        ok(harness::docker::engine(&socket).args([
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &network,
            "--label",
            &label,
            &client_image(),
            "sleep",
            "600",
        ]));
        name
    };
    let chosen = labelled("labelled", "inventory");
    let unknown = labelled("mislabelled", "admin");
    let by_label = compose.http_in(&chosen, "GET /v1.41/volumes", "");
    assert!(by_label.starts_with("HTTP/1.0 200"), "{by_label}");
    let nothing = compose.http_in(&unknown, "GET /v1.41/version", "");
    assert!(nothing.starts_with("HTTP/1.0 403"), "{nothing}");
    assert!(
        nothing.contains(&format!(
            "is refused for {unknown}: its container's dockgate.profile label names profile \\\"admin\\\""
        )),
        "{nothing}"
    );

    // A client that may create containers cannot label one into another profile.
    let sneaky = format!("{}_sneaky", compose.project);
    compose.extra.borrow_mut().push(sneaky.clone());
    let body = format!(
        r#"{{"Image":"{}","Cmd":["true"],"Labels":{{"dockgate.profile":"inventory"}}}}"#,
        harness::test_image()
    );
    let create = compose.http_in(
        &updater,
        &format!("POST /v1.41/containers/create?name={sneaky}"),
        &body,
    );
    assert!(
        create.starts_with("HTTP/1.0 403") && create.contains("only the operator sets them"),
        "{create}"
    );
    let exists = harness::docker::engine(&socket)
        .args(["inspect", &sneaky])
        .output()
        .unwrap();
    assert!(
        !exists.status.success(),
        "the labelled container was created"
    );
}

/// A directory every user may enter, removed when dropped.
struct OpenDir(PathBuf);

impl OpenDir {
    fn new(what: &str) -> OpenDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dockgate-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        OpenDir(dir)
    }
}

impl Drop for OpenDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `GET path` over a unix socket as `uid`: the status and the body.
fn get_as(uid: u32, socket: &Path, path: &str) -> (u16, String) {
    use std::os::unix::process::CommandExt;
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(socket)
        .arg(format!("http://docker{path}"))
        .uid(uid)
        .gid(uid)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = out.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_string())
}

#[test]
fn a_uid_rule_gives_two_local_users_their_own_grants() {
    if harness::real_engine().is_none() {
        return;
    }
    let dir = OpenDir::new("uid-rule");
    let socket = dir.0.join("dockgate.sock");
    let config = dir.0.join("dockgate.toml");
    std::fs::write(
        &config,
        "[profiles.networks]\nNETWORKS = 1\n\n[profiles.containers]\nCONTAINERS = 1\n\n\
         [[clients]]\nuid = 1000\nprofile = \"networks\"\n\n[[clients]]\nuid = 1001\nprofile = \"containers\"\n",
    )
    .unwrap();
    let listen = format!("unix://{}", socket.display());
    let proxy = harness::Proxy::start(&[
        ("LISTEN", &listen),
        ("SOCKET_MODE", "0666"),
        ("CONFIG", config.to_str().unwrap()),
    ]);
    assert_eq!(get_as(1000, proxy.socket(), "/v1.41/networks").0, 200);
    assert_eq!(
        get_as(1001, proxy.socket(), "/v1.41/containers/json").0,
        200
    );
    let (status, body) = get_as(1001, proxy.socket(), "/v1.41/networks");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("GET /networks is not allowed for unix:pid=")
            && body.contains(
                ":uid=1001:gid=1001 (profile containers); add NETWORKS=1 to profile containers"
            ),
        "{body}"
    );
    let (status, body) = get_as(1002, proxy.socket(), "/v1.41/containers/json");
    assert_eq!(
        status, 403,
        "nobody's rule: the environment's grant: {body}"
    );
    assert!(
        body.contains("(profile default); set CONTAINERS=1 in the environment"),
        "{body}"
    );
}

/// The built binary, with its log lines gathered as they come.
struct Running {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(env: &[(&str, &str)]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dockgate"))
            .env_clear()
            .envs(env.iter().copied())
            .envs([("LISTEN", "tcp://127.0.0.1:0"), ("RUN_AS", "0")])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        std::thread::spawn({
            let log = log.clone();
            move || lines.for_each(|l| log.lock().unwrap().extend(l.ok()))
        });
        let mut running = Running {
            child,
            port: 0,
            log,
        };
        wait_until("dockgate to listen", || {
            running.port = running
                .lines()
                .iter()
                .find_map(|l| l.split("listening on tcp://127.0.0.1:").nth(1))
                .and_then(|rest| rest.split(',').next()?.parse().ok())
                .unwrap_or(0);
            running.port != 0
        });
        running
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for a log line containing `wanted` after the first `after` lines; returns it.
    fn logged_after(&self, after: usize, wanted: &str) -> String {
        let mut found = None;
        wait_until(wanted, || {
            found = self
                .lines()
                .into_iter()
                .skip(after)
                .find(|l| l.contains(wanted));
            found.is_some()
        });
        found.unwrap()
    }

    fn status(&self, path: &str) -> u16 {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer[9..12].parse().unwrap()
    }

    fn host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `text` over the file in place, keeping its modification time, so that only a SIGHUP
/// can tell dockgate it changed.
fn rewrite_unseen(path: &Path, text: &str) {
    let before = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.set_modified(before).unwrap();
}

/// Replaces the file as an editor does: a new file renamed over the old.
fn replace(path: &Path, text: &str) {
    let next = path.with_extension("new");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

#[test]
fn a_reload_changes_answers_while_streams_opened_before_keep_streaming() {
    let Some(socket) = harness::real_engine() else {
        return;
    };
    let scope = Scope::new(&socket);
    let image = harness::test_image();
    let ticker = scope.container(&Scope::unique("reload-ticker"));
    ok(scope.engine().args([
        "run",
        "-d",
        "--name",
        &ticker,
        &image,
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done",
    ]));
    let dir = OpenDir::new("reload");
    let config = dir.0.join("dockgate.toml");
    let profile = |networks: &str| {
        format!("[profiles.local]\nCONTAINERS = 1\nNETWORKS = {networks}\n\n[[clients]]\ncidr = \"127.0.0.1\"\nprofile = \"local\"\n")
    };
    std::fs::write(&config, profile("0")).unwrap();
    let proxy = Running::start(&[
        ("SOCKET_PATH", socket.to_str().unwrap()),
        ("CONFIG", config.to_str().unwrap()),
    ]);
    assert_eq!(proxy.status("/v1.41/networks"), 403);

    // Streams opened under the first policy.
    let events = Streaming::spawn(docker(&proxy.host()).args([
        "events",
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]));
    let logs = Streaming::spawn(docker(&proxy.host()).args(["logs", "-f", "--tail", "1", &ticker]));
    assert!(logs.next_line().unwrap().starts_with("tick"));

    // A file edit: the next request is judged by the new profile.
    let seen = proxy.lines().len();
    replace(&config, &profile("1"));
    let line = proxy.logged_after(seen, "reloaded");
    assert!(
        line.contains("the file changed") && line.contains("profiles changed: local"),
        "{line}"
    );
    assert_eq!(proxy.status("/v1.41/networks"), 200);

    // A SIGHUP: the same, for a change the file's metadata does not show.
    let seen = proxy.lines().len();
    rewrite_unseen(&config, &profile("0"));
    let hup = Command::new("kill")
        .args(["-HUP", &proxy.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let line = proxy.logged_after(seen, "reloaded");
    assert!(line.contains("SIGHUP"), "{line}");
    assert_eq!(proxy.status("/v1.41/networks"), 403);

    // A broken file is refused, and the policy in force keeps serving.
    let seen = proxy.lines().len();
    replace(
        &config,
        "[profiles.local]\nCONTAINERS = 1\nNETWORKS = \"perhaps\"\n",
    );
    let line = proxy.logged_after(seen, "not reloaded");
    assert!(
        line.contains("the previous policy stays in force")
            && line.contains("NETWORKS=\"perhaps\""),
        "{line}"
    );
    assert_eq!(proxy.status("/v1.41/containers/json"), 200);
    assert_eq!(proxy.status("/v1.41/networks"), 403);

    // Both streams opened before the reloads are still streaming.
    let later = scope.container(&Scope::unique("reload-later"));
    ok(scope
        .engine()
        .args(["run", "-d", "--name", &later, &image, "true"]));
    let mut saw_later = false;
    while let Some(line) = events.next_line() {
        if line.contains(&later) {
            saw_later = true;
            break;
        }
    }
    assert!(saw_later, "the event stream stopped");
    let before: u64 = logs
        .next_line()
        .unwrap()
        .trim_start_matches("tick ")
        .parse()
        .unwrap();
    let after: u64 = logs
        .next_line()
        .unwrap()
        .trim_start_matches("tick ")
        .parse()
        .unwrap();
    assert!(
        after > before,
        "the log stream goes on: {before} then {after}"
    );
    let _ = run(scope.engine().args(["rm", "-f", &ticker, &later]), b"");
}
