//! No root at run time, end to end: the image, the privilege drop, the unix socket for non-root
//! clients, the entrypoint helper and the examples, against the real engine with real containers.
//!
//! Needs what `scripts/test` builds: `dockgate:latest` (Dockerfile.prebuilt, via scripts/image) with the static binary
//! it was built from, the busybox test image and a client image with the static docker CLI.
//! Without them each test says *** SKIPPED *** and returns, or fails when `CI=true`.
//!
//! Long because each test is a whole scenario with its containers, images and clean-up.

mod harness;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const IMAGE: &str = "dockgate:latest";

fn client_image() -> String {
    std::env::var("DOCKGATE_TEST_CLIENT_IMAGE").unwrap_or("dockgate-test-client:latest".into())
}

/// The static dockgate binary the image was built from, to mount into other containers.
fn static_binary() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/x86_64-unknown-linux-gnu/release/dockgate")
}

fn engine(socket: &Path) -> Command {
    let mut command = Command::new("docker");
    command.env("DOCKER_HOST", format!("unix://{}", socket.display()));
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the command runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A unique name per test and process, so parallel tests and runs never collide.
fn unique(what: &str) -> String {
    format!("dockgate-e2e-{what}-{}", std::process::id())
}

/// Removes the named containers when dropped, pass or fail.
struct Containers<'a>(&'a Path, Vec<String>);

impl Drop for Containers<'_> {
    fn drop(&mut self) {
        for name in &self.1 {
            let _ = engine(self.0).args(["rm", "-f", name]).output();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until `probe` holds; the bound only keeps a broken run from hanging.
fn wait_until(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !probe() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn proc_status(pid: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status")
}

fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{name} in status"))
}

/// The engine, when it has the images these tests run; otherwise a loud skip (`None`), or a
/// failure in CI.
fn engine_with_images() -> Option<PathBuf> {
    harness::real_engine_with_images(&[IMAGE, &client_image()])
}

/// [`engine_with_images`], and the static binary the exec helper tests mount.
fn engine_with_images_and_binary() -> Option<PathBuf> {
    let socket = engine_with_images()?;
    if !static_binary().is_file() {
        harness::skip_or_fail(&format!(
            "no static dockgate binary at {}",
            static_binary().display()
        ));
        return None;
    }
    Some(socket)
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A dockgate listening on `DIR/docker.sock` in front of the real engine, with the ownership
/// SOCKET_OWNER, SOCKET_GROUP and SOCKET_MODE in `env` give it: a socket whose group the images
/// have never seen. DIR is mounted into containers, and removed after the proxy stops.
struct UnixProxy {
    proxy: harness::Proxy,
    dir: TempDir,
}

impl UnixProxy {
    fn start(name: &str, engine: &Path, env: &[(&str, &str)]) -> UnixProxy {
        let dir = std::env::temp_dir().join(unique(name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listen = format!("unix://{}", dir.join("docker.sock").display());
        let socket_path = engine.display().to_string();
        let mut env = env.to_vec();
        env.extend([("SOCKET_PATH", socket_path.as_str()), ("LISTEN", &listen)]);
        UnixProxy {
            proxy: harness::Proxy::start(&env),
            dir: TempDir(dir),
        }
    }

    fn dir(&self) -> &Path {
        &self.dir.0
    }

    fn socket(&self) -> PathBuf {
        self.proxy.socket().to_path_buf()
    }
}

fn socket_gid(socket: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(socket).unwrap().gid()
}

#[test]
fn image_is_from_scratch_and_under_five_megabytes() {
    let Some(socket) = engine_with_images() else {
        return;
    };
    let out = run(engine(&socket).args([
        "image",
        "inspect",
        "-f",
        "{{.Size}} {{len .RootFS.Layers}}",
        IMAGE,
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let text = text(&out);
    let (size, layers) = text.trim().split_once(' ').unwrap();
    let size: u64 = size.parse().unwrap();
    assert!(size < 5_000_000, "image is {size} bytes");
    assert_eq!(layers, "1", "one layer: the binary");
}

#[test]
fn proxy_container_runs_as_nobody_with_only_the_socket_group_and_no_capabilities() {
    let Some(socket) = engine_with_images() else {
        return;
    };
    let name = unique("drop");
    let _guard = Containers(&socket, vec![name.clone()]);
    let port = free_port();
    let out = run(engine(&socket).args([
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "--read-only",
        "-e",
        &format!("LISTEN=tcp://127.0.0.1:{port}"),
        "-e",
        "CONTAINERS=1",
        "-v",
        &format!("{}:/var/run/docker.sock", socket.display()),
        IMAGE,
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let host = format!("tcp://127.0.0.1:{port}");
    wait_until("the proxy", || {
        run(Command::new("docker").args(["-H", &host, "version"]))
            .status
            .success()
    });

    let pid = text(&run(engine(&socket).args([
        "inspect",
        "-f",
        "{{.State.Pid}}",
        &name,
    ])))
    .trim()
    .to_string();
    let status = proc_status(&pid);
    assert_eq!(
        field(&status, "Uid:")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["65534"; 4]
    );
    assert_eq!(
        field(&status, "Gid:")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["65534"; 4]
    );
    assert_eq!(field(&status, "Groups:"), socket_gid(&socket).to_string());
    assert_eq!(field(&status, "CapEff:"), "0000000000000000");
    assert_eq!(field(&status, "CapPrm:"), "0000000000000000");
    assert_eq!(field(&status, "NoNewPrivs:"), "1");

    let ps = run(Command::new("docker").args(["-H", &host, "ps", "--format", "{{.Names}}"]));
    assert!(text(&ps).contains(&name), "{}", text(&ps));
    let refused = run(Command::new("docker").args(["-H", &host, "network", "ls"]));
    assert!(
        text(&refused).contains("dockgate: GET /networks is not allowed; set NETWORKS=1"),
        "{}",
        text(&refused)
    );

    let health = run(engine(&socket).args(["exec", &name, "/dockgate", "healthcheck"]));
    assert!(health.status.success(), "{}", text(&health));
}

#[test]
fn proxy_refuses_a_root_only_socket_unless_run_as_root() {
    let Some(socket) = engine_with_images() else {
        return;
    };
    // Docker Desktop's socket: root:root 0755.
    let desktop = UnixProxy::start(
        "desktop",
        &socket,
        &[
            ("SOCKET_OWNER", "0"),
            ("SOCKET_GROUP", "0"),
            ("SOCKET_MODE", "0755"),
        ],
    );
    let (refused, root) = (unique("rootonly"), unique("runasroot"));
    let _guard = Containers(&socket, vec![refused.clone(), root.clone()]);
    let mount = format!("{}:/var/run/docker.sock", desktop.socket().display());

    let out = run(engine(&socket).args([
        "run",
        "--name",
        &refused,
        "--network",
        "none",
        "-v",
        &mount,
        IMAGE,
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let log = text(&out);
    assert!(
        log.contains("is owned by 0:0 with mode 0755: only root can use it"),
        "{log}"
    );
    assert!(log.contains("set RUN_AS=0"), "{log}");

    let out = run(engine(&socket).args([
        "run",
        "-d",
        "--name",
        &root,
        "--network",
        "none",
        "-e",
        "RUN_AS=0",
        "-v",
        &mount,
        IMAGE,
    ]));
    assert!(out.status.success(), "{}", text(&out));
    wait_until("the root warning", || {
        text(&run(engine(&socket).args(["logs", &root])))
            .contains("running as root because RUN_AS=0")
    });
}

#[test]
fn non_root_proxy_without_the_socket_group_says_which_group_to_add() {
    let Some(socket) = engine_with_images() else {
        return;
    };
    let (without, with) = (unique("nogroup"), unique("groupadd"));
    let _guard = Containers(&socket, vec![without.clone(), with.clone()]);
    let mount = format!("{}:/var/run/docker.sock", socket.display());
    let gid = socket_gid(&socket).to_string();

    let out = run(engine(&socket).args([
        "run",
        "-d",
        "--name",
        &without,
        "--network",
        "none",
        "--user",
        "1000:1000",
        "-v",
        &mount,
        IMAGE,
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let expected = format!("dockgate runs as uid 1000 with groups [1000]; add the socket's group to the container: group_add: [\"{gid}\"]");
    wait_until("the explanation", || {
        text(&run(engine(&socket).args(["logs", &without]))).contains(&expected)
    });

    let out = run(engine(&socket).args([
        "run",
        "-d",
        "--name",
        &with,
        "--network",
        "none",
        "--user",
        "1000:1000",
        "--group-add",
        &gid,
        "-v",
        &mount,
        IMAGE,
    ]));
    assert!(out.status.success(), "{}", text(&out));
    wait_until("the proxy", || {
        text(&run(engine(&socket).args(["logs", &with]))).contains("listening on")
    });
    let logs = text(&run(engine(&socket).args(["logs", &with])));
    assert!(!logs.contains("group_add"), "{logs}");
}

/// Runs `dockgate exec ARGS` in a client container with `socket` mounted at /run/dg/docker.sock.
fn exec_helper(
    engine_socket: &Path,
    socket_dir: &Path,
    docker_args: &[&str],
    helper_args: &[&str],
) -> Output {
    let mut command = engine(engine_socket);
    command.args(["run", "--rm", "--read-only", "--network", "none"]);
    command.args(["-v", &format!("{}:/run/dg", socket_dir.display())]);
    command.args(["-e", "DOCKER_HOST=unix:///run/dg/docker.sock"]);
    command.args([
        "-v",
        &format!("{}:/bin/dockgate:ro", static_binary().display()),
    ]);
    command
        .args(docker_args)
        .arg(client_image())
        .args(["dockgate", "exec"])
        .args(helper_args);
    run(&mut command)
}

#[test]
fn exec_helper_steps_down_to_the_user_with_a_socket_group_the_image_never_saw() {
    let Some(socket) = engine_with_images_and_binary() else {
        return;
    };
    let proxy = UnixProxy::start(
        "exec",
        &socket,
        &[
            ("SOCKET_GROUP", "4242"),
            ("SOCKET_MODE", "0660"),
            ("CONTAINERS", "1"),
        ],
    );
    let script =
        "docker ps >/dev/null && grep -E '^(Uid|Gid|Groups):' /proc/1/status && echo pid=$$";
    let out = exec_helper(
        &socket,
        proxy.dir(),
        &[],
        &["--user", "1000", "--", "sh", "-c", script],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Uid:\t1000\t1000\t1000\t1000"), "{log}");
    assert!(log.contains("Gid:\t1000\t1000\t1000\t1000"), "{log}");
    assert!(log.contains("Groups:\t1000 4242"), "{log}");
    assert!(
        log.contains("pid=1"),
        "the command replaced the helper as PID 1: {log}"
    );

    // The command's own exit status comes through untouched.
    let out = exec_helper(
        &socket,
        proxy.dir(),
        &[],
        &["--user", "1000", "--", "sh", "-c", "exit 7"],
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
}

#[test]
fn exec_helper_ignores_group_names_when_a_docker_group_has_another_id() {
    let Some(socket) = engine_with_images_and_binary() else {
        return;
    };
    let proxy = UnixProxy::start(
        "names",
        &socket,
        &[
            ("SOCKET_GROUP", "4242"),
            ("SOCKET_MODE", "0660"),
            ("CONTAINERS", "1"),
        ],
    );
    // The image's "docker" group is 999 and gid 4242 belongs to "users": neither matters.
    let etc = proxy.dir().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("group"),
        "root:x:0:\ndocker:x:999:app\nusers:x:4242:\napp:x:1000:\n",
    )
    .unwrap();
    let mounts = [
        "-v",
        &format!("{}:/etc/passwd:ro", etc.join("passwd").display()),
        "-v",
        &format!("{}:/etc/group:ro", etc.join("group").display()),
    ];
    let out = exec_helper(
        &socket,
        proxy.dir(),
        &mounts,
        &[
            "--user",
            "app",
            "--",
            "sh",
            "-c",
            "docker ps >/dev/null && grep Groups /proc/1/status && echo $HOME",
        ],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Groups:\t999 1000 4242"), "{log}");
    assert!(log.contains("/home/app"), "{log}");
}

#[test]
fn exec_helper_failures_exit_125_with_one_line_that_says_why() {
    let Some(socket) = engine_with_images_and_binary() else {
        return;
    };
    let desktop = UnixProxy::start(
        "execroot",
        &socket,
        &[
            ("SOCKET_OWNER", "0"),
            ("SOCKET_GROUP", "0"),
            ("SOCKET_MODE", "0755"),
        ],
    );
    let empty = std::env::temp_dir().join(unique("nosocket"));
    std::fs::create_dir_all(&empty).unwrap();

    let cases: [(&Path, &[&str], &[&str], &str); 4] = [
        (
            &empty,
            &[],
            &["--user", "1000", "--", "true"],
            "is not usable: No such file or directory (os error 2); --wait 30s waits for it",
        ),
        (
            &empty,
            &[],
            &["--user", "1000", "--wait", "1s", "--", "true"],
            "is not usable: No such file or directory",
        ),
        (
            desktop.dir(),
            &[],
            &["--user", "1000", "--", "true"],
            "only root can use it, so no group can give uid 1000 access. Run dockgate as a proxy",
        ),
        (
            desktop.dir(),
            &["--user", "1000"],
            &["--user", "1000", "--", "true"],
            "must start as root to switch users, but runs as uid 1000",
        ),
    ];
    for (dir, docker_args, helper_args, expected) in cases {
        let out = exec_helper(&socket, dir, docker_args, helper_args);
        let log = text(&out);
        assert_eq!(out.status.code(), Some(125), "{helper_args:?}: {log}");
        assert!(log.contains(expected), "{helper_args:?}: {log}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "one line: {log}"
        );
    }
    let _ = std::fs::remove_dir_all(&empty);
}

/// Runs one example with docker-compose; `overlay` adapts it to this sandbox (host network,
/// loopback addresses, local images) without changing the example itself.
fn compose(socket: &Path, example: &str, overlay: &str, service: &str) -> Output {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(example);
    let project = unique(&example.replace('-', ""));
    let overlay_file = std::env::temp_dir().join(format!("{project}.override.yaml"));
    std::fs::write(&overlay_file, overlay).unwrap();
    let compose = |args: &[&str]| {
        let mut command = Command::new("docker-compose");
        command.env("DOCKER_HOST", format!("unix://{}", socket.display()));
        command
            .env("DOCKGATE_IMAGE", IMAGE)
            .env("CLIENT_IMAGE", client_image());
        command
            .env("DASHBOARD_IMAGE", client_image())
            .env("DISCOVERY_IMAGE", client_image());
        command
            .env("BASE", client_image())
            .env("APP_IMAGE", format!("{project}-app:latest"));
        command
            .args(["-p", &project, "-f"])
            .arg(dir.join("compose.yaml"))
            .arg("-f")
            .arg(&overlay_file);
        run(command.args(args))
    };
    let out = compose(&["up", "--build", "--exit-code-from", service]);
    compose(&["down", "-v"]);
    let _ = engine(socket)
        .args(["rmi", "-f", &format!("{project}-app:latest")])
        .output();
    let _ = std::fs::remove_file(&overlay_file);
    out
}

#[test]
fn example_unix_socket_serves_a_non_root_client_with_no_docker_group() {
    let Some(socket) = engine_with_images() else {
        return;
    };
    let overlay = "services:\n  client:\n    command: [\"sh\", \"-c\", \"id && docker ps --format '{{.Names}}' && ! docker network ls\"]\n";
    let out = compose(&socket, "unix-socket", overlay, "client");
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("uid=1000 gid=1000 groups=1000"), "{log}");
    assert!(
        log.contains("_dockgate_1"),
        "docker ps through the socket: {log}"
    );
    assert!(
        log.contains("dockgate: GET /networks is not allowed; set NETWORKS=1"),
        "{log}"
    );
}

/// The TCP examples, on the host network and loopback here (the sandbox has no bridge).
fn tcp_overlay(client: &str, port: u16, script: &str) -> String {
    format!(
        "services:\n  dockgate:\n    network_mode: host\n    environment:\n      LISTEN: tcp://127.0.0.1:{port}\n\
         \x20 {client}:\n    network_mode: host\n    environment:\n      DOCKER_HOST: tcp://127.0.0.1:{port}\n\
         \x20   command: [\"sh\", \"-c\", \"until docker version >/dev/null 2>&1; do sleep 0.2; done; {script}\"]\n"
    )
}

#[test]
fn example_dashboard_reads_containers_and_nothing_else() {
    let Some(socket) = engine_with_images() else {
        return;
    };
    let overlay = tcp_overlay("dashboard", free_port(), "docker ps && docker network ls");
    let out = compose(&socket, "dashboard", &overlay, "dashboard");
    let log = text(&out);
    assert!(!out.status.success(), "network ls must be refused: {log}");
    assert!(log.contains("_dockgate_1"), "{log}");
    assert!(
        log.contains("dockgate: GET /networks is not allowed; set NETWORKS=1"),
        "{log}"
    );
}

#[test]
fn example_discovery_maps_containers_and_networks() {
    let Some(socket) = engine_with_images() else {
        return;
    };
    let overlay = tcp_overlay(
        "discovery",
        free_port(),
        "docker ps && docker network ls && ! docker volume ls",
    );
    let out = compose(&socket, "discovery", &overlay, "discovery");
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("host"), "the host network is listed: {log}");
    assert!(
        log.contains("dockgate: GET /volumes is not allowed; set VOLUMES=1"),
        "{log}"
    );
}

#[test]
fn example_entrypoint_helper_runs_the_app_as_1000_with_the_socket_group() {
    let Some(socket) = engine_with_images() else {
        return;
    };
    let overlay = "services:\n  app:\n    network_mode: none\n    command: [\"sh\", \"-c\", \"docker ps >/dev/null && grep -E '^(Uid|Groups):' /proc/1/status\"]\n";
    let out = compose(&socket, "entrypoint-helper", overlay, "app");
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Uid:\t1000\t1000\t1000\t1000"), "{log}");
    // The kernel keeps supplementary groups sorted.
    let mut groups = [1000, socket_gid(&socket)];
    groups.sort_unstable();
    assert!(
        log.contains(&format!("Groups:\t{} {}", groups[0], groups[1])),
        "{log}"
    );
}
