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

/// What the Secret holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub ca: KeyedCert,
    pub serving: KeyedCert,
    /// The CA this one replaced, if any.
    pub previous_ca_pem: Option<String>,
    /// The Secret's resourceVersion this bundle was read at (`None` before it is stored).
    pub resource_version: Option<String>,
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
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                resource_version: self.resource_version.clone(),
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
