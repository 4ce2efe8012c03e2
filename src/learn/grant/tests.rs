use super::*;
use crate::needs::{Grant, Item};

fn on(var: &'static str) -> Grant {
    Grant::on(var)
}

fn one(var: &'static str, value: &str) -> Item {
    Item::one(Grant::value(var, value))
}

fn either(choices: &[&[&'static str]]) -> Item {
    Item {
        choices: choices
            .iter()
            .map(|c| c.iter().map(|v| on(v)).collect())
            .collect(),
    }
}

fn set(items: &[Item]) -> String {
    let minimal = minimal(items, &Profile::nothing());
    assert!(minimal.uncovered.is_empty(), "{:?}", minimal.uncovered);
    text(&minimal)
}

fn text(minimal: &Minimal) -> String {
    let grants: Vec<String> = minimal.set.iter().map(ToString::to_string).collect();
    grants.join(" ")
}

/// What a start asks for with no grant: `ALLOW_START=1|CONTAINERS=1+POST=1`.
fn start() -> Item {
    either(&[&["ALLOW_START"], &["CONTAINERS", "POST"]])
}

#[test]
fn an_alternative_takes_the_narrow_grant_unless_the_broad_one_is_needed_anyway() {
    assert_eq!(set(&[start()]), "ALLOW_START=1");
    let create = [Item::one(on("CONTAINERS")), Item::one(on("POST"))];
    let mut run = create.to_vec();
    run.push(start());
    assert_eq!(set(&run), "CONTAINERS=1 POST=1");
    // Order of arrival does not matter.
    run.rotate_left(2);
    assert_eq!(set(&run), "CONTAINERS=1 POST=1");
}

#[test]
fn a_narrow_grant_another_choice_makes_redundant_is_dropped() {
    let stop = either(&[
        &["ALLOW_STOP"],
        &["ALLOW_RESTARTS"],
        &["CONTAINERS", "POST"],
    ]);
    let restart = either(&[&["ALLOW_RESTARTS"], &["CONTAINERS", "POST"]]);
    assert_eq!(set(std::slice::from_ref(&stop)), "ALLOW_STOP=1");
    assert_eq!(set(&[stop.clone(), restart.clone()]), "ALLOW_RESTARTS=1");
    assert_eq!(set(&[restart, stop]), "ALLOW_RESTARTS=1");
}

#[test]
fn conjunctions_are_taken_whole_and_never_widened() {
    // CONTAINERS alone is needed; the start still takes its narrow grant, not POST.
    let items = [Item::one(on("CONTAINERS")), start()];
    assert_eq!(set(&items), "CONTAINERS=1 ALLOW_START=1");
    let exec = [
        Item::one(on("CONTAINERS")),
        Item::one(on("POST")),
        Item::one(on("EXEC")),
    ];
    assert_eq!(set(&exec), "CONTAINERS=1 EXEC=1 POST=1");
    assert_eq!(set(&[]), "");
}

#[test]
fn host_paths_merge_into_one_list_and_covered_ones_add_nothing() {
    let items = [
        one("ALLOW_BIND_MOUNTS", "/var/log:ro"),
        one("ALLOW_BIND_MOUNTS", "/srv/data"),
        one("ALLOW_BIND_MOUNTS", "/srv/data:ro"),
        one("ALLOW_BIND_MOUNTS", "/var/log/nginx:ro"),
        Item::one(on("CONTAINERS")),
    ];
    assert_eq!(
        set(&items),
        "CONTAINERS=1 ALLOW_BIND_MOUNTS=/srv/data,/var/log:ro"
    );
    // A writable need of a path is not met by a read-only one, nor one below it.
    let items = [
        one("ALLOW_BIND_MOUNTS", "/var/log:ro"),
        one("ALLOW_BIND_MOUNTS", "/var/log/app"),
    ];
    assert_eq!(set(&items), "ALLOW_BIND_MOUNTS=/var/log:ro,/var/log/app");
}

#[test]
fn a_path_below_a_writable_one_is_reported_not_granted() {
    let items = [
        one("ALLOW_BIND_MOUNTS", "/srv"),
        one("ALLOW_BIND_MOUNTS", "/srv/data:ro"),
    ];
    let minimal = minimal(&items, &Profile::nothing());
    assert_eq!(text(&minimal), "ALLOW_BIND_MOUNTS=/srv");
    assert_eq!(minimal.uncovered.len(), 1);
    assert!(minimal.uncovered[0].contains("/srv/data lies below /srv"));
}

#[test]
fn list_variables_keep_what_the_grant_had() {
    let mut base = Profile::nothing();
    base.body.caps = vec!["CHOWN".into()];
    base.body.bind_mounts = vec![Prefix::parse("/etc/app:ro").unwrap()];
    let items = [
        one("ALLOW_CAPS", "NET_ADMIN"),
        one("ALLOW_CAPS", "SYS_TIME"),
        one("ALLOW_CAPS", "NET_ADMIN"),
        one("ALLOW_BIND_MOUNTS", "/srv"),
    ];
    assert_eq!(
        text(&minimal(&items, &base)),
        "ALLOW_CAPS=CHOWN,NET_ADMIN,SYS_TIME ALLOW_BIND_MOUNTS=/etc/app:ro,/srv"
    );
}

#[test]
fn body_switches_follow_the_flags() {
    let items = [
        Item::one(on("ALLOW_PRIVILEGED")),
        Item::one(on("POST")),
        Item::one(on("CONTAINERS")),
    ];
    assert_eq!(set(&items), "CONTAINERS=1 POST=1 ALLOW_PRIVILEGED=1");
}
