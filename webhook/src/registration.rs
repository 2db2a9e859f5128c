//! The Validating/MutatingWebhookConfigurations for fmesh, built in code: the cluster tests
//! register them, and `manifests/base/webhook/webhooks.yaml` is the same objects for a Service.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhook,
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::api::ObjectMeta;

use crate::admit::Kind;

/// Where the apiserver reaches the webhook and which namespaces it covers.
#[derive(Clone, Debug)]
pub struct Registration {
    /// Configuration names (also the prefix of each webhook's name).
    pub validating_name: String,
    pub mutating_name: String,
    /// Builds the client config for a path such as `/validate/function`.
    pub base: Endpoint,
    /// Namespaces the webhooks apply to.
    pub namespace_selector: LabelSelector,
    pub timeout_seconds: i32,
}

/// How the apiserver reaches the server.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// `https://host:port` (tests on 127.0.0.1).
    Url(String),
    /// A Service `namespace/name` on `port`.
    Service {
        namespace: String,
        name: String,
        port: i32,
    },
}

impl Endpoint {
    fn client_config(&self, path: &str) -> WebhookClientConfig {
        match self {
            Endpoint::Url(base) => WebhookClientConfig {
                url: Some(format!("{}{path}", base.trim_end_matches('/'))),
                ..WebhookClientConfig::default()
            },
            Endpoint::Service {
                namespace,
                name,
                port,
            } => WebhookClientConfig {
                service: Some(
                    k8s_openapi::api::admissionregistration::v1::ServiceReference {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        path: Some(path.to_string()),
                        port: Some(*port),
                    },
                ),
                ..WebhookClientConfig::default()
            },
        }
    }
}

/// Every namespace except kube-system (by the `kubernetes.io/metadata.name` label every
/// namespace carries) and those labelled `fmesh.io/webhook: disabled`.
pub fn all_but_system() -> LabelSelector {
    let not_in = |key: &str, value: &str| LabelSelectorRequirement {
        key: key.into(),
        operator: "NotIn".into(),
        values: Some(vec![value.into()]),
    };
    LabelSelector {
        match_expressions: Some(vec![
            not_in("kubernetes.io/metadata.name", "kube-system"),
            not_in("fmesh.io/webhook", "disabled"),
        ]),
        match_labels: None,
    }
}

/// Only namespaces labelled `key=value`.
pub fn only(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(key.to_string(), value.to_string())])),
        match_expressions: None,
    }
}

fn rules(kind: Kind) -> Vec<RuleWithOperations> {
    vec![RuleWithOperations {
        api_groups: Some(vec![fmesh_crds::GROUP.into()]),
        api_versions: Some(vec![fmesh_crds::VERSION.into()]),
        operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
        resources: Some(vec![kind.plural().into()]),
        scope: Some("Namespaced".into()),
    }]
}

impl Registration {
    /// The validating configuration: one webhook per kind.
    pub fn validating(&self) -> ValidatingWebhookConfiguration {
        ValidatingWebhookConfiguration {
            metadata: ObjectMeta {
                name: Some(self.validating_name.clone()),
                ..ObjectMeta::default()
            },
            webhooks: Some(
                Kind::ALL
                    .into_iter()
                    .map(|k| ValidatingWebhook {
                        name: format!("{}.{}.fmesh.io", k.segment(), self.validating_name),
                        client_config: self
                            .base
                            .client_config(&format!("/validate/{}", k.segment())),
                        rules: Some(rules(k)),
                        namespace_selector: Some(self.namespace_selector.clone()),
                        admission_review_versions: vec!["v1".into()],
                        side_effects: "None".into(),
                        failure_policy: Some("Fail".into()),
                        match_policy: Some("Equivalent".into()),
                        timeout_seconds: Some(self.timeout_seconds),
                        ..ValidatingWebhook::default()
                    })
                    .collect(),
            ),
        }
    }

    /// The mutating configuration: one webhook per kind, reinvoked if another webhook mutates after it.
    pub fn mutating(&self) -> MutatingWebhookConfiguration {
        MutatingWebhookConfiguration {
            metadata: ObjectMeta {
                name: Some(self.mutating_name.clone()),
                ..ObjectMeta::default()
            },
            webhooks: Some(
                Kind::ALL
                    .into_iter()
                    .map(|k| MutatingWebhook {
                        name: format!("{}.{}.fmesh.io", k.segment(), self.mutating_name),
                        client_config: self.base.client_config(&format!("/mutate/{}", k.segment())),
                        rules: Some(rules(k)),
                        namespace_selector: Some(self.namespace_selector.clone()),
                        admission_review_versions: vec!["v1".into()],
                        side_effects: "None".into(),
                        failure_policy: Some("Fail".into()),
                        match_policy: Some("Equivalent".into()),
                        reinvocation_policy: Some("IfNeeded".into()),
                        timeout_seconds: Some(self.timeout_seconds),
                        ..MutatingWebhook::default()
                    })
                    .collect(),
            ),
        }
    }
}
