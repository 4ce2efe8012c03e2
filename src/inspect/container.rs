//! Container bodies: create (and the legacy start body, decoded the same way), update, and the
//! containers a request borrows from.
//!
//! Engines up to 26 decode a create body into a wrapper that embeds the whole HostConfig at the
//! top level beside `"HostConfig"` (moby `runconfig/config_unix.go`), and use those top-level
//! fields when `"HostConfig"` is absent or null; a few (`Memory`, `CpusetCpus`, `VolumeDriver`,
//! ...) even when it is present. Both are judged, always: a field the engine may honour is judged
//! wherever it stands.

use super::facts::{Found, Ref};
use super::json::{Ambiguous, Json};
use super::{normalise_cap, path, query, Aspects, Judge};
use crate::needs::Grant;

/// Namespace modes and what `host` means for each.
const NAMESPACES: [&str; 6] = [
    "PidMode",
    "IpcMode",
    "UTSMode",
    "UsernsMode",
    "CgroupnsMode",
    "NetworkMode",
];

/// Network modes that name no network object.
fn builtin_network(mode: &str) -> bool {
    matches!(mode, "" | "default" | "bridge" | "none" | "host") || mode.starts_with("container:")
}

impl Judge<'_> {
    pub(super) fn create_body(&mut self, body: &Json) -> Result<(), Ambiguous> {
        self.reserved_labels(body, "")?;
        if let Some(host) = body.field("", "HostConfig")? {
            self.host_config(host, "HostConfig")?;
        }
        self.host_config(body, "")?;
        if let Some(networking) = body.field("", "NetworkingConfig")? {
            let at = "NetworkingConfig";
            if let Some(endpoints) = networking.field(at, "EndpointsConfig")? {
                let at = "NetworkingConfig.EndpointsConfig";
                for (name, endpoint) in endpoints.as_map(at)? {
                    self.network(name, &format!("{at} {name:?}"));
                    if let Some(id) = endpoint.field(at, "NetworkID")? {
                        let id = id.as_str(&path(at, "NetworkID"))?;
                        if !id.is_empty() {
                            self.network(id, &format!("{at} {name:?} NetworkID"));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `checkpoint-dir` restores a container from a host directory.
    pub(super) fn start_query(&mut self, query: &str) -> Result<(), Ambiguous> {
        for (_, dir) in query::first_values(query, &["checkpoint-dir"]).map_err(Ambiguous::Query)? {
            if !dir.is_empty() {
                self.host_path(format!("POST start?checkpoint-dir={dir}"), &dir, true);
            }
        }
        Ok(())
    }

    /// One HostConfig; `at` is `HostConfig`, or empty for the fields at the top level of a body.
    pub(super) fn host_config(&mut self, host: &Json, at: &str) -> Result<(), Ambiguous> {
        self.host_config_aspects(host, at, Aspects::ALL, false)
    }

    /// The namespace modes of `aspects`: `host`, `container:NAME`, and networks by name or id.
    fn namespaces(&mut self, host: &Json, at: &str, aspects: Aspects) -> Result<(), Ambiguous> {
        for mode in NAMESPACES {
            let wanted = match mode {
                "NetworkMode" => aspects.network,
                "PidMode" => aspects.pid,
                "IpcMode" => aspects.ipc,
                _ => aspects.process,
            };
            let what = path(at, mode);
            let Some(value) = host.field(at, mode)? else {
                continue;
            };
            let value = value.as_str(&what)?;
            if !wanted {
                continue;
            }
            if value == "host" {
                // cgroup v1 hosts share the host's cgroup namespace unless told otherwise.
                let default = mode == "CgroupnsMode" && self.facts.defaults.cgroup_v1;
                self.refuse(
                    format!("{what}=host is not allowed; set ALLOW_HOST_NAMESPACES=1"),
                    Grant::on("ALLOW_HOST_NAMESPACES"),
                    default || self.policy.host_namespaces,
                );
            } else if let Some(other) = value.strip_prefix("container:") {
                let borrowed = match mode {
                    "NetworkMode" => Aspects::NETWORK,
                    "PidMode" => Aspects::PID,
                    "IpcMode" => Aspects::IPC,
                    // The engine has no such mode; it refuses the request itself.
                    _ => continue,
                };
                self.borrow(other, &format!("{what}={value}"), borrowed, false);
            } else if mode == "NetworkMode" && !builtin_network(value) {
                self.network(value, &format!("{what}={value}"));
            }
        }
        Ok(())
    }

    /// A network named by name or id: the host network under another name is still the host's.
    pub(super) fn network(&mut self, name: &str, what: &str) {
        if name == "host" {
            self.refuse(
                format!("{what} joins the host's network namespace; set ALLOW_HOST_NAMESPACES=1"),
                Grant::on("ALLOW_HOST_NAMESPACES"),
                self.policy.host_namespaces,
            );
            return;
        }
        if builtin_network(name) {
            return;
        }
        let facts = self.facts;
        match facts.network(name) {
            Found::Yes(network) if network.driver == "host" => self.refuse(
                format!(
                    "{what} names network {:?}, the host's network namespace; set ALLOW_HOST_NAMESPACES=1",
                    network.name
                ),
                Grant::on("ALLOW_HOST_NAMESPACES"),
                self.policy.host_namespaces,
            ),
            Found::Yes(_) | Found::No => {}
            Found::Unknown => self.unresolved(Ref::Network(name.to_string())),
        }
    }

    /// `CapAdd`, `CapabilityAdd`: a string or a list, as Go's `StrSlice` takes either.
    pub(super) fn caps(&mut self, object: &Json, at: &str, field: &str) -> Result<(), Ambiguous> {
        let what = path(at, field);
        let Some(caps) = object.field(at, field)? else {
            return Ok(());
        };
        let all = self.policy.caps.iter().any(|c| c == "ALL");
        for cap in str_slice(caps, &what)? {
            let cap = normalise_cap(cap);
            let granted = all || self.policy.caps.contains(&cap);
            self.refuse(
                format!("{what} {cap} is not allowed; add it to ALLOW_CAPS"),
                Grant::value("ALLOW_CAPS", cap.clone()),
                granted,
            );
        }
        Ok(())
    }

    /// The fields of the engine's `Resources`, embedded in HostConfig and in update bodies.
    pub(super) fn resources(&mut self, object: &Json, at: &str) -> Result<(), Ambiguous> {
        for field in ["Devices", "DeviceCgroupRules", "DeviceRequests"] {
            if let Some(value) = object.field(at, field)? {
                let what = path(at, field);
                value.as_array(&what)?;
                self.refuse(
                    format!("{what} is not allowed; set ALLOW_DEVICES=1"),
                    Grant::on("ALLOW_DEVICES"),
                    value.is_empty_collection() || self.policy.devices,
                );
            }
        }
        if let Some(parent) = object.field(at, "CgroupParent")? {
            let what = path(at, "CgroupParent");
            let empty = parent.as_str(&what)?.is_empty();
            self.refuse(
                format!("{what} is not allowed; set ALLOW_SECURITY_OPTS=1"),
                Grant::on("ALLOW_SECURITY_OPTS"),
                empty || self.policy.security_opts,
            );
        }
        Ok(())
    }

    /// Seccomp, AppArmor, SELinux, masked paths, sysctls, runtimes: what confines a container.
    fn confinement(&mut self, host: &Json, at: &str) -> Result<(), Ambiguous> {
        let granted = self.policy.security_opts;
        let needs = || Grant::on("ALLOW_SECURITY_OPTS");
        if let Some(opts) = host.field(at, "SecurityOpt")? {
            let what = path(at, "SecurityOpt");
            for opt in opts.as_array(&what)? {
                let opt = opt.as_str(&what)?;
                let harmless = matches!(
                    opt,
                    "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true"
                );
                self.refuse(
                    format!("{what} {opt:?} is not allowed; set ALLOW_SECURITY_OPTS=1"),
                    needs(),
                    harmless || granted,
                );
            }
        }
        // A list replaces the engine's masking of /proc and /sys; one that keeps every default
        // (a recreate from inspect output, or one that masks more) takes nothing away.
        let facts = self.facts;
        let defaults = &facts.defaults;
        for (field, floor) in [
            ("MaskedPaths", &defaults.masked_paths),
            ("ReadonlyPaths", &defaults.readonly_paths),
        ] {
            let what = path(at, field);
            let Some(list) = host.field(at, field)? else {
                continue;
            };
            let mut given = vec![];
            for item in list.as_array(&what)? {
                given.push(item.as_str(&what)?);
            }
            let dropped: Vec<&str> = floor
                .iter()
                .map(String::as_str)
                .filter(|p| !given.contains(p))
                .collect();
            self.refuse(
                format!(
                    "{what} leaves out the engine's default {}; set ALLOW_SECURITY_OPTS=1",
                    dropped.join(", ")
                ),
                needs(),
                dropped.is_empty() || granted,
            );
        }
        for field in ["Sysctls", "Annotations"] {
            if let Some(value) = host.field(at, field)? {
                let what = path(at, field);
                let empty = value.as_map(&what)?.is_empty();
                self.refuse(
                    format!("{what} is not allowed; set ALLOW_SECURITY_OPTS=1"),
                    needs(),
                    empty || granted,
                );
            }
        }
        if let Some(runtime) = host.field(at, "Runtime")? {
            let what = path(at, "Runtime");
            let runtime = runtime.as_str(&what)?;
            // runc is every engine's own; another default is what this engine was set up with.
            let default =
                matches!(runtime, "" | "runc") || runtime == self.facts.defaults.default_runtime;
            self.refuse(
                format!("{what}={runtime} is not allowed; set ALLOW_SECURITY_OPTS=1"),
                needs(),
                default || granted,
            );
        }
        Ok(())
    }

    /// `Binds`, `Mounts` and `VolumesFrom`; `read_only` when the borrower takes them read-only.
    pub(super) fn mounts(
        &mut self,
        host: &Json,
        at: &str,
        read_only: bool,
    ) -> Result<(), Ambiguous> {
        if let Some(binds) = host.field(at, "Binds")? {
            let what = path(at, "Binds");
            for bind in binds.as_array(&what)? {
                self.bind(bind.as_str(&what)?, &what, read_only)?;
            }
        }
        if let Some(mounts) = host.field(at, "Mounts")? {
            let what = path(at, "Mounts");
            for mount in mounts.as_array(&what)? {
                self.mount(mount, &what, read_only)?;
            }
        }
        if let Some(from) = host.field(at, "VolumesFrom")? {
            let what = path(at, "VolumesFrom");
            for spec in from.as_array(&what)? {
                let spec = spec.as_str(&what)?;
                // `name[:ro|:rw]`, as moby's `ParseVolumesFrom` splits it.
                let (name, mode) = spec.split_once(':').unwrap_or((spec, ""));
                let from_read_only = read_only || mode.split(',').any(|m| m == "ro");
                self.borrow(
                    name,
                    &format!("{what} {spec:?}"),
                    Aspects::MOUNTS,
                    from_read_only,
                );
            }
        }
        Ok(())
    }

    /// `src:dst[:opts]` as the engine's Linux parser splits it; a source starting with `/` is a
    /// host path, anything else a named volume.
    fn bind(&mut self, spec: &str, at: &str, read_only: bool) -> Result<(), Ambiguous> {
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() > 3 {
            return Err(Ambiguous::WrongType(format!("{at} {spec:?}")));
        }
        if parts.len() < 2 {
            return Ok(());
        }
        let read_only = read_only
            || parts
                .get(2)
                .is_some_and(|opts| opts.split(',').any(|o| o == "ro"));
        let what = format!("{at} {spec:?}");
        if parts[0].starts_with('/') {
            self.host_path(what, parts[0], read_only);
        } else {
            self.named_volume(parts[0], &what, read_only);
        }
        Ok(())
    }

    pub(super) fn mount(
        &mut self,
        mount: &Json,
        at: &str,
        read_only: bool,
    ) -> Result<(), Ambiguous> {
        let text = |mount: &Json, field: &str| -> Result<String, Ambiguous> {
            Ok(match mount.field(at, field)? {
                Some(value) => value.as_str(&path(at, field))?.to_string(),
                None => String::new(),
            })
        };
        let kind = text(mount, "Type")?;
        let source = text(mount, "Source")?;
        let read_only = read_only
            || match mount.field(at, "ReadOnly")? {
                Some(ro) => ro.as_bool(&path(at, "ReadOnly"))?,
                None => false,
            };
        let mut driver_options = None;
        if let Some(options) = mount.field(at, "VolumeOptions")? {
            let at = &path(at, "VolumeOptions");
            if let Some(config) = options.field(at, "DriverConfig")? {
                let at = &path(at, "DriverConfig");
                let name = match config.field(at, "Name")? {
                    Some(name) => name.as_str(&path(at, "Name"))?.to_string(),
                    None => String::new(),
                };
                if let Some(options) = config.field(at, "Options")? {
                    driver_options = Some((name, options));
                }
            }
        }
        match kind.as_str() {
            "bind" => self.host_path(format!("{at} bind of {source:?}"), &source, read_only),
            "volume" => {
                let what = format!("{at} volume {source:?}");
                if let Some((driver, options)) = driver_options {
                    self.driver_options_json(
                        &driver,
                        options,
                        &format!("{what} options"),
                        read_only,
                    )?;
                }
                if !source.is_empty() {
                    self.named_volume(&source, &what, read_only);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Judges taking `aspects` of container `name` as if the request had asked for what that
    /// container has.
    pub(super) fn borrow(&mut self, name: &str, what: &str, aspects: Aspects, read_only: bool) {
        let facts = self.facts;
        let container = match facts.container(name) {
            Found::Yes(container) => container,
            Found::No => return,
            Found::Unknown => return self.unresolved(Ref::Container(name.to_string())),
        };
        if self.borrowing.contains(&container.name) {
            return;
        }
        self.borrowing.push(container.name.clone());
        let at = format!(
            "{what} takes from container {:?}, whose HostConfig",
            container.name
        );
        if let Err(unreadable) =
            self.host_config_aspects(&container.host_config, &at, aspects, read_only)
        {
            // The engine's own answer; if it cannot be read, nothing in it can be allowed.
            self.refuse(
                format!("{at} could not be read ({unreadable}); set ALLOW_PRIVILEGED=1"),
                Grant::on("ALLOW_PRIVILEGED"),
                self.policy.privileged,
            );
        }
        self.borrowing.pop();
    }

    /// The parts of a HostConfig that `aspects` take; its mounts read-only when `read_only`.
    fn host_config_aspects(
        &mut self,
        host: &Json,
        at: &str,
        aspects: Aspects,
        read_only: bool,
    ) -> Result<(), Ambiguous> {
        if aspects.process {
            self.flag(
                host,
                at,
                "Privileged",
                "ALLOW_PRIVILEGED",
                self.policy.privileged,
            )?;
        }
        self.namespaces(host, at, aspects)?;
        if aspects.process {
            self.caps(host, at, "CapAdd")?;
            self.resources(host, at)?;
            self.confinement(host, at)?;
        }
        if aspects.mounts {
            self.mounts(host, at, read_only)?;
        }
        Ok(())
    }

    /// The container a route's path names (`/containers/{id}/exec`).
    pub(super) fn borrowed_subject(
        &mut self,
        subject: Option<&str>,
        doing: &str,
        aspects: Aspects,
    ) {
        if let Some(name) = subject {
            self.borrow(name, doing, aspects, false);
        }
    }
}

/// Go's `StrSlice`: one string or a list of them.
fn str_slice<'j>(value: &'j Json, what: &str) -> Result<Vec<&'j str>, Ambiguous> {
    match value {
        Json::String(one) => Ok(vec![one]),
        _ => value
            .as_array(what)?
            .iter()
            .map(|v| v.as_str(what))
            .collect(),
    }
}
