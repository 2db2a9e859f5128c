//! One fmesh object of any kind, parsed from a JSON/YAML document: the entry point the CLI,
//! the webhook and the operator share (parse → defaults → validate).

use std::sync::OnceLock;

use kube::{CustomResourceExt, Resource as _};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diagnostic::{FieldPath, Report};
use crate::{
    BackendConfig, Function, FunctionMesh, GROUP, Sink, Source, VERSION, defaults, validate,
};

/// Any of the fmesh kinds.
#[derive(Clone, Debug)]
pub enum Resource {
    Function(Box<Function>),
    Source(Box<Source>),
    Sink(Box<Sink>),
    FunctionMesh(Box<FunctionMesh>),
    BackendConfig(Box<BackendConfig>),
}

/// What a document turned out to be.
#[derive(Debug)]
pub enum Parsed {
    /// An fmesh object, with warnings about fields the API does not know.
    Resource(Box<Resource>, Report),
    /// Another kind (ConfigMap, Secret, …): not ours to validate.
    Other { api_version: String, kind: String },
    /// Claims to be an fmesh object but does not parse; the report says where.
    Invalid(Report),
}

/// The kinds served, as `kind` values.
pub const KINDS: &[&str] = &[
    "Function",
    "Source",
    "Sink",
    "FunctionMesh",
    "BackendConfig",
];

impl Resource {
    /// Parses one document. Fields the API does not know become warnings (the apiserver would
    /// drop them silently), with the closest known name as a hint.
    pub fn parse(doc: &Value) -> Parsed {
        Self::parse_with(doc, true)
    }

    /// Parses as [`Resource::parse`] does but without looking for unknown fields, so the
    /// report of a parsed resource is empty: for callers that show no warnings (admission's
    /// defaulting, an UPDATE's old object), which need not pay for that second walk.
    pub fn parse_without_warnings(doc: &Value) -> Parsed {
        Self::parse_with(doc, false)
    }

    fn parse_with(doc: &Value, warnings: bool) -> Parsed {
        let api_version = doc
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        if group != GROUP {
            return Parsed::Other {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            };
        }
        let mut r = Report::default();
        if version != VERSION {
            r.error(
                &FieldPath::root("apiVersion"),
                format!("version `{version}` is not served"),
                format!("use {GROUP}/{VERSION}"),
            );
            return Parsed::Invalid(r);
        }
        if kind == "FunctionMesh"
            && let Err(over) = crate::limits::check_mesh_document(doc)
        {
            // Decoding a mesh into its types takes kilobytes per member: refuse it first.
            return Parsed::Invalid(over);
        }
        let parsed = match kind {
            "Function" => typed(doc).map(|o| Resource::Function(Box::new(o))),
            "Source" => typed(doc).map(|o| Resource::Source(Box::new(o))),
            "Sink" => typed(doc).map(|o| Resource::Sink(Box::new(o))),
            "FunctionMesh" => typed(doc).map(|o| Resource::FunctionMesh(Box::new(o))),
            "BackendConfig" => typed(doc).map(|o| Resource::BackendConfig(Box::new(o))),
            other => {
                let close = did_you_mean(other, KINDS.iter().copied());
                r.error(
                    &FieldPath::root("kind"),
                    format!("unknown kind `{other}` in {GROUP}"),
                    close.map_or_else(
                        || format!("use one of {}", KINDS.join(", ")),
                        |c| format!("did you mean {c}?"),
                    ),
                );
                return Parsed::Invalid(r);
            }
        };
        match parsed {
            Ok(res) => {
                if warnings {
                    unknown_fields(&mut r, kind, doc);
                }
                Parsed::Resource(Box::new(res), r)
            }
            Err(e) => Parsed::Invalid(e),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Function(_) => "Function",
            Resource::Source(_) => "Source",
            Resource::Sink(_) => "Sink",
            Resource::FunctionMesh(_) => "FunctionMesh",
            Resource::BackendConfig(_) => "BackendConfig",
        }
    }

    /// `metadata.name`, or empty.
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// No name yet but a `generateName`: the apiserver names the object after mutating
    /// admission (so the webhook's defaulting sees an empty name) and before validation.
    fn name_pending(&self) -> bool {
        let generate_name = self.meta().generate_name.as_deref();
        self.name().is_empty() && generate_name.is_some_and(|g| !g.is_empty())
    }

    fn meta(&self) -> &kube::core::ObjectMeta {
        match self {
            Resource::Function(o) => o.meta(),
            Resource::Source(o) => o.meta(),
            Resource::Sink(o) => o.meta(),
            Resource::FunctionMesh(o) => o.meta(),
            Resource::BackendConfig(o) => o.meta(),
        }
    }

    /// Fills absent fields as admission's mutation does.
    pub fn apply_defaults(&mut self) {
        // Without a name yet (generateName), `spec.name` stays absent rather than empty: the
        // operator and the runner fall back to the object's name once it has one.
        let name = Some(self.name().to_string()).filter(|n| !n.is_empty());
        match self {
            Resource::Function(o) => defaults::function(name.as_deref(), &mut o.spec),
            Resource::Source(o) => defaults::source(name.as_deref(), &mut o.spec),
            Resource::Sink(o) => defaults::sink(name.as_deref(), &mut o.spec),
            Resource::FunctionMesh(o) => defaults::mesh(&mut o.spec),
            Resource::BackendConfig(_) => {}
        }
    }

    /// Every error and warning, on a defaulted copy (what the apiserver would store).
    pub fn validate(&self) -> Report {
        let mut res = self.clone();
        res.apply_defaults();
        res.validate_defaulted()
    }

    /// [`Resource::validate`] of a resource already defaulted ([`Resource::apply_defaults`]),
    /// for callers that need the defaulted copy themselves: no second copy of a large mesh.
    pub fn validate_defaulted(&self) -> Report {
        let res = self;
        let spec = FieldPath::root("spec");
        let name_path = FieldPath::root("metadata").field("name");
        let mut r = Report::default();
        let what = format!("{} name", res.kind());
        // A generated name is checked by the apiserver; member names derive from the mesh's
        // name, so a mesh is checked as if named with the five characters the apiserver adds.
        let pending = res.name_pending();
        let mesh_name = if pending {
            format!(
                "{}xxxxx",
                res.meta().generate_name.as_deref().unwrap_or_default()
            )
        } else {
            res.name().to_string()
        };
        match &res {
            Resource::Function(o) => {
                if !pending {
                    validate::object_name(&mut r, &name_path, res.name(), &what);
                }
                r.extend(validate::function(&o.spec, &spec));
            }
            Resource::Source(o) => {
                if !pending {
                    validate::object_name(&mut r, &name_path, res.name(), &what);
                }
                r.extend(validate::source(&o.spec, &spec));
            }
            Resource::Sink(o) => {
                if !pending {
                    validate::object_name(&mut r, &name_path, res.name(), &what);
                }
                r.extend(validate::sink(&o.spec, &spec));
            }
            Resource::FunctionMesh(o) => {
                if !pending && !validate::is_dns_label(res.name()) {
                    r.error(
                        &name_path,
                        format!("mesh name `{}` is not a valid DNS-1123 label", res.name()),
                        "use lowercase letters, digits and '-'",
                    );
                }
                r.extend(validate::mesh_defaulted(&mesh_name, &o.spec));
            }
            Resource::BackendConfig(_) => {}
        }
        r
    }
}

fn typed<T: DeserializeOwned>(doc: &Value) -> Result<T, Report> {
    // Path tracking costs as much as the decoding itself: only pay for it to explain a failure.
    if let Ok(t) = T::deserialize(doc) {
        return Ok(t);
    }
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let pointer = json_pointer(e.path());
        let mut r = Report::default();
        r.error(
            &FieldPath::root(&dotted(&pointer)),
            e.inner().to_string(),
            "fix the value to match the field's type",
        );
        r
    })
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|seg| match seg {
            Segment::Seq { index } => Some(format!("/{index}")),
            Segment::Map { key } => Some(format!("/{}", key.replace('~', "~0").replace('/', "~1"))),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// `/spec/functions/0/replicas` → `spec.functions[0].replicas`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    if out.is_empty() {
        "spec".to_string()
    } else {
        out
    }
}

/// One kind's structural schema, as its CRD publishes it. Built on first use per kind:
/// generating a CRD is not free, and most callers only ever see one or two kinds.
fn schema(kind: &str) -> Option<&'static Value> {
    static SCHEMAS: [OnceLock<Option<Value>>; 5] = [const { OnceLock::new() }; 5];
    let i = KINDS.iter().position(|k| *k == kind)?;
    SCHEMAS[i]
        .get_or_init(|| {
            let crd = match kind {
                "Function" => Function::crd(),
                "Source" => Source::crd(),
                "Sink" => Sink::crd(),
                "FunctionMesh" => FunctionMesh::crd(),
                _ => BackendConfig::crd(),
            };
            let schema = crd
                .spec
                .versions
                .first()?
                .schema
                .as_ref()?
                .open_api_v3_schema
                .clone()?;
            serde_json::to_value(schema).ok()
        })
        .as_ref()
}

fn unknown_fields(r: &mut Report, kind: &str, doc: &Value) {
    let Some(schema) = schema(kind) else {
        return;
    };
    if let (Some(spec), Some(spec_schema)) = (doc.get("spec"), schema.pointer("/properties/spec")) {
        walk(r, &Step::Root("spec"), spec, spec_schema);
    }
    for key in doc.as_object().into_iter().flat_map(|o| o.keys()) {
        if !["apiVersion", "kind", "metadata", "spec", "status"].contains(&key.as_str()) {
            r.warn(
                &FieldPath::root(key),
                format!("unknown field `{key}` is ignored"),
                "top-level fields are apiVersion, kind, metadata and spec",
            );
        }
    }
}

/// Where [`walk`] is, as a chain on the stack: the [`FieldPath`] string is only built for a
/// warning (building it at every node was most of the walk's cost on a large mesh).
enum Step<'a> {
    Root(&'a str),
    Field(&'a Step<'a>, &'a str),
    Index(&'a Step<'a>, usize),
    Key(&'a Step<'a>, &'a str),
}

impl Step<'_> {
    fn path(&self) -> FieldPath {
        match self {
            Step::Root(name) => FieldPath::root(name),
            Step::Field(parent, name) => parent.path().field(name),
            Step::Index(parent, i) => parent.path().index(*i),
            Step::Key(parent, k) => parent.path().key(k),
        }
    }
}

fn walk(r: &mut Report, at: &Step<'_>, value: &Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in map {
                    match props.get(k) {
                        Some(s) => walk(r, &Step::Field(at, k), v, s),
                        None if preserves_unknown(schema) => {}
                        None => {
                            let hint = did_you_mean(k, props.keys().map(String::as_str))
                                .map_or_else(
                                    || "remove it; the apiserver drops unknown fields".to_string(),
                                    |c| format!("did you mean `{c}`?"),
                                );
                            r.warn(
                                &at.path().field(k),
                                format!("unknown field `{k}` is ignored"),
                                hint,
                            );
                        }
                    }
                }
            } else if let Some(item) = schema.get("additionalProperties").filter(|s| s.is_object())
            {
                for (k, v) in map {
                    walk(r, &Step::Key(at, k), v, item);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(r, &Step::Index(at, i), v, item);
                }
            }
        }
        _ => {}
    }
}

fn preserves_unknown(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

/// The closest candidate to a misspelt name, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(doc: &Value) -> Resource {
        match Resource::parse(doc) {
            Parsed::Resource(r, _) => *r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_fields_and_type_errors_name_their_paths() {
        use crate::diagnostic::Severity;
        let doc = json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "FunctionMesh",
            "metadata": {"name": "m"},
            "spec": {"functions": [{"name": "a"}, {"name": "b",
                "secretsMap": {"K": {"path": "s", "key": "k", "keyy": 1}}}]}});
        let Parsed::Resource(_, report) = Resource::parse(&doc) else {
            panic!("{doc}")
        };
        assert!(
            report.has(Severity::Warning, "spec.functions[1].secretsMap[K].keyy"),
            "{report:?}"
        );
        let mut bad = doc.clone();
        bad["spec"]["functions"][1]["replicas"] = json!("two");
        let Parsed::Invalid(report) = Resource::parse(&bad) else {
            panic!("{bad}")
        };
        assert!(
            report.has(Severity::Error, "spec.functions[1].replicas"),
            "{report:?}"
        );
        // Inside the parts a spec flattens, the path still reaches the field.
        let mut bad_nested = doc.clone();
        bad_nested["spec"]["functions"][1]["pulsar"] = json!({"authSecret": 3});
        let Parsed::Invalid(report) = Resource::parse(&bad_nested) else {
            panic!("{bad_nested}")
        };
        assert!(
            report.has(Severity::Error, "spec.functions[1].pulsar.authSecret"),
            "{report:?}"
        );
        // Without warnings: the same resource, no walk; type errors still reported.
        let Parsed::Resource(quiet, report) = Resource::parse_without_warnings(&doc) else {
            panic!("{doc}")
        };
        assert!(report.0.is_empty(), "{report:?}");
        assert_eq!(quiet.validate(), parse(&doc).validate());
        let Parsed::Invalid(report) = Resource::parse_without_warnings(&bad) else {
            panic!("{bad}")
        };
        assert!(report.has(Severity::Error, "spec.functions[1].replicas"));
    }

    #[test]
    fn generate_name_leaves_spec_name_absent_and_passes_validation() {
        let doc = json!({
            "apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
            "metadata": {"generateName": "enrich-"},
            "spec": {"input": {"topics": ["in"]}, "output": {"topic": "out"},
                     "builtin": {"name": "identity"}, "pulsar": {"pulsarConfig": "pulsar"}},
        });
        let mut f = parse(&doc);
        assert!(f.validate().errors().next().is_none(), "{:?}", f.validate());
        f.apply_defaults();
        let Resource::Function(f) = f else { panic!() };
        assert_eq!(
            f.spec.workload.name, None,
            "an empty spec.name would be stored"
        );

        // With a name, spec.name is defaulted from it as before.
        let mut named = doc.clone();
        named["metadata"] = json!({"name": "enrich"});
        let mut f = parse(&named);
        f.apply_defaults();
        let Resource::Function(f) = f else { panic!() };
        assert_eq!(f.spec.workload.name.as_deref(), Some("enrich"));
    }

    #[test]
    fn nameless_object_without_generate_name_is_still_refused() {
        let doc = json!({
            "apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
            "metadata": {},
            "spec": {"input": {"topics": ["in"]}, "output": {"topic": "out"},
                     "builtin": {"name": "identity"}, "pulsar": {"pulsarConfig": "pulsar"}},
        });
        let report = parse(&doc).validate();
        assert!(
            report.errors().any(|d| d.path == "metadata.name"),
            "{report:?}"
        );
    }
}
