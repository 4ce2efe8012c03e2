use super::*;

const NOBODY: Ids = Ids {
    uid: 65534,
    gid: 65534,
};

fn sock(uid: u32, gid: u32, mode: u32) -> Result<SocketOwnership, String> {
    Ok(SocketOwnership { uid, gid, mode })
}

fn path() -> &'static Path {
    Path::new("/var/run/docker.sock")
}

#[test]
fn non_root_never_switches() {
    assert_eq!(
        plan(1000, NOBODY, path(), sock(0, 999, 0o660)),
        Ok(Plan::Keep)
    );
    assert_eq!(
        plan(1000, NOBODY, path(), Err("missing".into())),
        Ok(Plan::Keep)
    );
}

#[test]
fn root_drops_to_run_as_with_only_the_socket_group() {
    assert_eq!(
        plan(0, NOBODY, path(), sock(0, 999, 0o660)),
        Ok(Plan::Drop {
            ids: NOBODY,
            groups: vec![999]
        })
    );
    let ids = Ids {
        uid: 1234,
        gid: 5678,
    };
    assert_eq!(
        plan(0, ids, path(), sock(0, 121, 0o660)),
        Ok(Plan::Drop {
            ids,
            groups: vec![121]
        })
    );
}

#[test]
fn world_accessible_socket_needs_no_group() {
    assert_eq!(
        plan(0, NOBODY, path(), sock(0, 0, 0o666)),
        Ok(Plan::Drop {
            ids: NOBODY,
            groups: vec![]
        })
    );
}

#[test]
fn docker_desktop_socket_is_refused_unless_run_as_root() {
    let err = plan(0, NOBODY, path(), sock(0, 0, 0o755)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("owned by 0:0 with mode 0755"), "{text}");
    assert!(text.contains("RUN_AS=0"), "{text}");
    assert_eq!(
        plan(0, Ids { uid: 0, gid: 0 }, path(), sock(0, 0, 0o755)),
        Ok(Plan::StayRoot)
    );
}

#[test]
fn group_zero_is_refused_even_when_group_writable() {
    let err = plan(0, NOBODY, path(), sock(0, 0, 0o660)).unwrap_err();
    assert!(matches!(err, DropError::RootOnlySocket { .. }));
}

#[test]
fn socket_without_group_write_is_refused() {
    assert!(plan(0, NOBODY, path(), sock(0, 999, 0o640)).is_err());
}

#[test]
fn missing_socket_as_root_is_explained() {
    let err = plan(0, NOBODY, path(), Err("No such file or directory".into())).unwrap_err();
    assert!(err.to_string().contains("/var/run/docker.sock"));
    assert!(err.to_string().contains("No such file"));
}

#[test]
fn denial_explanation_names_owner_mode_ids_and_fix() {
    let o = SocketOwnership {
        uid: 0,
        gid: 998,
        mode: 0o660,
    };
    let line = explain_denied(path(), o, 1000, &[1000]).unwrap();
    assert_eq!(
        line,
        "the Docker socket /var/run/docker.sock is owned by 0:998 with mode 0660 and dockgate \
         runs as uid 1000 with groups [1000]; add the socket's group to the container: \
         group_add: [\"998\"]"
    );
    assert_eq!(explain_denied(path(), o, 1000, &[1000, 998]), None);
    let desktop = SocketOwnership {
        uid: 0,
        gid: 0,
        mode: 0o755,
    };
    assert!(explain_denied(path(), desktop, 1000, &[1000])
        .unwrap()
        .contains("only root"));
}

#[test]
fn denial_advice_fits_a_host() {
    let o = SocketOwnership {
        uid: 0,
        gid: 998,
        mode: 0o660,
    };
    let line = explain_denied_in(Place::Host, path(), o, 1000, &[1000]).unwrap();
    assert!(!line.contains("group_add"), "{line}");
    assert!(
        line.contains("add the user to the socket's group 998"),
        "{line}"
    );
    assert!(
        line.contains("dockgate exec --user 1000 -- dockgate"),
        "{line}"
    );
    let root_only = SocketOwnership { mode: 0o600, ..o };
    let line = explain_denied_in(Place::Host, path(), root_only, 1000, &[1000]).unwrap();
    assert!(
        line.contains("only root") && line.contains("RUN_AS=0"),
        "{line}"
    );
    assert_eq!(
        explain_denied_in(Place::Host, path(), o, 1000, &[998]),
        None
    );
}

#[test]
fn denial_advice_fits_a_container() {
    let o = SocketOwnership {
        uid: 0,
        gid: 998,
        mode: 0o660,
    };
    let line = explain_denied_in(Place::Container, path(), o, 65534, &[65534]).unwrap();
    assert!(line.ends_with("group_add: [\"998\"]"), "{line}");
}

#[test]
fn containers_are_told_from_hosts() {
    assert_eq!(Place::from_facts(true, ""), Place::Container);
    assert_eq!(
        Place::from_facts(false, "0::/system.slice/docker-4f1c.scope\n"),
        Place::Container
    );
    assert_eq!(
        Place::from_facts(false, "12:pids:/kubepods/besteffort/pod1\n"),
        Place::Container
    );
    assert_eq!(Place::from_facts(false, "0::/init.scope\n"), Place::Host);
    assert_eq!(Place::from_facts(false, ""), Place::Host);
}

#[test]
fn an_absent_socket_names_socket_path_and_whether_an_engine_runs() {
    let missing = |place, seen| explain_absent(path(), &SocketState::Missing, place, seen);
    let host_none = missing(Place::Host, false).unwrap();
    assert!(
        host_none.starts_with("SOCKET_PATH=/var/run/docker.sock does not exist; no dockerd"),
        "{host_none}"
    );
    assert!(host_none.contains("start the engine"), "{host_none}");
    let host_running = missing(Place::Host, true).unwrap();
    assert!(
        host_running.contains("a dockerd process is running"),
        "{host_running}"
    );
    let container = missing(Place::Container, false).unwrap();
    assert!(
        container.contains("cannot be seen from this container"),
        "{container}"
    );
    assert!(
        container.contains("-v /var/run/docker.sock:/var/run/docker.sock"),
        "{container}"
    );
    let dir = explain_absent(path(), &SocketState::Directory, Place::Container, false).unwrap();
    assert!(
        dir.starts_with("SOCKET_PATH=/var/run/docker.sock is a directory"),
        "{dir}"
    );
    assert!(dir.contains("bind mount's source is missing"), "{dir}");
    let file = explain_absent(path(), &SocketState::NotASocket, Place::Host, false).unwrap();
    assert!(file.contains("is not a unix socket"), "{file}");
    let socket = SocketState::Socket(SocketOwnership {
        uid: 0,
        gid: 0,
        mode: 0o660,
    });
    assert_eq!(explain_absent(path(), &socket, Place::Host, false), None);
    let closed = SocketState::Unreadable("Permission denied".into());
    assert_eq!(explain_absent(path(), &closed, Place::Host, false), None);
}

#[test]
fn socket_state_tells_missing_directories_and_files_apart() {
    let dir = std::env::temp_dir().join(format!("dockgate-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(SocketState::of(&dir.join("none")), SocketState::Missing);
    assert_eq!(SocketState::of(&dir), SocketState::Directory);
    std::fs::write(dir.join("file"), "").unwrap();
    assert_eq!(SocketState::of(&dir.join("file")), SocketState::NotASocket);
    let _l = std::os::unix::net::UnixListener::bind(dir.join("sock"));
    assert!(matches!(
        SocketState::of(&dir.join("sock")),
        SocketState::Socket(_)
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn admits_follows_unix_permission_order() {
    let o = SocketOwnership {
        uid: 10,
        gid: 20,
        mode: 0o660,
    };
    assert!(o.admits(10, &[]));
    assert!(o.admits(11, &[20]));
    assert!(!o.admits(11, &[21]));
    assert!(o.admits(0, &[]));
    assert!(SocketOwnership {
        uid: 10,
        gid: 20,
        mode: 0o606
    }
    .admits(99, &[]));
}
