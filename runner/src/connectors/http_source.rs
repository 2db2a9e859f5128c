//! `http` source: an ingest endpoint (fmesh_crds::connectors::http). `POST` a body (one
//! message) or `Content-Type: application/x-ndjson` (one message per non-empty line); the
//! answer comes after the broker has stored every message: 200 `{"accepted": n}`. 401 without
//! the bearer token, 413 over `maxBodyBytes`, 400 for a bad NDJSON line (nothing published),
//! 429 with `Retry-After` when `maxInFlight` messages already await their receipt, 503 when
//! the broker refused (the client should retry: delivery is at-least-once).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fmesh_crds::connectors::ConnectorKind;
use fmesh_crds::connectors::http::{HttpSourceConfig, TOKEN};
use futures::future::{BoxFuture, join_all};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::{OutMessage, Output, SourceConnector, SourceContext};
use crate::error::RunnerError;
use crate::spec::Plan;

/// Header carrying a single message's key.
pub const KEY_HEADER: &str = "x-pulsar-key";

struct HttpSource {
    config: HttpSourceConfig,
    token: Option<String>,
    listener: std::net::TcpListener,
}

struct Shared {
    output: Output,
    token: Option<String>,
    key_field: Option<String>,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
}

/// Builds the source and binds its port (so a taken port fails the start).
pub fn build(plan: &Plan) -> Result<Box<dyn SourceConnector>, RunnerError> {
    let config: HttpSourceConfig = super::config(plan, ConnectorKind::Source, "http")?;
    let token = plan.secrets.get(TOKEN).filter(|t| !t.is_empty()).cloned();
    if token.is_none() && !config.allow_anonymous {
        return Err(RunnerError::spec(
            "spec.secretsMap.token",
            "the http source needs a bearer token (env var `token` from secretsMap is missing or empty); \
             or set sourceConfig.allowAnonymous: true",
        ));
    }
    let addr = format!("{}:{}", config.host, config.port);
    let listener = std::net::TcpListener::bind(&addr)?;
    listener.set_nonblocking(true)?;
    Ok(Box::new(HttpSource {
        config,
        token,
        listener,
    }))
}

impl SourceConnector for HttpSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), RunnerError>> {
        Box::pin(self.serve(ctx))
    }
}

impl HttpSource {
    async fn serve(self, ctx: SourceContext) -> Result<(), RunnerError> {
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let addr: SocketAddr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            output: ctx.output,
            token: self.token,
            key_field: self.config.key_field.clone(),
            in_flight: Arc::new(Semaphore::new(self.config.max_in_flight)),
            max_in_flight: self.config.max_in_flight,
        });
        let app = Router::new()
            .route(&self.config.path, post(ingest))
            .layer(DefaultBodyLimit::max(self.config.max_body_bytes))
            .with_state(shared);
        tracing::info!(%addr, path = %self.config.path, "http source listening");
        let stop = ctx.stop.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await?;
        Ok(())
    }
}

async fn ingest(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(token) = &s.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            return r;
        }
    }
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/x-ndjson") || ct.starts_with("application/jsonl")
        });
    let key_header = headers
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let messages = match messages(&body, ndjson, key_header, s.key_field.as_deref()) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let n = messages.len();
    if n > s.max_in_flight {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "{n} messages in one request; at most maxInFlight = {}",
                s.max_in_flight
            ),
        );
    }
    let Ok(permits) = s.in_flight.clone().try_acquire_many_owned(n as u32) else {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many messages awaiting the broker; retry later",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    };
    let mut receipts = Vec::with_capacity(n);
    for m in messages {
        match s.output.send(m).await {
            Ok(r) => receipts.push(r),
            Err(e) => {
                // Those already queued still land; the client retries the whole request.
                drop(join_all(receipts).await);
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("broker unavailable: {e}"),
                );
            }
        }
    }
    let results = join_all(receipts).await;
    drop(permits);
    let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if failed.is_empty() {
        return (StatusCode::OK, axum::Json(json!({"accepted": n}))).into_response();
    }
    let body = json!({"accepted": n - failed.len(), "failed": failed.len(), "error": failed[0]});
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// The messages of one request; an NDJSON line that is not JSON rejects the whole request.
pub fn messages(
    body: &[u8],
    ndjson: bool,
    key: Option<String>,
    key_field: Option<&str>,
) -> Result<Vec<OutMessage>, String> {
    let key_of = |payload: &[u8]| -> Option<String> {
        let field = key_field?;
        match serde_json::from_slice::<Value>(payload).ok()?.get(field)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    if !ndjson {
        if body.is_empty() {
            return Err("empty body".into());
        }
        return Ok(vec![OutMessage {
            key: key.or_else(|| key_of(body)),
            payload: body.to_vec(),
            ..OutMessage::default()
        }]);
    }
    let mut out = Vec::new();
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(e) = serde_json::from_slice::<Value>(line) {
            return Err(format!(
                "line {}: not JSON ({e}); nothing was published",
                i + 1
            ));
        }
        out.push(OutMessage {
            key: key_of(line),
            payload: line.to_vec(),
            ..OutMessage::default()
        });
    }
    if out.is_empty() {
        return Err("no messages in the NDJSON body".into());
    }
    Ok(out)
}

/// Compares without stopping at the first difference (no timing hint about the token).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_become_messages_with_keys() {
        let body = b"{\"id\": 1, \"a\": \"x\"}\r\n\n{\"id\": \"two\"}\n";
        let m = messages(body, true, None, Some("id")).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].key.as_deref(), Some("1"));
        assert_eq!(m[0].payload, b"{\"id\": 1, \"a\": \"x\"}");
        assert_eq!(m[1].key.as_deref(), Some("two"));
        let err = messages(b"{}\nnope\n", true, None, None).unwrap_err();
        assert!(err.starts_with("line 2"), "{err}");
        assert!(messages(b"\n\n", true, None, None).is_err());
    }

    #[test]
    fn a_plain_body_is_one_message_keyed_by_header() {
        let m = messages(b"hello\nworld", false, Some("k".into()), None).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].payload, b"hello\nworld");
        assert_eq!(m[0].key.as_deref(), Some("k"));
        assert!(messages(b"", false, None, None).is_err());
    }

    #[test]
    fn token_comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
