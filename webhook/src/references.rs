//! Reference checks: the Secrets and ConfigMaps a CR names must exist in its namespace and hold
//! the keys it uses. Which references a CR makes is pure ([`collect`]); looking them up goes
//! through [`References`], so handlers are tested without a cluster. Only key *names* cross
//! this boundary, never values.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use fmesh_crds::Resource;
use fmesh_crds::common::PulsarMessaging;
use fmesh_crds::diagnostic::{FieldPath, Report};
use fmesh_crds::workload::WorkloadSpec;

/// The annotation (on the CR or its Namespace) that turns missing references into warnings,
/// for GitOps tools that apply a Secret after the CR that names it: value `warn`.
pub const OPT_OUT_ANNOTATION: &str = "fmesh.io/reference-checks";
/// The value of [`OPT_OUT_ANNOTATION`] that downgrades reference errors to warnings.
pub const OPT_OUT_VALUE: &str = "warn";

/// Keys the cluster-config ConfigMap (`pulsar.pulsarConfig`) must carry.
pub const PULSAR_CONFIG_KEYS: [&str; 2] = ["webServiceURL", "brokerServiceURL"];
/// Keys `pulsar.authSecret` must carry (Function Mesh's auth Secret layout).
pub const AUTH_SECRET_KEYS: [&str; 2] = [
    "clientAuthenticationPlugin",
    "clientAuthenticationParameters",
];

/// A Secret or a ConfigMap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Secret,
    ConfigMap,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Secret => "Secret",
            Target::ConfigMap => "ConfigMap",
        }
    }
}

/// One object a CR names, the keys it reads from it, and the field that names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub target: Target,
    pub name: String,
    pub keys: Vec<String>,
    /// JSON path of the naming field, e.g. `spec.secretsMap[PASSWORD]`.
    pub path: String,
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The object exists with these key names.
    Found(BTreeSet<String>),
    /// It does not exist.
    Missing,
    /// It could not be checked (API error, timeout); the message says why.
    Failed(String),
}

/// Looks up Secrets, ConfigMaps and Namespace annotations. Implementations return key names only.
pub trait References: Send + Sync {
    /// The key names of Secret `namespace/name`.
    fn secret(&self, namespace: &str, name: &str) -> impl Future<Output = Lookup> + Send;
    /// The key names of ConfigMap `namespace/name` (`data` and `binaryData`).
    fn config_map(&self, namespace: &str, name: &str) -> impl Future<Output = Lookup> + Send;
    /// Annotation `key` of Namespace `namespace`, if set.
    fn namespace_annotation(
        &self,
        namespace: &str,
        key: &str,
    ) -> impl Future<Output = Option<String>> + Send;
}

/// Every Secret and ConfigMap reference of a CR (mesh members at their own paths).
pub fn collect(res: &Resource) -> Vec<Reference> {
    let mut out = Vec::new();
    let spec = FieldPath::root("spec");
    match res {
        Resource::Function(o) => workload(&mut out, &spec, &o.spec.workload),
        Resource::Source(o) => workload(&mut out, &spec, &o.spec.workload),
        Resource::Sink(o) => workload(&mut out, &spec, &o.spec.workload),
        Resource::FunctionMesh(o) => {
            for (i, f) in o.spec.functions.iter().flatten().enumerate() {
                workload(&mut out, &spec.field("functions").index(i), &f.workload);
            }
            for (i, s) in o.spec.sources.iter().flatten().enumerate() {
                workload(&mut out, &spec.field("sources").index(i), &s.workload);
            }
            for (i, s) in o.spec.sinks.iter().flatten().enumerate() {
                workload(&mut out, &spec.field("sinks").index(i), &s.workload);
            }
        }
        Resource::BackendConfig(_) => {}
    }
    out
}

fn workload(out: &mut Vec<Reference>, at: &FieldPath, w: &WorkloadSpec) {
    for (env, secret) in w.secrets_map.iter().flatten() {
        if let Some(name) = secret.path.as_deref().filter(|n| !n.is_empty()) {
            out.push(Reference {
                target: Target::Secret,
                name: name.to_string(),
                keys: secret.key.iter().cloned().collect(),
                path: at.field("secretsMap").key(env).to_string(),
            });
        }
    }
    if let Some(p) = &w.messaging.pulsar {
        pulsar(out, &at.field("pulsar"), p);
    }
    if let Some(p) = &w.pulsar_package_service {
        pulsar(out, &at.field("pulsarPackageService"), p);
    }
}

fn pulsar(out: &mut Vec<Reference>, at: &FieldPath, p: &PulsarMessaging) {
    let mut push = |target, name: &Option<String>, keys: Vec<String>, path: FieldPath| {
        if let Some(name) = name.as_deref().filter(|n| !n.is_empty()) {
            out.push(Reference {
                target,
                name: name.to_string(),
                keys,
                path: path.to_string(),
            });
        }
    };
    let strings = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    push(
        Target::ConfigMap,
        &p.pulsar_config,
        strings(&PULSAR_CONFIG_KEYS),
        at.field("pulsarConfig"),
    );
    push(
        Target::Secret,
        &p.auth_secret,
        strings(&AUTH_SECRET_KEYS),
        at.field("authSecret"),
    );
    push(
        Target::Secret,
        &p.tls_secret,
        Vec::new(),
        at.field("tlsSecret"),
    );
    if let Some(tls) = &p.tls_config {
        push(
            Target::Secret,
            &tls.cert_secret_name,
            tls.cert_secret_key.iter().cloned().collect(),
            at.field("tlsConfig").field("certSecretName"),
        );
    }
    for (field, auth) in [
        ("authConfig", &p.auth_config),
        ("cleanupAuthConfig", &p.cleanup_auth_config),
    ] {
        if let Some(oauth) = auth.as_ref().and_then(|a| a.oauth2_config.as_ref()) {
            push(
                Target::Secret,
                &oauth.key_secret_name,
                oauth.key_secret_key.iter().cloned().collect(),
                at.field(field).field("oauth2Config").field("keySecretName"),
            );
        }
    }
}

/// Checks `refs` in `namespace`; problems are errors, or warnings when `lenient`
/// (the opt-out annotation). Each object is looked up once however often it is named.
pub async fn check<R: References>(
    lookups: &R,
    namespace: &str,
    refs: &[Reference],
    lenient: bool,
) -> Report {
    let mut found: HashMap<(Target, &str), Lookup> = HashMap::new();
    for r in refs {
        if let std::collections::hash_map::Entry::Vacant(slot) =
            found.entry((r.target, r.name.as_str()))
        {
            slot.insert(match r.target {
                Target::Secret => lookups.secret(namespace, &r.name).await,
                Target::ConfigMap => lookups.config_map(namespace, &r.name).await,
            });
        }
    }
    let mut report = Report::default();
    let suffix = if lenient {
        format!(" (allowed because {OPT_OUT_ANNOTATION}={OPT_OUT_VALUE})")
    } else {
        String::new()
    };
    for r in refs {
        let path = FieldPath::root(&r.path);
        let kind = r.target.as_str();
        let problem = match &found[&(r.target, r.name.as_str())] {
            Lookup::Found(keys) => {
                let missing: Vec<&str> = r
                    .keys
                    .iter()
                    .filter(|k| !keys.contains(k.as_str()))
                    .map(String::as_str)
                    .collect();
                (!missing.is_empty()).then(|| {
                    let have: Vec<&str> = keys.iter().map(String::as_str).collect();
                    (
                        format!(
                            "{kind} `{}` in namespace `{namespace}` has no key {}",
                            r.name,
                            quote_list(&missing)
                        ),
                        format!(
                            "add the key{} to the {kind}; it has {}",
                            if missing.len() > 1 { "s" } else { "" },
                            if have.is_empty() {
                                "no keys".to_string()
                            } else {
                                quote_list(&have)
                            }
                        ),
                    )
                })
            }
            Lookup::Missing => Some((
                format!(
                    "{kind} `{}` does not exist in namespace `{namespace}`",
                    r.name
                ),
                format!(
                    "create it first, or annotate the object or namespace {OPT_OUT_ANNOTATION}={OPT_OUT_VALUE} if it arrives later"
                ),
            )),
            Lookup::Failed(why) => Some((
                format!("{kind} `{}` could not be checked: {why}", r.name),
                "retry; if it persists check the webhook's access to the API".to_string(),
            )),
        };
        if let Some((message, hint)) = problem {
            if lenient {
                report.warn(&path, format!("{message}{suffix}"), hint);
            } else {
                report.error(&path, message, hint);
            }
        }
    }
    report
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A fixed set of objects, for tests and for running without a cluster.
#[derive(Clone, Debug, Default)]
pub struct StaticReferences {
    pub secrets: HashMap<(String, String), BTreeSet<String>>,
    pub config_maps: HashMap<(String, String), BTreeSet<String>>,
    pub namespace_annotations: HashMap<(String, String), String>,
}

impl StaticReferences {
    /// Adds Secret `namespace/name` with `keys`.
    pub fn with_secret(mut self, namespace: &str, name: &str, keys: &[&str]) -> Self {
        self.secrets.insert(
            (namespace.into(), name.into()),
            keys.iter().map(|k| k.to_string()).collect(),
        );
        self
    }
    /// Adds ConfigMap `namespace/name` with `keys`.
    pub fn with_config_map(mut self, namespace: &str, name: &str, keys: &[&str]) -> Self {
        self.config_maps.insert(
            (namespace.into(), name.into()),
            keys.iter().map(|k| k.to_string()).collect(),
        );
        self
    }
    /// Sets annotation `key=value` on Namespace `namespace`.
    pub fn with_namespace_annotation(mut self, namespace: &str, key: &str, value: &str) -> Self {
        self.namespace_annotations
            .insert((namespace.into(), key.into()), value.into());
        self
    }
}

impl References for StaticReferences {
    async fn secret(&self, namespace: &str, name: &str) -> Lookup {
        self.secrets
            .get(&(namespace.to_string(), name.to_string()))
            .map_or(Lookup::Missing, |k| Lookup::Found(k.clone()))
    }
    async fn config_map(&self, namespace: &str, name: &str) -> Lookup {
        self.config_maps
            .get(&(namespace.to_string(), name.to_string()))
            .map_or(Lookup::Missing, |k| Lookup::Found(k.clone()))
    }
    async fn namespace_annotation(&self, namespace: &str, key: &str) -> Option<String> {
        self.namespace_annotations
            .get(&(namespace.to_string(), key.to_string()))
            .cloned()
    }
}

/// Accepts every reference: reference checks turned off.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoReferences;

impl References for NoReferences {
    async fn secret(&self, _: &str, _: &str) -> Lookup {
        Lookup::Failed("reference checks are off".into())
    }
    async fn config_map(&self, _: &str, _: &str) -> Lookup {
        Lookup::Failed("reference checks are off".into())
    }
    async fn namespace_annotation(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmesh_crds::Parsed;
    use serde_json::json;

    fn function(spec: serde_json::Value) -> Resource {
        let doc = json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
            "metadata": {"name": "f", "namespace": "ns"}, "spec": spec});
        match Resource::parse(&doc) {
            Parsed::Resource(r, _) => *r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn collects_every_named_object_with_its_keys() {
        let f = function(json!({
            "secretsMap": {"PW": {"path": "db", "key": "password"}},
            "pulsar": {"pulsarConfig": "cluster", "authSecret": "auth", "tlsSecret": "tls",
                       "tlsConfig": {"certSecretName": "ca", "certSecretKey": "ca.crt"}}
        }));
        let refs = collect(&f);
        let paths: Vec<&str> = refs.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.secretsMap[PW]",
                "spec.pulsar.pulsarConfig",
                "spec.pulsar.authSecret",
                "spec.pulsar.tlsSecret",
                "spec.pulsar.tlsConfig.certSecretName"
            ]
        );
        assert_eq!(refs[0].keys, ["password"]);
        assert_eq!(refs[1].keys, ["webServiceURL", "brokerServiceURL"]);
    }

    #[tokio::test]
    async fn missing_objects_and_keys_are_errors_with_paths() {
        let f = function(json!({
            "secretsMap": {"PW": {"path": "db", "key": "password"}, "TOKEN": {"path": "nope", "key": "t"}},
            "pulsar": {"pulsarConfig": "cluster"}
        }));
        let refs = StaticReferences::default()
            .with_secret("ns", "db", &["user"])
            .with_config_map("ns", "cluster", &["webServiceURL", "brokerServiceURL"]);
        let r = check(&refs, "ns", &collect(&f), false).await;
        assert_eq!(r.errors().count(), 2, "{r:?}");
        let text: Vec<String> = r.errors().map(|d| d.to_string()).collect();
        assert!(
            text[0].starts_with(
                "spec.secretsMap[PW]: Secret `db` in namespace `ns` has no key `password`"
            ),
            "{text:?}"
        );
        assert!(text[0].contains("it has `user`"));
        assert!(text[1].starts_with("spec.secretsMap[TOKEN]: Secret `nope` does not exist"));
        let lenient = check(&refs, "ns", &collect(&f), true).await;
        assert!(lenient.is_valid());
        assert_eq!(lenient.warnings().count(), 2);
    }
}
