//! `dockgate explain` against the running proxy: every request of the corpus (`tests/corpus/`,
//! see corpus.rs) is sent through a dockgate in front of the fake engine and judged by explain's
//! function under the same grant, once with the environment's grant and once under a profile of
//! a config file; both must agree on allowed or refused, and a refusal's status and message must
//! be the same but for the client's name (the proxy sees a port explain cannot know).
//!
//! The fake engine has the strictest defaults and no objects, which is explain's
//! `Engine::Empty`: nothing may come back as depending on the engine.

mod harness;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use dockgate::access::Peer;
use dockgate::clients::Identity;
use dockgate::config::{Config, Overrides};
use dockgate::explain::{self, Asked, Engine, Verdict};
use harness::fake_engine::{Behaviour, FakeEngine};

/// The proxy's answer: its status, and the refusal's message when dockgate wrote one.
fn send(proxy: &harness::Proxy, request: &[u8]) -> (u16, Option<String>) {
    let text = proxy.exchange_raw(request);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json["message"].as_str().map(str::to_string))
        .filter(|m| m.starts_with("dockgate: "));
    (status, message)
}

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files = vec![];
    for outcome in ["refused-400", "refused-403", "forwarded"] {
        for entry in std::fs::read_dir(root.join(outcome)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.sort();
    files
}

/// `127.0.0.1:43210` (the proxy's view) and `127.0.0.1:0` (explain's) both become `CLIENT`.
fn without_client(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..at]);
        out.push_str("CLIENT");
        rest = rest[at + "127.0.0.1:".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// What one run saw: the requests, those allowed, the refusals that name a profile, and each
/// disagreement.
#[derive(Default)]
struct Run {
    count: usize,
    allowed: usize,
    named: usize,
    wrong: Vec<String>,
}

/// Runs the corpus both ways under `env`.
fn run(env: &[(&str, &str)]) -> Run {
    let engine = FakeEngine::start(Behaviour::Json);
    let mut env = env.to_vec();
    env.push(("SOCKET_PATH", engine.socket()));
    let proxy = harness::Proxy::start(&env);
    let map = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_env(&map, &Overrides::default()).unwrap();
    let identity = Identity {
        listener: format!("tcp://{}", proxy.addr).into(),
        peer: Peer::Tcp(SocketAddr::from(([127, 0, 0, 1], 0))),
        container: None,
    };
    let mut run = Run::default();
    let files = corpus();
    run.count = files.len();
    for file in &files {
        let name = file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        let request = std::fs::read(file).unwrap();
        let (status, message) = send(&proxy, &request);
        let read = Asked::from_http(&request).unwrap();
        let explained = explain::explain(
            &config.clients,
            &identity,
            &read,
            config.max_body,
            Engine::Empty,
        );
        let agree = match (&explained.verdict, &message) {
            (Verdict::Allowed { .. }, None) => {
                run.allowed += 1;
                true
            }
            (Verdict::Refused(refusal), Some(message)) => {
                run.named += usize::from(message.contains("(profile "));
                refusal.status.as_u16() == status
                    && without_client(&refusal.text()) == without_client(message)
            }
            _ => false,
        };
        if !agree {
            run.wrong.push(format!(
                "{}: the proxy answered {status} {message:?}; explain says {:?}",
                name.display(),
                explained.verdict
            ));
        }
    }
    run
}

const GRANTS: [(&str, &str); 7] = [
    ("CONTAINERS", "1"),
    ("EXEC", "1"),
    ("POST", "1"),
    ("VOLUMES", "1"),
    ("BUILD", "1"),
    ("IMAGES", "1"),
    ("PLUGINS", "1"),
];

#[tokio::test(flavor = "multi_thread")]
async fn explain_agrees_with_the_proxy_on_the_corpus_under_the_environments_grant() {
    let run = tokio::task::block_in_place(|| run(&GRANTS));
    assert!(run.count >= 59, "the corpus shrank to {}", run.count);
    assert!(run.wrong.is_empty(), "{}", run.wrong.join("\n"));
    let forwarded = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/forwarded");
    assert_eq!(run.allowed, std::fs::read_dir(forwarded).unwrap().count());
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_agrees_with_the_proxy_on_the_corpus_under_a_profile() {
    let dir = std::env::temp_dir().join(format!("dockgate-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("dockgate.toml");
    // Narrower than the environment's grant, so route refusals name the profile too.
    std::fs::write(
        &file,
        "[profiles.creator]\nCONTAINERS = 1\nPOST = 1\nVOLUMES = 1\nALLOW_CAPS = \"NET_ADMIN\"\n\n\
         [[clients]]\ncidr = \"127.0.0.0/8\"\nprofile = \"creator\"\n",
    )
    .unwrap();
    let mut env = GRANTS.to_vec();
    let path = file.display().to_string();
    env.push(("CONFIG", &path));
    let run = tokio::task::block_in_place(|| run(&env));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(run.wrong.is_empty(), "{}", run.wrong.join("\n"));
    assert!(
        run.named >= 10,
        "only {} refusals named the profile",
        run.named
    );
    assert!(run.allowed > 0);
}

/// The built binary, with only `env` for environment; its exit status and stdout.
fn cli(env: &[(&str, &str)], args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .env_clear()
        .envs(env.iter().copied())
        .arg("explain")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_command_answers_with_its_exit_status_under_a_config_file_and_a_client() {
    let dir = std::env::temp_dir().join(format!("dockgate-explain-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("dockgate.toml");
    std::fs::write(
        &file,
        "[profiles.discovery]\nCONTAINERS = 1\n\n\
         [[clients]]\ncontainer = \"traefik\"\nprofile = \"discovery\"\n\n\
         [[clients]]\nuid = 1000\nprofile = \"discovery\"\n",
    )
    .unwrap();
    let config = file.display().to_string();
    let with = |client: &str| ["--config", &config, "--client", client].map(String::from);
    let run = |client: &str, rest: &[&str], stdin: &str| {
        let mut args: Vec<String> = with(client).to_vec();
        args.extend(rest.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&[("POST", "1")], &args, stdin)
    };

    let (code, out, _) = run("traefik", &["GET", "/v1.41/containers/json"], "");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out,
        "request: GET /v1.41/containers/json\n\
         client:  traefik (profile discovery)\n\
         route:   GET /containers/json, section CONTAINERS\n\
         verdict: allowed\n\
         granted: CONTAINERS=1 in profile discovery\n"
    );

    let (code, out, _) = run("uid:1000", &["GET", "/v1.41/networks"], "");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("client:  unix:uid=1000 (profile discovery)\n"),
        "{out}"
    );
    assert!(out.contains("verdict: refused\nanswer:  403 dockgate: GET /networks is not allowed for unix:uid=1000 (profile discovery); add NETWORKS=1 to profile discovery\n"), "{out}");
    assert!(
        out.ends_with("needs:   NETWORKS=1\nfix:     add NETWORKS=1 to profile discovery\n"),
        "{out}"
    );

    // A client no rule names has the environment's grant (POST=1 here), under profile default.
    let create = r#"{"Image":"b","HostConfig":{"Privileged":true}}"#;
    let (code, out, _) = run(
        "10.9.8.7",
        &["POST", "/v1.41/containers/create", "-"],
        create,
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("fix:     set CONTAINERS=1 in the environment (the default grant)"),
        "{out}"
    );

    let borrows = r#"{"Image":"b","HostConfig":{"VolumesFrom":["db"]}}"#;
    let body = dir.join("create.json");
    std::fs::write(&body, borrows).unwrap();
    let (code, out, _) = cli(
        &[("CONTAINERS", "1"), ("POST", "1")],
        &[
            "POST",
            "/v1.41/containers/create",
            &body.display().to_string(),
        ],
        "",
    );
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("verdict: depends on the engine\nasks:    container \"db\""),
        "{out}"
    );
    assert!(out.ends_with("if none exists: allowed\n"), "{out}");

    let (code, _, err) = run("traefik", &["G ET", "/x"], "");
    assert_eq!(code, Some(2));
    assert!(err.contains("is not an HTTP method"), "{err}");
    let (code, _, err) = cli(&[("CONTAINERS", "yes please")], &["GET", "/_ping"], "");
    assert_eq!(code, Some(2));
    assert!(err.contains("CONTAINERS"), "{err}");
    let (code, _, _) = cli(&[], &["GET"], "");
    assert_eq!(code, Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
