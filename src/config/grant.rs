//! A grant written in the environment's vocabulary (`CONTAINERS=1 POST=0 ALLOW_BIND_MOUNTS=/srv`),
//! applied over a base grant: the one parser behind the environment's default grant, each
//! profile of the config file and each preset, so a name means the same everywhere.

use super::values::parse_bool;
use super::vars::{Kind, VARIABLES};
use super::warnings::likely_meant;
use super::{Builder, ConfigError};
use crate::api::Section;
use crate::policy::{Flag, Policy};
use crate::profile::Profile;

/// Why one entry of a grant is not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("{name} is not a dockgate variable{}", meant.map(|m| format!("; did you mean {m}?")).unwrap_or_default())]
    Unknown {
        name: String,
        meant: Option<&'static str>,
    },
    #[error("{0} is not a grant: it is set once for the whole proxy, in the environment")]
    NotAGrant(String),
    #[error(transparent)]
    Value(#[from] ConfigError),
}

/// Whether `name` is part of a grant (a section, `POST`, or an `ALLOW_*` variable) rather than a
/// setting of the whole process (`LISTEN`, `MAX_BODY`, ...).
pub fn is_grant(name: &str) -> bool {
    Section::ALL.iter().any(|s| s.var() == name)
        || VARIABLES.iter().any(|v| {
            v.name == name && (matches!(v.kind, Kind::Flag(_)) || v.name.starts_with("ALLOW_"))
        })
}

/// `base` with each `(name, value)` applied in order.
pub fn apply<'a>(
    base: &Profile,
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Profile, (String, GrantError)> {
    let mut builder = Builder::new();
    builder.granted = base.policy.granted();
    builder.body = base.body.clone();
    for (name, value) in entries {
        one(&mut builder, name, value).map_err(|e| (name.to_string(), e))?;
    }
    Ok(Profile {
        policy: Policy::new(builder.granted),
        body: builder.body,
    })
}

fn one(builder: &mut Builder, name: &str, value: &str) -> Result<(), GrantError> {
    if let Some(section) = Section::ALL.into_iter().find(|s| s.var() == name) {
        builder
            .granted
            .set(Flag::Section(section), parse_bool(name, value)?);
        return Ok(());
    }
    let Some(variable) = VARIABLES.iter().find(|v| v.name == name) else {
        return Err(GrantError::Unknown {
            name: name.into(),
            meant: likely_meant(name, value),
        });
    };
    if !is_grant(name) {
        return Err(GrantError::NotAGrant(name.into()));
    }
    variable.apply(builder, Some(value))?;
    Ok(())
}

/// A TOML value as the environment would spell it: `true`/`1` → `1`, strings as they are.
pub fn toml_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::Boolean(b) => Some(if *b { "1" } else { "0" }.to_string()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}
