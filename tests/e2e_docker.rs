//! The real `docker` CLI through dockgate to the real engine: which commands each configuration
//! allows, and that every refusal reaches the user as dockgate's message naming the variable.

mod harness;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The configurations under test, in the order of the table's columns.
const CONFIGS: [&[(&str, &str)]; 9] = [
    &[],
    &[("CONTAINERS", "1")],
    &[("POST", "1")],
    &[("NETWORKS", "1"), ("POST", "1")],
    &[("CONTAINERS", "1"), ("EXEC", "1"), ("POST", "1")],
    &[("CONTAINERS", "1"), ("ALLOW_RESTARTS", "1")],
    &[("CONTAINERS", "1"), ("POST", "1"), ("ALLOW_ARCHIVE", "1")],
    &[("IMAGES", "1")],
    &[("BUILD", "1"), ("POST", "1")],
];

/// A cell: allowed, or refused with dockgate's message containing this text.
#[derive(Clone, Copy)]
enum Cell {
    Ok,
    No(&'static str),
}
use Cell::{No, Ok as Y};

const CTR: &str = "set CONTAINERS=1";
const CP: &str = "set CONTAINERS=1 and POST=1";
const POST: &str = "set POST=1";
const NET: &str = "NETWORKS=1";
const NETP: &str = "set NETWORKS=1 and POST=1";

/// One command of the matrix: `{c}` is a running container, `{p}` this configuration's prefix for
/// things the command creates or removes, `{d}` a scratch directory, `{i}` the test image.
struct Row {
    name: &'static str,
    args: &'static str,
    stdin: Option<&'static str>,
    /// What a successful run prints.
    shows: &'static str,
    //        defaults  CONTAINERS  POST  NETWORKS+POST  C+EXEC+POST  C+RESTARTS  C+POST+ARCHIVE  IMAGES  BUILD+POST
    cells: [Cell; 9],
}

const ROWS: &[Row] = &[
    Row {
        name: "version",
        args: "version --format {{.Server.APIVersion}}",
        stdin: None,
        shows: "1.",
        cells: [Y, Y, Y, Y, Y, Y, Y, Y, Y],
    },
    Row {
        name: "ps",
        args: "ps -a --format {{.Names}}",
        stdin: None,
        shows: "{c}",
        cells: [No(CTR), Y, No(CTR), No(CTR), Y, Y, Y, No(CTR), No(CTR)],
    },
    Row {
        name: "inspect",
        args: "container inspect -f {{.Name}} {c}",
        stdin: None,
        shows: "/{c}",
        cells: [No(CTR), Y, No(CTR), No(CTR), Y, Y, Y, No(CTR), No(CTR)],
    },
    Row {
        name: "logs",
        args: "logs {c}",
        stdin: None,
        shows: "hello",
        cells: [No(CTR), Y, No(CTR), No(CTR), Y, Y, Y, No(CTR), No(CTR)],
    },
    Row {
        name: "run --rm",
        args: "run --rm --network none {i} echo ran",
        stdin: None,
        shows: "ran",
        cells: [
            No(CP),
            No(POST),
            No(CTR),
            No(CTR),
            Y,
            No(POST),
            Y,
            No(CP),
            No(CTR),
        ],
    },
    Row {
        name: "run -d",
        args: "run -d --network none --name {p}-d {i} sleep 600",
        stdin: None,
        shows: "",
        cells: [
            No(CP),
            No(POST),
            No(CTR),
            No(CTR),
            Y,
            No(POST),
            Y,
            No(CP),
            No(CTR),
        ],
    },
    Row {
        name: "exec",
        args: "exec {c} echo execd",
        stdin: None,
        shows: "execd",
        cells: [
            No(CTR),
            No("set EXEC=1 and POST=1"),
            No(CTR),
            No(CTR),
            Y,
            No("set EXEC=1 and POST=1"),
            No("set EXEC=1"),
            No(CTR),
            No(CTR),
        ],
    },
    Row {
        name: "exec -i",
        args: "exec -i {c} cat",
        stdin: Some("piped-in\n"),
        shows: "piped-in",
        cells: [
            No(CTR),
            No("set EXEC=1 and POST=1"),
            No(CTR),
            No(CTR),
            Y,
            No("set EXEC=1 and POST=1"),
            No("set EXEC=1"),
            No(CTR),
            No(CTR),
        ],
    },
    Row {
        name: "stop",
        args: "stop -t 0 {p}-stop",
        stdin: None,
        shows: "{p}-stop",
        cells: [
            No("set ALLOW_STOP=1 (or ALLOW_RESTARTS=1, or CONTAINERS=1 and POST=1)"),
            No("set ALLOW_STOP=1 (or ALLOW_RESTARTS=1, or POST=1)"),
            No("set ALLOW_STOP=1 (or ALLOW_RESTARTS=1, or CONTAINERS=1)"),
            No("(or ALLOW_RESTARTS=1, or CONTAINERS=1)"),
            Y,
            Y,
            Y,
            No("or CONTAINERS=1 and POST=1)"),
            No("or CONTAINERS=1)"),
        ],
    },
    Row {
        name: "restart",
        args: "restart -t 0 {p}-restart",
        stdin: None,
        shows: "{p}-restart",
        cells: [
            No("set ALLOW_RESTARTS=1 (or CONTAINERS=1 and POST=1)"),
            No("set ALLOW_RESTARTS=1 (or POST=1)"),
            No("set ALLOW_RESTARTS=1 (or CONTAINERS=1)"),
            No("set ALLOW_RESTARTS=1 (or CONTAINERS=1)"),
            Y,
            Y,
            Y,
            No("(or CONTAINERS=1 and POST=1)"),
            No("(or CONTAINERS=1)"),
        ],
    },
    Row {
        name: "rm -f",
        args: "rm -f {p}-rm",
        stdin: None,
        shows: "{p}-rm",
        cells: [
            No(CP),
            No(POST),
            No(CTR),
            No(CTR),
            Y,
            No(POST),
            Y,
            No(CP),
            No(CTR),
        ],
    },
    Row {
        name: "network ls",
        args: "network ls --format {{.Name}}",
        stdin: None,
        shows: "none",
        cells: [
            No(NET),
            No(NET),
            No(NET),
            Y,
            No(NET),
            No(NET),
            No(NET),
            No(NET),
            No(NET),
        ],
    },
    Row {
        name: "network create",
        args: "network create --internal {p}-newnet",
        stdin: None,
        shows: "",
        cells: [
            No(NETP),
            No(NETP),
            No("set NETWORKS=1"),
            Y,
            No("set NETWORKS=1"),
            No(NETP),
            No("set NETWORKS=1"),
            No(NETP),
            No("set NETWORKS=1"),
        ],
    },
    Row {
        name: "network rm",
        args: "network rm {p}-net",
        stdin: None,
        shows: "{p}-net",
        cells: [
            No(NET),
            No(NET),
            No(NET),
            Y,
            No(NET),
            No(NET),
            No(NET),
            No(NET),
            No(NET),
        ],
    },
    Row {
        name: "volume ls",
        args: "volume ls",
        stdin: None,
        shows: "DRIVER",
        cells: [No("set VOLUMES=1"); 9],
    },
    Row {
        name: "image ls",
        args: "image ls",
        stdin: None,
        shows: "dockgate-test-busybox",
        cells: [
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            Y,
            No("set IMAGES=1"),
        ],
    },
    Row {
        name: "info",
        args: "info",
        stdin: None,
        shows: "",
        cells: [No("set INFO=1"); 9],
    },
    Row {
        name: "build",
        args: "build -q -t {p}-built {d}/context",
        stdin: None,
        shows: "sha256:",
        cells: [
            No("set BUILD=1 and POST=1"),
            No("set BUILD=1 and POST=1"),
            No("set BUILD=1"),
            No("set BUILD=1"),
            No("set BUILD=1"),
            No("set BUILD=1 and POST=1"),
            No("set BUILD=1"),
            No("set BUILD=1 and POST=1"),
            Y,
        ],
    },
    Row {
        name: "cp out",
        args: "cp {c}:/bin/busybox {d}/copied-out",
        stdin: None,
        shows: "",
        cells: [
            No("set CONTAINERS=1 and ALLOW_ARCHIVE=1"),
            No("set ALLOW_ARCHIVE=1"),
            No("set CONTAINERS=1 and ALLOW_ARCHIVE=1"),
            No("set CONTAINERS=1 and ALLOW_ARCHIVE=1"),
            No("set ALLOW_ARCHIVE=1"),
            No("set ALLOW_ARCHIVE=1"),
            Y,
            No("set CONTAINERS=1 and ALLOW_ARCHIVE=1"),
            No("set CONTAINERS=1 and ALLOW_ARCHIVE=1"),
        ],
    },
    // The CLI ignores a refused HEAD stat of the destination; the PUT then shows the refusal.
    Row {
        name: "cp in",
        args: "cp {d}/context/Dockerfile {c}:/copied-in",
        stdin: None,
        shows: "",
        cells: [
            No("set CONTAINERS=1, POST=1 and ALLOW_ARCHIVE=1"),
            No("set POST=1 and ALLOW_ARCHIVE=1"),
            No("set CONTAINERS=1 and ALLOW_ARCHIVE=1"),
            No("set CONTAINERS=1 and ALLOW_ARCHIVE=1"),
            No("set ALLOW_ARCHIVE=1"),
            No("set POST=1 and ALLOW_ARCHIVE=1"),
            Y,
            No("set CONTAINERS=1, POST=1 and ALLOW_ARCHIVE=1"),
            No("set CONTAINERS=1 and ALLOW_ARCHIVE=1"),
        ],
    },
    Row {
        name: "save",
        args: "save -o {d}/saved.tar {i}",
        stdin: None,
        shows: "",
        cells: [
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            No("set IMAGES=1"),
            Y,
            No("set IMAGES=1"),
        ],
    },
];

/// What one configuration needs on the engine before its commands run, made straight on the
/// engine socket so a read-only configuration has something to read.
struct Fixture {
    engine: PathBuf,
    prefix: String,
    dir: PathBuf,
}

impl Fixture {
    fn new(engine: &Path, column: usize) -> Fixture {
        let prefix = format!("dg-e2e-{}-{column}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(dir.join("context")).unwrap();
        std::fs::write(
            dir.join("context/Dockerfile"),
            format!("FROM {}\nRUN echo built > /built\n", harness::test_image()),
        )
        .unwrap();
        let f = Fixture {
            engine: engine.to_path_buf(),
            prefix,
            dir,
        };
        let image = harness::test_image();
        let p = &f.prefix;
        f.direct(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            &format!("{p}-main"),
            &image,
            "sh",
            "-c",
            "echo hello; echo world; sleep 600",
        ]);
        for name in ["stop", "restart", "rm"] {
            f.direct(&[
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                &format!("{p}-{name}"),
                &image,
                "sleep",
                "600",
            ]);
        }
        f.direct(&["network", "create", "--internal", &format!("{p}-net")]);
        f
    }

    fn direct(&self, args: &[&str]) -> Output {
        let out = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.engine.display()))
            .args(args)
            .output()
            .unwrap();
        out
    }

    fn expand(&self, text: &str) -> String {
        text.replace("{c}", &format!("{}-main", self.prefix))
            .replace("{p}", &self.prefix)
            .replace("{d}", &self.dir.display().to_string())
            .replace("{i}", &harness::test_image())
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let p = self.prefix.clone();
        for name in ["main", "stop", "restart", "rm", "d"] {
            self.direct(&["rm", "-f", &format!("{p}-{name}")]);
        }
        for net in ["net", "newnet"] {
            self.direct(&["network", "rm", &format!("{p}-{net}")]);
        }
        self.direct(&["rmi", "-f", &format!("{p}-built")]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cli(proxy: &harness::Proxy, config_dir: &Path, args: &[String], stdin: Option<&str>) -> Output {
    let mut command = Command::new("docker");
    command
        .env("DOCKER_HOST", proxy.docker_host())
        .env("DOCKER_CONFIG", config_dir)
        .args(args);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    // Closing stdin is the half-close `exec -i` must pass through.
    drop(input);
    child.wait_with_output().unwrap()
}

fn check_column(engine: &Path, column: usize) -> Vec<String> {
    let fixture = Fixture::new(engine, column);
    let proxy = harness::Proxy::start(CONFIGS[column]);
    let mut failures = vec![];
    for row in ROWS {
        let args: Vec<String> = fixture
            .expand(row.args)
            .split(' ')
            .map(String::from)
            .collect();
        let out = cli(&proxy, &fixture.dir, &args, row.stdin);
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let verdict = match row.cells[column] {
            Y if out.status.success() && shown.contains(&fixture.expand(row.shows)) => None,
            Y => Some("should succeed".to_string()),
            No(hint)
                if !out.status.success()
                    && shown.contains("Error response from daemon: dockgate: ")
                    && shown.contains(hint) =>
            {
                None
            }
            No(hint) => Some(format!(
                "should be refused with dockgate's message containing {hint:?}"
            )),
        };
        if let Some(why) = verdict {
            failures.push(format!(
                "{:?} `docker {}` {why}; got {:?}: {shown}",
                CONFIGS[column],
                row.name,
                out.status.code()
            ));
        }
    }
    failures
}

#[test]
fn the_cli_matrix_allows_exactly_what_each_configuration_grants() {
    let Some(engine) = harness::real_engine() else {
        return;
    };
    let columns: Vec<_> = (0..CONFIGS.len())
        .map(|column| {
            let engine = engine.clone();
            std::thread::spawn(move || check_column(&engine, column))
        })
        .collect();
    let failures: Vec<String> = columns
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Starts a streaming command and returns its stdout lines as they come.
fn stream(proxy: &harness::Proxy, args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new("docker")
        .env("DOCKER_HOST", proxy.docker_host())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, received) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, received)
}

/// Bounded only so a broken run fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn logs_follow_streams_and_stays_open() {
    let Some(engine) = harness::real_engine() else {
        return;
    };
    let fixture = Fixture::new(&engine, 90);
    let proxy = harness::Proxy::start(&[("CONTAINERS", "1")]);
    let name = fixture.expand("{c}");
    let (mut child, lines) = stream(&proxy, &["logs", "-f", &name]);
    assert_eq!(lines.recv_timeout(PATIENCE).unwrap(), "hello");
    assert_eq!(lines.recv_timeout(PATIENCE).unwrap(), "world");
    assert!(
        child.try_wait().unwrap().is_none(),
        "a follow stream ends only when the container does"
    );
    fixture.direct(&["exec", &name, "sh", "-c", "echo late >/proc/1/fd/1"]);
    assert_eq!(lines.recv_timeout(PATIENCE).unwrap(), "late");
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn events_stream_what_happens_after_they_are_opened() {
    let Some(engine) = harness::real_engine() else {
        return;
    };
    let fixture = Fixture::new(&engine, 91);
    // Defaults: EVENTS is on.
    let proxy = harness::Proxy::start(&[]);
    let label = format!("dockgate-e2e={}", fixture.prefix);
    let (mut child, lines) = stream(
        &proxy,
        &[
            "events",
            "--filter",
            &format!("label={label}"),
            "--format",
            "{{.Action}}",
        ],
    );
    // The stream is open once the proxy has forwarded it; an event made before that would be missed,
    // so keep making labelled containers until one is seen.
    let mut seen = None;
    for attempt in 0..30 {
        let name = format!("{}-ev{attempt}", fixture.prefix);
        fixture.direct(&[
            "create",
            "--network",
            "none",
            "--label",
            &label,
            "--name",
            &name,
            &harness::test_image(),
            "true",
        ]);
        fixture.direct(&["rm", &name]);
        if let Ok(action) = lines.recv_timeout(Duration::from_secs(2)) {
            seen = Some(action);
            break;
        }
    }
    assert_eq!(seen.as_deref(), Some("create"));
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn interactive_tty_works_through_the_proxy() {
    let Some(engine) = harness::real_engine() else {
        return;
    };
    let fixture = Fixture::new(&engine, 92);
    let proxy = harness::Proxy::start(&[("CONTAINERS", "1"), ("EXEC", "1"), ("POST", "1")]);
    let host = proxy.docker_host();
    let name = fixture.expand("{c}");
    for command in [
        format!("docker -H {host} exec -it {name} sh -c 'tty && echo in-tty'"),
        format!(
            "docker -H {host} run --rm -it --network none {} sh -c 'tty && echo in-tty'",
            harness::test_image()
        ),
    ] {
        // `script` gives the CLI a pseudo-terminal, as a person's shell would.
        let out = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        assert!(out.status.success(), "{command}: {shown}");
        assert!(
            shown.contains("/dev/pts/") && shown.contains("in-tty"),
            "{command}: {shown}"
        );
    }
}
