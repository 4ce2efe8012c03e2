//! The config file (`CONFIG=/path`): named profiles written in the environment's vocabulary,
//! and the rules that map clients to them. TOML, read with every key checked: an unknown key, a
//! misspelt variable, a rule that can never match or a profile nobody uses is reported with its
//! line, as the environment's mistakes are with their variable.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::values::parse_listen;
use super::{grant, ListenAddr};
use crate::clients::{Clients, Matcher, Rule, DEFAULT_PROFILE};
use crate::presets;
use crate::profile::Profile;

/// A file dockgate cannot use, with where in it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct FileError {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

/// A file's clients, and what is worth saying about it without refusing it.
#[derive(Debug)]
pub struct Loaded {
    pub clients: Clients,
    pub warnings: Vec<String>,
    /// The profiles the file defines, with their lines.
    pub defined: Vec<(String, usize)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    profile_label: bool,
    #[serde(default)]
    profiles: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    #[serde(default)]
    clients: Vec<Spanned<RuleSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    profile: Spanned<String>,
    container: Option<String>,
    service: Option<String>,
    label: Option<String>,
    cidr: Option<String>,
    uid: Option<u32>,
    gid: Option<u32>,
    listener: Option<String>,
}

/// Reads and checks the file at `path`. `default` is the environment's grant; `listeners` are
/// the addresses dockgate listens on, as LISTEN names them.
pub fn load(path: &Path, default: &Profile, listeners: &[ListenAddr]) -> Result<Loaded, FileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| FileError {
        path: shown.clone(),
        line: None,
        message: format!("cannot be read: {e}"),
    })?;
    parse(&shown, &text, default, listeners)
}

/// Checks a file's text; `path` is only for messages.
pub fn parse(
    path: &str,
    text: &str,
    default: &Profile,
    listeners: &[ListenAddr],
) -> Result<Loaded, FileError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let error = |offset: usize, message: String| FileError {
        path: path.into(),
        line: Some(line_of(offset)),
        message,
    };
    let spec: Spec = toml::from_str(text).map_err(|e| FileError {
        path: path.into(),
        line: e.span().map(|s| line_of(s.start)),
        message: e.message().trim().to_string(),
    })?;

    let mut profiles = BTreeMap::new();
    let mut defined_at = BTreeMap::new();
    for (name, entries) in &spec.profiles {
        let at = name.span().start;
        if name.get_ref() == DEFAULT_PROFILE {
            return Err(error(
                at,
                format!(
                    "profile {DEFAULT_PROFILE:?} is the environment's grant; give this one \
                     another name"
                ),
            ));
        }
        let profile = profile(entries).map_err(|(offset, message)| {
            error(offset, format!("profile {}: {message}", name.get_ref()))
        })?;
        profiles.insert(name.get_ref().clone(), Arc::new(profile));
        defined_at.insert(name.get_ref().clone(), at);
    }

    let mut rules: Vec<Rule> = vec![];
    let mut used = BTreeSet::new();
    for spanned in &spec.clients {
        let at = spanned.span().start;
        let spec = spanned.get_ref();
        let name = spec.profile.get_ref();
        if !profiles.contains_key(name) && presets::get(name).is_none() && name != DEFAULT_PROFILE {
            return Err(error(
                spec.profile.span().start,
                format!(
                    "profile {name:?} is neither defined in this file nor a preset ({})",
                    presets::names().join(", ")
                ),
            ));
        }
        let matchers = matchers(spec, listeners).map_err(|message| error(at, message))?;
        let rule = Rule {
            matchers,
            profile: name.clone(),
            line: line_of(at),
        };
        if let Some(earlier) = rules.iter().find(|earlier| shadows(earlier, &rule)) {
            return Err(error(
                at,
                format!(
                    "this rule can never apply: the rule on line {} matches every client it \
                     matches (first match wins; put the narrower rule first)",
                    earlier.line
                ),
            ));
        }
        used.insert(name.clone());
        rules.push(rule);
    }

    let mut warnings = vec![];
    if !spec.profile_label {
        for (name, at) in &defined_at {
            if !used.contains(name) {
                warnings.push(format!(
                    "{path}:{}: profile {name} is not used by any rule",
                    line_of(*at)
                ));
            }
        }
    }
    // Presets are profiles too, by name, unless the file defines one of the same name.
    for preset in presets::all() {
        profiles
            .entry(preset.name.to_string())
            .or_insert_with(|| Arc::new(preset.profile.clone()));
    }
    profiles.insert(DEFAULT_PROFILE.into(), Arc::new(default.clone()));
    Ok(Loaded {
        clients: Clients {
            default: Arc::new(default.clone()),
            profiles,
            rules,
            profile_label: spec.profile_label,
            from_file: true,
        },
        warnings,
        defined: defined_at
            .into_iter()
            .map(|(name, at)| (name, line_of(at)))
            .collect(),
    })
}

/// A profile's entries: `preset = "name"` for its base (else the environment's defaults), and
/// grant variables over it. On error, the offset of the entry at fault.
fn profile(
    entries: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
) -> Result<Profile, (usize, String)> {
    let mut base = Profile::defaults();
    let mut grants = vec![];
    for (key, value) in entries {
        let at = key.span().start;
        match key.get_ref().as_str() {
            "preset" => {
                let name = value
                    .get_ref()
                    .as_str()
                    .ok_or((at, "preset takes a preset's name, as a string".to_string()))?;
                base = presets::get(name)
                    .ok_or_else(|| {
                        (
                            at,
                            format!("{name:?} is not a preset ({})", presets::names().join(", ")),
                        )
                    })?
                    .profile
                    .clone();
            }
            name if name.bytes().any(|b| b.is_ascii_lowercase()) => {
                return Err((
                    at,
                    format!(
                        "unknown key {name:?}: a profile takes `preset` and grant variables \
                         (CONTAINERS, POST, ALLOW_START, ...)"
                    ),
                ))
            }
            name => {
                let text = grant::toml_text(value.get_ref()).ok_or_else(|| {
                    (
                        at,
                        format!("{name} takes 0 or 1, true or false, or a string"),
                    )
                })?;
                grants.push((name, text, at));
            }
        }
    }
    // Applied after the preset whatever the order in the file: the variables refine the base.
    let mut profile = base;
    for (name, text, at) in &grants {
        profile = grant::apply(&profile, [(*name, text.as_str())])
            .map_err(|(_, error)| (*at, error.to_string()))?;
    }
    Ok(profile)
}

fn matchers(spec: &RuleSpec, listeners: &[ListenAddr]) -> Result<Vec<Matcher>, String> {
    let mut out = vec![];
    if let Some(name) = &spec.container {
        out.push(Matcher::Container(
            name.strip_prefix('/').unwrap_or(name).to_string(),
        ));
    }
    if let Some(service) = &spec.service {
        out.push(match service.split_once('/') {
            Some((project, service)) => Matcher::Service {
                project: Some(project.into()),
                service: service.into(),
            },
            None => Matcher::Service {
                project: None,
                service: service.clone(),
            },
        });
    }
    if let Some(label) = &spec.label {
        let (key, value) = match label.split_once('=') {
            Some((key, value)) => (key, Some(value.to_string())),
            None => (label.as_str(), None),
        };
        if key.is_empty() {
            return Err(format!(
                "label {label:?} has no key: write key or key=value"
            ));
        }
        out.push(Matcher::Label {
            key: key.into(),
            value,
        });
    }
    if let Some(cidr) = &spec.cidr {
        let net = cidr
            .parse::<ipnet::IpNet>()
            .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                format!("cidr {cidr:?} is not an address or network (172.30.0.0/24, 10.0.0.5)")
            })?;
        out.push(Matcher::Cidr(net.trunc()));
    }
    if let Some(uid) = spec.uid {
        out.push(Matcher::Uid(uid));
    }
    if let Some(gid) = spec.gid {
        out.push(Matcher::Gid(gid));
    }
    if let Some(listener) = &spec.listener {
        let addr = parse_listen("listener", listener).map_err(|e| e.to_string())?;
        if !listeners.contains(&addr) {
            let all: Vec<String> = listeners.iter().map(ToString::to_string).collect();
            return Err(format!(
                "listener {listener:?} is not one dockgate listens on (LISTEN: {})",
                all.join(", ")
            ));
        }
        out.push(Matcher::Listener(addr.to_string()));
    }
    if out.is_empty() {
        return Err(
            "a rule needs at least one of container, service, label, cidr, uid, gid, listener \
             (clients no rule matches get the environment's grant)"
                .into(),
        );
    }
    Ok(out)
}

/// Whether every client `later` matches is matched by `earlier` first.
fn shadows(earlier: &Rule, later: &Rule) -> bool {
    earlier
        .matchers
        .iter()
        .all(|mine| later.matchers.iter().any(|theirs| theirs.within(mine)))
}

#[cfg(test)]
mod tests;
