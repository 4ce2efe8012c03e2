//! The body policy judged by its effect on the real engine: each way to own the host is first
//! shown to work straight against the engine (so the test proves the vector is real on this
//! engine), then sent through dockgate, and the engine is asked what happened: no container,
//! volume or mount exists that the grant does not name. Ordinary requests, and a Watchtower
//! recreate from inspect output, pass and do what they asked.
//!
//! Long because every leak class is shown twice: straight to the engine, then through dockgate.

mod harness;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::docker::{ok, run, Scope};
use serde_json::{json, Value};

/// One raw request through dockgate: its status and parsed JSON body (`Null` when empty).
fn send(proxy: &harness::Proxy, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(proxy.addr).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let (head, rest) = answer.split_once("\r\n\r\n").unwrap();
    let rest = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, serde_json::from_str(&rest).unwrap_or(Value::Null))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    out
}

/// The same request straight to the engine, for the baseline.
fn direct(socket: &Path, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut command = Command::new("curl");
    command.args(["-s", "-o", "-", "-w", "\n%{http_code}", "--unix-socket"]);
    command.arg(socket).args(["-X", method]);
    if let Some(body) = body {
        command.args([
            "-H",
            "Content-Type: application/json",
            "-d",
            &body.to_string(),
        ]);
    }
    command.arg(format!("http://docker{path}"));
    let out = String::from_utf8(run(&mut command, b"").stdout).unwrap();
    let (body, status) = out.rsplit_once('\n').unwrap();
    (
        status.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// A refusal's message, asserting it is dockgate's 403.
#[track_caller]
fn refused(answer: (u16, Value)) -> String {
    let message = answer.1["message"].as_str().unwrap_or_default().to_string();
    assert_eq!(answer.0, 403, "expected a refusal, got {answer:?}");
    assert!(message.starts_with("dockgate: "), "{message}");
    message
}

/// A container the operator runs straight on the engine (`sleep 300` with `flags`); its name.
fn sleeper(scope: &Scope, image: &str, what: &str, flags: &[&str]) -> String {
    let name = scope.container(&Scope::unique(what));
    let mut args = vec!["run", "-d", "--name", &name];
    args.extend(flags);
    args.extend([image, "sleep", "300"]);
    ok(scope.engine().args(&args));
    name
}

/// A user-defined network with its own subnet, removed with the scope; its name.
fn user_network(scope: &Scope, what: &str, subnet: &str) -> String {
    let network = scope.network(&Scope::unique(what));
    ok(scope
        .engine()
        .args(["network", "create", "--subnet", subnet, &network]));
    network
}

/// A container create through dockgate that must be refused and create nothing; its message.
#[track_caller]
fn refused_create(proxy: &harness::Proxy, scope: &Scope, body: &Value) -> String {
    let name = scope.container(&Scope::unique("oracle-refused"));
    let path = format!("/v1.41/containers/create?name={name}");
    let message = refused(send(proxy, "POST", &path, Some(body)));
    assert!(
        inspect(scope, "container", &name).is_none(),
        "{body} made {name}"
    );
    message
}

/// The engine's view of an object, or `None` when it does not exist.
fn inspect(scope: &Scope, kind: &str, name: &str) -> Option<Value> {
    let out = run(scope.engine().args([kind, "inspect", name]), b"");
    out.status
        .success()
        .then(|| serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone())
}

/// Volumes a test made, removed at the end.
struct Volumes<'a>(&'a Scope, Vec<String>);

impl Volumes<'_> {
    fn add(&mut self, name: &str) -> String {
        self.1.push(name.into());
        name.into()
    }
}

impl Drop for Volumes<'_> {
    fn drop(&mut self) {
        for name in &self.1 {
            // Containers still using a volume go first (the scope removes the rest later).
            let users = run(
                self.0
                    .engine()
                    .args(["ps", "-aq", "--filter", &format!("volume={name}")]),
                b"",
            );
            for id in String::from_utf8_lossy(&users.stdout).split_whitespace() {
                let _ = run(self.0.engine().args(["rm", "-f", id]), b"");
            }
            let _ = run(self.0.engine().args(["volume", "rm", "-f", name]), b"");
        }
    }
}

fn host_hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .unwrap()
        .trim()
        .to_string()
}

fn setup() -> Option<(PathBuf, Scope, String)> {
    let socket = harness::real_engine()?;
    let scope = Scope::new(&socket);
    Some((socket, scope, harness::test_image()))
}

#[test]
fn host_config_fields_outside_host_config_are_refused_and_create_nothing() {
    let Some((socket, scope, image)) = setup() else {
        return;
    };
    let proxy = harness::Proxy::start(&[("CONTAINERS", "1"), ("POST", "1")]);
    let cases = [
        (
            json!({"Privileged": true}),
            "/HostConfig/Privileged",
            json!(true),
            "ALLOW_PRIVILEGED=1",
        ),
        (
            json!({"Binds": ["/:/host"]}),
            "/HostConfig/Binds/0",
            json!("/:/host"),
            "ALLOW_BIND_MOUNTS",
        ),
        (
            json!({"HostConfig": null, "PidMode": "host"}),
            "/HostConfig/PidMode",
            json!("host"),
            "ALLOW_HOST_NAMESPACES=1",
        ),
        (
            json!({"NetworkMode": "host"}),
            "/HostConfig/NetworkMode",
            json!("host"),
            "ALLOW_HOST_NAMESPACES=1",
        ),
        (
            json!({"CapAdd": "SYS_ADMIN"}),
            "/HostConfig/CapAdd/0",
            json!("SYS_ADMIN"),
            "ALLOW_CAPS",
        ),
    ];
    for (extra, pointer, effect, grant) in cases {
        let mut body = json!({"Image": image, "Cmd": ["true"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        // The engine honours the field where it stands.
        let baseline = scope.container(&Scope::unique("oracle-top-direct"));
        let made = direct(
            &socket,
            "POST",
            &format!("/v1.41/containers/create?name={baseline}"),
            Some(&body),
        );
        assert_eq!(made.0, 201, "{made:?}");
        let stored = inspect(&scope, "container", &baseline).unwrap();
        assert_eq!(
            stored.pointer(pointer),
            Some(&effect),
            "{extra}: the engine ignores it"
        );
        // Through dockgate: refused, and nothing is created.
        let message = refused_create(&proxy, &scope, &body);
        assert!(message.contains(grant), "{extra}: {message}");
    }
}

#[test]
fn a_legacy_start_body_cannot_add_what_create_would_refuse() {
    let Some((socket, scope, image)) = setup() else {
        return;
    };
    let body = json!({"Image": image, "Cmd": ["cat", "/host/etc/hostname"], "HostConfig": {"NetworkMode": "none"}});
    let start_body = json!({"Binds": ["/:/host:ro"]});
    // API 1.23 start bodies are HostConfigs: straight to the engine, this one reads the host.
    let baseline = scope.container(&Scope::unique("oracle-start-direct"));
    direct(
        &socket,
        "POST",
        &format!("/v1.41/containers/create?name={baseline}"),
        Some(&body),
    );
    let started = direct(
        &socket,
        "POST",
        &format!("/v1.23/containers/{baseline}/start"),
        Some(&start_body),
    );
    assert_eq!(started.0, 204, "{started:?}");
    ok(scope.engine().args(["wait", &baseline]));
    assert_eq!(
        ok(scope.engine().args(["logs", &baseline])).trim(),
        host_hostname()
    );

    // With only ALLOW_START, through dockgate: refused, and the container never ran.
    let proxy = harness::Proxy::start(&[("ALLOW_START", "1")]);
    let name = scope.container(&Scope::unique("oracle-start"));
    direct(
        &socket,
        "POST",
        &format!("/v1.41/containers/create?name={name}"),
        Some(&body),
    );
    let message = refused(send(
        &proxy,
        "POST",
        &format!("/v1.23/containers/{name}/start"),
        Some(&start_body),
    ));
    assert!(message.contains("ALLOW_BIND_MOUNTS"), "{message}");
    let stored = inspect(&scope, "container", &name).unwrap();
    assert_eq!(stored["State"]["StartedAt"], "0001-01-01T00:00:00Z");
    assert_eq!(stored["HostConfig"]["Binds"], Value::Null);
    // A start without a body is what ALLOW_START is for.
    assert_eq!(
        send(
            &proxy,
            "POST",
            &format!("/v1.41/containers/{name}/start"),
            None
        )
        .0,
        204
    );
}

#[test]
fn local_volume_options_cannot_mount_the_hosts_kernel_state_or_files() {
    let Some((socket, scope, image)) = setup() else {
        return;
    };
    let mut volumes = Volumes(&scope, vec![]);
    // A procfs mounted by the engine shows the host's processes: straight to the engine, its
    // PID 1 is the host's init.
    let baseline = volumes.add(&Scope::unique("oracle-proc-direct"));
    let proc_options = json!({"type": "proc", "device": "proc"});
    direct(
        &socket,
        "POST",
        "/v1.41/volumes/create",
        Some(&json!({"Name": baseline, "DriverOpts": proc_options})),
    );
    let seen = ok(scope.engine().args([
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{baseline}:/v"),
        &image,
        "cat",
        "/v/1/comm",
    ]));
    assert_eq!(
        seen.trim(),
        std::fs::read_to_string("/proc/1/comm").unwrap().trim()
    );

    let proxy = harness::Proxy::start(&[("CONTAINERS", "1"), ("VOLUMES", "1"), ("POST", "1")]);
    for (options, grant) in [
        (proc_options.clone(), "ALLOW_PRIVILEGED=1"),
        (
            json!({"type": "cgroup2", "device": "none"}),
            "ALLOW_PRIVILEGED=1",
        ),
        (
            json!({"type": "none", "o": "bind", "device": "/"}),
            "ALLOW_BIND_MOUNTS",
        ),
        (
            json!({"type": "none", "o": "bind", "device": "etc"}),
            "ALLOW_BIND_MOUNTS=/",
        ),
        (
            json!({"type": "overlay", "device": "overlay", "o": "lowerdir=/"}),
            "ALLOW_PRIVILEGED=1",
        ),
    ] {
        let name = volumes.add(&Scope::unique("oracle-vol"));
        let message = refused(send(
            &proxy,
            "POST",
            "/v1.41/volumes/create",
            Some(&json!({"Name": name, "DriverOpts": options})),
        ));
        assert!(message.contains(grant), "{options}: {message}");
        assert!(
            inspect(&scope, "volume", &name).is_none(),
            "{options} made {name}"
        );
        // The same options inside a container's mount create the volume too.
        let container = scope.container(&Scope::unique("oracle-vol-mount"));
        let body = json!({"Image": image, "HostConfig": {"Mounts": [{"Type": "volume", "Source": name, "Target": "/v",
            "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": options}}}]}});
        refused(send(
            &proxy,
            "POST",
            &format!("/v1.41/containers/create?name={container}"),
            Some(&body),
        ));
        assert!(
            inspect(&scope, "volume", &name).is_none(),
            "{options} made {name}"
        );
        assert!(inspect(&scope, "container", &container).is_none());
    }
    // A tmpfs is only memory.
    let tmpfs = volumes.add(&Scope::unique("oracle-tmpfs"));
    let made = send(
        &proxy,
        "POST",
        "/v1.41/volumes/create",
        Some(
            &json!({"Name": tmpfs, "DriverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}),
        ),
    );
    assert_eq!(made.0, 201, "{made:?}");
    // A named volume the operator made over the host's root is as strong as its options.
    let rooted = volumes.add(&Scope::unique("oracle-rooted"));
    direct(
        &socket,
        "POST",
        "/v1.41/volumes/create",
        Some(&json!({"Name": rooted, "DriverOpts": {"type": "none", "o": "bind", "device": "/"}})),
    );
    let container = scope.container(&Scope::unique("oracle-rooted-user"));
    let body = json!({"Image": image, "HostConfig": {"Binds": [format!("{rooted}:/h:ro")]}});
    let message = refused(send(
        &proxy,
        "POST",
        &format!("/v1.41/containers/create?name={container}"),
        Some(&body),
    ));
    assert!(message.contains("ALLOW_BIND_MOUNTS"), "{message}");
    assert!(inspect(&scope, "container", &container).is_none());
}

#[test]
fn what_is_borrowed_from_another_container_is_judged_as_that_containers() {
    let Some((socket, scope, image)) = setup() else {
        return;
    };
    // Containers the operator runs with powers of their own.
    let hostnet = sleeper(
        &scope,
        &image,
        "oracle-hostnet",
        &["--network", "host", "--pid", "host"],
    );
    let rooted = sleeper(
        &scope,
        &image,
        "oracle-rooted",
        &["--network", "none", "-v", "/:/host:ro"],
    );
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();

    // Straight to the engine, borrowing reaches the host.
    let baseline = scope.container(&Scope::unique("oracle-borrow-direct"));
    let body = json!({"Image": image, "Cmd": ["readlink", "/proc/self/ns/net"], "HostConfig": {"NetworkMode": format!("container:{hostnet}")}});
    direct(
        &socket,
        "POST",
        &format!("/v1.41/containers/create?name={baseline}"),
        Some(&body),
    );
    ok(scope.engine().args(["start", "-a", &baseline]));
    assert_eq!(
        ok(scope.engine().args(["logs", &baseline])).trim(),
        host_net.to_string_lossy()
    );
    let exec = run(
        scope
            .engine()
            .args(["exec", &rooted, "cat", "/host/etc/hostname"]),
        b"",
    );
    assert_eq!(
        String::from_utf8_lossy(&exec.stdout).trim(),
        host_hostname()
    );

    let proxy = harness::Proxy::start(&[
        ("CONTAINERS", "1"),
        ("POST", "1"),
        ("EXEC", "1"),
        ("NETWORKS", "1"),
        ("BUILD", "1"),
        ("ALLOW_ARCHIVE", "1"),
    ]);
    let host_id = ok(scope
        .engine()
        .args(["network", "inspect", "-f", "{{.Id}}", "host"]))
    .trim()
    .to_string();
    for (host_config, grant) in [
        (
            json!({"NetworkMode": format!("container:{hostnet}")}),
            "ALLOW_HOST_NAMESPACES=1",
        ),
        (
            json!({"PidMode": format!("container:{hostnet}")}),
            "ALLOW_HOST_NAMESPACES=1",
        ),
        (
            json!({"PidMode": format!("container:{rooted}")}),
            "ALLOW_BIND_MOUNTS",
        ),
        (
            json!({"VolumesFrom": [format!("{rooted}:ro")]}),
            "ALLOW_BIND_MOUNTS",
        ),
        (
            json!({"NetworkMode": &host_id[..12]}),
            "ALLOW_HOST_NAMESPACES=1",
        ),
    ] {
        let body = json!({"Image": image, "HostConfig": host_config});
        let message = refused_create(&proxy, &scope, &body);
        assert!(message.contains(grant), "{host_config}: {message}");
    }
    // Running in, or reading from, a container takes what it has.
    let message = refused(send(
        &proxy,
        "POST",
        &format!("/v1.41/containers/{rooted}/exec"),
        Some(&json!({"Cmd": ["cat", "/host/etc/shadow"]})),
    ));
    assert!(message.contains("ALLOW_BIND_MOUNTS"), "{message}");
    let message = refused(send(
        &proxy,
        "GET",
        &format!("/v1.41/containers/{rooted}/archive?path=/host/etc/hostname"),
        None,
    ));
    assert!(message.contains("ALLOW_BIND_MOUNTS"), "{message}");
    // A build's RUN containers and a network connection by another name.
    let message = refused(send(
        &proxy,
        "POST",
        &format!("/v1.41/build?networkmode=container:{hostnet}"),
        None,
    ));
    assert!(message.contains("ALLOW_HOST_NAMESPACES=1"), "{message}");
    let plain = sleeper(&scope, &image, "oracle-plain", &["--network", "none"]);
    let message = refused(send(
        &proxy,
        "POST",
        &format!("/v1.41/networks/{}/connect", &host_id[..12]),
        Some(&json!({"Container": plain})),
    ));
    assert!(message.contains("ALLOW_HOST_NAMESPACES=1"), "{message}");
    // What the client made under its grant, it may run in.
    let made = send(
        &proxy,
        "POST",
        &format!("/v1.41/containers/{plain}/exec"),
        Some(&json!({"Cmd": ["true"]})),
    );
    assert_eq!(made.0, 201, "{made:?}");
}

#[test]
fn a_link_planted_below_a_writable_grant_cannot_redirect_a_mount() {
    let Some((_, scope, image)) = setup() else {
        return;
    };
    let dir = scope.dir(&Scope::unique("oracle-links"));
    let granted = dir.display().to_string();
    let proxy = harness::Proxy::start(&[
        ("CONTAINERS", "1"),
        ("POST", "1"),
        ("ALLOW_BIND_MOUNTS", &granted),
    ]);
    let docker = || harness::docker::docker(&proxy.docker_host());
    // The grant itself mounts read-write, and the client plants a link to / inside it.
    let planter = scope.container(&Scope::unique("oracle-planter"));
    ok(docker().args([
        "run",
        "--name",
        &planter,
        "--network",
        "none",
        "-v",
        &format!("{granted}:/d"),
        &image,
        "ln",
        "-s",
        "/",
        "/d/evil",
    ]));
    assert_eq!(
        std::fs::read_link(dir.join("evil")).unwrap(),
        Path::new("/")
    );
    // Straight to the engine, the link leads to the host's root.
    let seen = ok(scope.engine().args([
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{granted}/evil:/x:ro"),
        &image,
        "cat",
        "/x/etc/hostname",
    ]));
    assert_eq!(seen.trim(), host_hostname());
    // Through dockgate, nothing below a writable grant mounts, read-only or not.
    for spec in [
        format!("{granted}/evil:/x:ro"),
        format!("{granted}/evil/etc:/x"),
    ] {
        let body = json!({"Image": image, "HostConfig": {"Binds": [spec]}});
        let message = refused_create(&proxy, &scope, &body);
        assert!(
            message.contains(&format!("lies below {granted}")),
            "{message}"
        );
    }
}

#[test]
fn several_findings_are_refused_once_naming_every_grant() {
    let Some((_, scope, image)) = setup() else {
        return;
    };
    let proxy = harness::Proxy::start(&[("CONTAINERS", "1"), ("POST", "1")]);
    let body = json!({"Image": image, "HostConfig": {"Privileged": true, "Binds": ["/:/host"], "CapAdd": ["NET_ADMIN"]}});
    let message = refused_create(&proxy, &scope, &body);
    assert!(message.starts_with("dockgate: 3 problems: "), "{message}");
    assert!(
        message.ends_with(
            "To allow all of it: ALLOW_PRIVILEGED=1 ALLOW_CAPS=NET_ADMIN ALLOW_BIND_MOUNTS=/"
        ),
        "{message}"
    );
}

/// Watchtower 1.7's update of one container, request by request (pkg/container/client.go:
/// StopContainer, RenameContainer for itself, StartContainer): inspect, kill, rename, create from
/// the inspected Config, HostConfig and one endpoint, reconnect the networks, start, remove.
fn watchtower_recreate(proxy: &harness::Proxy, name: &str) -> Result<String, String> {
    let (status, info) = send(
        proxy,
        "GET",
        &format!("/v1.41/containers/{name}/json"),
        None,
    );
    assert_eq!(status, 200, "{info}");
    let image = info["Image"].as_str().unwrap().to_string();
    let (status, _) = send(proxy, "GET", &format!("/v1.41/images/{image}/json"), None);
    assert_eq!(status, 200);
    let step = |answer: (u16, Value), what: &str| -> Result<Value, String> {
        if answer.0 < 300 {
            Ok(answer.1)
        } else {
            Err(format!("{what}: {} {}", answer.0, answer.1["message"]))
        }
    };
    if info["State"]["Running"] == true {
        let signal = info["Config"]["StopSignal"].as_str().unwrap_or("SIGTERM");
        step(
            send(
                proxy,
                "POST",
                &format!("/v1.41/containers/{name}/kill?signal={signal}"),
                None,
            ),
            "kill",
        )?;
        step(
            send(
                proxy,
                "POST",
                &format!("/v1.41/containers/{name}/wait?condition=not-running"),
                None,
            ),
            "wait",
        )?;
    }
    let old = format!("{name}-old");
    step(
        send(
            proxy,
            "POST",
            &format!("/v1.41/containers/{name}/rename?name={old}"),
            None,
        ),
        "rename",
    )?;
    let mut config = info["Config"].clone();
    config["Image"] = info["Config"]["Image"].clone();
    let networks = info["NetworkSettings"]["Networks"].clone();
    let first = networks
        .as_object()
        .unwrap()
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()));
    let mut body = config;
    body["HostConfig"] = info["HostConfig"].clone();
    if let Some((network, endpoint)) = &first {
        body["NetworkingConfig"] = json!({"EndpointsConfig": {network: endpoint}});
    }
    let created = step(
        send(
            proxy,
            "POST",
            &format!("/v1.41/containers/create?name={name}"),
            Some(&body),
        ),
        "create",
    )?;
    let id = created["Id"].as_str().unwrap().to_string();
    if info["HostConfig"]["NetworkMode"] != "host" {
        for (network, endpoint) in networks.as_object().unwrap() {
            step(
                send(
                    proxy,
                    "POST",
                    &format!("/v1.41/networks/{network}/disconnect"),
                    Some(&json!({"Container": id, "Force": true})),
                ),
                "disconnect",
            )?;
            step(
                send(
                    proxy,
                    "POST",
                    &format!("/v1.41/networks/{network}/connect"),
                    Some(&json!({"Container": id, "EndpointConfig": endpoint})),
                ),
                "connect",
            )?;
        }
    }
    step(
        send(
            proxy,
            "POST",
            &format!("/v1.41/containers/{id}/start"),
            None,
        ),
        "start",
    )?;
    step(
        send(
            proxy,
            "DELETE",
            &format!("/v1.41/containers/{old}?force=1"),
            None,
        ),
        "remove",
    )?;
    Ok(id)
}

#[test]
fn a_watchtower_recreate_passes_with_the_grant_the_readme_gives_it() {
    let Some((_, scope, image)) = setup() else {
        return;
    };
    let network = user_network(&scope, "oracle-wt-net", "10.231.7.0/24");
    let mut volumes = Volumes(&scope, vec![]);
    let volume = volumes.add(&Scope::unique("oracle-wt-data"));
    let volume_spec = format!("{volume}:/data");
    let app = sleeper(
        &scope,
        &image,
        "oracle-wt-app",
        &[
            "--network",
            &network,
            "-v",
            &volume_spec,
            "--label",
            "app=1",
            "--restart",
            "unless-stopped",
            "--stop-signal",
            "SIGKILL",
        ],
    );
    scope.container(&format!("{app}-old"));
    let grant = [
        ("CONTAINERS", "1"),
        ("IMAGES", "1"),
        ("NETWORKS", "1"),
        ("POST", "1"),
    ];
    let proxy = harness::Proxy::start(&grant);
    let id = watchtower_recreate(&proxy, &app).expect("the recreate passes");
    let now = inspect(&scope, "container", &app).unwrap();
    assert_eq!(now["Id"], id.as_str());
    assert_eq!(now["State"]["Running"], true);
    assert_eq!(now["HostConfig"]["Binds"][0], format!("{volume}:/data"));
    assert!(
        now["NetworkSettings"]["Networks"].get(&network).is_some(),
        "{now}"
    );
    assert!(inspect(&scope, "container", &format!("{app}-old")).is_none());

    // With a host bind mount the same recreate needs ALLOW_BIND_MOUNTS for that path, and no more.
    let dir = scope.dir(&Scope::unique("oracle-wt-host"));
    let host = dir.display().to_string();
    let host_spec = format!("{host}:/data");
    let bound = sleeper(
        &scope,
        &image,
        "oracle-wt-bound",
        &[
            "--network",
            &network,
            "-v",
            &host_spec,
            "--stop-signal",
            "SIGKILL",
        ],
    );
    scope.container(&format!("{bound}-old"));
    let refused = watchtower_recreate(&proxy, &bound).expect_err("a host path needs its grant");
    assert!(
        refused.starts_with("create: 403") && refused.contains("add it to ALLOW_BIND_MOUNTS"),
        "{refused}"
    );
    // Undo the half-done update, then run it with the grant.
    ok(scope
        .engine()
        .args(["rename", &format!("{bound}-old"), &bound]));
    let with_path =
        harness::Proxy::start(&[grant.as_slice(), &[("ALLOW_BIND_MOUNTS", &host)]].concat());
    watchtower_recreate(&with_path, &bound).expect("the recreate passes with the path granted");
    assert_eq!(
        inspect(&scope, "container", &bound).unwrap()["State"]["Running"],
        true
    );
}

/// Dozzle 10.7's actions (internal/docker/client.go: ContainerActions) and its update
/// (ContainerInspect, ImagePull, ContainerRemove, ContainerCreate from the inspect output with
/// endpoints reduced to their aliases, ContainerStart), under the grants the README gives them.
#[test]
fn dozzles_actions_and_update_pass_with_the_grants_the_readme_gives_them() {
    let Some((_, scope, image)) = setup() else {
        return;
    };
    let network = user_network(&scope, "oracle-dz-net", "10.231.8.0/24");
    let app = sleeper(
        &scope,
        &image,
        "oracle-dz-app",
        &["--network", &network, "--stop-signal", "SIGKILL"],
    );
    let actions = harness::Proxy::start(&[
        ("CONTAINERS", "1"),
        ("INFO", "1"),
        ("ALLOW_START", "1"),
        ("ALLOW_STOP", "1"),
        ("ALLOW_RESTARTS", "1"),
    ]);
    for action in ["stop", "start", "restart"] {
        let answer = send(
            &actions,
            "POST",
            &format!("/v1.41/containers/{app}/{action}"),
            None,
        );
        assert_eq!(answer.0, 204, "{action}: {answer:?}");
    }
    let message = refused(send(
        &actions,
        "DELETE",
        &format!("/v1.41/containers/{app}"),
        None,
    ));
    assert!(message.ends_with("set POST=1"), "{message}");

    let update = harness::Proxy::start(&[
        ("CONTAINERS", "1"),
        ("INFO", "1"),
        ("IMAGES", "1"),
        ("POST", "1"),
    ]);
    let (status, info) = send(
        &update,
        "GET",
        &format!("/v1.41/containers/{app}/json"),
        None,
    );
    assert_eq!(status, 200);
    let removed = send(
        &update,
        "DELETE",
        &format!("/v1.41/containers/{app}?force=1"),
        None,
    );
    assert_eq!(removed.0, 204, "{removed:?}");
    let mut body = info["Config"].clone();
    body["HostConfig"] = info["HostConfig"].clone();
    let endpoints: serde_json::Map<String, Value> = info["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, ep)| (name.clone(), json!({"Aliases": ep["Aliases"]})))
        .collect();
    body["NetworkingConfig"] = json!({ "EndpointsConfig": endpoints });
    let created = send(
        &update,
        "POST",
        &format!("/v1.41/containers/create?name={app}"),
        Some(&body),
    );
    assert_eq!(created.0, 201, "{created:?}");
    let started = send(
        &update,
        "POST",
        &format!("/v1.41/containers/{app}/start"),
        None,
    );
    assert_eq!(started.0, 204, "{started:?}");
    let now = inspect(&scope, "container", &app).unwrap();
    assert_eq!(now["State"]["Running"], true);
    assert!(now["NetworkSettings"]["Networks"].get(&network).is_some());
}

/// The other judged routes: a container update cannot add device access, a build cannot loosen
/// its RUN containers' confinement, an image import cannot make the engine fetch a URL; the
/// engine is unchanged after each.
#[test]
fn updates_builds_and_imports_are_judged_by_what_they_would_change() {
    let Some((_, scope, image)) = setup() else {
        return;
    };
    let app = sleeper(&scope, &image, "oracle-update", &["--network", "none"]);
    let rules = json!({"DeviceCgroupRules": ["a *:* rwm"]});
    // Engine 20.10 answers 200 to this update and leaves the rules as they were (measured); the
    // update body is the Resources struct all the same, so dockgate judges it as one.
    let proxy = harness::Proxy::start(&[
        ("CONTAINERS", "1"),
        ("IMAGES", "1"),
        ("BUILD", "1"),
        ("POST", "1"),
    ]);
    let message = refused(send(
        &proxy,
        "POST",
        &format!("/v1.41/containers/{app}/update"),
        Some(&rules),
    ));
    assert!(message.ends_with("set ALLOW_DEVICES=1"), "{message}");
    assert_eq!(
        inspect(&scope, "container", &app).unwrap()["HostConfig"]["DeviceCgroupRules"],
        Value::Null
    );
    let tag = scope.image(&format!("{}:latest", Scope::unique("oracle-build")));
    let message = refused(send(
        &proxy,
        "POST",
        &format!("/v1.41/build?t={tag}&securityopt=seccomp%3Dunconfined"),
        None,
    ));
    assert!(message.ends_with("set ALLOW_SECURITY_OPTS=1"), "{message}");
    assert!(inspect(&scope, "image", &tag).is_none());
    let imported = scope.image(&format!("{}:latest", Scope::unique("oracle-import")));
    let message = refused(send(
        &proxy,
        "POST",
        &format!("/v1.41/images/create?fromSrc=http%3A%2F%2F127.0.0.1%3A1%2Fx.tar&repo={imported}"),
        None,
    ));
    assert!(message.ends_with("set ALLOW_REMOTE_FETCH=1"), "{message}");
    assert!(inspect(&scope, "image", &imported).is_none());
}
