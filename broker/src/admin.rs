//! Admin REST subset (Pulsar paths and JSON shapes) and `/metrics`.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::broker::Broker;

/// Serves the admin API until the task is aborted.
pub async fn serve(broker: Arc<Broker>, listener: TcpListener) {
    let app = router(broker);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "admin server stopped");
    }
}

fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(broker)
}

async fn metrics(axum::extract::State(b): axum::extract::State<Arc<Broker>>) -> String {
    let mut reg = prometheus_client::registry::Registry::default();
    b.metrics.register(&mut reg);
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
    out
}
