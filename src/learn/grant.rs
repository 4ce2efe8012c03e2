//! The smallest grant that covers everything a client was refused: pure, from the needs it
//! collected and the grant it had.
//!
//! Every item with one choice is needed as it is. An item with alternatives takes nothing when
//! what is chosen already meets one of them (`CONTAINERS=1+POST=1`, needed for a create, covers
//! a start), else its first choice, which is the narrowest (`ALLOW_START=1`); a narrow grant a
//! later one makes redundant is dropped again (`ALLOW_STOP=1` once `ALLOW_RESTARTS=1` is in).
//! List variables merge: host paths into one `ALLOW_BIND_MOUNTS` (a path the others already
//! cover, such as `/srv/data:ro` beside `/srv/data`, adds nothing), capabilities into one
//! `ALLOW_CAPS`. Nothing is added that no need named.

use crate::inspect::paths::{self, PathVerdict, Prefix};
use crate::needs::{Grant, Item, Needs};
use crate::policy::Flag;
use crate::profile::Profile;

const BIND_MOUNTS: &str = "ALLOW_BIND_MOUNTS";
const CAPS: &str = "ALLOW_CAPS";

/// What to set over a client's grant so that nothing it did is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Minimal {
    /// In the environment's vocabulary, in `--help` order; a list variable's value holds the
    /// grant's own entries as well, so each entry can be set as it is.
    pub set: Vec<Grant>,
    /// What no grant meets together with the rest, and why.
    pub uncovered: Vec<String>,
}

/// The smallest grant over `base` that meets every one of `items`.
pub fn minimal(items: &[Item], base: &Profile) -> Minimal {
    let mut chosen: Vec<Grant> = vec![];
    for grant in items
        .iter()
        .filter(|i| i.choices.len() == 1)
        .flat_map(|i| &i.choices[0])
    {
        if !chosen.contains(grant) {
            chosen.push(grant.clone());
        }
    }
    let needed = chosen.len();
    // The same items give the same grant whatever order the requests came in.
    let mut alternatives: Vec<&Item> = items.iter().filter(|i| i.choices.len() > 1).collect();
    alternatives.sort_by_cached_key(|i| {
        Needs {
            items: vec![(*i).clone()],
        }
        .to_string()
    });
    for item in alternatives {
        if !met(item, &chosen) {
            for grant in &item.choices[0] {
                if !chosen.contains(grant) {
                    chosen.push(grant.clone());
                }
            }
        }
    }
    for at in (needed..chosen.len()).rev() {
        let grant = chosen.remove(at);
        if !items.iter().all(|i| met(i, &chosen)) {
            chosen.insert(at, grant);
        }
    }

    let mut out = Minimal::default();
    let mut caps: Vec<String> = vec![];
    let mut binds: Vec<(String, bool)> = vec![];
    for grant in chosen {
        match grant.var {
            CAPS => caps.push(grant.value),
            BIND_MOUNTS => {
                let (path, read_only) = match grant.value.strip_suffix(":ro") {
                    Some(path) => (path.to_string(), true),
                    None => (grant.value, false),
                };
                binds.push((path, read_only));
            }
            _ => out.set.push(grant),
        }
    }
    out.set.sort_by_key(|g| rank(g.var));
    if !caps.is_empty() {
        let mut all = base.body.caps.clone();
        for cap in caps {
            if !all.contains(&cap) {
                all.push(cap);
            }
        }
        out.set.push(Grant::value(CAPS, all.join(",")));
    }
    if !binds.is_empty() {
        let prefixes = bind_mounts(&base.body.bind_mounts, binds, &mut out.uncovered);
        let text: Vec<String> = prefixes.iter().map(ToString::to_string).collect();
        out.set.push(Grant::value(BIND_MOUNTS, text.join(",")));
    }
    out
}

/// Whether one of the item's choices is wholly in `chosen`.
fn met(item: &Item, chosen: &[Grant]) -> bool {
    item.choices
        .iter()
        .any(|choice| choice.iter().all(|g| chosen.contains(g)))
}

/// Flags in the order `--help` lists them, then the body grants.
fn rank(var: &str) -> usize {
    Flag::all()
        .position(|f| f.var() == var)
        .unwrap_or(usize::MAX)
}

/// The base's prefixes and each needed host path that they and the other needed paths do not
/// already cover. A path below one granted writable can never be mounted (the client could
/// have made it a link), so no list covers both: that need is reported instead.
fn bind_mounts(
    base: &[Prefix],
    mut needed: Vec<(String, bool)>,
    uncovered: &mut Vec<String>,
) -> Vec<Prefix> {
    needed.sort();
    needed.dedup();
    let prefix = |(path, read_only): &(String, bool)| {
        Prefix::parse(&if *read_only {
            format!("{path}:ro")
        } else {
            path.clone()
        })
    };
    let mut kept: Vec<(String, bool)> = needed.clone();
    let mut at = 0;
    while at < kept.len() {
        let others: Vec<Prefix> = base
            .iter()
            .cloned()
            .chain(
                kept.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != at)
                    .filter_map(|(_, need)| prefix(need)),
            )
            .collect();
        let (path, read_only) = &kept[at];
        if paths::judge(&others, path, *read_only) == PathVerdict::Allowed {
            kept.remove(at);
        } else {
            at += 1;
        }
    }
    let mut all: Vec<Prefix> = base.to_vec();
    all.extend(kept.iter().filter_map(prefix));
    for (path, read_only) in &needed {
        let need = (path.clone(), *read_only);
        if let PathVerdict::BelowWritable(writable) = paths::judge(&all, path, *read_only) {
            uncovered.push(format!(
                "the host path {path} lies below {writable}, which is granted writable: no \
                 ALLOW_BIND_MOUNTS allows both short of the whole host (mount {writable} itself, \
                 or grant it :ro)"
            ));
            let useless = prefix(&need);
            all.retain(|p| Some(p) != useless.as_ref());
        }
    }
    all
}

#[cfg(test)]
mod tests;
