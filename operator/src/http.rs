//! `/healthz` (the process serves), `/readyz` (the API answered: leading or standing by) and
//! `/metrics`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// What the endpoints report.
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub ready: AtomicBool,
}

/// Serves until the process ends.
pub async fn serve(addr: SocketAddr, state: Arc<HttpState>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /healthz, /readyz, /metrics");
    loop {
        let (stream, _) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(answer(&req, &state)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn answer(req: &Request<Incoming>, state: &HttpState) -> Response<Full<Bytes>> {
    let (code, body) = match req.uri().path() {
        "/healthz" => (StatusCode::OK, "ok".to_string()),
        "/readyz" if state.ready.load(Ordering::Relaxed) => (StatusCode::OK, "ready".into()),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "not ready".into()),
        "/metrics" => (StatusCode::OK, state.metrics.encode()),
        _ => (StatusCode::NOT_FOUND, "not found".into()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = code;
    resp
}
