//! HTTPS serving: routing, body limits, deadlines, metrics and logs around the handlers.
//!
//! Routes: `POST /validate/<kind>` and `POST /mutate/<kind>` (kind: function, source, sink,
//! functionmesh), `GET /healthz`, `GET /readyz`, `GET /metrics`. A plain-HTTP listener, if
//! configured, serves only the last three (for kubelet probes and Prometheus).

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::admit::{Admission, Kind};
use crate::metrics::Metrics;
use crate::references::References;
use crate::review::{self, BadReview, MAX_BODY_BYTES, Verdict, Webhook};

/// Longest a client may take to finish the TLS handshake or send request headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest in-flight requests are waited for at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Everything a request needs.
pub struct App<R> {
    pub admission: Arc<Admission<R>>,
    pub metrics: Arc<Metrics>,
    /// Whether the server can answer admission (a certificate is loaded, …).
    pub ready: Box<dyn Fn() -> bool + Send + Sync>,
    /// The most time one admission request may take; keep it under the configurations'
    /// `timeoutSeconds` so the apiserver gets an answer rather than a timeout.
    pub deadline: Duration,
}

/// Which listener a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Tls,
    Plain,
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json(body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The `timeout` query parameter the apiserver appends to webhook calls (`10s`, `500ms`).
fn query_timeout(query: Option<&str>) -> Option<Duration> {
    let value = query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("timeout="))?;
    if let Some(ms) = value.strip_suffix("ms") {
        return ms
            .parse::<f64>()
            .ok()
            .map(|v| Duration::from_secs_f64(v / 1000.0));
    }
    value
        .strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(Duration::from_secs_f64)
}

impl<R: References + 'static> App<R> {
    /// Answers one HTTP request.
    pub async fn handle<B>(&self, req: Request<B>, listener: Listener) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_string();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok"),
            (&Method::GET, "/readyz") if (self.ready)() => text(StatusCode::OK, "ready"),
            (&Method::GET, "/readyz") => text(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
            (&Method::GET, "/metrics") => {
                let mut r = text(StatusCode::OK, self.metrics.render());
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                r
            }
            _ if listener == Listener::Plain => text(StatusCode::NOT_FOUND, "not found"),
            _ => match route(&path) {
                Some(_) if req.method() != Method::POST => text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "admission endpoints take POST",
                ),
                Some((webhook, kind)) => self.admission(req, webhook, kind).await,
                None => text(StatusCode::NOT_FOUND, "not found"),
            },
        }
    }

    async fn admission<B>(
        &self,
        req: Request<B>,
        webhook: &'static str,
        kind: Kind,
    ) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let deadline = query_timeout(req.uri().query())
            .map_or(self.deadline, |t| t.min(self.deadline))
            .mul_f64(0.9);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if let Some(n) = declared.filter(|n| *n > MAX_BODY_BYTES) {
            return self.bad(kind, webhook, started, &BadReview::TooLarge(n));
        }
        let body = Limited::new(req.into_body(), MAX_BODY_BYTES);
        let bytes = match tokio::time::timeout(deadline, body.collect()).await {
            Err(_) => {
                return self.bad(
                    kind,
                    webhook,
                    started,
                    &BadReview::Malformed("body not received before the deadline".into()),
                );
            }
            Ok(Err(e)) => {
                let bad = if e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    BadReview::TooLarge(MAX_BODY_BYTES + 1)
                } else {
                    BadReview::Malformed(format!("body could not be read: {e}"))
                };
                return self.bad(kind, webhook, started, &bad);
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        let received = Instant::now();
        let reader = match webhook {
            "validate" => Webhook::Validate,
            _ => Webhook::Mutate,
        };
        let request = match review::parse(&bytes, reader) {
            Ok(r) => r,
            Err(bad) => return self.bad(kind, webhook, started, &bad),
        };
        let remaining = deadline.saturating_sub(started.elapsed());
        // The deadline bounds every wait (reference lookups); the CPU work between waits is
        // bounded by the body limit. A panic becomes a 500 answer.
        let decision = AssertUnwindSafe(async {
            match webhook {
                "validate" => self.admission.validate(kind, &request).await,
                _ => self.admission.mutate(kind, &request).await,
            }
        })
        .catch_unwind();
        let verdict = match tokio::time::timeout(remaining, decision).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => {
                tracing::error!(uid = %request.uid, "admission handler panicked");
                Verdict::deny(
                    500,
                    "InternalError",
                    "the fmesh webhook failed to decide; retry",
                )
            }
            Err(_) => Verdict::deny(
                504,
                "Timeout",
                format!(
                    "the fmesh webhook could not decide within {} ms; retry",
                    deadline.as_millis()
                ),
            ),
        };
        let seconds = started.elapsed().as_secs_f64();
        self.metrics.admission(
            kind.as_str(),
            &request.operation,
            webhook,
            verdict.result(),
            seconds,
        );
        tracing::info!(
            uid = %request.uid,
            webhook,
            kind = kind.as_str(),
            operation = %request.operation,
            namespace = request.namespace.as_deref().unwrap_or(""),
            name = request.name.as_deref().unwrap_or(""),
            result = verdict.result(),
            warnings = verdict.warnings.len(),
            micros = (seconds * 1e6) as u64,
            decided_micros = received.elapsed().as_micros() as u64,
            message = verdict
                .status
                .as_ref()
                .map(|s| s.message.as_str())
                .unwrap_or(""),
            "answered"
        );
        json(verdict.encode(&request.uid))
    }

    fn bad(
        &self,
        kind: Kind,
        webhook: &str,
        started: Instant,
        bad: &BadReview,
    ) -> Response<Full<Bytes>> {
        let status = StatusCode::from_u16(bad.status()).unwrap_or(StatusCode::BAD_REQUEST);
        self.metrics.admission(
            kind.as_str(),
            "unknown",
            webhook,
            "bad_request",
            started.elapsed().as_secs_f64(),
        );
        tracing::warn!(webhook, kind = kind.as_str(), status = status.as_u16(), reason = %bad, "bad admission request");
        text(status, bad.to_string())
    }
}

/// `/validate/function` → (`validate`, Function).
fn route(path: &str) -> Option<(&'static str, Kind)> {
    let (webhook, seg) = path.trim_start_matches('/').split_once('/')?;
    let webhook = match webhook {
        "validate" => "validate",
        "mutate" => "mutate",
        _ => return None,
    };
    Some((webhook, Kind::from_segment(seg)?))
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve_tls<R: References + 'static>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Arc<App<R>>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve(listener, app, shutdown, Some(acceptor)).await;
}

/// Serves health, readiness and metrics over plain HTTP until `shutdown` resolves.
pub async fn serve_plain<R: References + 'static>(
    listener: TcpListener,
    app: Arc<App<R>>,
    shutdown: impl Future<Output = ()>,
) {
    serve(listener, app, shutdown, None).await;
}

async fn serve<R: References + 'static>(
    listener: TcpListener,
    app: Arc<App<R>>,
    shutdown: impl Future<Output = ()>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let listener_kind = if acceptor.is_some() {
                Listener::Tls
            } else {
                Listener::Plain
            };
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.handle(req, listener_kind).await) }
            });
            let result = match acceptor {
                Some(acceptor) => {
                    let tls =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn = builder
                        .serve_connection(TokioIo::new(tls), service)
                        .into_owned();
                    watcher.watch(conn).await
                }
                None => {
                    let conn = builder
                        .serve_connection(TokioIo::new(tcp), service)
                        .into_owned();
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish before the drain timeout");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_timeouts_parse() {
        assert_eq!(
            route("/validate/function"),
            Some(("validate", Kind::Function))
        );
        assert_eq!(
            route("/mutate/functionmesh"),
            Some(("mutate", Kind::FunctionMesh))
        );
        assert_eq!(route("/validate/pod"), None);
        assert_eq!(route("/"), None);
        assert_eq!(
            query_timeout(Some("timeout=10s")),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            query_timeout(Some("a=b&timeout=500ms")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(query_timeout(Some("timeout=-1s")), None);
        assert_eq!(query_timeout(None), None);
    }
}
