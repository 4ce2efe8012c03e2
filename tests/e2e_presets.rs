//! Each preset against the real engine: dockgate started with only `PRESET=<name>` forwards
//! every call of the client's recorded sequence (the engine may still say no: nothing can be
//! pulled here), and refuses what lies outside the preset, with the engine unchanged after.

mod harness;

use std::io::{Read, Write};
use std::time::Duration;

use dockgate::presets::{self, Preset, Replay};
use harness::docker::{ok, run, Scope};
use serde_json::Value;

/// The objects a sequence names, created on the engine for each preset.
struct Objects {
    container: String,
    container_name: String,
    network: String,
    network_name: String,
    image: String,
    image_id: String,
    volume: String,
}

impl Objects {
    fn create(scope: &Scope, image: &str, what: &str, network_name: &str) -> Objects {
        let volume = Scope::unique(&format!("{what}-data"));
        ok(scope.engine().args(["volume", "create", &volume]));
        let name = scope.container(&Scope::unique(what));
        let mount = format!("{volume}:/data");
        let mut args = vec!["run", "-d", "--name", &name, "--network", network_name];
        args.extend(["-v", &mount]);
        for label in [
            "traefik.enable=true",
            "com.docker.compose.project=demo",
            "com.docker.compose.service=web",
            "autoheal=true",
            "wud.watch=true",
            "diun.enable=true",
        ] {
            args.extend(["--label", label]);
        }
        args.extend([image, "sleep", "600"]);
        let container = ok(scope.engine().args(&args)).trim().to_string();
        let network =
            ok(scope
                .engine()
                .args(["network", "inspect", "-f", "{{.Id}}", network_name]))
            .trim()
            .to_string();
        let image_id = ok(scope
            .engine()
            .args(["image", "inspect", "-f", "{{.Id}}", image]))
        .trim()
        .to_string();
        Objects {
            container,
            container_name: name,
            network,
            network_name: network_name.into(),
            image: image.into(),
            image_id,
            volume,
        }
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{container_name}", &self.container_name)
            .replace("{container}", &self.container)
            .replace("{network_name}", &self.network_name)
            .replace("{network}", &self.network)
            .replace("{image_id}", &self.image_id)
            .replace("{image}", &self.image)
            .replace("{volume}", &self.volume)
    }

    fn remove(&self, scope: &Scope) {
        let _ = run(scope.engine().args(["rm", "-f", &self.container]), b"");
        let leftovers = run(
            scope
                .engine()
                .args(["ps", "-aq", "--filter", &format!("volume={}", self.volume)]),
            b"",
        );
        for id in String::from_utf8_lossy(&leftovers.stdout).split_whitespace() {
            let _ = run(scope.engine().args(["rm", "-f", id]), b"");
        }
        let _ = run(
            scope.engine().args(["volume", "rm", "-f", &self.volume]),
            b"",
        );
    }
}

/// Sends one call through dockgate: its status and, unless it streams, its JSON message.
fn send(
    proxy: &harness::Proxy,
    method: &str,
    target: &str,
    body: Option<&str>,
    stream: bool,
) -> (u16, String) {
    let mut conn = std::net::TcpStream::connect(proxy.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.unwrap_or_default();
    let content = if body.is_empty() && method != "POST" {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: dockgate-preset-replay\r\nConnection: close\r\n{content}\r\n{body}"
    );
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(n) => n,
            Err(e) if stream => panic!("{method} {target}: no head within 60 s: {e}"),
            Err(e) => panic!("{method} {target}: {e}"),
        };
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        // A stream's head is all it is judged by; dropping the connection ends it.
        if stream && answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let message = text
        .split_once("\r\n\r\n")
        .and_then(|(_, rest)| {
            let json = rest.find('{').map(|at| &rest[at..]).unwrap_or(rest);
            serde_json::from_str::<Value>(json.lines().next().unwrap_or("")).ok()
        })
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_default();
    (status, message)
}

fn replay(proxy: &harness::Proxy, objects: &Objects, replay: &Replay) -> (String, u16, String) {
    let call = objects.fill(&replay.call);
    let (method, target) = call.split_once(' ').unwrap();
    let body = replay.body.as_deref().map(|b| objects.fill(b));
    let (status, message) = send(proxy, method, target, body.as_deref(), replay.stream);
    (call, status, message)
}

/// Requests outside most presets, each with a body where it takes one.
const PROBES: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/v1.41/containers/json", None),
    ("GET", "/v1.41/networks", None),
    ("GET", "/v1.41/volumes", None),
    ("GET", "/v1.41/images/json", None),
    ("GET", "/v1.41/info", None),
    ("GET", "/v1.41/swarm", None),
    (
        "GET",
        "/v1.41/containers/{container}/archive?path=/etc",
        None,
    ),
    (
        "POST",
        "/v1.41/containers/{container}/exec",
        Some(r#"{"Cmd":["true"]}"#),
    ),
    ("POST", "/v1.41/containers/{container}/pause", None),
    (
        "POST",
        "/v1.41/volumes/create",
        Some(r#"{"Name":"preset-probe-never"}"#),
    ),
    (
        "POST",
        "/v1.41/containers/create?name=preset-probe-never",
        Some(r#"{"Image":"{image}","Cmd":["true"]}"#),
    ),
];

fn preset_files() -> Vec<&'static Preset> {
    presets::all().iter().filter(|p| p.file.is_some()).collect()
}

#[test]
fn each_preset_passes_its_clients_sequence_and_nothing_outside_it() {
    let Some(socket) = harness::real_engine() else {
        return;
    };
    let scope = Scope::new(&socket);
    let image = harness::test_image();
    let network_name = scope.network(&Scope::unique("preset-net"));
    ok(scope.engine().args([
        "network",
        "create",
        "--subnet",
        "10.231.40.0/24",
        &network_name,
    ]));
    let mut failures = vec![];
    for preset in preset_files() {
        let objects = Objects::create(
            &scope,
            &image,
            &format!("preset-{}", preset.name),
            &network_name,
        );
        let proxy = harness::Proxy::start(&[("PRESET", preset.name)]);
        for call in &preset.file.as_ref().unwrap().replay {
            let (call, status, message) = replay(&proxy, &objects, call);
            // The engine never refuses a HEAD with 403 nor answers 400 without a message: those
            // are dockgate's (a HEAD answer has no body to say so), or its HTTP parser's.
            let head_refused = call.starts_with("HEAD ") && status == 403;
            let unparsed = status == 0 || (status == 400 && message.is_empty());
            if message.starts_with("dockgate: ") || head_refused || unparsed {
                failures.push(format!(
                    "{}: {call} was refused ({status}): {message}",
                    preset.name
                ));
            }
        }
        let granted = preset.profile.policy;
        for (method, target, body) in PROBES {
            let target = objects.fill(target);
            let body = body.map(|b| objects.fill(b));
            let path = target.split('?').next().unwrap();
            let parsed = dockgate::api::Target::parse(path).unwrap();
            let refuses = granted
                .decide(dockgate::api::Method::parse(method), &parsed, None)
                .is_err();
            if !refuses {
                continue;
            }
            let (status, message) = send(&proxy, method, &target, body.as_deref(), false);
            if status != 403 || !message.starts_with("dockgate: ") {
                failures.push(format!(
                    "{}: {method} {target} is outside the preset but got {status} {message}",
                    preset.name
                ));
            }
        }
        drop(proxy);
        objects.remove(&scope);
    }
    // The probes changed nothing.
    let probe = run(scope.engine().args(["inspect", "preset-probe-never"]), b"");
    assert!(!probe.status.success(), "a probe created a container");
    let volume = run(
        scope
            .engine()
            .args(["volume", "inspect", "preset-probe-never"]),
        b"",
    );
    assert!(!volume.status.success(), "a probe created a volume");
    assert!(failures.is_empty(), "{failures:#?}");
}
