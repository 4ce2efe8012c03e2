//! Body inspection: no panics, and allowing more never refuses more (a body allowed under the
//! default policy is allowed under the permissive one; a permissive refusal is only ambiguity).
#![no_main]

use dockgate::inspect::paths::Prefix;
use dockgate::inspect::{check_body, BodyPolicy, Inspection};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kinds = [
        Inspection::ContainerCreate,
        Inspection::ContainerUpdate,
        Inspection::ExecCreate,
        Inspection::VolumeCreate,
        Inspection::ServiceSpec,
    ];
    let kind = kinds[selector as usize % kinds.len()];
    let strict = check_body(kind, body, &BodyPolicy::default());
    let permissive = BodyPolicy {
        privileged: true,
        host_namespaces: true,
        devices: true,
        security_opts: true,
        remote_fetch: true,
        caps: vec!["ALL".into()],
        bind_mounts: vec![Prefix::parse("/").unwrap()],
        ..BodyPolicy::default()
    };
    let loose = check_body(kind, body, &permissive);
    if strict.is_ok() {
        assert!(
            loose.is_ok(),
            "allowed strictly but refused permissively: {loose:?}"
        );
    }
    if let Err(refusal) = loose {
        assert_eq!(
            refusal.status, 400,
            "the permissive policy refused on policy: {refusal:?}"
        );
        assert_eq!(
            strict.map_err(|r| r.status),
            Err(400),
            "ambiguity must not depend on policy"
        );
    }
});
