//! Write access that cannot become root, against the real engine: with `CONTAINERS=1 POST=1`
//! every way to own the host through a container is refused with dockgate's message, raw bodies
//! with case tricks and duplicate keys included, while ordinary containers still run.

mod harness;

use std::io::{Read, Write};
use std::process::{Command, Output};

fn docker(proxy: &harness::Proxy, args: &[&str]) -> Output {
    Command::new("docker")
        .args(["-H", &proxy.docker_host()])
        .args(args)
        .output()
        .unwrap()
}

fn shown(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Sends one raw request and returns the whole answer.
fn raw(proxy: &harness::Proxy, method: &str, path: &str, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(proxy.addr).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn containers_and_post_cannot_create_a_container_that_owns_the_host() {
    let Some(_) = harness::real_engine_with_images(&[&harness::test_image()]) else {
        return;
    };
    let proxy = harness::Proxy::start(&[("CONTAINERS", "1"), ("POST", "1")]);
    let image = harness::test_image();
    let cases: [(&[&str], &str); 7] = [
        (&["--privileged"], "HostConfig.Privileged=true is not allowed; set ALLOW_PRIVILEGED=1"),
        (&["-v", "/:/host"], "HostConfig.Binds \"/:/host\" mounts host path /, which is not allowed; add it to ALLOW_BIND_MOUNTS"),
        (&["--mount", "type=bind,source=/etc,target=/h"], "mounts host path /etc, which is not allowed; add it to ALLOW_BIND_MOUNTS"),
        (&["--pid=host"], "HostConfig.PidMode=host is not allowed; set ALLOW_HOST_NAMESPACES=1"),
        (&["--cap-add=SYS_ADMIN"], "HostConfig.CapAdd SYS_ADMIN is not allowed; add it to ALLOW_CAPS"),
        (&["--device", "/dev/null"], "HostConfig.Devices is not allowed; set ALLOW_DEVICES=1"),
        (&["--security-opt", "seccomp=unconfined"], "HostConfig.SecurityOpt \"seccomp=unconfined\" is not allowed; set ALLOW_SECURITY_OPTS=1"),
    ];
    for (flags, message) in cases {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend(flags);
        args.extend([image.as_str(), "true"]);
        let out = docker(&proxy, &args);
        let text = shown(&out);
        assert!(!out.status.success(), "{flags:?} ran: {text}");
        assert!(
            text.contains("Error response from daemon: dockgate: ") && text.contains(message),
            "{flags:?}: {text}"
        );
    }
    let out = docker(
        &proxy,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "echo",
            "ordinary",
        ],
    );
    assert!(
        out.status.success() && shown(&out).contains("ordinary"),
        "{}",
        shown(&out)
    );
}

#[test]
fn raw_bodies_with_case_tricks_and_duplicate_keys_are_refused() {
    let Some(_) = harness::real_engine_with_images(&[&harness::test_image()]) else {
        return;
    };
    let proxy = harness::Proxy::start(&[("CONTAINERS", "1"), ("POST", "1")]);
    let image = harness::test_image();
    let cases = [
        (
            format!(r#"{{"Image":"{image}","hostconfig":{{"privileged":true}}}}"#),
            "403",
            "set ALLOW_PRIVILEGED=1",
        ),
        (
            format!(r#"{{"Image":"{image}","HostConfig":{{"Privil\u0065ged":true}}}}"#),
            "403",
            "set ALLOW_PRIVILEGED=1",
        ),
        (
            format!(r#"{{"Image":"{image}","HOSTCONFIG":{{"BINDS":["/:/host"]}}}}"#),
            "403",
            "ALLOW_BIND_MOUNTS",
        ),
        (
            format!(
                r#"{{"Image":"{image}","HostConfig":{{"Privileged":false,"Privileged":true}}}}"#
            ),
            "400",
            "appears twice",
        ),
        (
            format!(
                r#"{{"Image":"{image}","HostConfig":{{"Privileged":false,"privileged":true}}}}"#
            ),
            "400",
            "differ only by case",
        ),
        (
            format!(
                r#"{{"Image":"{image}","HostConfig":{{}},"hostConfig":{{"Privileged":true}}}}"#
            ),
            "400",
            "differ only by case",
        ),
        (
            format!("{{\"Image\":\"{image}\",\"HostConfig\":{{\"Bind\u{17f}\":[\"/:/host\"]}}}}"),
            "400",
            "is not ASCII",
        ),
    ];
    for (body, status, message) in cases {
        let answer = raw(&proxy, "POST", "/v1.41/containers/create", &body);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{body}: {answer}"
        );
        assert!(
            answer.contains("content-type: application/json\r\n") && answer.contains(message),
            "{body}: {answer}"
        );
    }
}

#[test]
fn bind_mount_volumes_are_refused_and_named_volumes_work() {
    let Some(socket) = harness::real_engine_with_images(&[&harness::test_image()]) else {
        return;
    };
    let proxy = harness::Proxy::start(&[("CONTAINERS", "1"), ("VOLUMES", "1"), ("POST", "1")]);
    let out = docker(
        &proxy,
        &[
            "volume",
            "create",
            "--opt",
            "type=none",
            "--opt",
            "o=bind",
            "--opt",
            "device=/",
            "dg-bp-bad",
        ],
    );
    assert!(
        shown(&out)
            .contains("dockgate: DriverOpts device=/ mounts host path /, which is not allowed"),
        "{}",
        shown(&out)
    );
    let name = format!("dg-bp-named-{}", std::process::id());
    let out = docker(
        &proxy,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("{name}:/data"),
            &harness::test_image(),
            "true",
        ],
    );
    assert!(out.status.success(), "{}", shown(&out));
    let _ = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .args(["volume", "rm", &name])
        .output();
}

#[test]
fn binds_into_allowed_prefixes_work() {
    let Some(_) = harness::real_engine_with_images(&[&harness::test_image()]) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("dg-bp-allowed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello"), "from the host").unwrap();
    let allowed = format!("{}:ro", dir.display());
    let proxy = harness::Proxy::start(&[
        ("CONTAINERS", "1"),
        ("POST", "1"),
        ("ALLOW_BIND_MOUNTS", &allowed),
    ]);
    let image = harness::test_image();
    let read_only = format!("{}:/d:ro", dir.display());
    let out = docker(
        &proxy,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &read_only,
            &image,
            "cat",
            "/d/hello",
        ],
    );
    assert!(
        out.status.success() && shown(&out).contains("from the host"),
        "{}",
        shown(&out)
    );
    let read_write = format!("{}:/d", dir.display());
    let out = docker(
        &proxy,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &read_write,
            &image,
            "true",
        ],
    );
    assert!(
        shown(&out).contains("read-write; ALLOW_BIND_MOUNTS allows it read-only"),
        "{}",
        shown(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
