//! The real `docker` CLI through dockgate to the real engine: for each configuration, which
//! commands work, and that every refused one tells the user dockgate's reason and the variable to
//! set, as `Error response from daemon: dockgate: ...`.
//!
//! Set-up that the configuration under test would refuse (the container a read-only config then
//! inspects) goes straight to the engine's socket.
//!
//! Long because it is a matrix: every docker CLI command under every configuration.

mod harness;

use std::path::Path;
use std::process::Output;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use harness::docker::{self, Scope, Streaming};
use harness::{real_engine_with_images, test_image, Proxy};

/// Commands of the matrix, in the order of its columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Version,
    Ps,
    Inspect,
    Logs,
    LogsFollow,
    Events,
    RunRm,
    RunDetached,
    Exec,
    ExecStdin,
    Attach,
    Stop,
    Restart,
    RmForce,
    NetworkLs,
    NetworkCreate,
    NetworkRm,
    VolumeLs,
    ImageLs,
    Info,
    Build,
    CpFrom,
    CpTo,
    Save,
}

const COMMANDS: usize = 24;

use Cmd::*;

const ALL: [Cmd; COMMANDS] = [
    Version,
    Ps,
    Inspect,
    Logs,
    LogsFollow,
    Events,
    RunRm,
    RunDetached,
    Exec,
    ExecStdin,
    Attach,
    Stop,
    Restart,
    RmForce,
    NetworkLs,
    NetworkCreate,
    NetworkRm,
    VolumeLs,
    ImageLs,
    Info,
    Build,
    CpFrom,
    CpTo,
    Save,
];

/// What the user sees.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The command does its job.
    Works,
    /// `Error response from daemon: dockgate: REQUEST is not allowed; set HINT`; `{c}` in the
    /// request is the container or network the command names.
    Refused(&'static str, &'static str),
    /// Refused where the connection upgrades (attach): the CLI never reads the body of a failed
    /// upgrade and prints only its status.
    RefusedUpgrade,
}

const OK: Expect = Expect::Works;
const UPGRADE_403: Expect = Expect::RefusedUpgrade;

const fn no(request: &'static str, hint: &'static str) -> Expect {
    Expect::Refused(request, hint)
}

struct Config {
    env: &'static [(&'static str, &'static str)],
    expect: [(Cmd, Expect); COMMANDS],
}

const STOP_HINT: &str = "ALLOW_STOP=1 (or ALLOW_RESTARTS=1, or CONTAINERS=1 and POST=1)";
const RESTART_HINT: &str = "ALLOW_RESTARTS=1 (or CONTAINERS=1 and POST=1)";

// One line per cell, so the matrix reads as a table.
#[rustfmt::skip]
const MATRIX: &[Config] = &[
    Config {
        env: &[],
        expect: [
            (Version, OK),
            (Ps, no("GET /containers/json", "CONTAINERS=1")),
            (Inspect, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Logs, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (LogsFollow, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Events, OK),
            (RunRm, no("POST /containers/create", "CONTAINERS=1 and POST=1")),
            (RunDetached, no("POST /containers/create", "CONTAINERS=1 and POST=1")),
            (Exec, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (ExecStdin, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Attach, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Stop, no("POST /containers/{c}/stop", STOP_HINT)),
            (Restart, no("POST /containers/{c}/restart", RESTART_HINT)),
            (RmForce, no("DELETE /containers/{c}", "CONTAINERS=1 and POST=1")),
            (NetworkLs, no("GET /networks", "NETWORKS=1")),
            (NetworkCreate, no("POST /networks/create", "NETWORKS=1 and POST=1")),
            (NetworkRm, no("DELETE /networks/{c}", "NETWORKS=1 and POST=1")),
            (VolumeLs, no("GET /volumes", "VOLUMES=1")),
            (ImageLs, no("GET /images/json", "IMAGES=1")),
            (Info, no("GET /info", "INFO=1")),
            (Build, no("POST /build", "BUILD=1 and POST=1")),
            (CpFrom, no("GET /containers/{c}/archive", "CONTAINERS=1 and ALLOW_ARCHIVE=1")),
            (CpTo, no("PUT /containers/{c}/archive", "CONTAINERS=1, POST=1 and ALLOW_ARCHIVE=1")),
            (Save, no("GET /images/get", "IMAGES=1")),
        ],
    },
    Config {
        env: &[("CONTAINERS", "1")],
        expect: [
            (Version, OK),
            (Ps, OK),
            (Inspect, OK),
            (Logs, OK),
            (LogsFollow, OK),
            (Events, OK),
            (RunRm, no("POST /containers/create", "POST=1")),
            (RunDetached, no("POST /containers/create", "POST=1")),
            (Exec, no("POST /containers/{c}/exec", "EXEC=1 and POST=1")),
            (ExecStdin, no("POST /containers/{c}/exec", "EXEC=1 and POST=1")),
            (Attach, UPGRADE_403),
            (Stop, no("POST /containers/{c}/stop", "ALLOW_STOP=1 (or ALLOW_RESTARTS=1, or POST=1)")),
            (Restart, no("POST /containers/{c}/restart", "ALLOW_RESTARTS=1 (or POST=1)")),
            (RmForce, no("DELETE /containers/{c}", "POST=1")),
            (NetworkLs, no("GET /networks", "NETWORKS=1")),
            (NetworkCreate, no("POST /networks/create", "NETWORKS=1 and POST=1")),
            (NetworkRm, no("DELETE /networks/{c}", "NETWORKS=1 and POST=1")),
            (VolumeLs, no("GET /volumes", "VOLUMES=1")),
            (ImageLs, no("GET /images/json", "IMAGES=1")),
            (Info, no("GET /info", "INFO=1")),
            (Build, no("POST /build", "BUILD=1 and POST=1")),
            (CpFrom, no("GET /containers/{c}/archive", "ALLOW_ARCHIVE=1")),
            (CpTo, no("PUT /containers/{c}/archive", "POST=1 and ALLOW_ARCHIVE=1")),
            (Save, no("GET /images/get", "IMAGES=1")),
        ],
    },
    Config {
        env: &[("POST", "1")],
        expect: [
            (Version, OK),
            (Ps, no("GET /containers/json", "CONTAINERS=1")),
            (Inspect, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Logs, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (LogsFollow, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Events, OK),
            (RunRm, no("POST /containers/create", "CONTAINERS=1")),
            (RunDetached, no("POST /containers/create", "CONTAINERS=1")),
            (Exec, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (ExecStdin, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Attach, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Stop, no("POST /containers/{c}/stop", "ALLOW_STOP=1 (or ALLOW_RESTARTS=1, or CONTAINERS=1)")),
            (Restart, no("POST /containers/{c}/restart", "ALLOW_RESTARTS=1 (or CONTAINERS=1)")),
            (RmForce, no("DELETE /containers/{c}", "CONTAINERS=1")),
            (NetworkLs, no("GET /networks", "NETWORKS=1")),
            (NetworkCreate, no("POST /networks/create", "NETWORKS=1")),
            (NetworkRm, no("DELETE /networks/{c}", "NETWORKS=1")),
            (VolumeLs, no("GET /volumes", "VOLUMES=1")),
            (ImageLs, no("GET /images/json", "IMAGES=1")),
            (Info, no("GET /info", "INFO=1")),
            (Build, no("POST /build", "BUILD=1")),
            (CpFrom, no("GET /containers/{c}/archive", "CONTAINERS=1 and ALLOW_ARCHIVE=1")),
            (CpTo, no("PUT /containers/{c}/archive", "CONTAINERS=1 and ALLOW_ARCHIVE=1")),
            (Save, no("GET /images/get", "IMAGES=1")),
        ],
    },
    Config {
        env: &[("NETWORKS", "1"), ("POST", "1")],
        expect: [
            (Version, OK),
            (Ps, no("GET /containers/json", "CONTAINERS=1")),
            (Inspect, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Logs, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (LogsFollow, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Events, OK),
            (RunRm, no("POST /containers/create", "CONTAINERS=1")),
            (RunDetached, no("POST /containers/create", "CONTAINERS=1")),
            (Exec, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (ExecStdin, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Attach, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Stop, no("POST /containers/{c}/stop", "ALLOW_STOP=1 (or ALLOW_RESTARTS=1, or CONTAINERS=1)")),
            (Restart, no("POST /containers/{c}/restart", "ALLOW_RESTARTS=1 (or CONTAINERS=1)")),
            (RmForce, no("DELETE /containers/{c}", "CONTAINERS=1")),
            (NetworkLs, OK),
            (NetworkCreate, OK),
            (NetworkRm, OK),
            (VolumeLs, no("GET /volumes", "VOLUMES=1")),
            (ImageLs, no("GET /images/json", "IMAGES=1")),
            (Info, no("GET /info", "INFO=1")),
            (Build, no("POST /build", "BUILD=1")),
            (CpFrom, no("GET /containers/{c}/archive", "CONTAINERS=1 and ALLOW_ARCHIVE=1")),
            (CpTo, no("PUT /containers/{c}/archive", "CONTAINERS=1 and ALLOW_ARCHIVE=1")),
            (Save, no("GET /images/get", "IMAGES=1")),
        ],
    },
    Config {
        env: &[("CONTAINERS", "1"), ("EXEC", "1"), ("POST", "1")],
        expect: [
            (Version, OK),
            (Ps, OK),
            (Inspect, OK),
            (Logs, OK),
            (LogsFollow, OK),
            (Events, OK),
            (RunRm, OK),
            (RunDetached, OK),
            (Exec, OK),
            (ExecStdin, OK),
            (Attach, OK),
            (Stop, OK),
            (Restart, OK),
            (RmForce, OK),
            (NetworkLs, no("GET /networks", "NETWORKS=1")),
            (NetworkCreate, no("POST /networks/create", "NETWORKS=1")),
            (NetworkRm, no("DELETE /networks/{c}", "NETWORKS=1")),
            (VolumeLs, no("GET /volumes", "VOLUMES=1")),
            (ImageLs, no("GET /images/json", "IMAGES=1")),
            (Info, no("GET /info", "INFO=1")),
            (Build, no("POST /build", "BUILD=1")),
            (CpFrom, no("GET /containers/{c}/archive", "ALLOW_ARCHIVE=1")),
            (CpTo, no("PUT /containers/{c}/archive", "ALLOW_ARCHIVE=1")),
            (Save, no("GET /images/get", "IMAGES=1")),
        ],
    },
    Config {
        env: &[("CONTAINERS", "1"), ("ALLOW_RESTARTS", "1")],
        expect: [
            (Version, OK),
            (Ps, OK),
            (Inspect, OK),
            (Logs, OK),
            (LogsFollow, OK),
            (Events, OK),
            (RunRm, no("POST /containers/create", "POST=1")),
            (RunDetached, no("POST /containers/create", "POST=1")),
            (Exec, no("POST /containers/{c}/exec", "EXEC=1 and POST=1")),
            (ExecStdin, no("POST /containers/{c}/exec", "EXEC=1 and POST=1")),
            (Attach, UPGRADE_403),
            (Stop, OK),
            (Restart, OK),
            (RmForce, no("DELETE /containers/{c}", "POST=1")),
            (NetworkLs, no("GET /networks", "NETWORKS=1")),
            (NetworkCreate, no("POST /networks/create", "NETWORKS=1 and POST=1")),
            (NetworkRm, no("DELETE /networks/{c}", "NETWORKS=1 and POST=1")),
            (VolumeLs, no("GET /volumes", "VOLUMES=1")),
            (ImageLs, no("GET /images/json", "IMAGES=1")),
            (Info, no("GET /info", "INFO=1")),
            (Build, no("POST /build", "BUILD=1 and POST=1")),
            (CpFrom, no("GET /containers/{c}/archive", "ALLOW_ARCHIVE=1")),
            (CpTo, no("PUT /containers/{c}/archive", "POST=1 and ALLOW_ARCHIVE=1")),
            (Save, no("GET /images/get", "IMAGES=1")),
        ],
    },
    Config {
        env: &[("CONTAINERS", "1"), ("POST", "1"), ("ALLOW_ARCHIVE", "1")],
        expect: [
            (Version, OK),
            (Ps, OK),
            (Inspect, OK),
            (Logs, OK),
            (LogsFollow, OK),
            (Events, OK),
            (RunRm, OK),
            (RunDetached, OK),
            (Exec, no("POST /containers/{c}/exec", "EXEC=1")),
            (ExecStdin, no("POST /containers/{c}/exec", "EXEC=1")),
            (Attach, OK),
            (Stop, OK),
            (Restart, OK),
            (RmForce, OK),
            (NetworkLs, no("GET /networks", "NETWORKS=1")),
            (NetworkCreate, no("POST /networks/create", "NETWORKS=1")),
            (NetworkRm, no("DELETE /networks/{c}", "NETWORKS=1")),
            (VolumeLs, no("GET /volumes", "VOLUMES=1")),
            (ImageLs, no("GET /images/json", "IMAGES=1")),
            (Info, no("GET /info", "INFO=1")),
            (Build, no("POST /build", "BUILD=1")),
            (CpFrom, OK),
            (CpTo, OK),
            (Save, no("GET /images/get", "IMAGES=1")),
        ],
    },
    Config {
        env: &[("IMAGES", "1"), ("INFO", "1"), ("VOLUMES", "1")],
        expect: [
            (Version, OK),
            (Ps, no("GET /containers/json", "CONTAINERS=1")),
            (Inspect, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Logs, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (LogsFollow, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Events, OK),
            (RunRm, no("POST /containers/create", "CONTAINERS=1 and POST=1")),
            (RunDetached, no("POST /containers/create", "CONTAINERS=1 and POST=1")),
            (Exec, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (ExecStdin, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Attach, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Stop, no("POST /containers/{c}/stop", STOP_HINT)),
            (Restart, no("POST /containers/{c}/restart", RESTART_HINT)),
            (RmForce, no("DELETE /containers/{c}", "CONTAINERS=1 and POST=1")),
            (NetworkLs, no("GET /networks", "NETWORKS=1")),
            (NetworkCreate, no("POST /networks/create", "NETWORKS=1 and POST=1")),
            (NetworkRm, no("DELETE /networks/{c}", "NETWORKS=1 and POST=1")),
            (VolumeLs, OK),
            (ImageLs, OK),
            (Info, OK),
            (Build, no("POST /build", "BUILD=1 and POST=1")),
            (CpFrom, no("GET /containers/{c}/archive", "CONTAINERS=1 and ALLOW_ARCHIVE=1")),
            (CpTo, no("PUT /containers/{c}/archive", "CONTAINERS=1, POST=1 and ALLOW_ARCHIVE=1")),
            (Save, OK),
        ],
    },
    Config {
        env: &[("BUILD", "1"), ("POST", "1")],
        expect: [
            (Version, OK),
            (Ps, no("GET /containers/json", "CONTAINERS=1")),
            (Inspect, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Logs, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (LogsFollow, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Events, OK),
            (RunRm, no("POST /containers/create", "CONTAINERS=1")),
            (RunDetached, no("POST /containers/create", "CONTAINERS=1")),
            (Exec, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (ExecStdin, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Attach, no("GET /containers/{c}/json", "CONTAINERS=1")),
            (Stop, no("POST /containers/{c}/stop", "ALLOW_STOP=1 (or ALLOW_RESTARTS=1, or CONTAINERS=1)")),
            (Restart, no("POST /containers/{c}/restart", "ALLOW_RESTARTS=1 (or CONTAINERS=1)")),
            (RmForce, no("DELETE /containers/{c}", "CONTAINERS=1")),
            (NetworkLs, no("GET /networks", "NETWORKS=1")),
            (NetworkCreate, no("POST /networks/create", "NETWORKS=1")),
            (NetworkRm, no("DELETE /networks/{c}", "NETWORKS=1")),
            (VolumeLs, no("GET /volumes", "VOLUMES=1")),
            (ImageLs, no("GET /images/json", "IMAGES=1")),
            (Info, no("GET /info", "INFO=1")),
            (Build, OK),
            (CpFrom, no("GET /containers/{c}/archive", "CONTAINERS=1 and ALLOW_ARCHIVE=1")),
            (CpTo, no("PUT /containers/{c}/archive", "CONTAINERS=1 and ALLOW_ARCHIVE=1")),
            (Save, no("GET /images/get", "IMAGES=1")),
        ],
    },
];

/// How many cases run at once: the CLI mostly waits on the engine, which is shared with others.
const WORKERS: usize = 6;

/// The container a long-running fixture runs: two lines of output, then it waits, and a stop's
/// SIGTERM ends it at once (a shell as PID 1 would otherwise ignore it until SIGKILL).
const SLEEPER: &str = "echo hello; echo world; trap 'exit 0' TERM; sleep 600 & wait";

/// One cell of the matrix being run: the proxy to talk through, and the name of the container,
/// network or image the command works on.
struct Case<'a> {
    host: &'a str,
    scope: Scope,
    subject: String,
    image: String,
}

/// `Ok` when the command did its job; otherwise what the user saw on stderr.
type Outcome = Result<(), String>;

impl Case<'_> {
    fn docker(&self, args: &[&str]) -> Output {
        self.docker_with_input(args, b"")
    }

    fn docker_with_input(&self, args: &[&str], stdin: &[u8]) -> Output {
        docker::run(docker::docker(self.host).args(args), stdin)
    }

    fn engine(&self, args: &[&str]) -> String {
        docker::ok(self.scope.engine().args(args))
    }

    /// The subject container's state as the engine sees it, `None` when it does not exist.
    fn state(&self) -> Option<String> {
        let out = docker::run(
            self.scope
                .engine()
                .args(["inspect", "--format", "{{.State.Status}}", &self.subject]),
            b"",
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn sleeper(&self) {
        let name = self.scope.container(&self.subject);
        self.engine(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            &name,
            &self.image,
            "sh",
            "-c",
            SLEEPER,
        ]);
    }

    fn created(&self) {
        let name = self.scope.container(&self.subject);
        self.engine(&["create", "--network", "none", "--name", &name, &self.image]);
    }
}

/// Turns a finished command into an outcome, checking what it printed when it succeeded.
fn judged(out: Output, check: impl FnOnce(&str) -> Outcome) -> Outcome {
    if out.status.success() {
        check(&String::from_utf8_lossy(&out.stdout))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Fails an outcome when `holds` is false.
fn expect(holds: bool, what: impl FnOnce() -> String) -> Outcome {
    if holds {
        Ok(())
    } else {
        Err(format!("the command succeeded but {}", what()))
    }
}

/// A refused command that changed something anyway is worse than a wrong message.
fn unchanged(outcome: Outcome, still: bool, what: &str) -> Outcome {
    match outcome {
        Err(stderr) if !still => Err(format!("refused ({stderr}) but {what} anyway")),
        other => other,
    }
}

impl Cmd {
    fn run(self, case: &Case) -> Outcome {
        let c = case.subject.as_str();
        let image = case.image.as_str();
        match self {
            Version => {
                let engine = case.engine(&["version", "--format", "{{.Server.APIVersion}}"]);
                judged(
                    case.docker(&["version", "--format", "{{.Server.APIVersion}}"]),
                    |out| {
                        expect(out == engine, || {
                            format!("negotiated {out:?}, not {engine:?}")
                        })
                    },
                )
            }
            Ps => {
                case.created();
                let filter = format!("name=^{c}$");
                judged(
                    case.docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]),
                    |out| expect(out.trim() == c, || format!("listed {out:?}")),
                )
            }
            Inspect => {
                case.created();
                judged(
                    case.docker(&["inspect", "--format", "{{.Name}}", c]),
                    |out| expect(out.trim() == format!("/{c}"), || format!("printed {out:?}")),
                )
            }
            Logs => {
                case.sleeper();
                wait_for_logs(case);
                judged(case.docker(&["logs", c]), |out| {
                    expect(out == "hello\nworld\n", || format!("printed {out:?}"))
                })
            }
            LogsFollow => {
                case.sleeper();
                let stream = Streaming::spawn(docker::docker(case.host).args(["logs", "-f", c]));
                let (Some(first), Some(second)) = (stream.next_line(), stream.next_line()) else {
                    return Err(stream.finish().1);
                };
                // A line written only now must come through the stream that is already open.
                case.engine(&["exec", c, "sh", "-c", "echo late >/proc/1/fd/1"]);
                let late = stream.next_line();
                expect(
                    [first.as_str(), second.as_str()] == ["hello", "world"]
                        && late.as_deref() == Some("late"),
                    || format!("streamed {first:?}, {second:?}, then {late:?}"),
                )
            }
            Events => events(case),
            RunRm => {
                let name = case.scope.container(c);
                let ran = case.docker(&[
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "--name",
                    &name,
                    image,
                    "echo",
                    "from-run",
                ]);
                let outcome = judged(ran, |out| {
                    expect(out == "from-run\n", || format!("printed {out:?}"))
                });
                unchanged(outcome, case.state().is_none(), "the container was created")
            }
            RunDetached => {
                let name = case.scope.container(c);
                let ran = case.docker(&[
                    "run",
                    "-d",
                    "--network",
                    "none",
                    "--name",
                    &name,
                    image,
                    "sh",
                    "-c",
                    SLEEPER,
                ]);
                let outcome = judged(ran, |_| {
                    let state = case.state();
                    expect(state.as_deref() == Some("running"), || {
                        format!("it is {state:?}")
                    })
                });
                unchanged(outcome, case.state().is_none(), "the container was created")
            }
            Exec => {
                case.sleeper();
                judged(case.docker(&["exec", c, "echo", "from-exec"]), |out| {
                    expect(out == "from-exec\n", || format!("printed {out:?}"))
                })
            }
            ExecStdin => {
                case.sleeper();
                judged(
                    case.docker_with_input(&["exec", "-i", c, "cat"], b"hi\n"),
                    |out| expect(out == "hi\n", || format!("printed {out:?}")),
                )
            }
            Attach => {
                let name = case.scope.container(c);
                // Blocks on stdin until attached, so all its output comes after the attach.
                case.engine(&[
                    "run",
                    "-d",
                    "-i",
                    "--network",
                    "none",
                    "--name",
                    &name,
                    image,
                    "sh",
                    "-c",
                    "read line; echo got-$line",
                ]);
                // Stdin stays open until the output is read: the engine ends an attach's output
                // when its input ends.
                let mut attached = Streaming::spawn(docker::docker(case.host).args(["attach", c]));
                attached.send(b"hi\n");
                match attached.next_line() {
                    Some(line) => expect(line == "got-hi", || format!("printed {line:?}")),
                    None => Err(attached.finish().1),
                }
            }
            Stop => {
                case.sleeper();
                let outcome = judged(case.docker(&["stop", c]), |_| {
                    let state = case.state();
                    expect(state.as_deref() == Some("exited"), || {
                        format!("it is {state:?}")
                    })
                });
                unchanged(
                    outcome,
                    case.state().as_deref() == Some("running"),
                    "it stopped",
                )
            }
            Restart => {
                case.sleeper();
                let started = || case.engine(&["inspect", "--format", "{{.State.StartedAt}}", c]);
                let before = started();
                let outcome = judged(case.docker(&["restart", c]), |_| {
                    let after = started();
                    let state = case.state();
                    expect(
                        after != before && state.as_deref() == Some("running"),
                        || format!("it is {state:?}, started at {after} (before: {before})"),
                    )
                });
                unchanged(outcome, started() == before, "it restarted")
            }
            RmForce => {
                case.sleeper();
                let outcome = judged(case.docker(&["rm", "-f", c]), |_| {
                    let state = case.state();
                    expect(state.is_none(), || format!("it is still {state:?}"))
                });
                unchanged(outcome, case.state().is_some(), "it was removed")
            }
            NetworkLs => judged(
                case.docker(&["network", "ls", "--format", "{{.Name}}"]),
                |out| {
                    expect(out.lines().any(|l| l == "none"), || {
                        format!("listed {out:?}")
                    })
                },
            ),
            NetworkCreate => {
                let name = case.scope.network(c);
                let exists = || {
                    let out =
                        docker::run(case.scope.engine().args(["network", "inspect", &name]), b"");
                    out.status.success()
                };
                let outcome = judged(case.docker(&["network", "create", &name]), |_| {
                    expect(exists(), || "the network does not exist".into())
                });
                unchanged(outcome, !exists(), "the network was created")
            }
            NetworkRm => {
                let name = case.scope.network(c);
                case.engine(&["network", "create", &name]);
                let exists = || {
                    let out =
                        docker::run(case.scope.engine().args(["network", "inspect", &name]), b"");
                    out.status.success()
                };
                let outcome = judged(case.docker(&["network", "rm", &name]), |_| {
                    expect(!exists(), || "the network still exists".into())
                });
                unchanged(outcome, exists(), "the network was removed")
            }
            VolumeLs => judged(case.docker(&["volume", "ls"]), |out| {
                expect(out.starts_with("DRIVER"), || format!("printed {out:?}"))
            }),
            ImageLs => judged(
                case.docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]),
                |out| {
                    expect(out.lines().any(|l| l == image), || {
                        format!("listed {out:?}")
                    })
                },
            ),
            Info => judged(case.docker(&["info"]), |out| {
                expect(out.contains("Server Version:"), || {
                    format!("printed {out:?}")
                })
            }),
            Build => {
                let context = case.scope.dir(c);
                std::fs::write(context.join("payload.txt"), "built\n").unwrap();
                std::fs::write(
                    context.join("Dockerfile"),
                    format!("FROM {image}\nCOPY payload.txt /payload.txt\n"),
                )
                .unwrap();
                let tag = case.scope.image(&format!("{c}:latest"));
                let built = case.docker(&["build", "-q", "-t", &tag, context.to_str().unwrap()]);
                judged(built, |_| {
                    let out =
                        docker::run(case.scope.engine().args(["image", "inspect", &tag]), b"");
                    expect(out.status.success(), || "the image does not exist".into())
                })
            }
            CpFrom => {
                case.created();
                let dir = case.scope.dir(c);
                std::fs::write(dir.join("in.txt"), "copied out\n").unwrap();
                let inside = format!("{c}:/payload.txt");
                case.engine(&["cp", dir.join("in.txt").to_str().unwrap(), &inside]);
                let out = dir.join("out.txt");
                judged(case.docker(&["cp", &inside, out.to_str().unwrap()]), |_| {
                    let copied = std::fs::read_to_string(&out).unwrap_or_default();
                    expect(copied == "copied out\n", || format!("copied {copied:?}"))
                })
            }
            CpTo => {
                case.created();
                let dir = case.scope.dir(c);
                std::fs::write(dir.join("in.txt"), "copied in\n").unwrap();
                let inside = format!("{c}:/payload.txt");
                let out = dir.join("out.txt");
                judged(
                    case.docker(&["cp", dir.join("in.txt").to_str().unwrap(), &inside]),
                    |_| {
                        case.engine(&["cp", &inside, out.to_str().unwrap()]);
                        let copied = std::fs::read_to_string(&out).unwrap_or_default();
                        expect(copied == "copied in\n", || {
                            format!("the container has {copied:?}")
                        })
                    },
                )
            }
            Save => {
                let saved = case.docker(&["save", image]);
                if !saved.status.success() {
                    return Err(String::from_utf8_lossy(&saved.stderr).into_owned());
                }
                // A tar archive has "ustar" at offset 257 of its first header.
                let magic = saved.stdout.get(257..262);
                expect(magic == Some(b"ustar".as_slice()), || {
                    format!("wrote {} bytes that are not a tar", saved.stdout.len())
                })
            }
        }
    }
}

/// Waits until the fixture has written both lines, so a one-shot `logs` sees them.
fn wait_for_logs(case: &Case) {
    for _ in 0..600 {
        if case.engine(&["logs", &case.subject]) == "hello\nworld\n" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the fixture never logged its two lines");
}

/// `docker events` is live: a first event (replayed thanks to --since, so it cannot be missed)
/// shows the stream is open, then a second one caused after that must arrive through it.
fn events(case: &Case) -> Outcome {
    let label = format!("dg-cli-case={}", case.subject);
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 60;
    let stream = Streaming::spawn(docker::docker(case.host).args([
        "events",
        "--since",
        &since.to_string(),
        "--filter",
        &format!("label={label}"),
        "--format",
        "{{.Type}} {{.Action}}",
    ]));
    let name = case.scope.container(&case.subject);
    case.engine(&[
        "create",
        "--label",
        &label,
        "--network",
        "none",
        "--name",
        &name,
        &case.image,
    ]);
    let mut seen = vec![];
    let mut removed = false;
    while let Some(line) = stream.next_line() {
        seen.push(line.clone());
        if line == "container create" && !removed {
            case.engine(&["rm", &name]);
            removed = true;
        }
        if line == "container destroy" {
            return expect(removed, || format!("saw {seen:?}"));
        }
        if seen.len() > 20 {
            return expect(false, || format!("saw {seen:?}"));
        }
    }
    Err(stream.finish().1)
}

/// What a refused case must print, or where the CLI cannot print it, what it prints instead.
fn refusal_text(expect: Expect, subject: &str) -> Option<String> {
    match expect {
        Expect::Works => None,
        Expect::Refused(request, hint) => Some(format!(
            "Error response from daemon: dockgate: {} is not allowed; set {hint}",
            request.replace("{c}", subject)
        )),
        Expect::RefusedUpgrade => Some("unable to upgrade to tcp, received 403".into()),
    }
}

/// Runs one cell: `Ok` with a short verdict for the table, or `Err` with why it does not match.
fn check(host: &str, socket: &Path, cmd: Cmd, expected: Expect) -> Result<&'static str, String> {
    let case = Case {
        host,
        scope: Scope::new(socket),
        subject: Scope::unique(&format!("{cmd:?}").to_lowercase()),
        image: test_image(),
    };
    let outcome = cmd.run(&case);
    match (refusal_text(expected, &case.subject), outcome) {
        (None, Ok(())) => Ok("ok"),
        (None, Err(stderr)) => Err(format!("expected to work, but: {}", stderr.trim())),
        (Some(text), Ok(())) => Err(format!("expected `{text}`, but it worked")),
        (Some(text), Err(stderr)) if stderr.contains(&text) => Ok(match expected {
            Expect::RefusedUpgrade => "403*",
            _ => "403",
        }),
        (Some(text), Err(stderr)) => Err(format!("expected `{text}`, got: {}", stderr.trim())),
    }
}

#[test]
fn docker_cli_commands_by_configuration() {
    let Some(socket) = real_engine_with_images(&[&test_image()]) else {
        return;
    };
    let socket_path = socket.display().to_string();
    for config in MATRIX {
        let columns: Vec<Cmd> = config.expect.iter().map(|(cmd, _)| *cmd).collect();
        assert_eq!(
            columns, ALL,
            "{:?} lists the commands out of order",
            config.env
        );
    }
    let proxies: Vec<Proxy> = MATRIX
        .iter()
        .map(|config| {
            let mut env = config.env.to_vec();
            env.push(("SOCKET_PATH", &socket_path));
            Proxy::start(&env)
        })
        .collect();
    let hosts: Vec<String> = proxies.iter().map(Proxy::docker_host).collect();

    let mut queue: Vec<(usize, usize)> = (0..MATRIX.len())
        .flat_map(|row| (0..COMMANDS).map(move |col| (row, col)))
        .collect();
    queue.reverse();
    let queue = Mutex::new(queue);
    let results = Mutex::new(vec![vec![Ok("?"); COMMANDS]; MATRIX.len()]);
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let Some((row, col)) = queue.lock().unwrap().pop() else {
                    break;
                };
                let (cmd, expected) = MATRIX[row].expect[col];
                let host = &hosts[row];
                // A panicking case (failed set-up) is recorded, and its scope still cleans up.
                let result = std::panic::catch_unwind(|| check(host, &socket, cmd, expected))
                    .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_text(&*panic))));
                results.lock().unwrap()[row][col] = result;
            });
        }
    });
    drop(proxies);

    let results = results.into_inner().unwrap();
    let mut table = String::from("command        ");
    for config in MATRIX {
        table.push_str(&format!(" | {}", env_label(config.env)));
    }
    let mut failures = vec![];
    for (col, cmd) in ALL.iter().enumerate() {
        table.push_str(&format!("\n{:<15}", format!("{cmd:?}")));
        for (row, config) in MATRIX.iter().enumerate() {
            let cell = match &results[row][col] {
                Ok(verdict) => *verdict,
                Err(why) => {
                    failures.push(format!("{cmd:?} with {}: {why}", env_label(config.env)));
                    "FAIL"
                }
            };
            table.push_str(&format!(
                " | {cell:<width$}",
                width = env_label(config.env).len()
            ));
        }
    }
    println!("{table}\n(403* = refused at an upgrade: the CLI prints only the status)");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn env_label(env: &[(&str, &str)]) -> String {
    if env.is_empty() {
        return "defaults".into();
    }
    env.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// `docker run -it` and `docker exec -it` from a terminal: the container gets one too.
#[test]
fn run_and_exec_with_a_terminal() {
    let Some(socket) = real_engine_with_images(&[&test_image()]) else {
        return;
    };
    let socket_path = socket.display().to_string();
    let proxy = Proxy::start(&[
        ("CONTAINERS", "1"),
        ("EXEC", "1"),
        ("POST", "1"),
        ("SOCKET_PATH", &socket_path),
    ]);
    let host = proxy.docker_host();
    let scope = Scope::new(&socket);
    let image = test_image();
    let probe = "tty; test -t 0 && echo stdin-is-a-terminal";

    let name = scope.container(&Scope::unique("run-it"));
    let args = format!("run -it --rm --network none --name {name} {image} sh -c '{probe}'");
    let out = docker::run(&mut docker::in_terminal(&host, &args), b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("stdin-is-a-terminal"), "{text:?}");

    let name = scope.container(&Scope::unique("exec-it"));
    docker::ok(scope.engine().args([
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        &image,
        "sh",
        "-c",
        SLEEPER,
    ]));
    let args = format!("exec -it {name} sh -c '{probe}'");
    let out = docker::run(&mut docker::in_terminal(&host, &args), b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("stdin-is-a-terminal"), "{text:?}");
}
