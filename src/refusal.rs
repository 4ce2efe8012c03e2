//! One refusal: a status, a message and what would allow the request, rendered in the engine's
//! error shape in exactly one place. Clients print `message` only when the type is exactly
//! `application/json`.

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::needs::Needs;

/// Every message dockgate answers with starts with this, so a user knows who refused.
pub const PREFIX: &str = "dockgate: ";

/// A request dockgate answers itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// The message after [`PREFIX`].
    pub message: String,
    /// What would allow it; empty when no grant can.
    pub needs: Needs,
}

impl Refusal {
    /// A request no correct client sends, or one two parsers could read differently.
    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            needs: Needs::none(),
        }
    }

    /// Policy: the grant does not name what the request asks for.
    pub fn forbidden(message: impl Into<String>, needs: Needs) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
            needs,
        }
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
            needs: Needs::none(),
        }
    }

    /// The whole text a client sees.
    pub fn text(&self) -> String {
        format!("{PREFIX}{}", self.message)
    }

    /// The JSON body: `{"message":"dockgate: ..."}`.
    pub fn body(&self) -> Bytes {
        Bytes::from(serde_json::json!({ "message": self.text() }).to_string())
    }

    /// The response; no body for HEAD, and `Connection: close` when the connection cannot go on.
    pub fn response<B: From<Bytes>>(&self, head: bool, close: bool) -> Response<B> {
        let body = if head { Bytes::new() } else { self.body() };
        let mut response = Response::new(B::from(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl Refusal {
    /// The same answer as bytes on the wire, closing the connection: for refusals made before
    /// hyper has parsed a head (the head guard's).
    pub fn http1_bytes(&self) -> Vec<u8> {
        let body = self.body();
        let reason = self.status.canonical_reason().unwrap_or("");
        let mut bytes = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            self.status.as_u16(),
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_have_the_engines_error_shape() {
        let refusal = Refusal::bad_request("GET /x is refused: no");
        let response: Response<Bytes> = refusal.response(false, true);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[header::CONNECTION], "close");
        let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(json["message"], "dockgate: GET /x is refused: no");
        assert_eq!(
            String::from_utf8(refusal.http1_bytes()).unwrap(),
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 45\r\n\
             connection: close\r\n\r\n{\"message\":\"dockgate: GET /x is refused: no\"}"
        );
        let head: Response<Bytes> = refusal.response(true, false);
        assert!(head.body().is_empty());
        assert!(!head.headers().contains_key(header::CONNECTION));
    }
}
