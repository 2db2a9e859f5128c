//! The Secrets and ConfigMaps a workload's pods read: one list, used by the webhook (they must
//! exist with the keys named) and by the operator (a change to one rolls the pods).

use crate::common::{CryptoConfig, PulsarMessaging};
use crate::diagnostic::FieldPath;
use crate::members::Member;
use crate::resource::Resource;

/// Keys the cluster-config ConfigMap (`pulsar.pulsarConfig`) must carry.
pub const PULSAR_CONFIG_KEYS: [&str; 2] = ["webServiceURL", "brokerServiceURL"];
/// Keys `pulsar.authSecret` must carry (Function Mesh's auth Secret layout).
pub const AUTH_SECRET_KEYS: [&str; 2] = [
    "clientAuthenticationPlugin",
    "clientAuthenticationParameters",
];

/// A Secret or a ConfigMap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefKind {
    Secret,
    ConfigMap,
}

impl RefKind {
    /// The object's kind as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Secret => "Secret",
            RefKind::ConfigMap => "ConfigMap",
        }
    }
}

/// One object a workload names, the keys it reads from it, and the field that names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub kind: RefKind,
    pub name: String,
    /// Keys read from it (empty: the whole object, e.g. a TLS Secret mounted as a volume).
    pub keys: Vec<String>,
    /// JSON path of the naming field, e.g. `spec.secretsMap[PASSWORD]`.
    pub path: String,
}

impl Resource {
    /// Every Secret and ConfigMap its workloads read (mesh members at their own paths).
    pub fn references(&self) -> Vec<Reference> {
        self.members().iter().flat_map(Member::references).collect()
    }
}

impl Member<'_> {
    /// Every Secret and ConfigMap this member's pods read.
    pub fn references(&self) -> Vec<Reference> {
        let mut out = Refs(Vec::new());
        let w = self.workload;
        for (env, secret) in w.secrets_map.iter().flatten() {
            out.push(
                RefKind::Secret,
                secret.path.as_deref(),
                secret.key.iter().cloned().collect(),
                self.path.field("secretsMap").key(env),
            );
        }
        if let Some(p) = &w.messaging.pulsar {
            out.pulsar(&self.path.field("pulsar"), p);
        }
        if let Some(p) = &w.pulsar_package_service {
            out.pulsar(&self.path.field("pulsarPackageService"), p);
        }
        if let Some(input) = self.consumer.and_then(|c| c.input.as_ref()) {
            let at = self.path.field("input").field("sourceSpecs");
            for (topic, spec) in input.source_specs.iter().flatten() {
                if let Some(c) = &spec.crypto_config {
                    out.crypto(&at.key(topic).field("cryptoConfig"), c);
                }
            }
        }
        if let Some(c) = self
            .output
            .and_then(|o| o.producer_conf.as_ref())
            .and_then(|p| p.crypto_config.as_ref())
        {
            out.crypto(
                &self
                    .path
                    .field("output")
                    .field("producerConf")
                    .field("cryptoConfig"),
                c,
            );
        }
        out.0
    }
}

struct Refs(Vec<Reference>);

impl Refs {
    fn push(&mut self, kind: RefKind, name: Option<&str>, keys: Vec<String>, path: FieldPath) {
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            self.0.push(Reference {
                kind,
                name: name.to_string(),
                keys,
                path: path.to_string(),
            });
        }
    }

    fn pulsar(&mut self, at: &FieldPath, p: &PulsarMessaging) {
        let strings = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        self.push(
            RefKind::ConfigMap,
            p.pulsar_config.as_deref(),
            strings(&PULSAR_CONFIG_KEYS),
            at.field("pulsarConfig"),
        );
        self.push(
            RefKind::Secret,
            p.auth_secret.as_deref(),
            strings(&AUTH_SECRET_KEYS),
            at.field("authSecret"),
        );
        self.push(
            RefKind::Secret,
            p.tls_secret.as_deref(),
            Vec::new(),
            at.field("tlsSecret"),
        );
        // A disabled TLS config mounts nothing.
        if let Some(tls) = p.tls_config.as_ref().filter(|t| t.enabled != Some(false)) {
            self.push(
                RefKind::Secret,
                tls.cert_secret_name.as_deref(),
                tls.cert_secret_key.iter().cloned().collect(),
                at.field("tlsConfig").field("certSecretName"),
            );
        }
        for (field, auth) in [
            ("authConfig", &p.auth_config),
            ("cleanupAuthConfig", &p.cleanup_auth_config),
        ] {
            if let Some(oauth) = auth.as_ref().and_then(|a| a.oauth2_config.as_ref()) {
                self.push(
                    RefKind::Secret,
                    oauth.key_secret_name.as_deref(),
                    oauth.key_secret_key.iter().cloned().collect(),
                    at.field(field).field("oauth2Config").field("keySecretName"),
                );
            }
        }
    }

    fn crypto(&mut self, at: &FieldPath, c: &CryptoConfig) {
        for (i, s) in c.crypto_secrets.iter().flatten().enumerate() {
            self.push(
                RefKind::Secret,
                s.secret_name.as_deref(),
                s.secret_key.iter().cloned().collect(),
                at.field("cryptoSecrets").index(i).field("secretName"),
            );
        }
    }
}
