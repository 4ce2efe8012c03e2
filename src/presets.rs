//! Built-in profiles for the clients people run, usable by name: `PRESET=traefik`, a profile's
//! `preset = "traefik"`, a rule's `profile = "traefik"`, or a `dockgate.profile` label.
//!
//! Each client's preset is a file in `presets/`, compiled in: the client, the version and the
//! source files its calls were read from, the grant, and the client's request sequence, which
//! `tests/e2e_presets.rs` replays through dockgate against the real engine (everything passes,
//! and switching off any one variable of the grant refuses something). `read-only` is the one
//! preset not tied to a client.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::api::{Access, Section};
use crate::config::{grant_apply, toml_text};
use crate::policy::Flag;
use crate::profile::Profile;

/// A preset file, as written in `presets/`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetFile {
    /// The client, as people call it.
    pub client: String,
    /// Its GitHub `owner/name`.
    pub repo: String,
    /// The release whose source was read.
    pub version: String,
    /// The files, at that release, its calls come from.
    pub sources: Vec<String>,
    /// What the preset leaves out, and what would need more.
    #[serde(default)]
    pub notes: String,
    /// The grant, in the environment's vocabulary, over the environment's defaults.
    pub grant: BTreeMap<String, toml::Value>,
    /// The client's requests, in order.
    #[serde(default)]
    pub replay: Vec<Replay>,
}

/// One request of a client's sequence.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// `METHOD /path?query`, with placeholders the test fills (`{container}`, `{network}`...).
    pub call: String,
    /// Where in the client's source it is sent.
    pub source: String,
    #[serde(default)]
    pub body: Option<String>,
    /// The answer streams; only its status is read.
    #[serde(default)]
    pub stream: bool,
}

/// A preset: its name, where it comes from, and its grant.
#[derive(Clone, Debug)]
pub struct Preset {
    pub name: &'static str,
    /// `None` for `read-only`, which is not read from a client.
    pub file: Option<PresetFile>,
    pub profile: Profile,
}

/// Every preset file, by name.
pub const FILES: &[(&str, &str)] = &[
    ("autoheal", include_str!("../presets/autoheal.toml")),
    ("beszel-agent", include_str!("../presets/beszel-agent.toml")),
    (
        "caddy-docker-proxy",
        include_str!("../presets/caddy-docker-proxy.toml"),
    ),
    ("crowdsec", include_str!("../presets/crowdsec.toml")),
    ("diun", include_str!("../presets/diun.toml")),
    (
        "docker-cli-readonly",
        include_str!("../presets/docker-cli-readonly.toml"),
    ),
    ("dozzle", include_str!("../presets/dozzle.toml")),
    ("glance", include_str!("../presets/glance.toml")),
    ("homarr", include_str!("../presets/homarr.toml")),
    ("homepage", include_str!("../presets/homepage.toml")),
    ("inventory", include_str!("../presets/inventory.toml")),
    ("nginx-proxy", include_str!("../presets/nginx-proxy.toml")),
    (
        "portainer-readonly",
        include_str!("../presets/portainer-readonly.toml"),
    ),
    ("promtail", include_str!("../presets/promtail.toml")),
    ("traefik", include_str!("../presets/traefik.toml")),
    ("uptime-kuma", include_str!("../presets/uptime-kuma.toml")),
    ("watchtower", include_str!("../presets/watchtower.toml")),
    ("wud", include_str!("../presets/wud.toml")),
];

/// The name of the preset that reads everything but the swarm's join tokens, and writes nothing.
pub const READ_ONLY: &str = "read-only";

/// Every preset, `read-only` first, then by name.
pub fn all() -> &'static [Preset] {
    static PRESETS: OnceLock<Vec<Preset>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        let mut presets = vec![read_only()];
        for (name, text) in FILES {
            let file = parse(text).unwrap_or_else(|e| panic!("presets/{name}.toml: {e}"));
            let profile =
                file_profile(&file).unwrap_or_else(|e| panic!("presets/{name}.toml: {e}"));
            presets.push(Preset {
                name,
                file: Some(file),
                profile,
            });
        }
        presets
    })
}

pub fn get(name: &str) -> Option<&'static Preset> {
    all().iter().find(|p| p.name == name)
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name).collect()
}

/// Parses a preset file's text.
pub fn parse(text: &str) -> Result<PresetFile, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// A preset file's grant, over the environment's defaults.
pub fn file_profile(file: &PresetFile) -> Result<Profile, String> {
    let mut entries = vec![];
    for (name, value) in &file.grant {
        let text = toml_text(value).ok_or_else(|| format!("{name}: not 0/1 or a string"))?;
        entries.push((name.as_str(), text));
    }
    grant_apply(
        &Profile::defaults(),
        entries.iter().map(|(n, v)| (*n, v.as_str())),
    )
    .map_err(|(name, e)| format!("{name}: {e}"))
}

/// Every section's reads, without writes: not `SWARM`, whose inspect answer carries the join
/// tokens that make a node a manager; not archive or export, which read files out of containers.
fn read_only() -> Preset {
    let mut profile = Profile::defaults();
    let mut granted = profile.policy.granted();
    for section in Section::ALL {
        let reads = section.routes().iter().any(|r| r.access == Access::Read);
        granted.set(Flag::Section(section), reads && section != Section::Swarm);
    }
    profile.policy = crate::policy::Policy::new(granted);
    Preset {
        name: READ_ONLY,
        file: None,
        profile,
    }
}
