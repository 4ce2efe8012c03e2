//! The policy decision on the real route table: match the route and check the variables, alone
//! and after canonicalising the target. `cargo bench --bench policy`.

use divan::black_box;
use dockgate::api::{Method, Target};
use dockgate::policy::{Flags, Policy};

fn main() {
    divan::main();
}

fn policy() -> Policy {
    let mut env = std::collections::BTreeMap::new();
    env.insert("CONTAINERS".to_string(), "1".to_string());
    dockgate::config::Config::from_env(&env, &Default::default())
        .unwrap()
        .policy
}

/// Cheap and costly targets: short and long paths, a greedy image name, a refusal.
const REQUESTS: &[(&str, &str)] = &[
    ("GET", "/v1.41/_ping"),
    ("GET", "/v1.41/containers/json"),
    (
        "GET",
        "/v1.41/containers/4a1236641df07731e2815fa71e9595804379e974a53df42a4cb5113a32171dfa/json",
    ),
    (
        "GET",
        "/v1.41/images/registry.example.com/team/app:1.2.3/json",
    ),
    ("POST", "/v1.41/containers/web/exec"),
    ("GET", "/v1.41/networks"),
];

/// Route match and variable check on a target already canonicalised: the decision itself.
#[divan::bench(args = REQUESTS)]
fn decide(bencher: divan::Bencher, &(method, path): &(&str, &str)) {
    let policy = policy();
    let method = Method::parse(method);
    let target = Target::parse(path).unwrap();
    bencher.bench(|| black_box(policy.decide(method, black_box(&target), None)).is_ok());
}

/// What a request pays in all: canonicalising the path, then the decision.
#[divan::bench(args = REQUESTS)]
fn parse_and_decide(bencher: divan::Bencher, &(method, path): &(&str, &str)) {
    let policy = policy();
    let method = Method::parse(method);
    bencher.bench(|| {
        let target = Target::parse(black_box(path)).unwrap();
        black_box(policy.decide(method, &target, None)).is_ok()
    });
}

#[divan::bench]
fn parse_and_decide_percent_encoded(bencher: divan::Bencher) {
    let policy = Policy::new(Flags::all_on());
    bencher.bench(|| {
        let target = Target::parse(black_box("/v1.41/%63ontainers/web/json")).unwrap();
        black_box(policy.decide(Method::Get, &target, None)).is_ok()
    });
}
