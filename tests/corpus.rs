//! The regression corpus in `tests/corpus/`: raw requests, one file each, named after what they
//! guard, filed under the outcome they must get (`refused-400`, `refused-403`, `forwarded`).
//! Each is sent through dockgate to a recording fake engine: nothing refused may ever arrive, and
//! a forwarded body must arrive as exactly the bytes the client meant.

mod harness;

use std::path::Path;

use harness::fake_engine::{Behaviour, Digest, FakeEngine};

/// What a request's body is, decoded from its own framing (Content-Length or chunked).
fn meant_body(request: &[u8]) -> Vec<u8> {
    let split = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let (head, mut rest) = (
        String::from_utf8_lossy(&request[..split]).to_ascii_lowercase(),
        &request[split..],
    );
    if !head.contains("transfer-encoding: chunked") {
        return rest.to_vec();
    }
    let mut body = vec![];
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_corpus_gets_its_outcomes_and_nothing_refused_reaches_the_engine() {
    let engine = FakeEngine::start(Behaviour::Json);
    let grants = [
        "CONTAINERS",
        "EXEC",
        "POST",
        "VOLUMES",
        "BUILD",
        "IMAGES",
        "PLUGINS",
    ]
    .map(|v| (v, "1"));
    let mut env = grants.to_vec();
    env.push(("SOCKET_PATH", engine.socket()));
    let proxy = harness::Proxy::start(&env);

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut failures = vec![];
    let mut count = 0;
    for outcome in ["refused-400", "refused-403", "forwarded"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(outcome))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            count += 1;
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            let request = std::fs::read(&file).unwrap();
            let before = engine.seen().len();
            let answer = tokio::task::block_in_place(|| proxy.exchange_raw(&request));
            let arrived = engine.seen()[before..].to_vec();
            let status = answer.get(9..12).unwrap_or("");
            let wrong = match outcome {
                "forwarded" => match arrived.as_slice() {
                    [one] if one.body == Some(Digest::of(&meant_body(&request))) => None,
                    [one] => Some(format!(
                        "arrived with another body: {:?}, meant {:?}",
                        one.body,
                        Digest::of(&meant_body(&request))
                    )),
                    other => Some(format!("{} requests arrived; answer {answer}", other.len())),
                },
                refused => {
                    let expected = &refused["refused-".len()..];
                    if !arrived.is_empty() {
                        Some(format!("REACHED THE ENGINE: {arrived:?}"))
                    } else if status != expected || !answer.contains("\"message\":\"dockgate: ") {
                        Some(format!("answered {answer:?}"))
                    } else {
                        None
                    }
                }
            };
            if let Some(wrong) = wrong {
                failures.push(format!("{outcome}/{name}: {wrong}"));
            }
        }
    }
    assert!(count >= 59, "the corpus shrank to {count}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
