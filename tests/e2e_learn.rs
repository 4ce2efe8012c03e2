//! Learn mode on the real engine (issue 12's done-when): a scripted client run, docker CLI and
//! docker-py, under `MODE=learn` with no grant yields a grant that, applied alone in enforce
//! mode, lets the same run through with nothing refused; and without any one of its variables,
//! the run is refused for that variable.

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::docker::{self, Scope};

/// The docker-py half of the run: list, networks, a container with a named volume and a
/// read-only bind mount, its logs, inspect, removal. Exits non-zero with the API's error.
const DOCKER_PY: &str = r#"
import sys, docker
host, image, name, volume, path = sys.argv[1:]
client = docker.DockerClient(base_url=host, version="auto")
client.containers.list(all=True)
client.networks.list()
container = client.containers.run(image, ["sh", "-c", "ls /host /data"], name=name,
    network_mode="none", detach=True,
    volumes={volume: {"bind": "/data", "mode": "rw"}, path: {"bind": "/host", "mode": "ro"}})
container.wait()
assert b"out" in container.logs(), container.logs()
client.containers.get(name).reload()
container.remove()
"#;

/// A Python with docker-py: DOCKGATE_TEST_PYTHON, the test script's venv, or python3.
fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-env/venv/bin/python");
    let candidates = std::env::var_os("DOCKGATE_TEST_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv, PathBuf::from("python3")]);
    for python in candidates {
        let imports = Command::new(&python)
            .args(["-c", "import docker"])
            .output()
            .is_ok_and(|out| out.status.success());
        if imports {
            return Some(python);
        }
    }
    harness::skip_or_fail("no Python with docker-py (scripts/test installs one)");
    None
}

/// One client run through `host`: the CLI's calls, then docker-py's. The first failure, with
/// its output; everything it created is the scope's to remove.
fn client_run(scope: &Scope, host: &str, python: &Path, dir: &Path) -> Result<(), String> {
    let name = scope.container(&Scope::unique("learn"));
    let volume = scope.volume(&Scope::unique("learn-vol"));
    let bind = format!("{}:/host", dir.display());
    let data = format!("{volume}:/data");
    let image = harness::test_image();
    let steps: [&[&str]; 6] = [
        &["ps", "-a"],
        &["network", "ls"],
        &[
            "run",
            "--name",
            &name,
            "--network",
            "none",
            "-v",
            &data,
            "-v",
            &bind,
            &image,
            "sh",
            "-c",
            "echo out > /host/out && echo hello",
        ],
        &["inspect", &name],
        &["logs", &name],
        &["rm", &name],
    ];
    for args in steps {
        let out = docker::run(docker::docker(host).args(args), b"");
        if !out.status.success() {
            return Err(format!(
                "docker {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let name = scope.container(&Scope::unique("learn-py"));
    let volume = scope.volume(&Scope::unique("learn-py-vol"));
    let out = Command::new(python)
        .args(["-c", DOCKER_PY, host, &image, &name, &volume])
        .arg(dir)
        .envs([("NO_PROXY", "*"), ("no_proxy", "*")])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "docker-py: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A proxy with `grant` and the engine, the run through it, and what it refused.
fn run_with(
    scope: &Scope,
    socket: &Path,
    mode: &str,
    grant: &[(&str, &str)],
    python: &Path,
    dir: &Path,
) -> (Result<(), String>, Vec<dockgate::learn::ClientGrant>) {
    let socket = socket.display().to_string();
    let mut env = vec![("SOCKET_PATH", socket.as_str()), ("MODE", mode)];
    env.extend_from_slice(grant);
    let proxy = harness::Proxy::start(&env);
    let run = client_run(scope, &proxy.docker_host(), python, dir);
    let learned = proxy.learned().clients();
    if mode == "learn" {
        eprintln!("{}", proxy.learned().summary(dockgate::learn::Mode::Learn));
    }
    proxy.stop().unwrap();
    (run, learned)
}

#[test]
fn a_learned_grant_is_enough_and_every_part_of_it_is_needed() {
    let Some(socket) = harness::real_engine_with_images(&[&harness::test_image()]) else {
        return;
    };
    let Some(python) = python() else { return };
    let scope = Scope::new(&socket);
    let dir = scope.dir(&Scope::unique("learn-bind"));

    // Learn, from no grant at all: everything is forwarded, and learned.
    let (run, learned) = run_with(&scope, &socket, "learn", &[], &python, &dir);
    run.expect("learn mode lets the run through");
    let [client] = learned.as_slice() else {
        panic!("one client expected: {learned:?}")
    };
    assert!(client.no_grant.is_empty(), "{:?}", client.no_grant);
    assert!(client.minimal.uncovered.is_empty(), "{client:?}");
    let grant: Vec<(&str, &str)> = client.grant.iter().map(|(n, v)| (*n, v.as_str())).collect();
    // The CLI's writable bind and docker-py's read-only one of the same path: one entry.
    let bind = dir.display().to_string();
    assert!(
        grant.contains(&("ALLOW_BIND_MOUNTS", bind.as_str())),
        "{grant:?}"
    );
    for var in ["CONTAINERS", "NETWORKS", "POST"] {
        assert!(grant.contains(&(var, "1")), "{var} missing from {grant:?}");
    }

    // Applied alone, in enforce mode: nothing refused.
    let (run, refused) = run_with(&scope, &socket, "enforce", &grant, &python, &dir);
    run.expect("the learned grant lets the run through");
    assert!(
        refused.is_empty(),
        "refused under the learned grant: {refused:?}"
    );

    // Each variable is needed: without it, the run is refused for it.
    for (dropped, _) in &grant {
        let less: Vec<(&str, &str)> = grant
            .iter()
            .filter(|(n, _)| n != dropped)
            .cloned()
            .collect();
        let (run, refused) = run_with(&scope, &socket, "enforce", &less, &python, &dir);
        let needs: Vec<&str> = refused
            .iter()
            .flat_map(|c| &c.minimal.set)
            .map(|g| g.var)
            .collect();
        assert!(
            needs.contains(dropped),
            "without {dropped}, nothing asked for it (run: {run:?}; refused: {refused:?})"
        );
        assert!(run.is_err(), "without {dropped} the run still passed");
    }
}
