//! Every preset, judged without an engine by the code the proxy runs: each call of its client's
//! recorded sequence is allowed, and each variable the preset leaves on is needed by at least one
//! of those calls (switching it off alone refuses one). `tests/e2e_presets.rs` replays the same
//! sequences through dockgate against the real engine.

use dockgate::api::{all_routes, Method, Target};
use dockgate::config::grant_apply;
use dockgate::inspect::{check, EngineDefaults, Facts};
use dockgate::policy::{requires, Flags};
use dockgate::presets::{self, Preset, Replay};
use dockgate::profile::Profile;

/// Stand-ins for the objects the real-engine test creates.
fn fill(text: &str) -> String {
    text.replace("{container_name}", "preset-web")
        .replace("{container}", "0123456789ab")
        .replace("{network_name}", "preset-net")
        .replace("{network}", "fedcba987654")
        .replace("{image_id}", "sha256:5d0da3dc9764")
        .replace("{image}", "dockgate-test-busybox:latest")
        .replace("{volume}", "preset-data")
}

/// Why `profile` refuses the call, or `None` when it allows it.
fn refusal(profile: &Profile, replay: &Replay) -> Option<String> {
    let call = fill(&replay.call);
    let (method, target) = call.split_once(' ').expect("METHOD /path");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let target = match Target::parse(path) {
        Ok(target) => target,
        Err(e) => return Some(format!("{call}: {e}")),
    };
    let allowed = match profile.policy.decide(Method::parse(method), &target, None) {
        Ok(allowed) => allowed,
        Err(refusal) => return Some(format!("{call} {refusal}")),
    };
    let inspection = allowed.route.inspection?;
    let subject = target.path().split('/').nth(2);
    let body = replay.body.as_deref().map(fill).unwrap_or_default();
    let facts = Facts::closed(EngineDefaults::for_release(Some("20.10.24"), true, "runc"));
    match check(
        inspection,
        subject,
        query,
        body.as_bytes(),
        &profile.body,
        &facts,
    ) {
        Err(e) => Some(format!("{call}: ambiguous: {e}")),
        Ok(j) if !j.findings.is_empty() => Some(format!("{call}: {}", j.message())),
        Ok(_) => None,
    }
}

/// Whether turning the flags `from` into `to` changes the decision on any route at all.
fn changes_a_route(from: Flags, to: Flags) -> bool {
    let allows = |granted: Flags, section, route| {
        let needs = requires(section, route);
        needs.any.iter().any(|f| granted.has(f)) || needs.all.iter().all(|f| granted.has(f))
    };
    all_routes().any(|(section, route)| allows(from, section, route) != allows(to, section, route))
}

fn files() -> Vec<&'static Preset> {
    presets::all().iter().filter(|p| p.file.is_some()).collect()
}

#[test]
fn every_preset_file_is_compiled_in_and_says_where_it_comes_from() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".toml").map(String::from))
        .collect();
    on_disk.sort();
    let mut compiled: Vec<String> = presets::FILES.iter().map(|(n, _)| n.to_string()).collect();
    compiled.sort();
    assert_eq!(on_disk, compiled, "presets/ and presets::FILES differ");
    for preset in files() {
        let file = preset.file.as_ref().unwrap();
        assert!(
            !file.version.is_empty() && !file.sources.is_empty(),
            "{}",
            preset.name
        );
        assert!(
            file.repo.contains('/'),
            "{}: repo is owner/name",
            preset.name
        );
        assert!(!file.replay.is_empty(), "{}: no replay", preset.name);
        for replay in &file.replay {
            assert!(
                !replay.source.is_empty(),
                "{}: {} has no source",
                preset.name,
                replay.call
            );
        }
    }
}

#[test]
fn each_preset_allows_its_clients_calls() {
    let mut failures = vec![];
    for preset in files() {
        for replay in &preset.file.as_ref().unwrap().replay {
            if let Some(why) = refusal(&preset.profile, replay) {
                failures.push(format!("{}: {why}", preset.name));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn each_preset_grants_nothing_its_client_does_not_call() {
    let mut failures = vec![];
    for preset in files() {
        let replays = &preset.file.as_ref().unwrap().replay;
        for (name, value) in preset.profile.entries() {
            if value == "0" {
                continue;
            }
            let off_value = if matches!(name, "ALLOW_CAPS" | "ALLOW_BIND_MOUNTS") {
                ""
            } else {
                "0"
            };
            let off = grant_apply(&preset.profile, [(name, off_value)]).unwrap();
            let (from, to) = (preset.profile.policy.granted(), off.policy.granted());
            if off.body == preset.profile.body && !changes_a_route(from, to) {
                // Like ALLOW_LOGS without CONTAINERS: on by default, opening nothing here.
                continue;
            }
            if !replays.iter().any(|r| refusal(&off, r).is_some()) {
                failures.push(format!(
                    "{}: {name}={value} is not needed by any call of the sequence",
                    preset.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn read_only_writes_nothing_and_never_reads_the_swarm_join_tokens() {
    let read_only = presets::get(presets::READ_ONLY).unwrap();
    for (section, route) in all_routes() {
        let needs = requires(section, route);
        let granted = read_only.profile.policy.granted();
        let opens =
            needs.any.iter().any(|f| granted.has(f)) || needs.all.iter().all(|f| granted.has(f));
        if opens {
            assert_eq!(
                route.access,
                dockgate::api::Access::Read,
                "{section:?} {route:?}"
            );
            assert_ne!(section, dockgate::api::Section::Swarm);
        }
    }
}

#[test]
fn the_preset_table_in_the_docs_names_every_preset_and_its_version() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/clients.md")).unwrap();
    for preset in files() {
        let file = preset.file.as_ref().unwrap();
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", preset.name)))
            .unwrap_or_else(|| panic!("docs/clients.md has no row for {}", preset.name));
        assert!(
            row.contains(&format!("{} {}", file.repo, file.version))
                || row.contains(&format!("{}) {}", file.repo, file.version)),
            "{row}"
        );
    }
}
