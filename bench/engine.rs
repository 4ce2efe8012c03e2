//! A fast fake Docker engine for the benchmark (`bench/run`): it answers from precomputed buffers
//! so the proxy, not the engine, is what is measured. Usage: bench-engine SOCKET_PATH.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

type Body = BoxBody<Bytes, Infallible>;

const CHUNK: usize = 1 << 20;

fn containers_json() -> Bytes {
    let one = r#"{"Id":"4a1236641df07731e2815fa71e9595804379e974a53df42a4cb5113a32171dfa","Names":["/web"],"Image":"nginx:1.27","State":"running","Status":"Up 3 hours","Labels":{"com.docker.compose.project":"site","traefik.enable":"true"}}"#;
    let mut list = String::from("[");
    while list.len() < 2048 {
        if list.len() > 1 {
            list.push(',');
        }
        list.push_str(one);
    }
    list.push(']');
    Bytes::from(list)
}

async fn handle(
    req: Request<Incoming>,
    json: Bytes,
    chunk: Bytes,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().trim_start_matches("/v1.41");
    let body: Body = match path {
        "/_ping" => Full::new(Bytes::from_static(b"OK")).boxed(),
        "/containers/json" => Full::new(json).boxed(),
        "/events" => StreamBody::new(futures_never()).boxed(),
        "/images/load" => {
            let mut len = 0usize;
            let mut body = req.into_body();
            while let Some(Ok(frame)) = body.frame().await {
                len += frame.data_ref().map_or(0, |d| d.len());
            }
            Full::new(Bytes::from(format!("{{\"len\":{len}}}"))).boxed()
        }
        _ if path.ends_with("/get") => {
            let size: usize = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("size="))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(8);
            tokio::spawn(async move {
                let mut left = size;
                while left > 0 {
                    let n = left.min(CHUNK);
                    if tx.send(Ok(Frame::data(chunk.slice(..n)))).await.is_err() {
                        return;
                    }
                    left -= n;
                }
            });
            StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)).boxed()
        }
        _ => Full::new(Bytes::from_static(b"{\"message\":\"page not found\"}")).boxed(),
    };
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert("api-version", "1.41".parse().unwrap());
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    Ok(response)
}

/// A stream that never yields: an idle `GET /events`.
fn futures_never() -> tokio_stream::Pending<Result<Frame<Bytes>, Infallible>> {
    tokio_stream::pending()
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: bench-engine SOCKET_PATH");
    let _ = std::fs::remove_file(&path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let (json, chunk) = (containers_json(), Bytes::from(vec![b'x'; CHUNK]));
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (json, chunk) = (json.clone(), chunk.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, json.clone(), chunk.clone()));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
