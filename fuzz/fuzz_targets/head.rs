//! The head scanner: no panics, and the verdict does not depend on how the bytes are split
//! across reads.
#![no_main]

use dockgate::head::HeadScanner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let whole = HeadScanner::default().feed(stream);
    let at = (split as usize).min(stream.len());
    let mut scanner = HeadScanner::default();
    let parts = scanner
        .feed(&stream[..at])
        .and_then(|()| scanner.feed(&stream[at..]));
    assert_eq!(whole, parts);
});
