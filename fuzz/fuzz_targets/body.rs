//! Body inspection: no panics, and allowing more never refuses more (a body allowed under the
//! default grant is allowed under the permissive one; a permissive refusal is only ambiguity or
//! what no grant allows, the reserved `dockgate.*` labels), and ambiguity never depends on the
//! grant.
#![no_main]

use dockgate::api::Inspection;
use dockgate::inspect::{check, BodyPolicy, EngineDefaults, Facts};
use libfuzzer_sys::fuzz_target;

/// 400 for ambiguity, 403 for findings a grant would allow, 451 for findings none allows,
/// 200 for allowed.
fn status(judged: Result<dockgate::inspect::Judgement, dockgate::inspect::json::Ambiguous>) -> u16 {
    match judged {
        Err(_) => 400,
        Ok(j) if j.findings.is_empty() => 200,
        Ok(j) if j.findings.iter().any(|f| f.needs.choices.is_empty()) => 451,
        Ok(_) => 403,
    }
}

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
        Inspection::ContainerStart,
    ];
    let kind = kinds[selector as usize % kinds.len()];
    // An engine holding no objects: every name a body borrows from is unknown to it.
    let facts = Facts::closed(EngineDefaults::strictest());
    let strict = status(check(
        kind,
        Some("c"),
        "",
        body,
        &BodyPolicy::default(),
        &facts,
    ));
    let loose = status(check(
        kind,
        Some("c"),
        "",
        body,
        &BodyPolicy::everything(),
        &facts,
    ));
    assert_ne!(loose, 403, "the permissive grant refused on policy");
    assert_eq!(
        strict == 400,
        loose == 400,
        "ambiguity must not depend on the grant"
    );
});
