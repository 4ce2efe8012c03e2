//! Everything judged that is not a container body: volume create, swarm service specs, and the
//! queries of build, image create and the legacy start.

use super::json::{Ambiguous, Json};
use super::{path, query, Judge};
use crate::needs::Grant;

impl Judge<'_> {
    pub(super) fn volume_create(&mut self, body: &Json) -> Result<(), Ambiguous> {
        let driver = match body.field("", "Driver")? {
            Some(driver) => driver.as_str("Driver")?,
            None => "",
        };
        if let Some(options) = body.field("", "DriverOpts")? {
            self.driver_options_json(driver, options, "DriverOpts", false)?;
        }
        Ok(())
    }

    pub(super) fn service_spec(&mut self, spec: &Json) -> Result<(), Ambiguous> {
        if let Some(networks) = spec.field("", "Networks")? {
            self.service_networks(networks, "Networks")?;
        }
        let Some(task) = spec.field("", "TaskTemplate")? else {
            return Ok(());
        };
        let at = "TaskTemplate";
        if task.field(at, "PluginSpec")?.is_some() {
            self.refuse(
                "TaskTemplate.PluginSpec (plugins run as root) is not allowed; set ALLOW_PRIVILEGED=1".into(),
                Grant::on("ALLOW_PRIVILEGED"),
                self.policy.privileged,
            );
        }
        if let Some(networks) = task.field(at, "Networks")? {
            self.service_networks(networks, "TaskTemplate.Networks")?;
        }
        let Some(container) = task.field(at, "ContainerSpec")? else {
            return Ok(());
        };
        let at = "TaskTemplate.ContainerSpec";
        self.reserved_labels(container, at)?;
        self.caps(container, at, "CapabilityAdd")?;
        if let Some(mounts) = container.field(at, "Mounts")? {
            let what = path(at, "Mounts");
            for mount in mounts.as_array(&what)? {
                self.mount(mount, &what, false)?;
            }
        }
        let security = || Grant::on("ALLOW_SECURITY_OPTS");
        if let Some(privileges) = container.field(at, "Privileges")? {
            let at = "TaskTemplate.ContainerSpec.Privileges";
            for field in ["Seccomp", "AppArmor", "SELinuxContext"] {
                if privileges.field(at, field)?.is_some() {
                    self.refuse(
                        format!(
                            "{} is not allowed; set ALLOW_SECURITY_OPTS=1",
                            path(at, field)
                        ),
                        security(),
                        self.policy.security_opts,
                    );
                }
            }
        }
        if let Some(sysctls) = container.field(at, "Sysctls")? {
            let what = path(at, "Sysctls");
            let empty = sysctls.as_map(&what)?.is_empty();
            self.refuse(
                format!("{what} is not allowed; set ALLOW_SECURITY_OPTS=1"),
                security(),
                empty || self.policy.security_opts,
            );
        }
        Ok(())
    }

    /// `Target` is a network's name or id; the host network under its id is still the host's.
    fn service_networks(&mut self, networks: &Json, at: &str) -> Result<(), Ambiguous> {
        for network in networks.as_array(at)? {
            if let Some(target) = network.field(at, "Target")? {
                let target = target.as_str(&path(at, "Target"))?;
                self.network(target, &format!("{at} Target={target}"));
            }
        }
        Ok(())
    }

    /// The classic builder runs each `RUN` in a container made from these (moby
    /// `api/server/router/build/build_routes.go`); BuildKit reads `networkmode` too.
    pub(super) fn build_query(&mut self, query: &str) -> Result<(), Ambiguous> {
        let values = query::first_values(query, &["networkmode", "remote", "cgroupparent"])
            .map_err(Ambiguous::Query)?;
        for (key, value) in values {
            match key {
                "networkmode" if value == "host" => self.refuse(
                    "POST /build?networkmode=host is not allowed; set ALLOW_HOST_NAMESPACES=1".into(),
                    Grant::on("ALLOW_HOST_NAMESPACES"),
                    self.policy.host_namespaces,
                ),
                "networkmode" => {
                    let what = format!("POST /build?networkmode={value}");
                    match value.strip_prefix("container:") {
                        Some(other) => self.borrow(other, &what, super::Aspects::NETWORK, false),
                        None => self.network(&value, &what),
                    }
                }
                "remote" if !value.is_empty() => self.refuse(
                    "POST /build?remote= (the engine fetches a URL) is not allowed; set ALLOW_REMOTE_FETCH=1"
                        .into(),
                    Grant::on("ALLOW_REMOTE_FETCH"),
                    self.policy.remote_fetch,
                ),
                "cgroupparent" if !value.is_empty() => self.refuse(
                    "POST /build?cgroupparent= is not allowed; set ALLOW_SECURITY_OPTS=1".into(),
                    Grant::on("ALLOW_SECURITY_OPTS"),
                    self.policy.security_opts,
                ),
                _ => {}
            }
        }
        // Every value counts: the handler reads `r.Form["securityopt"]`, a list.
        for opt in query::all_values(query, "securityopt").map_err(Ambiguous::Query)? {
            let harmless = matches!(
                opt.as_str(),
                "" | "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true"
            );
            self.refuse(
                format!("POST /build?securityopt={opt} is not allowed; set ALLOW_SECURITY_OPTS=1"),
                Grant::on("ALLOW_SECURITY_OPTS"),
                harmless || self.policy.security_opts,
            );
        }
        Ok(())
    }

    pub(super) fn image_create_query(&mut self, query: &str) -> Result<(), Ambiguous> {
        for (_, value) in query::first_values(query, &["fromSrc"]).map_err(Ambiguous::Query)? {
            self.refuse(
                "POST /images/create?fromSrc=<url> (the engine fetches a URL) is not allowed; set ALLOW_REMOTE_FETCH=1"
                    .into(),
                Grant::on("ALLOW_REMOTE_FETCH"),
                value.is_empty() || value == "-" || self.policy.remote_fetch,
            );
        }
        Ok(())
    }
}
