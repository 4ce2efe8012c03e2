//! What is worth telling the operator at start-up without stopping: variables that are not
//! dockgate's (misspelt, or another proxy's), and settings that can have no effect.

use std::collections::BTreeMap;

use super::values::{looks_boolean, parse_bool};
use super::vars::{known_names, FOREIGN, VARIABLES};
use super::{Builder, Config, ConfigError};
use crate::api::{all_routes, Access, Section};
use crate::inspect::BodyPolicy;
use crate::policy::{Flag, Flags};

/// Warnings about the environment's names: Podman's, other proxies', and likely misspellings.
/// An invalid boolean in a `LIBPOD_*` variable is an error, as in any other boolean.
pub(super) fn about_names(env: &BTreeMap<String, String>) -> Result<Vec<String>, ConfigError> {
    let mut warnings = vec![];
    for (name, value) in env {
        if name.starts_with("LIBPOD_") {
            if parse_bool(name, value)? {
                warnings.push(format!(
                    "{name}={value} has no effect: dockgate does not serve Podman's /libpod API, \
                     and refuses it"
                ));
            }
        } else if let Some((_, what)) = FOREIGN.iter().find(|(f, _)| f == name) {
            warnings.push(format!(
                "{name} is not a dockgate variable and is ignored: {what}"
            ));
        } else if let Some(meant) = likely_meant(name, value) {
            warnings.push(format!(
                "{name} is not a dockgate variable and is ignored; did you mean {meant}?"
            ));
        }
    }
    Ok(warnings)
}

/// The dockgate variable `name` was probably meant to be, if it is not one itself.
pub(super) fn likely_meant(name: &str, value: &str) -> Option<&'static str> {
    if known_names().any(|(known, _)| known == name) || FOREIGN.iter().any(|(f, _)| *f == name) {
        return None;
    }
    let upper = name.to_ascii_uppercase();
    known_names()
        .filter(|(_, boolean)| !boolean || looks_boolean(value))
        .map(|(known, _)| (known, strsim::damerau_levenshtein(&upper, known)))
        .filter(|(known, distance)| *distance <= if known.len() >= 6 { 2 } else { 1 })
        .min_by_key(|(_, distance)| *distance)
        .map(|(known, _)| known)
}

/// Warnings about settings that can have no effect with the rest of the configuration.
pub(super) fn about_effects(env: &BTreeMap<String, String>, config: &Config) -> Vec<String> {
    let granted = config.policy.granted();
    let on = |flag| granted.has(flag);
    let containers = on(Flag::Section(Section::Containers));
    let mut warnings = vec![];
    if on(Flag::Post) && !enabled_routes(granted).any(|(_, access)| access == Access::Write) {
        warnings.push(
            "POST=1 has no effect: no enabled section has routes that write; enable the sections \
             to write to, e.g. CONTAINERS=1"
                .to_string(),
        );
    }
    if on(Flag::Section(Section::Exec)) && !(containers && on(Flag::Post)) {
        warnings.push(
            "EXEC=1 without CONTAINERS=1 and POST=1 only lets clients inspect exec instances: \
             creating and starting them needs all three"
                .to_string(),
        );
    }
    for (flag, name) in [
        (Flag::AllowArchive, "ALLOW_ARCHIVE"),
        (Flag::AllowExport, "ALLOW_EXPORT"),
    ] {
        if on(flag) && !containers {
            warnings.push(format!(
                "{name}=1 has no effect without CONTAINERS=1: it narrows what the containers \
                 section allows"
            ));
        }
    }
    // Whether any judged route can be reached at all (a legacy start body with only
    // ALLOW_START, an archive with ALLOW_ARCHIVE, a create with POST...).
    let bodies_inspected = all_routes().any(|(s, r)| {
        let needs = crate::policy::requires(s, r);
        r.inspection.is_some() && (needs.all.iter().all(on) || needs.any.iter().any(on))
    });
    if !bodies_inspected {
        for v in VARIABLES {
            let Some(value) = env.get(v.name) else {
                continue;
            };
            if changes_body_policy(v, value) {
                warnings.push(format!(
                    "{}={value} has no effect: no request it is checked on is allowed (container \
                     create and the like need POST=1 and their section, e.g. CONTAINERS=1)",
                    v.name
                ));
            }
        }
    }
    warnings
}

/// Each route of the enabled sections, with whether it writes.
fn enabled_routes(granted: Flags) -> impl Iterator<Item = (Section, Access)> {
    all_routes()
        .filter(move |(s, _)| granted.has(Flag::Section(*s)))
        .map(|(s, r)| (s, r.access))
}

/// Whether `value` makes variable `v` change what request bodies may ask for: taken from the
/// table, so a body variable added later is covered.
fn changes_body_policy(v: &super::Variable, value: &str) -> bool {
    let mut builder = Builder::new();
    v.apply(&mut builder, Some(value)).is_ok() && builder.body != BodyPolicy::default()
}
