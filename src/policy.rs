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

    fn all() -> impl Iterator<Item = Flag> {
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
mod tests {
    use super::*;
    use crate::api::{all_routes, Seg};

    fn policy(flags: &[Flag]) -> Policy {
        let mut granted = Flags::defaults();
        for f in flags {
            granted.set(*f, true);
        }
        Policy::new(granted)
    }

    fn decide(p: &Policy, method: &str, path: &str) -> Result<Allowed, Refusal> {
        p.decide(Method::parse(method), &Target::parse(path).unwrap(), None)
    }

    fn message(p: &Policy, method: &str, path: &str) -> String {
        let refusal = decide(p, method, path).expect_err("should be refused");
        format!(
            "dockgate: {method} {} {refusal}",
            Target::parse(path).unwrap().path()
        )
    }

    fn sample_path(section: Section, route: &Route) -> String {
        let mut path = format!("/v1.41/{}", section.segment());
        for seg in route.pattern {
            path.push('/');
            path.push_str(match seg {
                Seg::Lit(l) => l,
                Seg::Var => "c0ffee",
                Seg::Rest => "registry.local/team/app:1.0",
            });
        }
        path
    }

    /// The routes a policy opens, as "METHOD /path" strings.
    fn opened(p: &Policy) -> Vec<String> {
        all_routes()
            .map(|(s, r)| (r.method.name_for_tests(), sample_path(s, r)))
            .filter(|(m, path)| decide(p, m, path).is_ok())
            .map(|(m, path)| format!("{m} {path}"))
            .collect()
    }

    #[test]
    fn defaults_open_exactly_ping_version_and_events() {
        assert_eq!(
            opened(&policy(&[])),
            [
                "GET /v1.41/events",
                "GET /v1.41/_ping",
                "HEAD /v1.41/_ping",
                "GET /v1.41/version",
            ]
        );
    }

    #[test]
    fn each_section_alone_opens_exactly_its_reads() {
        let base = opened(&Policy::new(Flags::default()));
        assert!(base.is_empty(), "{base:?}");
        for section in Section::ALL {
            let p = Policy::new(Flags::of(&[Flag::Section(section)]));
            let prefix = format!("/v1.41/{}", section.segment());
            for (s, r) in all_routes() {
                let path = sample_path(s, r);
                let allowed = decide(&p, r.method.name_for_tests(), &path).is_ok();
                let expected = s == section && r.access == Access::Read && r.facet.is_none();
                assert_eq!(allowed, expected, "{} with only {}", path, section.var());
                if allowed {
                    assert!(path.starts_with(&prefix));
                }
            }
        }
    }

    #[test]
    fn each_section_with_post_opens_exactly_its_unfaceted_routes() {
        for section in Section::ALL {
            let p = Policy::new(Flags::of(&[Flag::Section(section), Flag::Post]));
            for (s, r) in all_routes() {
                let path = sample_path(s, r);
                let allowed = decide(&p, r.method.name_for_tests(), &path).is_ok();
                let opens_alone = matches!(
                    r.facet,
                    None | Some(
                        Facet::Start
                            | Facet::Stop
                            | Facet::Restart
                            | Facet::Kill
                            | Facet::Pause
                            | Facet::Unpause
                    )
                );
                assert_eq!(
                    allowed,
                    s == section && opens_alone,
                    "{path} with {}+POST",
                    section.var()
                );
            }
        }
    }

    #[test]
    fn post_alone_opens_nothing() {
        let p = Policy::new(Flags::of(&[Flag::Post]));
        assert!(opened(&p).is_empty());
    }

    #[test]
    fn container_actions_open_alone_and_only_their_action() {
        let cases: [(Flag, &[&str]); 5] = [
            (Flag::AllowStart, &["start"]),
            (Flag::AllowStop, &["stop"]),
            (Flag::AllowRestarts, &["stop", "restart", "kill"]),
            (Flag::AllowPause, &["pause"]),
            (Flag::AllowUnpause, &["unpause"]),
        ];
        for (flag, actions) in cases {
            let p = Policy::new(Flags::of(&[flag]));
            let expected: Vec<String> = actions
                .iter()
                .map(|a| format!("POST /v1.41/containers/c0ffee/{a}"))
                .collect();
            let mut got = opened(&p);
            got.sort();
            let mut expected = expected;
            expected.sort();
            assert_eq!(got, expected, "{}", flag.var());
        }
    }

    #[test]
    fn containers_read_only_does_not_open_writes_or_file_contents() {
        let p = policy(&[Flag::Section(Section::Containers)]);
        assert!(decide(&p, "GET", "/containers/json").is_ok());
        assert!(decide(&p, "GET", "/containers/c/logs").is_ok());
        for (m, path) in [
            ("GET", "/containers/c/attach/ws"),
            ("GET", "/containers/c/archive"),
            ("HEAD", "/containers/c/archive"),
            ("GET", "/containers/c/export"),
            ("POST", "/containers/c/exec"),
            ("POST", "/containers/create"),
            ("DELETE", "/containers/c"),
        ] {
            assert!(decide(&p, m, path).is_err(), "{m} {path}");
        }
    }

    #[test]
    fn exec_create_needs_exec_as_well_as_containers_and_post() {
        let p = policy(&[Flag::Section(Section::Containers), Flag::Post]);
        assert_eq!(
            message(&p, "POST", "/v1.41/containers/c/exec"),
            "dockgate: POST /containers/c/exec is not allowed; set EXEC=1"
        );
        let p = policy(&[
            Flag::Section(Section::Containers),
            Flag::Section(Section::Exec),
            Flag::Post,
        ]);
        assert!(decide(&p, "POST", "/containers/c/exec").is_ok());
        assert!(decide(&p, "POST", "/exec/e/start").is_ok());
    }

    #[test]
    fn archive_and_export_need_their_own_variables() {
        let p = policy(&[Flag::Section(Section::Containers), Flag::Post]);
        assert_eq!(
            message(&p, "GET", "/containers/c/archive"),
            "dockgate: GET /containers/c/archive is not allowed; set ALLOW_ARCHIVE=1"
        );
        assert_eq!(
            message(&p, "GET", "/containers/c/export"),
            "dockgate: GET /containers/c/export is not allowed; set ALLOW_EXPORT=1"
        );
        let p = policy(&[Flag::Section(Section::Containers), Flag::AllowArchive]);
        assert!(decide(&p, "GET", "/containers/c/archive").is_ok());
        assert_eq!(
            message(&p, "PUT", "/containers/c/archive"),
            "dockgate: PUT /containers/c/archive is not allowed; set POST=1"
        );
    }

    #[test]
    fn linuxserver_restrictions_close_their_route_when_set_off() {
        let mut granted = Flags::defaults();
        granted.set(Flag::Section(Section::Containers), true);
        granted.set(Flag::AllowLogs, false);
        let p = Policy::new(granted);
        assert_eq!(
            message(&p, "GET", "/containers/c/logs"),
            "dockgate: GET /containers/c/logs is not allowed; set ALLOW_LOGS=1"
        );
        assert!(decide(&p, "GET", "/containers/c/top").is_ok());
    }

    #[test]
    fn refusal_names_the_missing_variables() {
        let p = policy(&[]);
        assert_eq!(
            message(&p, "GET", "/v1.41/networks"),
            "dockgate: GET /networks is not allowed; set NETWORKS=1"
        );
        assert_eq!(
            message(&p, "POST", "/networks/create"),
            "dockgate: POST /networks/create is not allowed; set NETWORKS=1 and POST=1"
        );
        assert_eq!(
            message(&p, "POST", "/containers/c/exec"),
            "dockgate: POST /containers/c/exec is not allowed; set CONTAINERS=1, EXEC=1 and POST=1"
        );
        assert_eq!(
            message(&p, "POST", "/containers/c/start"),
            "dockgate: POST /containers/c/start is not allowed; set ALLOW_START=1 (or CONTAINERS=1 and POST=1)"
        );
        assert_eq!(
            message(&p, "POST", "/containers/c/stop"),
            "dockgate: POST /containers/c/stop is not allowed; set ALLOW_STOP=1 (or ALLOW_RESTARTS=1, or CONTAINERS=1 and POST=1)"
        );
        let p = policy(&[Flag::Section(Section::Containers)]);
        assert_eq!(
            message(&p, "POST", "/containers/c/restart"),
            "dockgate: POST /containers/c/restart is not allowed; set ALLOW_RESTARTS=1 (or POST=1)"
        );
        assert_eq!(
            message(&p, "GET", "/containers/c/attach/ws"),
            "dockgate: GET /containers/c/attach/ws is not allowed; set POST=1"
        );
    }

    #[test]
    fn refusal_hint_lists_only_what_is_missing() {
        let p = policy(&[Flag::Section(Section::Networks)]);
        let refusal = decide(&p, "DELETE", "/networks/n").unwrap_err();
        assert_eq!(refusal.hint(), "POST=1");
        assert_eq!(refusal.status(), 403);
    }

    #[test]
    fn unknown_debug_and_libpod_are_refused_whatever_is_granted() {
        let p = Policy::new(Flags::all_on());
        assert_eq!(decide(&p, "GET", "/debug/vars"), Err(Refusal::Debug));
        assert_eq!(
            decide(&p, "GET", "/debug/pprof/goroutine"),
            Err(Refusal::Debug)
        );
        assert_eq!(decide(&p, "GET", "/libpod/_ping"), Err(Refusal::Libpod));
        assert_eq!(
            decide(&p, "GET", "/containersx/json"),
            Err(Refusal::UnknownRoute)
        );
        assert_eq!(
            decide(&p, "PATCH", "/containers/c/json"),
            Err(Refusal::UnknownRoute)
        );
        assert_eq!(
            decide(&p, "GET", "/containers/c/start"),
            Err(Refusal::UnknownRoute)
        );
        assert_eq!(
            message(&p, "GET", "/debug/vars"),
            "dockgate: GET /debug/vars is never forwarded: it exposes the engine's internals"
        );
    }

    #[test]
    fn upgrades_are_accepted_only_where_the_route_takes_them() {
        let p = policy(&[
            Flag::Section(Section::Containers),
            Flag::Section(Section::Exec),
            Flag::Post,
        ]);
        let t = Target::parse("/exec/e/start").unwrap();
        assert!(p.decide(Method::Post, &t, Some("tcp")).is_ok());
        assert_eq!(
            p.decide(Method::Post, &t, Some("h2c")),
            Err(Refusal::UnexpectedUpgrade)
        );
        let t = Target::parse("/containers/c/json").unwrap();
        assert_eq!(
            p.decide(Method::Get, &t, Some("websocket")),
            Err(Refusal::UnexpectedUpgrade)
        );
        assert_eq!(Refusal::UnexpectedUpgrade.status(), 400);
        // Not granted wins over a bad upgrade: the operator's fix comes first.
        let t = Target::parse("/session").unwrap();
        assert!(matches!(
            p.decide(Method::Post, &t, Some("tcp")),
            Err(Refusal::NotGranted { .. })
        ));
        let p = policy(&[Flag::Section(Section::Session), Flag::Post]);
        assert!(p.decide(Method::Post, &t, Some("h2c")).is_ok());
    }

    #[test]
    fn flag_bits_are_distinct() {
        let bits: Vec<u64> = Flag::all().map(Flag::bit).collect();
        let mut unique = bits.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(bits.len(), unique.len());
        assert_eq!(bits.len(), 34);
    }
}
