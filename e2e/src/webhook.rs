//! Webhook test harness: a serving certificate for 127.0.0.1 and registrations of
//! Validating/MutatingWebhookConfigurations that point the real apiserver at a local server.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhook,
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use rcgen::{Issuer, KeyPair};

use crate::error::Result;
use crate::namespace::NAMESPACE_LABEL;
use crate::pki::{ca_params, serving_params};

/// A fresh CA and a serving certificate it signed, valid for `127.0.0.1` and `localhost`.
#[derive(Debug, Clone)]
pub struct ServingCert {
    /// The CA certificate (the `caBundle`).
    pub ca_pem: String,
    /// The server's certificate.
    pub cert_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: String,
}

impl ServingCert {
    /// Generates one.
    pub fn localhost() -> Result<ServingCert> {
        let ca_key = KeyPair::generate()?;
        let ca_params = ca_params("fmesh-e2e webhook CA")?;
        let ca = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, &ca_key);
        let key = KeyPair::generate()?;
        let cert = serving_params("fmesh-e2e webhook", &["127.0.0.1", "localhost"])?
            .signed_by(&key, &issuer)?;
        Ok(ServingCert {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Where the apiserver sends AdmissionReviews and which requests it sends.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// The configuration's (and webhook's) name, e.g. `deny.e2e.fmesh.io`.
    pub name: String,
    /// `https://127.0.0.1:<port>/<path>`.
    pub url: String,
    /// PEM of the CA that signed the server's certificate.
    pub ca_bundle_pem: String,
    /// Operations and resources to intercept.
    pub rules: Vec<RuleWithOperations>,
    /// Only requests in this test namespace (see [`NAMESPACE_LABEL`]); `None` means all namespaces.
    pub namespace: Option<String>,
}

impl WebhookTarget {
    /// A target for a server on 127.0.0.1.
    pub fn local(name: &str, port: u16, path: &str, ca_bundle_pem: &str) -> Self {
        WebhookTarget {
            name: name.to_owned(),
            url: format!("https://127.0.0.1:{port}/{}", path.trim_start_matches('/')),
            ca_bundle_pem: ca_bundle_pem.to_owned(),
            rules: Vec::new(),
            namespace: None,
        }
    }

    /// Adds a rule: `operations` (e.g. `CREATE`) on `resources` of `group`/`version`.
    pub fn rule(
        mut self,
        operations: &[&str],
        group: &str,
        version: &str,
        resources: &[&str],
    ) -> Self {
        let list = |items: &[&str]| Some(items.iter().map(|s| (*s).to_owned()).collect());
        self.rules.push(RuleWithOperations {
            operations: list(operations),
            api_groups: list(&[group]),
            api_versions: list(&[version]),
            resources: list(resources),
            scope: None,
        });
        self
    }

    /// Restricts the webhook to one test namespace.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    fn client_config(&self) -> WebhookClientConfig {
        WebhookClientConfig {
            url: Some(self.url.clone()),
            ca_bundle: Some(ByteString(self.ca_bundle_pem.clone().into_bytes())),
            service: None,
        }
    }

    fn namespace_selector(&self) -> Option<LabelSelector> {
        self.namespace.as_ref().map(|ns| LabelSelector {
            match_labels: Some(BTreeMap::from([(NAMESPACE_LABEL.to_owned(), ns.clone())])),
            match_expressions: None,
        })
    }
}

/// A registered webhook configuration; call [`Registration::remove`] when the test ends.
pub struct Registration {
    client: kube::Client,
    name: String,
    mutating: bool,
}

impl Registration {
    /// Deletes the configuration.
    pub async fn remove(self) -> Result<()> {
        let dp = DeleteParams::default();
        if self.mutating {
            Api::<MutatingWebhookConfiguration>::all(self.client)
                .delete(&self.name, &dp)
                .await?;
        } else {
            Api::<ValidatingWebhookConfiguration>::all(self.client)
                .delete(&self.name, &dp)
                .await?;
        }
        Ok(())
    }
}

/// Registers a ValidatingWebhookConfiguration (failure policy Fail, 5 s timeout, v1 reviews).
pub async fn register_validating(
    client: &kube::Client,
    target: &WebhookTarget,
) -> Result<Registration> {
    let config = ValidatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(target.name.clone()),
            ..ObjectMeta::default()
        },
        webhooks: Some(vec![ValidatingWebhook {
            name: target.name.clone(),
            client_config: target.client_config(),
            rules: Some(target.rules.clone()),
            namespace_selector: target.namespace_selector(),
            admission_review_versions: vec!["v1".into()],
            side_effects: "None".into(),
            failure_policy: Some("Fail".into()),
            timeout_seconds: Some(5),
            ..ValidatingWebhook::default()
        }]),
    };
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &config)
        .await?;
    Ok(Registration {
        client: client.clone(),
        name: target.name.clone(),
        mutating: false,
    })
}

/// Registers a MutatingWebhookConfiguration (failure policy Fail, 5 s timeout, v1 reviews).
pub async fn register_mutating(
    client: &kube::Client,
    target: &WebhookTarget,
) -> Result<Registration> {
    let config = MutatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(target.name.clone()),
            ..ObjectMeta::default()
        },
        webhooks: Some(vec![MutatingWebhook {
            name: target.name.clone(),
            client_config: target.client_config(),
            rules: Some(target.rules.clone()),
            namespace_selector: target.namespace_selector(),
            admission_review_versions: vec!["v1".into()],
            side_effects: "None".into(),
            failure_policy: Some("Fail".into()),
            timeout_seconds: Some(5),
            ..MutatingWebhook::default()
        }]),
    };
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &config)
        .await?;
    Ok(Registration {
        client: client.clone(),
        name: target.name.clone(),
        mutating: true,
    })
}
