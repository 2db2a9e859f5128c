//! The headless Service that gives each instance pod a stable network identity.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::command::{GRPC_PORT, METRICS_PORT};
use crate::labels;
use crate::workload::Workload;

/// The desired headless Service (`clusterIP: None`) selecting the workload's pods.
pub fn service(w: &Workload) -> Service {
    let port = |name: &str, n: i32| ServicePort {
        name: Some(name.into()),
        port: n,
        target_port: Some(IntOrString::Int(n)),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    };
    Service {
        metadata: ObjectMeta {
            name: Some(labels::service_name(w.kind, &w.name)),
            namespace: Some(w.namespace.clone()),
            labels: Some(labels::object_labels(w.kind, &w.name)),
            owner_references: Some(vec![w.owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(labels::selector(w.kind, &w.name)),
            ports: Some(vec![
                port("tcp-grpc", GRPC_PORT),
                port("http-metrics", METRICS_PORT),
            ]),
            publish_not_ready_addresses: Some(true),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}
