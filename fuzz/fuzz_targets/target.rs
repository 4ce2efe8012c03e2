//! Path canonicalisation, route matching and the decision: no panics, and what dockgate forwards
//! canonicalises back to exactly what it judged.
#![no_main]

use dockgate::api::{Method, Target};
use dockgate::policy::{Flags, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let method = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Other,
    ][selector as usize % 6];
    let Ok(target) = Target::parse(path) else {
        return;
    };
    let forwarded = target.forward_path(path).into_owned();
    let again = Target::parse(&forwarded).expect("a forwarded path parses");
    assert_eq!(
        again.path(),
        target.path(),
        "forwarding changed the meaning of {path:?}"
    );
    assert_eq!(again.version(), target.version());
    for policy in [Policy::new(Flags::defaults()), Policy::new(Flags::all_on())] {
        let decision = policy.decide(method, &target, None);
        assert_eq!(decision, policy.decide(method, &again, None));
    }
});
