//! The CA and serving certificate kept in one Secret. Every write carries a precondition
//! (create fails if the Secret exists, replace fails if its resourceVersion moved), so replicas
//! that race each lose or win cleanly and then all read the winner's certificates.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::error::{Error, Result};
use crate::pki::KeyedCert;

/// Keys of the Secret. `tls.crt`/`tls.key` make it a `kubernetes.io/tls` Secret that cert tools
/// understand; the CA key stays beside it so any replica can issue the next serving certificate.
pub const TLS_CRT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";
pub const CA_CRT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
/// The CA that was replaced, still trusted (in the caBundle) until it expires.
pub const CA_PREVIOUS_CRT: &str = "ca-previous.crt";

/// Annotation an administrator sets on the Secret, to any new value (a timestamp), to have the
/// serving certificate replaced from the same CA at the next check: for a suspected key leak,
/// or to rehearse a rotation. `kubectl annotate secret -n fmesh-system fmesh-webhook-certs
/// compute.functionmesh.io/renew-serving="$(date +%s)" --overwrite`
pub const RENEW_SERVING: &str = "compute.functionmesh.io/renew-serving";
/// The value of [`RENEW_SERVING`] the webhook last acted on.
pub const RENEWED_SERVING: &str = "compute.functionmesh.io/renewed-serving";

/// A renewal asked for through [`RENEW_SERVING`], and the last one done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Renewal {
    pub requested: Option<String>,
    pub done: Option<String>,
}

impl Renewal {
    /// A request not acted on yet.
    pub fn pending(&self) -> bool {
        self.requested.is_some() && self.requested != self.done
    }
}

/// What the Secret holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub ca: KeyedCert,
    pub serving: KeyedCert,
    /// The CA this one replaced, if any.
    pub previous_ca_pem: Option<String>,
    /// The Secret's resourceVersion this bundle was read at (`None` before it is stored).
    pub resource_version: Option<String>,
    /// Renewals asked for on the Secret (kept across writes).
    pub renewal: Renewal,
}

impl Bundle {
    /// The PEM the webhook configurations trust: the current CA, then the previous one.
    pub fn ca_bundle_pem(&self) -> String {
        let mut pem = self.ca.cert_pem.clone();
        if let Some(prev) = &self.previous_ca_pem {
            pem.push_str(prev);
        }
        pem
    }

    fn to_secret(&self, name: &str) -> Secret {
        let mut data = BTreeMap::from([
            (TLS_CRT.to_string(), bytes(&self.serving.cert_pem)),
            (TLS_KEY.to_string(), bytes(&self.serving.key_pem)),
            (CA_CRT.to_string(), bytes(&self.ca.cert_pem)),
            (CA_KEY.to_string(), bytes(&self.ca.key_pem)),
        ]);
        if let Some(prev) = &self.previous_ca_pem {
            data.insert(CA_PREVIOUS_CRT.to_string(), bytes(prev));
        }
        let annotations: BTreeMap<String, String> = [
            (RENEW_SERVING, &self.renewal.requested),
            (RENEWED_SERVING, &self.renewal.done),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v.clone()?)))
        .collect();
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                resource_version: self.resource_version.clone(),
                annotations: (!annotations.is_empty()).then_some(annotations),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_string(),
                    "fmesh-webhook".to_string(),
                )])),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".to_string()),
            data: Some(data),
            ..Secret::default()
        }
    }

    fn from_secret(secret: &Secret) -> Result<Bundle> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let data = secret.data.as_ref();
        let get = |key: &str| -> Result<String> {
            let raw = data
                .and_then(|d| d.get(key))
                .ok_or_else(|| Error::MalformedSecret {
                    name: name.clone(),
                    reason: format!("key {key} is missing"),
                })?;
            String::from_utf8(raw.0.clone()).map_err(|_| Error::MalformedSecret {
                name: name.clone(),
                reason: format!("key {key} is not UTF-8 PEM"),
            })
        };
        let annotation = |key: &str| secret.metadata.annotations.as_ref()?.get(key).cloned();
        Ok(Bundle {
            ca: KeyedCert {
                cert_pem: get(CA_CRT)?,
                key_pem: get(CA_KEY)?,
            },
            serving: KeyedCert {
                cert_pem: get(TLS_CRT)?,
                key_pem: get(TLS_KEY)?,
            },
            previous_ca_pem: get(CA_PREVIOUS_CRT).ok(),
            resource_version: secret.metadata.resource_version.clone(),
            renewal: Renewal {
                requested: annotation(RENEW_SERVING),
                done: annotation(RENEWED_SERVING),
            },
        })
    }
}

fn bytes(s: &str) -> ByteString {
    ByteString(s.as_bytes().to_vec())
}

/// The outcome of a conditional write.
#[derive(Debug)]
pub enum Write {
    /// Stored; the bundle carries its new resourceVersion.
    Stored(Bundle),
    /// Someone else wrote first; read again and use theirs.
    Lost,
}

/// Where a bundle is kept: one Secret in one namespace.
#[derive(Clone)]
pub struct SecretStore {
    api: Api<Secret>,
    name: String,
    namespace: String,
}

impl SecretStore {
    /// The Secret `namespace/name`.
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        SecretStore {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            namespace: namespace.to_string(),
        }
    }

    /// `namespace/name`, for logs and errors.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Reads the bundle. `Ok(None)` when the Secret does not exist; an error when it exists but
    /// does not hold a bundle (it is not overwritten: someone else may own it).
    pub async fn read(&self) -> Result<Option<Bundle>> {
        match self.api.get_opt(&self.name).await? {
            None => Ok(None),
            Some(secret) => Bundle::from_secret(&secret).map(Some),
        }
    }

    /// Stores `bundle`: creates the Secret when the bundle was never stored, otherwise replaces
    /// it on condition that it is still at the bundle's resourceVersion.
    pub async fn write(&self, bundle: &Bundle) -> Result<Write> {
        let secret = bundle.to_secret(&self.name);
        let pp = PostParams::default();
        let result = match &bundle.resource_version {
            None => self.api.create(&pp, &secret).await,
            Some(_) => self.api.replace(&self.name, &pp, &secret).await,
        };
        match result {
            Ok(stored) => Bundle::from_secret(&stored).map(Write::Stored),
            // 409: AlreadyExists on create, Conflict on a stale resourceVersion.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Write::Lost),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki;
    use std::time::Duration;

    #[test]
    fn a_renewal_is_pending_until_its_value_is_done() {
        let r = |requested: Option<&str>, done: Option<&str>| Renewal {
            requested: requested.map(Into::into),
            done: done.map(Into::into),
        };
        assert!(!r(None, None).pending());
        assert!(r(Some("1"), None).pending());
        assert!(!r(Some("1"), Some("1")).pending());
        assert!(r(Some("2"), Some("1")).pending(), "a new value asks again");
    }

    #[test]
    fn renewal_annotations_survive_the_secret_round_trip() {
        let ca = pki::generate_ca("ca", Duration::from_secs(86_400)).unwrap();
        let serving =
            pki::issue_serving(&ca, "s", &["a.b".into()], Duration::from_secs(3600)).unwrap();
        let bundle = Bundle {
            ca,
            serving,
            previous_ca_pem: None,
            resource_version: Some("7".into()),
            renewal: Renewal {
                requested: Some("2".into()),
                done: Some("1".into()),
            },
        };
        let secret = bundle.to_secret("certs");
        let annotations = secret.metadata.annotations.clone().unwrap();
        assert_eq!(annotations[RENEW_SERVING], "2");
        assert_eq!(annotations[RENEWED_SERVING], "1");
        assert_eq!(Bundle::from_secret(&secret).unwrap(), bundle);
        let plain = Bundle {
            renewal: Renewal::default(),
            ..bundle
        };
        assert_eq!(plain.to_secret("certs").metadata.annotations, None);
    }
}
