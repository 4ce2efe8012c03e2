//! What ADMIN_LISTEN's metrics add to each request: `Telemetry::observe` for an answered
//! request with metrics off and on, and the stream gauge that goes with it. `cargo bench --bench
//! metrics`; the end-to-end comparison is `bench/run --metrics`.

use std::sync::Arc;
use std::time::Instant;

use divan::black_box;
use dockgate::access::{End, Peer, Record};
use dockgate::api::Section;
use dockgate::clients::{Assignment, Identity};
use dockgate::metrics::Metrics;
use dockgate::profile::Profile;
use dockgate::session::Who;
use dockgate::telemetry::Telemetry;

fn main() {
    divan::main();
}

fn record(telemetry: Arc<Telemetry>) -> Record {
    let who = Who {
        identity: Identity {
            listener: "tcp://0.0.0.0:2375".into(),
            peer: Peer::Tcp("172.30.0.5:40000".parse().unwrap()),
            container: None,
        },
        assignment: Assignment {
            profile: Arc::new(Profile::nothing()),
            name: Some("dashboard".into()),
            undefined: None,
        },
    };
    Record {
        who: Arc::new(who),
        method: hyper::Method::GET,
        path: "/v1.41/_ping".into(),
        judged: dockgate::access::Judged::Unparsed,
        upgrade: None,
        section: Some(Section::Ping),
        start: Instant::now(),
        telemetry,
    }
}

/// One allowed request's end as `Record::end` tells it, after its log line.
#[divan::bench(args = [false, true])]
fn answered(bencher: divan::Bencher, metrics: bool) {
    let telemetry = Arc::new(Telemetry {
        metrics: metrics.then(Arc::<Metrics>::default),
        ..Telemetry::default()
    });
    let record = record(telemetry.clone());
    let end = End::Answered {
        status: 200,
        bytes: 2,
        complete: true,
        stream: false,
    };
    bencher.bench_local(|| {
        telemetry.stream_opened();
        telemetry.observe(black_box(&record), black_box(&end));
    });
}
