//! What is worth telling the operator at start-up without stopping: variables that are not
//! dockgate's (misspelt, or another proxy's), and settings that can have no effect.

use std::collections::BTreeMap;

use super::values::{looks_boolean, parse_bool};
use super::vars::{known_names, FOREIGN};
use super::ConfigError;

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
fn likely_meant(name: &str, value: &str) -> Option<&'static str> {
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
