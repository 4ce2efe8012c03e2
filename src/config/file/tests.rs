use super::*;
use crate::access::Peer;
use crate::clients::{Container, Identity};

fn listeners() -> Vec<ListenAddr> {
    vec![
        parse_listen("LISTEN", "tcp://0.0.0.0:2375").unwrap(),
        parse_listen("LISTEN", "unix:///run/dockgate/traefik.sock").unwrap(),
    ]
}

fn load_text(text: &str) -> Result<Loaded, FileError> {
    parse("dockgate.toml", text, &Profile::defaults(), &listeners())
}

fn error(text: &str) -> FileError {
    load_text(text).expect_err("the file is refused")
}

fn client(name: &str, ip: &str) -> Identity {
    Identity {
        listener: "tcp://0.0.0.0:2375".into(),
        peer: Peer::Tcp(format!("{ip}:40000").parse().unwrap()),
        container: Some(Arc::new(Container {
            name: name.into(),
            labels: [
                (
                    "com.docker.compose.project".to_string(),
                    "media".to_string(),
                ),
                ("com.docker.compose.service".to_string(), name.to_string()),
            ]
            .into(),
            ..Default::default()
        })),
    }
}

#[test]
fn profiles_are_the_environments_vocabulary_over_its_defaults_or_a_preset() {
    let loaded = load_text(
        r#"
[profiles.discovery]
CONTAINERS = 1
NETWORKS = true
EVENTS = 0

[profiles.dashboard]
preset = "read-only"
POST = "0"
ALLOW_BIND_MOUNTS = "/srv:ro"

[[clients]]
container = "vidar-api"
profile = "discovery"

[[clients]]
service = "media/homepage"
profile = "dashboard"
"#,
    )
    .unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let clients = &loaded.clients;
    assert_eq!(
        clients.profiles["discovery"].describe(),
        "CONTAINERS=1 EVENTS=0 NETWORKS=1 PING=1 VERSION=1 ALLOW_LOGS=1 ALLOW_TOP=1 ALLOW_CHANGES=1"
    );
    let discovery = clients.assign(&client("vidar-api", "172.30.0.5"));
    assert_eq!(discovery.name.as_deref(), Some("discovery"));
    let described = discovery.profile.describe();
    for part in ["CONTAINERS=1", "NETWORKS=1", "EVENTS=0"] {
        assert!(described.contains(part), "{described}");
    }
    let dashboard = clients.assign(&client("homepage", "172.30.0.6"));
    assert_eq!(dashboard.name.as_deref(), Some("dashboard"));
    assert!(dashboard
        .profile
        .describe()
        .contains("ALLOW_BIND_MOUNTS=/srv:ro"));
    // Nobody's rule: the environment's grant, named "default".
    let other = clients.assign(&client("jellyfin", "172.30.0.7"));
    assert_eq!(other.name.as_deref(), Some("default"));
    assert_eq!(*other.profile, Profile::defaults());
}

#[test]
fn rules_match_on_every_condition_and_the_first_match_wins() {
    let loaded = load_text(
        r#"
[profiles.a]
CONTAINERS = 1
[profiles.b]
NETWORKS = 1
[profiles.c]
VOLUMES = 1
[profiles.d]
INFO = 1

[[clients]]
cidr = "172.30.0.0/28"
listener = "tcp://0.0.0.0:2375"
profile = "a"

[[clients]]
label = "role=inventory"
profile = "b"

[[clients]]
uid = 1000
profile = "c"

[[clients]]
listener = "unix:///run/dockgate/traefik.sock"
profile = "d"
"#,
    )
    .unwrap();
    let clients = loaded.clients;
    let name = |who: &Identity| clients.assign(who).name.unwrap().to_string();
    assert_eq!(name(&client("x", "172.30.0.5")), "a");
    assert_eq!(name(&client("x", "172.30.0.99")), "default");
    let mut labelled = client("y", "172.30.0.99");
    Arc::make_mut(labelled.container.as_mut().unwrap())
        .labels
        .insert("role".into(), "inventory".into());
    assert_eq!(name(&labelled), "b");
    let unix = |uid, listener: &str| Identity {
        listener: listener.into(),
        peer: Peer::Unix {
            pid: Some(1),
            uid: Some(uid),
            gid: Some(uid),
        },
        container: None,
    };
    assert_eq!(name(&unix(1000, "tcp://0.0.0.0:2375")), "c");
    assert_eq!(name(&unix(1001, "unix:///run/dockgate/traefik.sock")), "d");
    assert_eq!(name(&unix(1001, "tcp://0.0.0.0:2375")), "default");
    // An IPv4 client on a dual-stack socket is matched by its IPv4 address.
    let mapped = Identity {
        peer: Peer::Tcp("[::ffff:172.30.0.5]:40000".parse().unwrap()),
        ..client("x", "172.30.0.5")
    };
    assert_eq!(name(&mapped), "a");
}

#[test]
fn mistakes_are_refused_with_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("[profiles.a]\nCONTAINER = 1\n", 2, "did you mean CONTAINERS?"),
        ("[profiles.a]\nLISTEN = \"tcp://:1\"\n", 2, "LISTEN is not a grant"),
        ("[profiles.a]\npreset = \"trafik\"\n", 2, "\"trafik\" is not a preset"),
        ("[profiles.a]\nprest = \"read-only\"\n", 2, "unknown key \"prest\""),
        ("[profiles.a]\nPOST = \"maybe\"\n", 2, "POST=\"maybe\" is not valid"),
        ("[profiles.a]\nALLOW_BIND_MOUNTS = \"srv\"\n", 2, "ALLOW_BIND_MOUNTS"),
        ("\n\nsurprise = 1\n", 3, "unknown field `surprise`"),
        ("[[clients]]\nprofile = \"nope\"\ncontainer = \"x\"\n", 2, "neither defined"),
        ("[[clients]]\nprofile = \"read-only\"\n", 1, "at least one of"),
        ("[[clients]]\nprofile = \"read-only\"\ncidr = \"300.1.1.1\"\n", 1, "cidr"),
        ("[[clients]]\nprofile = \"read-only\"\nlistener = \"tcp://127.0.0.1:9\"\n", 1, "not one dockgate listens on"),
        ("[[clients]]\nprofile = \"read-only\"\nconatiner = \"x\"\n", 3, "unknown field `conatiner`"),
        ("[profiles.default]\nCONTAINERS = 1\n", 1, "environment's grant"),
        (
            "[[clients]]\ncidr = \"172.30.0.0/16\"\nprofile = \"read-only\"\n\n[[clients]]\ncidr = \"172.30.1.0/24\"\ncontainer = \"x\"\nprofile = \"default\"\n",
            5,
            "the rule on line 1 matches every client it matches",
        ),
        (
            "[[clients]]\nservice = \"web\"\nprofile = \"read-only\"\n[[clients]]\nservice = \"shop/web\"\nprofile = \"default\"\n",
            4,
            "can never apply",
        ),
    ];
    for (text, line, says) in cases {
        let e = error(text);
        assert_eq!(e.line, Some(*line), "{text:?}: {e}");
        assert!(e.to_string().contains(says), "{text:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("dockgate.toml:{line}: ")),
            "{e}"
        );
    }
}

#[test]
fn a_profile_nobody_uses_is_warned_about() {
    let loaded = load_text("[profiles.spare]\nINFO = 1\n").unwrap();
    assert_eq!(
        loaded.warnings,
        ["dockgate.toml:1: profile spare is not used by any rule"]
    );
    // Unless labels may choose it.
    let loaded = load_text("profile_label = true\n[profiles.spare]\nINFO = 1\n").unwrap();
    assert!(loaded.warnings.is_empty());
}

#[test]
fn a_label_chooses_among_profiles_only_and_only_its_own() {
    let clients = load_text("profile_label = true\n[profiles.proxy]\nCONTAINERS = 1\n")
        .unwrap()
        .clients;
    let labelled = |own: Option<&str>, inherited: Option<&str>| {
        let mut who = client("traefik", "172.30.0.5");
        let c = Arc::make_mut(who.container.as_mut().unwrap());
        if let Some(own) = own {
            c.labels.insert("dockgate.profile".into(), own.into());
            c.own_dockgate_labels
                .insert("dockgate.profile".into(), own.into());
        }
        if let Some(inherited) = inherited {
            c.labels.insert("dockgate.profile".into(), inherited.into());
        }
        clients.assign(&who)
    };
    assert_eq!(labelled(Some("proxy"), None).name.as_deref(), Some("proxy"));
    // A preset is a profile by name.
    assert_eq!(
        labelled(Some("read-only"), None).name.as_deref(),
        Some("read-only")
    );
    // A label from the image is not the operator's.
    assert_eq!(
        labelled(None, Some("proxy")).name.as_deref(),
        Some("default")
    );
    // An undefined name gets nothing, and says why.
    let undefined = labelled(Some("admin"), None);
    assert_eq!(undefined.undefined.as_deref(), Some("admin"));
    assert_eq!(*undefined.profile, Profile::nothing());
}

#[test]
fn the_examples_and_fixtures_check_out() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config");
    let mut seen = 0;
    for (sub, valid) in [("valid", true), ("invalid", false)] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let result = parse(
                &path.display().to_string(),
                &text,
                &Profile::defaults(),
                &listeners(),
            );
            // An invalid fixture says on its first line what it must be refused with.
            match (valid, result) {
                (true, Ok(_)) => {}
                (false, Err(e)) => {
                    let expected = text.lines().next().unwrap().trim_start_matches("# error: ");
                    assert!(e.to_string().ends_with(expected), "{}: {e}", path.display());
                }
                (true, Err(e)) => panic!("{e}"),
                (false, Ok(_)) => panic!("{} was accepted", path.display()),
            }
            seen += 1;
        }
    }
    assert!(seen >= 4);
}
