//! A planted crash, for scripts/fuzz-selftest: it panics on any input that starts with `!`, which
//! libFuzzer finds within its first few thousand runs. It proves that a finding fails
//! `scripts/fuzz`; it tests nothing of dockgate's and is never fuzzed by default.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'!') {
        panic!("planted crash: the input starts with '!'");
    }
});
