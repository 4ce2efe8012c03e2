//! Who is asking, and which grant answers them: a connection's [`Identity`] (its listener, its
//! peer, and the container behind its address), and [`Clients`], the operator's profiles and
//! the rules that map identities to them. Pure: [`Clients::assign`] is decided from values,
//! so every rule is tested without a socket.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::access::Peer;
use crate::profile::Profile;

/// The label on a client's own container that names its profile, when the config file honours
/// it (`profile_label = true`). Clients may not set any `dockgate.*` label themselves.
pub const PROFILE_LABEL: &str = "dockgate.profile";

/// The labels dockgate reserves: a container create or build that sets one is refused.
pub const LABEL_PREFIX: &str = "dockgate.";

/// A container on a Docker network, as the engine describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    /// Without the engine's leading `/`.
    pub name: String,
    pub image: String,
    /// Every label, including those the image gave it.
    pub labels: BTreeMap<String, String>,
    /// The `dockgate.*` labels set on the container itself, not inherited from its image: an
    /// image anyone with BUILD or a pull can make carries no weight.
    pub own_dockgate_labels: BTreeMap<String, String>,
}

impl Container {
    /// `com.docker.compose.project` / `com.docker.compose.service`.
    pub fn compose(&self) -> (Option<&str>, Option<&str>) {
        (
            self.labels
                .get("com.docker.compose.project")
                .map(String::as_str),
            self.labels
                .get("com.docker.compose.service")
                .map(String::as_str),
        )
    }
}

/// Who a connection comes from, worked out once when it is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The listener it came in on, as LISTEN names it (`tcp://0.0.0.0:2375`).
    pub listener: Arc<str>,
    pub peer: Peer,
    /// The container behind a TCP address, when the engine says there is one.
    pub container: Option<Arc<Container>>,
}

impl fmt::Display for Identity {
    /// The client's name in refusals and logs: its container, else its address or credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.container {
            Some(container) => f.write_str(&container.name),
            None => write!(f, "{}", self.peer),
        }
    }
}

/// One condition of a rule; a rule matches when all of its conditions do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// The container's name.
    Container(String),
    /// `project/service` or `service`, from the compose labels.
    Service {
        project: Option<String>,
        service: String,
    },
    /// `key=value`, or `key` for any value.
    Label {
        key: String,
        value: Option<String>,
    },
    Cidr(IpNet),
    Uid(u32),
    Gid(u32),
    /// The listener, as LISTEN names it.
    Listener(String),
}

impl Matcher {
    fn matches(&self, who: &Identity) -> bool {
        let container = who.container.as_deref();
        match self {
            Matcher::Container(name) => container.is_some_and(|c| &c.name == name),
            Matcher::Service { project, service } => container.is_some_and(|c| {
                let (p, s) = c.compose();
                s == Some(service.as_str())
                    && project
                        .as_deref()
                        .map_or(true, |project| p == Some(project))
            }),
            Matcher::Label { key, value } => container.is_some_and(|c| match value {
                None => c.labels.contains_key(key),
                Some(value) => c.labels.get(key) == Some(value),
            }),
            Matcher::Cidr(net) => match who.peer {
                Peer::Tcp(addr) => net.contains(&canonical(addr.ip())),
                Peer::Unix { .. } => false,
            },
            Matcher::Uid(uid) => matches!(who.peer, Peer::Unix { uid: Some(u), .. } if u == *uid),
            Matcher::Gid(gid) => matches!(who.peer, Peer::Unix { gid: Some(g), .. } if g == *gid),
            Matcher::Listener(listener) => *who.listener == **listener,
        }
    }

    /// Whether every client this matches is matched by `other` too: `other` is no narrower.
    pub fn within(&self, other: &Matcher) -> bool {
        match (self, other) {
            (Matcher::Cidr(mine), Matcher::Cidr(theirs)) => theirs.contains(mine),
            (
                Matcher::Label {
                    key,
                    value: Some(_),
                },
                Matcher::Label {
                    key: other_key,
                    value: None,
                },
            ) => key == other_key,
            (
                Matcher::Service {
                    project: Some(_),
                    service,
                },
                Matcher::Service {
                    project: None,
                    service: other_service,
                },
            ) => service == other_service,
            _ => self == other,
        }
    }

    /// Whether it needs the container behind an address (and so the engine's directory).
    pub fn needs_container(&self) -> bool {
        matches!(
            self,
            Matcher::Container(_) | Matcher::Service { .. } | Matcher::Label { .. }
        )
    }
}

/// An IPv4 client seen on a dual-stack socket arrives as `::ffff:a.b.c.d`.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A rule: conditions, and the profile a client matching all of them gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub matchers: Vec<Matcher>,
    pub profile: String,
    /// Where it is written, for messages.
    pub line: usize,
}

/// The grant chosen for a client.
#[derive(Clone, Debug)]
pub struct Assignment {
    pub profile: Arc<Profile>,
    /// The profile's name; `None` for the environment's grant with no config file, where
    /// messages stay as the drop-in's.
    pub name: Option<Arc<str>>,
    /// Set when the client's own label names a profile nobody defined: it gets nothing, and
    /// each refusal says why.
    pub undefined: Option<Arc<str>>,
}

/// The name the environment's grant goes by once a config file is in use.
pub const DEFAULT_PROFILE: &str = "default";

/// Profiles and rules: which grant each client gets.
#[derive(Clone, Debug, PartialEq)]
pub struct Clients {
    /// The environment's grant (with `PRESET`), for clients no rule matches.
    pub default: Arc<Profile>,
    /// Named profiles: the config file's, then the presets it does not override.
    pub profiles: BTreeMap<String, Arc<Profile>>,
    pub rules: Vec<Rule>,
    /// Whether a client container's own `dockgate.profile` label chooses its profile.
    pub profile_label: bool,
    /// Whether a config file is in use (profile names appear in messages).
    pub from_file: bool,
}

impl Clients {
    /// The drop-in: one grant, the environment's, for everyone.
    pub fn env_only(default: Profile) -> Clients {
        Clients {
            default: Arc::new(default),
            profiles: BTreeMap::new(),
            rules: vec![],
            profile_label: false,
            from_file: false,
        }
    }

    /// Whether telling clients apart needs the containers behind addresses.
    pub fn needs_containers(&self) -> bool {
        self.profile_label
            || self
                .rules
                .iter()
                .any(|r| r.matchers.iter().any(Matcher::needs_container))
    }

    /// The grant for `who`: its own label's profile (when honoured), else the first rule that
    /// matches, else the default.
    pub fn assign(&self, who: &Identity) -> Assignment {
        if self.profile_label {
            let label = who
                .container
                .as_deref()
                .and_then(|c| c.own_dockgate_labels.get(PROFILE_LABEL));
            if let Some(name) = label {
                return match self.profiles.get(name) {
                    Some(profile) => self.named(name, profile),
                    None => Assignment {
                        profile: Arc::new(Profile::nothing()),
                        name: Some(name.as_str().into()),
                        undefined: Some(name.as_str().into()),
                    },
                };
            }
        }
        for rule in &self.rules {
            if rule.matchers.iter().all(|m| m.matches(who)) {
                if let Some(profile) = self.profiles.get(&rule.profile) {
                    return self.named(&rule.profile, profile);
                }
            }
        }
        Assignment {
            profile: self.default.clone(),
            name: self.from_file.then(|| DEFAULT_PROFILE.into()),
            undefined: None,
        }
    }

    fn named(&self, name: &str, profile: &Arc<Profile>) -> Assignment {
        Assignment {
            profile: profile.clone(),
            name: Some(name.into()),
            undefined: None,
        }
    }
}

/// What `dockgate check` prints: each profile the file defines or a rule names, its effective
/// grant, and the rules that give it; then the default.
pub fn summary(clients: &Clients, defined: &[(String, usize)]) -> String {
    let mut names: Vec<&str> = defined.iter().map(|(n, _)| n.as_str()).collect();
    for rule in &clients.rules {
        if !names.contains(&rule.profile.as_str()) && rule.profile != DEFAULT_PROFILE {
            names.push(&rule.profile);
        }
    }
    let mut out = String::new();
    let rules_for = |name: &str| -> String {
        let lines: Vec<String> = clients
            .rules
            .iter()
            .filter(|r| r.profile == name)
            .map(|r| r.line.to_string())
            .collect();
        match lines.as_slice() {
            [] if clients.profile_label => "by label only".into(),
            [] => "no rule".into(),
            [one] => format!("rule on line {one}"),
            _ => format!("rules on lines {}", lines.join(", ")),
        }
    };
    for name in names {
        let Some(profile) = clients.profiles.get(name) else {
            continue;
        };
        let origin = match defined.iter().find(|(n, _)| n == name) {
            Some((_, line)) => format!("line {line}"),
            None => "preset".into(),
        };
        out.push_str(&format!(
            "profile {name} ({origin}; {}):\n  {}\n",
            rules_for(name),
            profile.describe()
        ));
    }
    out.push_str(&format!(
        "profile {DEFAULT_PROFILE} (the environment; every client no rule matches):\n  {}\n",
        clients.default.describe()
    ));
    out
}
