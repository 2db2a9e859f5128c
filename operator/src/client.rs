//! The Kubernetes client, with every API request counted in the metrics
//! (`fmesh_operator_api_requests_total{method}`), so requests per CR can be measured.

use std::sync::Arc;

use kube::Client;
use kube::client::{Body, ClientBuilder};
use tower::util::MapRequestLayer;

use crate::metrics::Metrics;

/// A client for `config` that counts its requests in `metrics`.
pub fn counted(config: kube::Config, metrics: &Arc<Metrics>) -> Result<Client, kube::Error> {
    let m = metrics.clone();
    let layer = MapRequestLayer::new(move |req: http::Request<Body>| {
        m.request(req.method().as_str());
        req
    });
    Ok(ClientBuilder::try_from(config)?.with_layer(&layer).build())
}
