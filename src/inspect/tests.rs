//! The body policy's cases, one test a class of field or leak, with the engine's own answers as
//! fixtures: long because each class lists its vectors.

use super::facts::{ContainerFacts, NetworkFacts, VolumeFacts};
use super::*;

/// What judging said, flattened for assertions: 400 with the reason, 403 with the message and
/// `needs=`, or allowed.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Refused { message: String, needs: String },
    Ambiguous(String),
    Unresolved(Vec<Ref>),
}

use Outcome::Allowed;

/// An engine like the test machine's: Docker 20.10 on cgroup v1, with a few objects.
fn engine() -> Facts {
    let mut facts = Facts::closed(EngineDefaults::for_release(
        Some("20.10.24+dfsg1"),
        true,
        "runc",
    ));
    let container = |name: &str, host_config: &str| ContainerFacts {
        name: name.into(),
        host_config: json::parse(host_config.as_bytes()).unwrap(),
    };
    facts.add_container(
        "hostnet",
        Some(container(
            "hostnet",
            r#"{"NetworkMode":"host","PidMode":"host"}"#,
        )),
    );
    facts.add_container(
        "rooted",
        Some(container(
            "rooted",
            r#"{"Binds":["/:/host"],"NetworkMode":"none"}"#,
        )),
    );
    facts.add_container("priv", Some(container("priv", r#"{"Privileged":true}"#)));
    facts.add_container("plain", Some(container("plain", RECREATED_HOST_CONFIG)));
    facts.add_container(
        "chained",
        Some(container(
            "chained",
            r#"{"NetworkMode":"container:hostnet"}"#,
        )),
    );
    let host_id = "57b22131e15757e96a4922b45cccc5fe8053fc5e8793cdc5fd7ec8624105482e";
    for name in ["host", host_id, &host_id[..12]] {
        facts.add_network(
            name,
            Some(NetworkFacts {
                name: "host".into(),
                driver: "host".into(),
            }),
        );
    }
    facts.add_network(
        "fixnet",
        Some(NetworkFacts {
            name: "fixnet".into(),
            driver: "bridge".into(),
        }),
    );
    facts.add_volume(
        "vol1",
        Some(VolumeFacts {
            driver: "local".into(),
            options: vec![],
        }),
    );
    facts.add_volume(
        "hostroot",
        Some(VolumeFacts {
            driver: "local".into(),
            options: vec![
                ("type".into(), "none".into()),
                ("o".into(), "bind".into()),
                ("device".into(), "/".into()),
            ],
        }),
    );
    facts
}

/// `docker create --network fixnet -v vol1:/data busybox`'s HostConfig as Docker 20.10 on a
/// cgroup v1 host returns it from inspect: what Watchtower sends back to create.
const RECREATED_HOST_CONFIG: &str = r#"{"Binds":["vol1:/data"],"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{}},"NetworkMode":"fixnet","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"host","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"private","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":67108864,"Runtime":"runc","Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}"#;

fn outcome(
    inspection: Inspection,
    subject: Option<&str>,
    query: &str,
    body: &str,
    policy: &BodyPolicy,
    facts: &Facts,
) -> Outcome {
    match check(inspection, subject, query, body.as_bytes(), policy, facts) {
        Err(why) => Outcome::Ambiguous(why.to_string()),
        Ok(j) if !j.unresolved.is_empty() => Outcome::Unresolved(j.unresolved),
        Ok(j) if j.findings.is_empty() => Allowed,
        Ok(j) => Outcome::Refused {
            message: j.message(),
            needs: j.needs().to_string(),
        },
    }
}

fn create_with(body: &str, policy: &BodyPolicy) -> Outcome {
    outcome(
        Inspection::ContainerCreate,
        None,
        "",
        body,
        policy,
        &engine(),
    )
}

fn create(body: &str) -> Outcome {
    create_with(body, &BodyPolicy::default())
}

fn message(outcome: Outcome) -> String {
    match outcome {
        Outcome::Refused { message, .. } => message,
        other => panic!("not refused: {other:?}"),
    }
}

fn needs(outcome: Outcome) -> String {
    match outcome {
        Outcome::Refused { needs, .. } => needs,
        other => panic!("not refused: {other:?}"),
    }
}

fn is_ambiguous(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Ambiguous(_))
}

#[test]
fn an_ordinary_container_is_allowed() {
    let body = r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"none","Binds":["vol1:/data"],
        "Mounts":[{"Type":"volume","Source":"cache","Target":"/cache"},{"Type":"tmpfs","Target":"/tmp"}],
        "SecurityOpt":["no-new-privileges"],"CapDrop":["ALL"],"Privileged":false,"MaskedPaths":null}}"#;
    assert_eq!(create(body), Allowed);
    assert_eq!(create(r#"{"Image":"busybox"}"#), Allowed);
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
        Allowed
    );
}

#[test]
fn host_config_fields_at_the_top_level_are_judged_too() {
    // Engines up to 26 read these as HostConfig when "HostConfig" is absent or null.
    for (body, needed) in [
        (r#"{"Image":"b","Privileged":true}"#, "ALLOW_PRIVILEGED=1"),
        (
            r#"{"Image":"b","HostConfig":null,"Binds":["/:/host"]}"#,
            "ALLOW_BIND_MOUNTS=/",
        ),
        (
            r#"{"Image":"b","PidMode":"host"}"#,
            "ALLOW_HOST_NAMESPACES=1",
        ),
        (
            r#"{"Image":"b","NetworkMode":"host"}"#,
            "ALLOW_HOST_NAMESPACES=1",
        ),
        (
            r#"{"Image":"b","CapAdd":"SYS_ADMIN"}"#,
            "ALLOW_CAPS=SYS_ADMIN",
        ),
        (
            r#"{"Image":"b","Devices":[{"PathOnHost":"/dev/sda"}]}"#,
            "ALLOW_DEVICES=1",
        ),
        (
            r#"{"Image":"b","SecurityOpt":["apparmor=unconfined"]}"#,
            "ALLOW_SECURITY_OPTS=1",
        ),
        (r#"{"Image":"b","MaskedPaths":[]}"#, "ALLOW_SECURITY_OPTS=1"),
        (
            r#"{"Image":"b","HostConfig":{},"CgroupParent":"/"}"#,
            "ALLOW_SECURITY_OPTS=1",
        ),
    ] {
        assert_eq!(needs(create(body)), needed, "{body}");
    }
}

#[test]
fn a_legacy_start_body_is_a_host_config() {
    let start = |body: &str, query: &str| {
        outcome(
            Inspection::ContainerStart,
            Some("c"),
            query,
            body,
            &BodyPolicy::default(),
            &engine(),
        )
    };
    assert_eq!(start("", ""), Allowed);
    assert_eq!(start("{}", ""), Allowed);
    assert_eq!(
        needs(start(r#"{"Privileged":true}"#, "")),
        "ALLOW_PRIVILEGED=1"
    );
    assert_eq!(
        needs(start(r#"{"HostConfig":{"Binds":["/:/h"]}}"#, "")),
        "ALLOW_BIND_MOUNTS=/"
    );
    assert_eq!(
        needs(start("", "checkpoint-dir=/etc")),
        "ALLOW_BIND_MOUNTS=/etc:ro"
    );
}

#[test]
fn every_host_namespace_needs_allow_host_namespaces() {
    let v2 = {
        let mut facts = engine();
        facts.defaults.cgroup_v1 = false;
        facts
    };
    for mode in [
        "PidMode",
        "IpcMode",
        "UTSMode",
        "UsernsMode",
        "CgroupnsMode",
        "NetworkMode",
    ] {
        let body = format!(r#"{{"HostConfig":{{"{mode}":"host"}}}}"#);
        let judged = outcome(
            Inspection::ContainerCreate,
            None,
            "",
            &body,
            &BodyPolicy::default(),
            &v2,
        );
        assert_eq!(
            message(judged),
            format!("HostConfig.{mode}=host is not allowed; set ALLOW_HOST_NAMESPACES=1")
        );
    }
    // On cgroup v1 the host's cgroup namespace is the engine's own default.
    assert_eq!(create(r#"{"HostConfig":{"CgroupnsMode":"host"}}"#), Allowed);
}

#[test]
fn borrowed_namespaces_are_as_powerful_as_their_owner() {
    assert_eq!(
        create(r#"{"HostConfig":{"NetworkMode":"container:plain","PidMode":"container:plain"}}"#),
        Allowed
    );
    assert_eq!(
        message(create(
            r#"{"HostConfig":{"NetworkMode":"container:hostnet"}}"#
        )),
        "HostConfig.NetworkMode=container:hostnet takes from container \"hostnet\", whose \
         HostConfig.NetworkMode=host is not allowed; set ALLOW_HOST_NAMESPACES=1"
    );
    assert_eq!(
        needs(create(r#"{"HostConfig":{"PidMode":"container:hostnet"}}"#)),
        "ALLOW_HOST_NAMESPACES=1"
    );
    // Through /proc/PID/root a shared pid namespace reaches the other container's mounts.
    assert_eq!(
        needs(create(r#"{"HostConfig":{"PidMode":"container:rooted"}}"#)),
        "ALLOW_BIND_MOUNTS=/"
    );
    // A network namespace taken from one that takes it from the host's.
    assert_eq!(
        needs(create(
            r#"{"HostConfig":{"NetworkMode":"container:chained"}}"#
        )),
        "ALLOW_HOST_NAMESPACES=1"
    );
    // The host network by its id, full or short, or as an endpoint.
    for body in [
        r#"{"HostConfig":{"NetworkMode":"57b22131e157"}}"#,
        r#"{"HostConfig":{"NetworkMode":"57b22131e15757e96a4922b45cccc5fe8053fc5e8793cdc5fd7ec8624105482e"}}"#,
        r#"{"NetworkingConfig":{"EndpointsConfig":{"57b22131e157":{}}}}"#,
        r#"{"NetworkingConfig":{"EndpointsConfig":{"host":{}}}}"#,
    ] {
        assert_eq!(needs(create(body)), "ALLOW_HOST_NAMESPACES=1", "{body}");
    }
    assert_eq!(
        create(
            r#"{"HostConfig":{"NetworkMode":"fixnet"},"NetworkingConfig":{"EndpointsConfig":{"fixnet":{}}}}"#
        ),
        Allowed
    );
}

#[test]
fn what_is_not_known_yet_is_asked_for() {
    let facts = Facts::new(EngineDefaults::strictest());
    let judged = outcome(
        Inspection::ContainerCreate,
        None,
        "",
        r#"{"HostConfig":{"NetworkMode":"container:x","VolumesFrom":["y:ro"],"Binds":["v:/v"]},
            "NetworkingConfig":{"EndpointsConfig":{"n":{}}}}"#,
        &BodyPolicy::default(),
        &facts,
    );
    assert_eq!(
        judged,
        Outcome::Unresolved(vec![
            Ref::Container("x".into()),
            Ref::Volume("v".into()),
            Ref::Container("y".into()),
            Ref::Network("n".into()),
        ])
    );
}

#[test]
fn volumes_from_takes_the_other_containers_mounts() {
    assert_eq!(
        message(create(r#"{"HostConfig":{"VolumesFrom":["rooted:ro"]}}"#)),
        "HostConfig.VolumesFrom \"rooted:ro\" takes from container \"rooted\", whose \
         HostConfig.Binds \"/:/host\" mounts host path /, which is not allowed; add it to ALLOW_BIND_MOUNTS"
    );
    assert_eq!(
        needs(create(r#"{"HostConfig":{"VolumesFrom":["rooted:ro"]}}"#)),
        "ALLOW_BIND_MOUNTS=/:ro"
    );
    assert_eq!(
        create(r#"{"HostConfig":{"VolumesFrom":["plain"]}}"#),
        Allowed
    );
    assert_eq!(
        create(r#"{"HostConfig":{"VolumesFrom":["gone"]}}"#),
        Allowed
    );
}

#[test]
fn running_in_a_container_takes_what_it_has() {
    let into = |inspection, name: &str| {
        outcome(
            inspection,
            Some(name),
            "",
            if inspection == Inspection::ExecCreate {
                r#"{"Cmd":["sh"]}"#
            } else {
                ""
            },
            &BodyPolicy::default(),
            &engine(),
        )
    };
    assert_eq!(into(Inspection::ExecCreate, "plain"), Allowed);
    assert_eq!(into(Inspection::IntoContainer, "plain"), Allowed);
    assert_eq!(
        message(into(Inspection::ExecCreate, "priv")),
        "an exec takes from container \"priv\", whose HostConfig.Privileged=true is not allowed; set ALLOW_PRIVILEGED=1"
    );
    assert_eq!(
        needs(into(Inspection::IntoContainer, "rooted")),
        "ALLOW_BIND_MOUNTS=/"
    );
    assert_eq!(
        needs(into(Inspection::IntoContainer, "hostnet")),
        "ALLOW_HOST_NAMESPACES=1"
    );
}

#[test]
fn a_container_recreated_from_its_inspect_output_passes() {
    let body = format!(
        r#"{{"Image":"busybox","Cmd":["sleep","100"],"HostConfig":{RECREATED_HOST_CONFIG},
            "NetworkingConfig":{{"EndpointsConfig":{{"fixnet":{{"IPAMConfig":null,"Links":null,"Aliases":null,"NetworkID":"","EndpointID":""}}}}}}}}"#
    );
    assert_eq!(create(&body), Allowed);
    // Masking more, or the engine's list in another order, takes nothing away.
    let more =
        RECREATED_HOST_CONFIG.replace(r#""/sys/firmware"]"#, r#""/sys/firmware","/proc/extra"]"#);
    assert_eq!(create(&format!(r#"{{"HostConfig":{more}}}"#)), Allowed);
    // Leaving one out does.
    let fewer = RECREATED_HOST_CONFIG.replace(r#","/sys/firmware"]"#, "]");
    assert_eq!(
        message(create(&format!(r#"{{"HostConfig":{fewer}}}"#))),
        "HostConfig.MaskedPaths leaves out the engine's default /sys/firmware; set ALLOW_SECURITY_OPTS=1"
    );
    // A newer engine masks more: the old list is not enough there.
    let newer = {
        let mut facts = engine();
        facts.defaults = EngineDefaults::for_release(Some("28.5.1"), false, "runc");
        facts
    };
    let judged = outcome(
        Inspection::ContainerCreate,
        None,
        "",
        &format!(r#"{{"HostConfig":{RECREATED_HOST_CONFIG}}}"#),
        &BodyPolicy::default(),
        &newer,
    );
    assert_eq!(
        needs(judged),
        "ALLOW_HOST_NAMESPACES=1,ALLOW_SECURITY_OPTS=1"
    );
}

#[test]
fn the_engines_default_runtime_is_no_request() {
    let mut facts = engine();
    facts.defaults.default_runtime = "crun".into();
    let judge = |runtime: &str| {
        outcome(
            Inspection::ContainerCreate,
            None,
            "",
            &format!(r#"{{"HostConfig":{{"Runtime":"{runtime}"}}}}"#),
            &BodyPolicy::default(),
            &facts,
        )
    };
    assert_eq!(judge("crun"), Allowed);
    assert_eq!(needs(judge("kata")), "ALLOW_SECURITY_OPTS=1");
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
        Allowed
    );
    assert_eq!(
        needs(create_with(r#"{"HostConfig":{"CapAdd":["ALL"]}}"#, &policy)),
        "ALLOW_CAPS=ALL"
    );
    let all = BodyPolicy {
        caps: vec!["ALL".into()],
        ..BodyPolicy::default()
    };
    assert_eq!(
        create_with(r#"{"HostConfig":{"CapAdd":["ALL"]}}"#, &all),
        Allowed
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
    let update = outcome(
        Inspection::ContainerUpdate,
        Some("c"),
        "",
        r#"{"DeviceCgroupRules":["a *:* rwm"]}"#,
        &BodyPolicy::default(),
        &engine(),
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
    for (body, needed) in [
        (
            r#"{"HostConfig":{"Binds":["/:/host"]}}"#,
            "ALLOW_BIND_MOUNTS=/",
        ),
        (
            r#"{"HostConfig":{"Binds":["/etc:/etc:ro"]}}"#,
            "ALLOW_BIND_MOUNTS=/etc:ro",
        ),
        (
            r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}}"#,
            "ALLOW_BIND_MOUNTS=/",
        ),
        (
            r#"{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/h","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]}}"#,
            "ALLOW_BIND_MOUNTS=/",
        ),
        (
            r#"{"HostConfig":{"Binds":["hostroot:/h"]}}"#,
            "ALLOW_BIND_MOUNTS=/",
        ),
        (
            r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"hostroot","Target":"/h","ReadOnly":true}]}}"#,
            "ALLOW_BIND_MOUNTS=/:ro",
        ),
        (
            r#"{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/h","VolumeOptions":{"DriverConfig":{"Options":{"type":"ext4","device":"/dev/sda1"}}}}]}}"#,
            "ALLOW_DEVICES=1",
        ),
    ] {
        assert_eq!(needs(create(body)), needed, "{body}");
    }
}

#[test]
fn every_local_volume_option_is_judged() {
    let volume = |opts: &str| {
        outcome(
            Inspection::VolumeCreate,
            None,
            "",
            &format!(r#"{{"Name":"x","DriverOpts":{opts}}}"#),
            &BodyPolicy::default(),
            &engine(),
        )
    };
    assert_eq!(
        message(volume(r#"{"type":"none","o":"bind","device":"/"}"#)),
        "DriverOpts device=/ mounts host path /, which is not allowed; add it to ALLOW_BIND_MOUNTS"
    );
    for (opts, needed) in [
        // mount(2) resolves a relative device against the engine's working directory.
        (
            r#"{"type":"none","o":"bind","device":"etc"}"#,
            "ALLOW_BIND_MOUNTS=/",
        ),
        (
            r#"{"type":"none","o":"rbind,ro","device":"/srv/../etc"}"#,
            "ALLOW_BIND_MOUNTS=/etc:ro",
        ),
        (r#"{"type":"proc","device":"proc"}"#, "ALLOW_PRIVILEGED=1"),
        (
            r#"{"type":"cgroup2","device":"none"}"#,
            "ALLOW_PRIVILEGED=1",
        ),
        (r#"{"type":"sysfs","device":"sysfs"}"#, "ALLOW_PRIVILEGED=1"),
        (
            r#"{"type":"overlay","device":"overlay","o":"lowerdir=/,upperdir=/tmp/u,workdir=/tmp/w"}"#,
            "ALLOW_PRIVILEGED=1",
        ),
        (r#"{"type":"ext4","device":"/dev/sda1"}"#, "ALLOW_DEVICES=1"),
        (
            r#"{"type":"nfs","o":"addr=127.0.0.1","device":":/"}"#,
            "ALLOW_REMOTE_FETCH=1",
        ),
        (
            r#"{"type":"none","o":"bind,lowerdir=/","device":"/srv"}"#,
            "ALLOW_BIND_MOUNTS=/srv,ALLOW_PRIVILEGED=1",
        ),
    ] {
        assert_eq!(needs(volume(opts)), needed, "{opts}");
    }
    for opts in [
        r#"{}"#,
        r#"{"size":"10G"}"#,
        r#"{"type":"tmpfs","device":"tmpfs","o":"size=100m,uid=1000"}"#,
        // Keys the driver refuses itself.
        r#"{"unknown":"x","device":"/"}"#,
    ] {
        assert_eq!(volume(opts), Allowed, "{opts}");
    }
    // A plugin's options are the plugin's business.
    assert_eq!(
        outcome(
            Inspection::VolumeCreate,
            None,
            "",
            r#"{"Driver":"rexray","DriverOpts":{"device":"/"}}"#,
            &BodyPolicy::default(),
            &engine()
        ),
        Allowed
    );
}

#[test]
fn allowed_prefixes_open_what_links_cannot_redirect() {
    let policy = BodyPolicy {
        bind_mounts: vec![
            Prefix::parse("/srv/data").unwrap(),
            Prefix::parse("/var/log:ro").unwrap(),
        ],
        ..BodyPolicy::default()
    };
    assert_eq!(
        create_with(r#"{"HostConfig":{"Binds":["/srv/data:/data"]}}"#, &policy),
        Allowed
    );
    assert_eq!(
        create_with(
            r#"{"HostConfig":{"Binds":["/var/log/nginx:/logs:ro,rprivate"]}}"#,
            &policy
        ),
        Allowed
    );
    assert_eq!(
        message(create_with(r#"{"HostConfig":{"Binds":["/var/log:/logs"]}}"#, &policy)),
        "HostConfig.Binds \"/var/log:/logs\" mounts host path /var/log read-write; ALLOW_BIND_MOUNTS allows it read-only"
    );
    assert_eq!(
        needs(create_with(
            r#"{"HostConfig":{"Binds":["/srv/data/app:/data:ro"]}}"#,
            &policy
        )),
        "ALLOW_BIND_MOUNTS=/srv/data:ro"
    );
    assert!(matches!(
        create_with(
            r#"{"HostConfig":{"Binds":["/srv/data/../../etc:/x"]}}"#,
            &policy
        ),
        Outcome::Refused { .. }
    ));
    assert_eq!(
        create_with(
            r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/var/log","Target":"/l","ReadOnly":true}]}}"#,
            &policy
        ),
        Allowed
    );
}

#[test]
fn every_finding_is_named_in_one_answer() {
    let judged = create(
        r#"{"HostConfig":{"Privileged":true,"Binds":["/:/host"],"PidMode":"host","CapAdd":["NET_ADMIN"]}}"#,
    );
    let Outcome::Refused { message, needs } = judged else {
        panic!("{judged:?}")
    };
    assert_eq!(
        needs,
        "ALLOW_PRIVILEGED=1,ALLOW_HOST_NAMESPACES=1,ALLOW_CAPS=NET_ADMIN,ALLOW_BIND_MOUNTS=/"
    );
    assert!(
        message.starts_with("4 problems: HostConfig.Privileged=true is not allowed"),
        "{message}"
    );
    assert!(message.ends_with(
        "To allow all of it: ALLOW_PRIVILEGED=1 ALLOW_HOST_NAMESPACES=1 ALLOW_CAPS=NET_ADMIN ALLOW_BIND_MOUNTS=/"
    ));
}

#[test]
fn encoding_tricks_are_decoded_or_refused() {
    // Escapes decode to the field; lower-case keys are the field.
    assert_ne!(
        create(r#"{"HostConfig":{"Privil\u0065ged":true}}"#),
        Allowed
    );
    assert_ne!(create(r#"{"hostconfig":{"privileged":true}}"#), Allowed);
    assert_ne!(create(r#"{"HOSTCONFIG":{"BINDS":["/:/h"]}}"#), Allowed);
    // Ambiguity is a 400.
    for body in [
        r#"{"HostConfig":{"Privileged":false,"privileged":true}}"#,
        r#"{"HostConfig":{"Privileged":false},"hostConfig":{"Privileged":true}}"#,
        r#"{"HostConfig":{"Privileged":false,"Privileged":true}}"#,
        "{\"HostConfig\":{\"Bind\u{17f}\":[\"/:/h\"]}}",
        "{\"Bind\u{17f}\":[\"/:/h\"]}",
        r#"{"HostConfig":{"Privileged":1}}"#,
        r#"{"HostConfig":{"Privileged":"true"}}"#,
        r#"{"Image":"x"} {"HostConfig":{"Privileged":true}}"#,
        r#"{"HostConfig":{"Binds":["/a:/b:ro:extra"]}}"#,
        "",
    ] {
        assert!(is_ambiguous(&create(body)), "{body}");
    }
}

#[test]
fn ambiguity_does_not_depend_on_the_grant() {
    // Found by fuzzing: refused 403 under the default grant, 400 under a permissive one.
    let body = r#"{"Image":"b","HostConfig":{"SecurityOpt":["ld",")oed",55.5,"t"]}}"#;
    assert!(is_ambiguous(&create(body)));
    assert!(is_ambiguous(&create_with(body, &BodyPolicy::everything())));
}

#[test]
fn privileged_exec_needs_allow_privileged() {
    let exec = |b: &str| {
        outcome(
            Inspection::ExecCreate,
            Some("plain"),
            "",
            b,
            &BodyPolicy::default(),
            &engine(),
        )
    };
    assert_eq!(exec(r#"{"Cmd":["sh"],"User":"root"}"#), Allowed);
    assert_eq!(
        message(exec(r#"{"Cmd":["sh"],"privileged":true}"#)),
        "Privileged=true is not allowed; set ALLOW_PRIVILEGED=1"
    );
}

#[test]
fn services_are_judged_like_containers() {
    let spec = |b: &str| {
        outcome(
            Inspection::ServiceSpec,
            None,
            "",
            b,
            &BodyPolicy::default(),
            &engine(),
        )
    };
    assert_eq!(
        spec(r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}"#),
        Allowed
    );
    for (body, needed) in [
        (
            r#"{"TaskTemplate":{"ContainerSpec":{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}}"#,
            "ALLOW_BIND_MOUNTS=/",
        ),
        (
            r#"{"TaskTemplate":{"ContainerSpec":{"Mounts":[{"Type":"volume","Target":"/h","VolumeOptions":{"DriverConfig":{"Options":{"type":"proc","device":"proc"}}}}]}}}"#,
            "ALLOW_PRIVILEGED=1",
        ),
        (
            r#"{"TaskTemplate":{"ContainerSpec":{"CapabilityAdd":["SYS_ADMIN"]}}}"#,
            "ALLOW_CAPS=SYS_ADMIN",
        ),
        (
            r#"{"TaskTemplate":{"ContainerSpec":{"Privileges":{"Seccomp":{"Mode":"unconfined"}}}}}"#,
            "ALLOW_SECURITY_OPTS=1",
        ),
        (
            r#"{"TaskTemplate":{"ContainerSpec":{"Sysctls":{"a":"b"}}}}"#,
            "ALLOW_SECURITY_OPTS=1",
        ),
        (
            r#"{"TaskTemplate":{"PluginSpec":{"Name":"x"}}}"#,
            "ALLOW_PRIVILEGED=1",
        ),
        (
            r#"{"TaskTemplate":{"Networks":[{"Target":"host"}]}}"#,
            "ALLOW_HOST_NAMESPACES=1",
        ),
        (
            r#"{"TaskTemplate":{"Networks":[{"Target":"57b22131e157"}]}}"#,
            "ALLOW_HOST_NAMESPACES=1",
        ),
        (
            r#"{"Networks":[{"Target":"57b22131e15757e96a4922b45cccc5fe8053fc5e8793cdc5fd7ec8624105482e"}]}"#,
            "ALLOW_HOST_NAMESPACES=1",
        ),
    ] {
        assert_eq!(needs(spec(body)), needed, "{body}");
    }
}

#[test]
fn queries_that_reach_out_or_share_the_host_are_judged() {
    let query =
        |inspection, q: &str| outcome(inspection, None, q, "", &BodyPolicy::default(), &engine());
    assert_eq!(query(Inspection::Build, "t=x&networkmode=none"), Allowed);
    assert_eq!(query(Inspection::Build, "networkmode=fixnet"), Allowed);
    for (q, needed) in [
        ("networkmode=host", "ALLOW_HOST_NAMESPACES=1"),
        ("networkmode=57b22131e157", "ALLOW_HOST_NAMESPACES=1"),
        ("networkmode=container:hostnet", "ALLOW_HOST_NAMESPACES=1"),
        ("remote=https%3A%2F%2Fx", "ALLOW_REMOTE_FETCH=1"),
        ("cgroupparent=/", "ALLOW_SECURITY_OPTS=1"),
        (
            "securityopt=no-new-privileges&securityopt=seccomp%3Dunconfined",
            "ALLOW_SECURITY_OPTS=1",
        ),
    ] {
        assert_eq!(needs(query(Inspection::Build, q)), needed, "{q}");
    }
    assert!(is_ambiguous(&query(
        Inspection::Build,
        "networkmode=none&networkmode=host"
    )));
    assert_eq!(
        query(Inspection::ImageCreate, "fromImage=busybox&tag=latest"),
        Allowed
    );
    assert_eq!(query(Inspection::ImageCreate, "fromSrc=-"), Allowed);
    assert_eq!(
        needs(query(Inspection::ImageCreate, "fromSrc=http://x/a.tar")),
        "ALLOW_REMOTE_FETCH=1"
    );
    assert_eq!(
        needs(query(Inspection::PluginInstall, "")),
        "ALLOW_PRIVILEGED=1"
    );
}

#[test]
fn connecting_to_the_host_network_by_any_name_needs_host_namespaces() {
    let connect = |network: &str| {
        outcome(
            Inspection::NetworkConnect,
            Some(network),
            "",
            "",
            &BodyPolicy::default(),
            &engine(),
        )
    };
    assert_eq!(connect("fixnet"), Allowed);
    assert_eq!(needs(connect("57b22131e157")), "ALLOW_HOST_NAMESPACES=1");
    assert_eq!(needs(connect("host")), "ALLOW_HOST_NAMESPACES=1");
}

#[test]
fn the_permissive_grant_refuses_nothing_that_can_be_read() {
    for body in [
        r#"{"Privileged":true,"Binds":["/:/h","x:/x"],"CapAdd":"ALL","PidMode":"container:hostnet"}"#,
        r#"{"HostConfig":{"VolumesFrom":["rooted"],"Mounts":[{"Type":"volume","Source":"hostroot","Target":"/h"}]}}"#,
        r#"{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/h","VolumeOptions":{"DriverConfig":{"Options":{"type":"overlay","device":"x","o":"lowerdir=/"}}}}]}}"#,
    ] {
        assert_eq!(
            create_with(body, &BodyPolicy::everything()),
            Allowed,
            "{body}"
        );
    }
}

#[test]
fn no_grant_lets_a_client_set_the_labels_that_choose_grants() {
    for body in [
        r#"{"Image":"x","Labels":{"dockgate.profile":"admin"}}"#,
        r#"{"Image":"x","Labels":{"DockGate.Anything":""}}"#,
    ] {
        for policy in [BodyPolicy::default(), BodyPolicy::everything()] {
            let text = message(create_with(body, &policy));
            assert!(text.contains("only the operator sets them"), "{text}");
            assert_eq!(needs(create_with(body, &policy)), "", "no grant allows it");
        }
    }
    assert_eq!(
        create(r#"{"Image":"x","Labels":{"traefik.enable":"true","dockgate":"x"}}"#),
        Allowed
    );
    // With another finding: both named, and no grant offered for the whole.
    let both = message(create(
        r#"{"Image":"x","Privileged":true,"Labels":{"dockgate.profile":"admin"}}"#,
    ));
    assert!(
        both.starts_with("2 problems: ") && both.ends_with("No grant allows all of it"),
        "{both}"
    );
    let service = outcome(
        Inspection::ServiceSpec,
        None,
        "",
        r#"{"TaskTemplate":{"ContainerSpec":{"Image":"x","Labels":{"dockgate.profile":"a"}}}}"#,
        &BodyPolicy::everything(),
        &engine(),
    );
    assert!(message(service).contains("TaskTemplate.ContainerSpec.Labels"));
}
