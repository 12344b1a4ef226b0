//! `x-request-id` on every response: the client's, when it sent a sane one, else a new one.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

const HEADER: &str = "x-request-id";
/// Longest client-supplied id echoed back; longer or odd ones are replaced.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, inside a handler.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

fn acceptable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| s.to_string())
}

fn generate() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Middleware: sets the id for the handler and on the response.
pub async fn layer(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(acceptable)
        .unwrap_or_else(generate);
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_ids_are_echoed() {
        assert_eq!(
            acceptable(&HeaderValue::from_static("abc-123")).as_deref(),
            Some("abc-123")
        );
        assert!(acceptable(&HeaderValue::from_static("")).is_none());
        assert!(acceptable(&HeaderValue::from_static("a b")).is_none());
        let long = "x".repeat(MAX_LEN + 1);
        assert!(acceptable(&HeaderValue::from_str(&long).unwrap()).is_none());
        assert_eq!(generate().len(), 32);
    }
}
