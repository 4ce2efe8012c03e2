//! The decision: granted variables and a request's route in; allow, or refuse with the fix.
//!
//! Pure and allocation-free on the allow path, so it can be unit-tested, fuzzed and benchmarked
//! without a socket in sight.

use std::fmt;

use crate::api::{Access, Facet, Lookup, Method, Route, Section, Target};
use crate::needs::{Grant, Item, Needs};

/// A boolean variable that grants something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flag {
    Section(Section),
    Post,
    AllowStart,
    AllowStop,
    AllowRestarts,
    AllowPause,
    AllowUnpause,
    AllowArchive,
    AllowExport,
    AllowLogs,
    AllowTop,
    AllowChanges,
}

impl Flag {
    /// Every flag that is not a section, in the order they are documented.
    pub const OTHERS: [Flag; 11] = [
        Flag::Post,
        Flag::AllowStart,
        Flag::AllowStop,
        Flag::AllowRestarts,
        Flag::AllowPause,
        Flag::AllowUnpause,
        Flag::AllowArchive,
        Flag::AllowExport,
        Flag::AllowLogs,
        Flag::AllowTop,
        Flag::AllowChanges,
    ];

    pub fn var(self) -> &'static str {
        match self {
            Flag::Section(section) => section.var(),
            Flag::Post => "POST",
            Flag::AllowStart => "ALLOW_START",
            Flag::AllowStop => "ALLOW_STOP",
            Flag::AllowRestarts => "ALLOW_RESTARTS",
            Flag::AllowPause => "ALLOW_PAUSE",
            Flag::AllowUnpause => "ALLOW_UNPAUSE",
            Flag::AllowArchive => "ALLOW_ARCHIVE",
            Flag::AllowExport => "ALLOW_EXPORT",
            Flag::AllowLogs => "ALLOW_LOGS",
            Flag::AllowTop => "ALLOW_TOP",
            Flag::AllowChanges => "ALLOW_CHANGES",
        }
    }

    /// What a flag is when its variable is not set: Tecnativa's defaults, and the linuxserver
    /// restrictions inside `CONTAINERS` left open so log viewers keep working.
    pub fn default_on(self) -> bool {
        matches!(
            self,
            Flag::Section(Section::Events | Section::Ping | Section::Version)
                | Flag::AllowLogs
                | Flag::AllowTop
                | Flag::AllowChanges
        )
    }

    fn bit(self) -> u64 {
        let index = match self {
            Flag::Section(section) => section as u32,
            Flag::Post => 32,
            Flag::AllowStart => 33,
            Flag::AllowStop => 34,
            Flag::AllowRestarts => 35,
            Flag::AllowPause => 36,
            Flag::AllowUnpause => 37,
            Flag::AllowArchive => 38,
            Flag::AllowExport => 39,
            Flag::AllowLogs => 40,
            Flag::AllowTop => 41,
            Flag::AllowChanges => 42,
        };
        1 << index
    }

    pub fn all() -> impl Iterator<Item = Flag> {
        Section::ALL
            .into_iter()
            .map(Flag::Section)
            .chain(Flag::OTHERS)
    }
}

/// A set of flags.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags(u64);

impl Flags {
    pub fn of(flags: &[Flag]) -> Flags {
        Flags(flags.iter().fold(0, |bits, f| bits | f.bit()))
    }

    /// The flags that are on when no variable is set.
    pub fn defaults() -> Flags {
        let mut flags = Flags::default();
        for flag in Flag::all().filter(|f| f.default_on()) {
            flags.set(flag, true);
        }
        flags
    }

    /// Every flag on: what no configuration can exceed.
    pub fn all_on() -> Flags {
        let mut flags = Flags::default();
        for flag in Flag::all() {
            flags.set(flag, true);
        }
        flags
    }

    pub fn set(&mut self, flag: Flag, on: bool) {
        if on {
            self.0 |= flag.bit();
        } else {
            self.0 &= !flag.bit();
        }
    }

    pub fn has(self, flag: Flag) -> bool {
        self.0 & flag.bit() != 0
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::all().filter(move |f| self.has(*f))
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Flag::var)).finish()
    }
}

/// What a route needs: all of `all`, or any one of `any` on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requires {
    pub all: Flags,
    pub any: Flags,
}

/// The variables that open `route` in `section`.
pub fn requires(section: Section, route: &Route) -> Requires {
    let mut all = Flags::default();
    let mut any = Flags::default();
    all.set(Flag::Section(section), true);
    if route.access == Access::Write {
        all.set(Flag::Post, true);
    }
    match route.facet {
        None => {}
        Some(Facet::ExecCreate) => all.set(Flag::Section(Section::Exec), true),
        Some(Facet::Archive) => all.set(Flag::AllowArchive, true),
        Some(Facet::Export) => all.set(Flag::AllowExport, true),
        Some(Facet::Logs) => all.set(Flag::AllowLogs, true),
        Some(Facet::Top) => all.set(Flag::AllowTop, true),
        Some(Facet::Changes) => all.set(Flag::AllowChanges, true),
        Some(Facet::Start) => any.set(Flag::AllowStart, true),
        Some(Facet::Stop) => {
            any.set(Flag::AllowStop, true);
            any.set(Flag::AllowRestarts, true);
        }
        Some(Facet::Restart | Facet::Kill) => any.set(Flag::AllowRestarts, true),
        Some(Facet::Pause) => any.set(Flag::AllowPause, true),
        Some(Facet::Unpause) => any.set(Flag::AllowUnpause, true),
    }
    Requires { all, any }
}

/// The policy in force: which variables are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    granted: Flags,
}

/// An allowed request: the route it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    pub section: Section,
    pub route: &'static Route,
}

/// Why a request is refused; `Display` is the message a client sees after `dockgate: METHOD PATH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A route the variables do not open; `missing` are the unset ones it needs.
    NotGranted { missing: Flags, alternatives: Flags },
    /// Not a route of the Docker API that dockgate knows, for this method.
    UnknownRoute,
    /// The engine's debug endpoints.
    Debug,
    /// Podman's API.
    Libpod,
    /// An `Upgrade` header the route does not take.
    UnexpectedUpgrade,
}

impl Refusal {
    /// 400 for requests no correct client sends, 403 for policy.
    pub fn status(self) -> u16 {
        match self {
            Refusal::UnexpectedUpgrade => 400,
            _ => 403,
        }
    }

    /// The variables that would allow the request, for logs: `NETWORKS=1`, or empty.
    pub fn hint(self) -> String {
        match self {
            Refusal::NotGranted {
                missing,
                alternatives,
            } => hint(missing, alternatives),
            _ => String::new(),
        }
    }
}

impl Refusal {
    /// What would allow it, as data: every missing variable, or one of the narrow alternatives.
    pub fn needs(self) -> Needs {
        let Refusal::NotGranted {
            missing,
            alternatives,
        } = self
        else {
            return Needs::none();
        };
        let on =
            |flags: Flags| -> Vec<Grant> { flags.iter().map(|f| Grant::on(f.var())).collect() };
        if alternatives.is_empty() {
            return Needs {
                items: on(missing).into_iter().map(Item::one).collect(),
            };
        }
        let mut choices: Vec<Vec<Grant>> = on(alternatives).into_iter().map(|g| vec![g]).collect();
        if !missing.is_empty() {
            choices.push(on(missing));
        }
        Needs {
            items: vec![Item { choices }],
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotGranted {
                missing,
                alternatives,
            } => {
                write!(f, "is not allowed; set {}", hint(*missing, *alternatives))
            }
            Refusal::UnknownRoute => f.write_str("is not a Docker API route that dockgate knows"),
            Refusal::Debug => f.write_str("is never forwarded: it exposes the engine's internals"),
            Refusal::Libpod => f.write_str("is Podman's API, which dockgate does not serve"),
            Refusal::UnexpectedUpgrade => {
                f.write_str("asks to upgrade the connection to a protocol this route does not take")
            }
        }
    }
}

/// `ALLOW_START=1 (or CONTAINERS=1 and POST=1)`: the narrow grant first.
fn hint(missing: Flags, alternatives: Flags) -> String {
    let missing_text = join(missing);
    if alternatives.is_empty() {
        return missing_text;
    }
    let narrow: Vec<String> = alternatives
        .iter()
        .map(|f| format!("{}=1", f.var()))
        .collect();
    let mut text = narrow[0].clone();
    let others = narrow[1..]
        .iter()
        .cloned()
        .chain((!missing.is_empty()).then_some(missing_text));
    let others: Vec<String> = others.collect();
    if !others.is_empty() {
        text.push_str(" (or ");
        text.push_str(&others.join(", or "));
        text.push(')');
    }
    text
}

fn join(flags: Flags) -> String {
    let vars: Vec<String> = flags.iter().map(|f| format!("{}=1", f.var())).collect();
    match vars.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl Policy {
    pub fn new(granted: Flags) -> Policy {
        Policy { granted }
    }

    pub fn granted(&self) -> Flags {
        self.granted
    }

    /// Judges one request: its method, canonical target and `Upgrade` header, if any.
    pub fn decide(
        &self,
        method: Method,
        target: &Target<'_>,
        upgrade: Option<&str>,
    ) -> Result<Allowed, Refusal> {
        let (section, route) = match target.route(method) {
            Lookup::Route(section, route) => (section, route),
            Lookup::WrongMethod(_) | Lookup::Unknown => return Err(Refusal::UnknownRoute),
            Lookup::Debug => return Err(Refusal::Debug),
            Lookup::Libpod => return Err(Refusal::Libpod),
        };
        let needs = requires(section, route);
        let by_alternative = self.granted.0 & needs.any.0 != 0;
        let missing = needs.all.without(self.granted);
        if !by_alternative && !missing.is_empty() {
            return Err(Refusal::NotGranted {
                missing,
                alternatives: needs.any,
            });
        }
        if let Some(asked) = upgrade {
            if !route.upgrade.is_some_and(|u| u.accepts(asked)) {
                return Err(Refusal::UnexpectedUpgrade);
            }
        }
        Ok(Allowed { section, route })
    }
}

#[cfg(test)]
mod tests;
