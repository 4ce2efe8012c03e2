//! What dockgate learns from the engine to judge a request: the engine's own defaults, and the
//! objects a request borrows from (a container whose namespaces or mounts it joins, a network or
//! a volume it names). Plain data, so judging stays a pure function of request, grant and facts;
//! `crate::engine_facts` fills it in.

use std::collections::HashMap;

use super::json::Json;

/// Something a request names that only the engine can describe.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ref {
    /// By name or (partial) id, as the engine looks it up.
    Container(String),
    Network(String),
    Volume(String),
}

/// The masks the engine puts on every unprivileged container, by release (moby's
/// `oci/defaults.go`, later `daemon/pkg/oci/defaults.go`): a client that sends these lists back
/// (a recreate from inspect output) asks for nothing the engine would not do anyway.
const MASKED_ALWAYS: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
/// Masked from 25.0 (and back-ported to late 23.0 and 24.0 releases, which are held to the
/// older list: a floor may be lower than the engine's own, never higher).
const MASKED_SINCE_25_0: &str = "/sys/devices/virtual/powercap";
/// Masked from 28.0.2.
const MASKED_SINCE_28_0_2: &str = "/proc/interrupts";
/// Unchanged from 20.10 to today.
const READONLY_ALWAYS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The engine's defaults that decide whether a value asks for more than the engine would give
/// anyway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineDefaults {
    /// On cgroup v1 hosts containers share the host's cgroup namespace unless told otherwise.
    pub cgroup_v1: bool,
    /// The runtime the engine uses when a container names none (`runc` unless configured).
    pub default_runtime: String,
    /// Paths every unprivileged container has masked, and made read-only: a list that holds at
    /// least these asks for nothing.
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
}

impl EngineDefaults {
    /// What is assumed of an engine that could not be asked: the strictest known, so nothing
    /// passes that a real engine's defaults would not cover.
    pub fn strictest() -> EngineDefaults {
        EngineDefaults::for_release(None, false, "runc")
    }

    /// From `/version`'s `Version` and `/info`'s `CgroupVersion` and `DefaultRuntime`.
    pub fn for_release(release: Option<&str>, cgroup_v1: bool, runtime: &str) -> EngineDefaults {
        // An unknown release is held to the newest masks.
        let known = release.and_then(parse_release);
        let at_least = |want: (u32, u32, u32)| match known {
            Some(version) => version >= want,
            None => true,
        };
        let mut masked: Vec<String> = MASKED_ALWAYS.iter().map(|p| p.to_string()).collect();
        if at_least((25, 0, 0)) {
            masked.push(MASKED_SINCE_25_0.into());
        }
        if at_least((28, 0, 2)) {
            masked.push(MASKED_SINCE_28_0_2.into());
        }
        EngineDefaults {
            cgroup_v1,
            default_runtime: runtime.to_string(),
            masked_paths: masked,
            readonly_paths: READONLY_ALWAYS.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// `20.10.24+dfsg1` → (20, 10, 24); `28.0.0-rc.1` → (28, 0, 0).
fn parse_release(release: &str) -> Option<(u32, u32, u32)> {
    let mut parts = release.split(['.', '-', '+', '~']);
    let mut next = || parts.next()?.parse::<u32>().ok();
    Some((next()?, next()?, next().unwrap_or(0)))
}

/// A container as the engine stores it: what another request may borrow from it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerFacts {
    /// Its name, for messages (`/web` → `web`).
    pub name: String,
    /// The stored `HostConfig`, judged as if the borrowing request had sent it.
    pub host_config: Json,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkFacts {
    pub name: String,
    pub driver: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeFacts {
    pub driver: String,
    /// The driver options it was created with: for the local driver, what it mounts.
    pub options: Vec<(String, String)>,
}

/// What a lookup found.
#[derive(Debug, PartialEq)]
pub enum Found<'a, T> {
    Yes(&'a T),
    /// The engine has no such object: the request fails there, or names one created later,
    /// which was judged when it was created.
    No,
    /// Not asked yet.
    Unknown,
}

/// Everything known about the engine while one request is judged.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    pub defaults: EngineDefaults,
    containers: HashMap<String, Option<ContainerFacts>>,
    networks: HashMap<String, Option<NetworkFacts>>,
    volumes: HashMap<String, Option<VolumeFacts>>,
    /// Whether an object not recorded is known not to exist (tests, fuzzing) rather than not
    /// asked about yet.
    complete: bool,
}

impl Facts {
    /// Nothing asked yet.
    pub fn new(defaults: EngineDefaults) -> Facts {
        Facts {
            defaults,
            containers: HashMap::new(),
            networks: HashMap::new(),
            volumes: HashMap::new(),
            complete: false,
        }
    }

    /// An engine holding exactly what is then recorded: anything else does not exist.
    pub fn closed(defaults: EngineDefaults) -> Facts {
        Facts {
            complete: true,
            ..Facts::new(defaults)
        }
    }

    pub fn container(&self, name: &str) -> Found<'_, ContainerFacts> {
        found(self.containers.get(name), self.complete)
    }

    pub fn network(&self, name: &str) -> Found<'_, NetworkFacts> {
        found(self.networks.get(name), self.complete)
    }

    pub fn volume(&self, name: &str) -> Found<'_, VolumeFacts> {
        found(self.volumes.get(name), self.complete)
    }

    pub fn add_container(&mut self, name: &str, facts: Option<ContainerFacts>) {
        self.containers.insert(name.to_string(), facts);
    }

    pub fn add_network(&mut self, name: &str, facts: Option<NetworkFacts>) {
        self.networks.insert(name.to_string(), facts);
    }

    pub fn add_volume(&mut self, name: &str, facts: Option<VolumeFacts>) {
        self.volumes.insert(name.to_string(), facts);
    }
}

fn found<T>(entry: Option<&Option<T>>, complete: bool) -> Found<'_, T> {
    match entry {
        Some(Some(facts)) => Found::Yes(facts),
        Some(None) => Found::No,
        None if complete => Found::No,
        None => Found::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_the_release() {
        let old = EngineDefaults::for_release(Some("20.10.24+dfsg1"), true, "runc");
        assert_eq!(old.masked_paths.len(), 10);
        let mid = EngineDefaults::for_release(Some("27.5.1"), false, "runc");
        assert!(mid.masked_paths.contains(&MASKED_SINCE_25_0.to_string()));
        assert!(!mid.masked_paths.contains(&MASKED_SINCE_28_0_2.to_string()));
        let new = EngineDefaults::for_release(Some("28.0.2"), false, "runc");
        assert_eq!(new.masked_paths.len(), 12);
        assert_eq!(EngineDefaults::strictest().masked_paths.len(), 12);
        assert_eq!(
            EngineDefaults::for_release(Some("dev"), false, "runc"),
            EngineDefaults::strictest()
        );
    }

    #[test]
    fn unasked_and_absent_differ_until_the_facts_are_closed() {
        let mut facts = Facts::new(EngineDefaults::strictest());
        assert_eq!(facts.network("n"), Found::Unknown);
        facts.add_network("n", None);
        assert_eq!(facts.network("n"), Found::No);
        assert_eq!(
            Facts::closed(EngineDefaults::strictest()).volume("v"),
            Found::No
        );
    }
}
