//! Reference checks: the Secrets and ConfigMaps a CR names must exist in its namespace and hold
//! the keys it uses. Which references a CR makes is `fmesh_crds` ([`Resource::references`],
//! the list the operator watches too); looking them up goes through [`References`], so
//! handlers are tested without a cluster. Only key *names* cross this boundary, never values.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

#[cfg(doc)]
use fmesh_crds::Resource;
use fmesh_crds::diagnostic::{FieldPath, Report};
use fmesh_crds::{RefKind, Reference};

/// The annotation (on the CR or its Namespace) that turns missing references into warnings,
/// for GitOps tools that apply a Secret after the CR that names it: value `warn`.
pub const OPT_OUT_ANNOTATION: &str = "fmesh.io/reference-checks";
/// The value of [`OPT_OUT_ANNOTATION`] that downgrades reference errors to warnings.
pub const OPT_OUT_VALUE: &str = "warn";

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

/// Checks `refs` in `namespace`; problems are errors, or warnings when `lenient`
/// (the opt-out annotation). Each object is looked up once however often it is named.
pub async fn check<R: References>(
    lookups: &R,
    namespace: &str,
    refs: &[Reference],
    lenient: bool,
) -> Report {
    let mut found: HashMap<(RefKind, &str), Lookup> = HashMap::new();
    for r in refs {
        if let std::collections::hash_map::Entry::Vacant(slot) =
            found.entry((r.kind, r.name.as_str()))
        {
            slot.insert(match r.kind {
                RefKind::Secret => lookups.secret(namespace, &r.name).await,
                RefKind::ConfigMap => lookups.config_map(namespace, &r.name).await,
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
        let kind = r.kind.as_str();
        let problem = match &found[&(r.kind, r.name.as_str())] {
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
    use fmesh_crds::{Parsed, Resource};
    use serde_json::json;

    fn function(spec: serde_json::Value) -> Resource {
        let doc = json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
            "metadata": {"name": "f", "namespace": "ns"}, "spec": spec});
        match Resource::parse(&doc) {
            Parsed::Resource(r, _) => *r,
            other => panic!("{other:?}"),
        }
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
        let r = check(&refs, "ns", &f.references(), false).await;
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
        let lenient = check(&refs, "ns", &f.references(), true).await;
        assert!(lenient.is_valid());
        assert_eq!(lenient.warnings().count(), 2);
    }
}
