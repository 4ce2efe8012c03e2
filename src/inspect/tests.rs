use super::*;

fn create(body: &str) -> Verdict {
    check_body(
        Inspection::ContainerCreate,
        body.as_bytes(),
        &BodyPolicy::default(),
    )
}

fn create_with(body: &str, policy: &BodyPolicy) -> Verdict {
    check_body(Inspection::ContainerCreate, body.as_bytes(), policy)
}

fn message(verdict: Verdict) -> String {
    verdict.expect_err("refused").message
}

#[test]
fn an_ordinary_container_is_allowed() {
    let body = r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"none","Binds":["data:/data"],
        "Mounts":[{"Type":"volume","Source":"cache","Target":"/cache"},{"Type":"tmpfs","Target":"/tmp"}],
        "SecurityOpt":["no-new-privileges"],"CapDrop":["ALL"],"Privileged":false,"MaskedPaths":null}}"#;
    assert_eq!(create(body), Ok(()));
    assert_eq!(create(r#"{"Image":"busybox"}"#), Ok(()));
}

#[test]
fn privileged_needs_allow_privileged() {
    assert_eq!(
        message(create(r#"{"HostConfig":{"Privileged":true}}"#)),
        "HostConfig.Privileged=true is not allowed; set ALLOW_PRIVILEGED=1"
    );
    let policy = BodyPolicy {
        privileged: true,
        ..BodyPolicy::default()
    };
    assert_eq!(
        create_with(r#"{"HostConfig":{"Privileged":true}}"#, &policy),
        Ok(())
    );
}

#[test]
fn every_host_namespace_needs_allow_host_namespaces() {
    for mode in [
        "PidMode",
        "IpcMode",
        "UTSMode",
        "UsernsMode",
        "CgroupnsMode",
        "NetworkMode",
    ] {
        let body = format!(r#"{{"HostConfig":{{"{mode}":"host"}}}}"#);
        assert_eq!(
            message(create(&body)),
            format!("HostConfig.{mode}=host is not allowed; set ALLOW_HOST_NAMESPACES=1")
        );
    }
    assert_eq!(
        create(r#"{"HostConfig":{"NetworkMode":"container:abc","PidMode":"container:abc"}}"#),
        Ok(())
    );
}

#[test]
fn capabilities_need_to_be_listed() {
    assert_eq!(
        message(create(r#"{"HostConfig":{"CapAdd":["cap_sys_admin"]}}"#)),
        "HostConfig.CapAdd SYS_ADMIN is not allowed; add it to ALLOW_CAPS"
    );
    let policy = BodyPolicy {
        caps: vec!["NET_ADMIN".into()],
        ..BodyPolicy::default()
    };
    assert_eq!(
        create_with(
            r#"{"HostConfig":{"CapAdd":["CAP_NET_ADMIN","net_admin"]}}"#,
            &policy
        ),
        Ok(())
    );
    assert!(create_with(r#"{"HostConfig":{"CapAdd":["ALL"]}}"#, &policy).is_err());
    let all = BodyPolicy {
        caps: vec!["ALL".into()],
        ..BodyPolicy::default()
    };
    assert_eq!(
        create_with(r#"{"HostConfig":{"CapAdd":["ALL"]}}"#, &all),
        Ok(())
    );
}

#[test]
fn devices_need_allow_devices() {
    for field in [
        r#""Devices":[{"PathOnHost":"/dev/sda"}]"#,
        r#""DeviceCgroupRules":["a *:* rwm"]"#,
        r#""DeviceRequests":[{"Count":-1}]"#,
    ] {
        let verdict = create(&format!(r#"{{"HostConfig":{{{field}}}}}"#));
        assert!(message(verdict).ends_with("set ALLOW_DEVICES=1"), "{field}");
    }
    let update = check_body(
        Inspection::ContainerUpdate,
        br#"{"DeviceCgroupRules":["a *:* rwm"]}"#,
        &BodyPolicy::default(),
    );
    assert_eq!(
        message(update),
        "DeviceCgroupRules is not allowed; set ALLOW_DEVICES=1"
    );
}

#[test]
fn weakened_confinement_needs_allow_security_opts() {
    for field in [
        r#""SecurityOpt":["seccomp=unconfined"]"#,
        r#""SecurityOpt":["seccomp:{\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]"#,
        r#""SecurityOpt":["apparmor=unconfined"]"#,
        r#""SecurityOpt":["label=disable"]"#,
        r#""SecurityOpt":["label:type:spc_t"]"#,
        r#""SecurityOpt":["no-new-privileges=false"]"#,
        r#""MaskedPaths":[]"#,
        r#""ReadonlyPaths":[]"#,
        r#""CgroupParent":"/""#,
        r#""Sysctls":{"kernel.shm_rmid_forced":"1"}"#,
        r#""Runtime":"kata""#,
        r#""Annotations":{"a":"b"}"#,
    ] {
        let verdict = create(&format!(r#"{{"HostConfig":{{{field}}}}}"#));
        assert!(
            message(verdict).ends_with("set ALLOW_SECURITY_OPTS=1"),
            "{field}"
        );
    }
}

#[test]
fn every_bind_mount_vector_is_checked_against_the_prefixes() {
    let vectors = [
        r#"{"HostConfig":{"Binds":["/:/host"]}}"#,
        r#"{"HostConfig":{"Binds":["/etc:/etc:ro"]}}"#,
        r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}}"#,
        r#"{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/h","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]}}"#,
        r#"{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/h","VolumeOptions":{"DriverConfig":{"Options":{"type":"ext4","device":"/dev/sda1"}}}}]}}"#,
        r#"{"HostConfig":{"VolumesFrom":["other"]}}"#,
    ];
    for body in vectors {
        let refusal = create(body).expect_err(body);
        assert_eq!(
            (refusal.status, refusal.needs.as_str()),
            (403, "ALLOW_BIND_MOUNTS"),
            "{body}"
        );
    }
    let volume = check_body(
        Inspection::VolumeCreate,
        br#"{"Name":"x","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#,
        &BodyPolicy::default(),
    );
    assert_eq!(
        message(volume),
        "DriverOpts device=/ mounts host path /, which is not allowed; add it to ALLOW_BIND_MOUNTS"
    );
    let nfs =
        br#"{"Name":"x","DriverOpts":{"type":"nfs","o":"addr=10.0.0.1","device":":/export"}}"#;
    assert_eq!(
        check_body(Inspection::VolumeCreate, nfs, &BodyPolicy::default()),
        Ok(())
    );
}

#[test]
fn allowed_prefixes_open_binds_below_them_only() {
    let policy = BodyPolicy {
        bind_mounts: vec![
            Prefix::parse("/srv/data").unwrap(),
            Prefix::parse("/var/log:ro").unwrap(),
        ],
        ..BodyPolicy::default()
    };
    assert_eq!(
        create_with(
            r#"{"HostConfig":{"Binds":["/srv/data/app:/data"]}}"#,
            &policy
        ),
        Ok(())
    );
    assert_eq!(
        create_with(
            r#"{"HostConfig":{"Binds":["/var/log:/logs:ro,rprivate"]}}"#,
            &policy
        ),
        Ok(())
    );
    assert_eq!(
        message(create_with(r#"{"HostConfig":{"Binds":["/var/log:/logs"]}}"#, &policy)),
        "HostConfig.Binds \"/var/log:/logs\" mounts host path /var/log read-write; ALLOW_BIND_MOUNTS allows it read-only"
    );
    assert!(create_with(
        r#"{"HostConfig":{"Binds":["/srv/data/../../etc:/x"]}}"#,
        &policy
    )
    .is_err());
    assert!(create_with(r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/var/log","Target":"/l","ReadOnly":true}]}}"#, &policy).is_ok());
    assert_eq!(
        create_with(r#"{"HostConfig":{"VolumesFrom":["other"]}}"#, &policy),
        Ok(())
    );
}

#[test]
fn encoding_tricks_are_decoded_or_refused() {
    // Escapes decode to the field; lower-case keys are the field.
    assert!(create(r#"{"HostConfig":{"Privil\u0065ged":true}}"#).is_err());
    assert!(create(r#"{"hostconfig":{"privileged":true}}"#).is_err());
    assert!(create(r#"{"HOSTCONFIG":{"BINDS":["/:/h"]}}"#).is_err());
    // Ambiguity is a 400.
    for body in [
        r#"{"HostConfig":{"Privileged":false,"privileged":true}}"#,
        r#"{"HostConfig":{"Privileged":false},"hostConfig":{"Privileged":true}}"#,
        r#"{"HostConfig":{"Privileged":false,"Privileged":true}}"#,
        "{\"HostConfig\":{\"Bind\u{17f}\":[\"/:/h\"]}}",
        r#"{"HostConfig":{"Privileged":1}}"#,
        r#"{"HostConfig":{"Privileged":"true"}}"#,
        r#"{"Image":"x"} {"HostConfig":{"Privileged":true}}"#,
        r#"{"HostConfig":{"Binds":["/a:/b:ro:extra"]}}"#,
        "",
    ] {
        assert_eq!(create(body).map_err(|r| r.status), Err(400), "{body}");
    }
}

#[test]
fn privileged_exec_needs_allow_privileged() {
    let exec = |b: &str| check_body(Inspection::ExecCreate, b.as_bytes(), &BodyPolicy::default());
    assert_eq!(exec(r#"{"Cmd":["sh"],"User":"root"}"#), Ok(()));
    assert_eq!(
        message(exec(r#"{"Cmd":["sh"],"privileged":true}"#)),
        "Privileged=true is not allowed; set ALLOW_PRIVILEGED=1"
    );
}

#[test]
fn services_are_judged_like_containers() {
    let spec = |b: &str| {
        check_body(
            Inspection::ServiceSpec,
            b.as_bytes(),
            &BodyPolicy::default(),
        )
    };
    assert_eq!(
        spec(r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}"#),
        Ok(())
    );
    for body in [
        r#"{"TaskTemplate":{"ContainerSpec":{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}}"#,
        r#"{"TaskTemplate":{"ContainerSpec":{"CapabilityAdd":["SYS_ADMIN"]}}}"#,
        r#"{"TaskTemplate":{"ContainerSpec":{"Privileges":{"Seccomp":{"Mode":"unconfined"}}}}}"#,
        r#"{"TaskTemplate":{"ContainerSpec":{"Sysctls":{"a":"b"}}}}"#,
        r#"{"TaskTemplate":{"PluginSpec":{"Name":"x"}}}"#,
        r#"{"TaskTemplate":{"Networks":[{"Target":"host"}]}}"#,
    ] {
        assert_eq!(spec(body).map_err(|r| r.status), Err(403), "{body}");
    }
}

#[test]
fn queries_that_reach_out_or_share_the_host_are_judged() {
    let p = BodyPolicy::default();
    assert_eq!(
        check_query(Inspection::Build, "t=x&networkmode=none", &p),
        Ok(())
    );
    assert!(
        message(check_query(Inspection::Build, "networkmode=host", &p))
            .ends_with("set ALLOW_HOST_NAMESPACES=1")
    );
    assert!(
        message(check_query(Inspection::Build, "remote=https%3A%2F%2Fx", &p))
            .ends_with("set ALLOW_REMOTE_FETCH=1")
    );
    assert_eq!(
        check_query(Inspection::Build, "networkmode=none&networkmode=host", &p)
            .map_err(|r| r.status),
        Err(400)
    );
    assert_eq!(
        check_query(Inspection::ImageCreate, "fromImage=busybox&tag=latest", &p),
        Ok(())
    );
    assert_eq!(
        check_query(Inspection::ImageCreate, "fromSrc=-", &p),
        Ok(())
    );
    assert!(check_query(Inspection::ImageCreate, "fromSrc=http://x/a.tar", &p).is_err());
    assert!(
        message(check_query(Inspection::PluginInstall, "", &p)).ends_with("set ALLOW_PRIVILEGED=1")
    );
}

#[test]
fn inspected_routes_are_the_ones_that_decide_privilege() {
    let mut found = vec![];
    for (section, route) in crate::api::all_routes() {
        if let Some(kind) = inspection(section, route) {
            found.push(kind);
        }
    }
    assert_eq!(
        found
            .iter()
            .filter(|k| **k == Inspection::PluginInstall)
            .count(),
        4
    );
    assert_eq!(found.len(), 12);
}
