//! Writes the CA bundle into the fmesh Validating/MutatingWebhookConfigurations, so the
//! apiserver trusts the serving certificate. Writes only when a webhook's bundle differs.

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::error::{Error, Result};

/// Conflicting writes tolerated before giving up (another replica injecting the same bundle).
const ATTEMPTS: u32 = 5;

/// The webhook configurations to keep trusting the current CA.
#[derive(Clone)]
pub struct Injector {
    client: Client,
    validating: Vec<String>,
    mutating: Vec<String>,
}

/// What one injection did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Injected {
    /// Configurations rewritten.
    pub updated: Vec<String>,
    /// Configurations that already trusted the bundle.
    pub unchanged: Vec<String>,
    /// Configurations that do not exist (yet): not an error, the next pass retries.
    pub missing: Vec<String>,
}

impl Injector {
    /// Injects into the named configurations (cluster-scoped objects).
    pub fn new(client: Client, validating: Vec<String>, mutating: Vec<String>) -> Self {
        Injector {
            client,
            validating,
            mutating,
        }
    }

    /// Makes every webhook of every named configuration trust `bundle_pem`.
    pub async fn inject(&self, bundle_pem: &str) -> Result<Injected> {
        let mut out = Injected::default();
        let bundle = ByteString(bundle_pem.as_bytes().to_vec());
        let validating: Api<ValidatingWebhookConfiguration> = Api::all(self.client.clone());
        for name in &self.validating {
            let outcome = update(&validating, name, |c| {
                set_all(
                    c.webhooks
                        .iter_mut()
                        .flatten()
                        .map(|w| &mut w.client_config.ca_bundle),
                    &bundle,
                )
            })
            .await?;
            outcome.record(name, &mut out);
        }
        let mutating: Api<MutatingWebhookConfiguration> = Api::all(self.client.clone());
        for name in &self.mutating {
            let outcome = update(&mutating, name, |c| {
                set_all(
                    c.webhooks
                        .iter_mut()
                        .flatten()
                        .map(|w| &mut w.client_config.ca_bundle),
                    &bundle,
                )
            })
            .await?;
            outcome.record(name, &mut out);
        }
        if !out.updated.is_empty() {
            tracing::info!(updated = ?out.updated, "caBundle injected");
        }
        if !out.missing.is_empty() {
            tracing::warn!(missing = ?out.missing, "webhook configurations not found for caBundle injection");
        }
        Ok(out)
    }
}

enum Outcome {
    Updated,
    Unchanged,
    Missing,
}

impl Outcome {
    fn record(self, name: &str, out: &mut Injected) {
        let list = match self {
            Outcome::Updated => &mut out.updated,
            Outcome::Unchanged => &mut out.unchanged,
            Outcome::Missing => &mut out.missing,
        };
        list.push(name.to_string());
    }
}

/// Sets each slot to `bundle`; returns whether any changed.
fn set_all<'a>(
    slots: impl Iterator<Item = &'a mut Option<ByteString>>,
    bundle: &ByteString,
) -> bool {
    let mut changed = false;
    for slot in slots {
        if slot.as_ref() != Some(bundle) {
            *slot = Some(bundle.clone());
            changed = true;
        }
    }
    changed
}

/// Read-modify-write with the resourceVersion as precondition, retried on conflict.
async fn update<K>(
    api: &Api<K>,
    name: &str,
    mut change: impl FnMut(&mut K) -> bool,
) -> Result<Outcome>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    for _ in 0..ATTEMPTS {
        let Some(mut obj) = api.get_opt(name).await? else {
            return Ok(Outcome::Missing);
        };
        if !change(&mut obj) {
            return Ok(Outcome::Unchanged);
        }
        match api.replace(name, &PostParams::default(), &obj).await {
            Ok(_) => return Ok(Outcome::Updated),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Contention {
        what: name.to_string(),
        attempts: ATTEMPTS,
    })
}
