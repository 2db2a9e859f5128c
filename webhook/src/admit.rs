//! The handlers: one validating and one mutating entry per kind, pure over [`References`].

use std::collections::BTreeSet;
use std::time::Duration;

use fmesh_crds::diagnostic::{Diagnostic, Report};
use fmesh_crds::{GROUP, Parsed, Resource};
use serde_json::{Map, Value};

use crate::mutate;
use crate::references::{self, Lookup, OPT_OUT_ANNOTATION, OPT_OUT_VALUE, References};
use crate::review::{Request, Verdict};
use crate::update;

/// The kinds with admission endpoints (`/validate/<path>`, `/mutate/<path>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Function,
    Source,
    Sink,
    FunctionMesh,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Function, Kind::Source, Kind::Sink, Kind::FunctionMesh];

    /// The `kind` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Function => "Function",
            Kind::Source => "Source",
            Kind::Sink => "Sink",
            Kind::FunctionMesh => "FunctionMesh",
        }
    }

    /// The URL segment: `function`, `source`, `sink`, `functionmesh`.
    pub fn segment(self) -> &'static str {
        match self {
            Kind::Function => "function",
            Kind::Source => "source",
            Kind::Sink => "sink",
            Kind::FunctionMesh => "functionmesh",
        }
    }

    /// The plural resource name the webhook rules use.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Function => "functions",
            Kind::Source => "sources",
            Kind::Sink => "sinks",
            Kind::FunctionMesh => "functionmeshes",
        }
    }

    /// The kind served at URL segment `s`.
    pub fn from_segment(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.segment() == s)
    }
}

/// Settings of the handlers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Check Secret/ConfigMap references against the cluster.
    pub reference_checks: bool,
    /// Budget for all reference lookups of one request; past it they count as failed.
    pub lookup_budget: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reference_checks: true,
            lookup_budget: Duration::from_secs(3),
        }
    }
}

/// Runs every kind once through parsing, validation and defaulting, so the lazily built
/// schemas (the FunctionMesh one is large) are ready before the first real request.
pub fn warm_up() {
    for kind in Kind::ALL {
        let doc = serde_json::json!({
            "apiVersion": format!("{GROUP}/{}", fmesh_crds::VERSION), "kind": kind.as_str(),
            "metadata": {"name": "warm-up"}, "spec": {}
        });
        if let Parsed::Resource(res, _) = Resource::parse(&doc) {
            let _ = res.validate();
            let _ = mutate::defaults_patch(&doc, &res);
        }
    }
}

/// Validating and mutating admission over some [`References`].
pub struct Admission<R> {
    refs: R,
    settings: Settings,
}

impl<R: References> Admission<R> {
    pub fn new(refs: R, settings: Settings) -> Self {
        Admission { refs, settings }
    }

    /// The validating answer: every error in one denial, warnings returned either way.
    pub async fn validate(&self, kind: Kind, req: &Request) -> Verdict {
        let (object, res, mut report) = match self.prepare(kind, req, Resource::parse) {
            Prepared::Answer(v) => return v,
            Prepared::Object(o, r, rep) => (o, r, rep),
        };
        // One defaulted copy serves the validation and the UPDATE rules.
        let mut defaulted = res.clone();
        defaulted.apply_defaults();
        report.extend(defaulted.validate_defaulted());
        let mut old_refs = None;
        if let Some(mut old) = self.old_resource(req) {
            // Metadata-only updates (labels, finalizers) of an existing object must not be
            // blocked by rules it already broke, or by a Secret deleted since.
            if object.get("spec") == req.old_object.as_ref().and_then(|o| o.get("spec")) {
                return Verdict::allow().with_warnings(render(report.warnings()));
            }
            let intents = update::intents(object, req.old_object.as_ref());
            if self.settings.reference_checks {
                // As sent, like the new object's: taken before `old` is defaulted in place.
                old_refs = Some(references::collect(&old));
            }
            old.apply_defaults();
            report.extend(update::check_defaulted(&old, &defaulted, &intents));
        }
        if self.settings.reference_checks {
            report.extend(self.reference_report(req, object, &res, old_refs).await);
        }
        verdict(&res, report)
    }

    /// The mutating answer: the defaults as a patch of `add` operations, or nothing.
    pub async fn mutate(&self, kind: Kind, req: &Request) -> Verdict {
        // Defaulting shows no warnings: no unknown-field walk.
        let (object, res) = match self.prepare(kind, req, Resource::parse_without_warnings) {
            Prepared::Answer(v) => return v,
            Prepared::Object(o, r, _) => (o, r),
        };
        match mutate::defaults_patch_owned(object, res) {
            Ok(Some(patch)) => Verdict {
                patch: Some(patch),
                ..Verdict::allow()
            },
            Ok(None) => Verdict::allow(),
            Err(e) => Verdict::deny(
                500,
                "InternalError",
                format!("could not compute defaults: {e}"),
            ),
        }
    }

    /// Common front: operation, kind and parse checks; `parse` is [`Resource::parse`] or,
    /// where warnings are not shown, [`Resource::parse_without_warnings`].
    fn prepare<'a>(
        &self,
        kind: Kind,
        req: &'a Request,
        parse: fn(&Value) -> Parsed,
    ) -> Prepared<'a> {
        if !matches!(req.operation.as_str(), "CREATE" | "UPDATE") {
            return Prepared::Answer(Verdict::allow());
        }
        if req.kind.group != GROUP || req.kind.kind != kind.as_str() {
            return Prepared::Answer(Verdict::deny(
                400,
                "BadRequest",
                format!(
                    "this endpoint admits {GROUP} {}, got {}/{} {}",
                    kind.as_str(),
                    req.kind.group,
                    req.kind.version,
                    req.kind.kind
                ),
            ));
        }
        let Some(object) = req.object.as_ref().filter(|o| o.is_object()) else {
            return Prepared::Answer(Verdict::deny(
                400,
                "BadRequest",
                "the request has no object",
            ));
        };
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            // Being deleted: only finalizers change now; never stand in the way.
            return Prepared::Answer(Verdict::allow());
        }
        match parse(object) {
            Parsed::Resource(res, report) => Prepared::Object(object, *res, report),
            Parsed::Invalid(report) => {
                Prepared::Answer(verdict_named(kind.as_str(), &name_of(req, object), report))
            }
            Parsed::Other {
                api_version,
                kind: k,
            } => Prepared::Answer(Verdict::deny(
                400,
                "BadRequest",
                format!(
                    "the object is {api_version} {k}, not {GROUP} {}",
                    kind.as_str()
                ),
            )),
        }
    }

    fn old_resource(&self, req: &Request) -> Option<Resource> {
        if req.operation != "UPDATE" {
            return None;
        }
        // Its warnings were shown when it was admitted.
        let parsed = |doc: &Value| match Resource::parse_without_warnings(doc) {
            Parsed::Resource(r, _) => Some(*r),
            _ => None,
        };
        let old = req.old_object.as_ref()?;
        // The whole object only if the pruned one does not parse (it parses whenever the
        // whole one does: every spec field is optional).
        parsed(&pruned_old(old)).or_else(|| parsed(old))
    }

    async fn reference_report(
        &self,
        req: &Request,
        object: &Value,
        res: &Resource,
        old_refs: Option<Vec<references::Reference>>,
    ) -> Report {
        let namespace = req
            .namespace
            .clone()
            .or_else(|| {
                object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "default".to_string());
        let mut refs = references::collect(res);
        if let Some(old_refs) = old_refs {
            // Only what this update introduces: a Secret deleted after admission is the
            // operator's concern, not a reason to refuse an unrelated edit.
            let before: BTreeSet<_> = old_refs
                .into_iter()
                .map(|r| (r.target, r.name, r.keys))
                .collect();
            refs.retain(|r| !before.contains(&(r.target, r.name.clone(), r.keys.clone())));
        }
        if refs.is_empty() {
            return Report::default();
        }
        let lenient = annotation(object, OPT_OUT_ANNOTATION) == Some(OPT_OUT_VALUE)
            || tokio::time::timeout(
                self.settings.lookup_budget,
                self.refs
                    .namespace_annotation(&namespace, OPT_OUT_ANNOTATION),
            )
            .await
            .ok()
            .flatten()
            .as_deref()
                == Some(OPT_OUT_VALUE);
        let lookups = Budgeted {
            inner: &self.refs,
            deadline: tokio::time::Instant::now() + self.settings.lookup_budget,
        };
        references::check(&lookups, &namespace, &refs, lenient).await
    }
}

enum Prepared<'a> {
    Answer(Verdict),
    Object(&'a Value, Resource, Report),
}

/// Lookups that fail once the request's lookup budget is spent.
struct Budgeted<'a, R> {
    inner: &'a R,
    deadline: tokio::time::Instant,
}

impl<R: References> Budgeted<'_, R> {
    async fn within(&self, f: impl std::future::Future<Output = Lookup>) -> Lookup {
        tokio::time::timeout_at(self.deadline, f)
            .await
            .unwrap_or_else(|_| Lookup::Failed("lookup timed out".into()))
    }
}

impl<R: References> References for Budgeted<'_, R> {
    async fn secret(&self, namespace: &str, name: &str) -> Lookup {
        self.within(self.inner.secret(namespace, name)).await
    }
    async fn config_map(&self, namespace: &str, name: &str) -> Lookup {
        self.within(self.inner.config_map(namespace, name)).await
    }
    async fn namespace_annotation(&self, namespace: &str, key: &str) -> Option<String> {
        self.inner.namespace_annotation(namespace, key).await
    }
}

/// What the UPDATE rules ([`update::check_defaulted`]) and the reference comparison read of a
/// workload, before and after defaulting: its Pulsar identity, subscription and guarantee,
/// and the Secrets/ConfigMaps it names. The defaults of these depend only on each other and
/// the object's name, so a pruned copy defaults to the same values.
const OLD_SPEC_KEYS: [&str; 8] = [
    "name",
    "tenant",
    "namespace",
    "subscriptionName",
    "processingGuarantee",
    "secretsMap",
    "pulsar",
    "pulsarPackageService",
];

/// An UPDATE's old object cut down to what [`update::check_defaulted`] and the reference
/// comparison read: converting a whole 20-member mesh to the typed API a second time cost
/// more than the rules themselves. Anything not shaped as expected is kept as it is.
fn pruned_old(old: &Value) -> Value {
    let Some(obj) = old.as_object() else {
        return old.clone();
    };
    let mut out = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = obj.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    match obj.get("metadata") {
        Some(Value::Object(meta)) => {
            out.insert(
                "metadata".into(),
                Value::Object(pick(meta, &["name", "namespace"])),
            );
        }
        Some(other) => {
            out.insert("metadata".into(), other.clone());
        }
        None => {}
    }
    let spec = match obj.get("spec") {
        Some(Value::Object(spec))
            if obj.get("kind").and_then(Value::as_str) == Some("FunctionMesh") =>
        {
            let mut mesh = Map::new();
            for (list, members) in spec {
                let members = match members {
                    Value::Array(members) => Value::Array(
                        members
                            .iter()
                            .map(|m| match m {
                                Value::Object(m) => Value::Object(pick(m, &OLD_SPEC_KEYS)),
                                other => other.clone(),
                            })
                            .collect(),
                    ),
                    other => other.clone(),
                };
                mesh.insert(list.clone(), members);
            }
            Some(Value::Object(mesh))
        }
        Some(Value::Object(spec)) => Some(Value::Object(pick(spec, &OLD_SPEC_KEYS))),
        Some(other) => Some(other.clone()),
        None => None,
    };
    if let Some(spec) = spec {
        out.insert("spec".into(), spec);
    }
    Value::Object(out)
}

fn pick(from: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| from.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

fn name_of(req: &Request, object: &Value) -> String {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| req.name.clone())
        .unwrap_or_default()
}

fn render<'a>(diags: impl Iterator<Item = &'a Diagnostic>) -> Vec<String> {
    diags.map(ToString::to_string).collect()
}

fn verdict(res: &Resource, report: Report) -> Verdict {
    verdict_named(res.kind(), res.name(), report)
}

/// Denies with every error (`path: message (hint)`, one per line) or allows; warnings either way.
fn verdict_named(kind: &str, name: &str, report: Report) -> Verdict {
    let warnings = render(report.warnings());
    let errors = render(report.errors());
    if errors.is_empty() {
        return Verdict::allow().with_warnings(warnings);
    }
    let count = if errors.len() == 1 {
        "1 error".to_string()
    } else {
        format!("{} errors", errors.len())
    };
    let message = format!(
        "{kind} {name:?} is invalid, {count}:\n- {}",
        errors.join("\n- ")
    );
    // No `reason`: kubectl prints a Status with reason `Invalid` but without field causes as
    // just "The request is invalid", hiding the message; without a reason it prints the message.
    Verdict::deny(422, "", message).with_warnings(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full(doc: &Value) -> Resource {
        match Resource::parse_without_warnings(doc) {
            Parsed::Resource(r, _) => *r,
            other => panic!("{other:?}"),
        }
    }

    /// What the UPDATE rules and the reference comparison see of `old` against `new`.
    fn seen(old: Resource, new: &Resource) -> (String, Vec<references::Reference>) {
        let refs = references::collect(&old);
        let (mut old, mut new) = (old, new.clone());
        old.apply_defaults();
        new.apply_defaults();
        let intents = ["subscriptionName".to_string()].into();
        let a = update::check_defaulted(&old, &new, &BTreeSet::new());
        let b = update::check_defaulted(&old, &new, &intents);
        (format!("{a:?} {b:?}"), refs)
    }

    #[test]
    fn a_pruned_old_object_meets_the_update_rules_as_the_whole_one_does() {
        let member = |name: &str, extra: Value| {
            let mut m = json!({"name": name, "className": "C", "replicas": 2,
                "java": {"jar": "f.jar"}, "input": {"topics": ["persistent://public/default/in"]},
                "output": {"topic": "out"}, "funcConfig": {"k": [1, 2]},
                "secretsMap": {"PW": {"path": "creds", "key": "password"}},
                "pulsar": {"pulsarConfig": "cluster", "authSecret": "auth"}});
            for (k, v) in extra.as_object().unwrap() {
                m[k] = v.clone();
            }
            m
        };
        let mesh = |fns: Value| {
            json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "FunctionMesh",
                "metadata": {"name": "m", "namespace": "ns", "labels": {"a": "b"},
                    "annotations": {"fmesh.io/update-intent": "x"}},
                "spec": {"functions": fns,
                    "sinks": [{"name": "k", "sinkType": "jdbc", "subscriptionName": "sub",
                        "input": {"topics": ["out"]}, "pulsarPackageService": {"pulsarConfig": "pkg"}}]},
                "status": {"conditions": []}})
        };
        let old = mesh(json!([
            member(
                "a",
                json!({"tenant": "t1", "processingGuarantee": "effectively_once"})
            ),
            member("b", json!({"subscriptionName": "s1", "namespace": "n1"})),
        ]));
        let new = full(&mesh(json!([
            member("a", json!({"tenant": "t2"})),
            member("b", json!({"subscriptionName": "s2", "secretsMap": {}})),
        ])));
        let function = |spec: Value| {
            json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
                "metadata": {"name": "f"}, "spec": spec})
        };
        let old_fn = function(member(
            "f",
            json!({"tenant": "t1", "subscriptionName": "s"}),
        ));
        let new_fn = full(&function(member("g", json!({}))));
        for (old, new) in [(old, new), (old_fn, new_fn)] {
            let pruned = pruned_old(&old);
            assert!(pruned.to_string().len() < old.to_string().len());
            let (errors, refs) = seen(full(&pruned), &new);
            assert_eq!((errors.clone(), refs.clone()), seen(full(&old), &new));
            assert!(
                errors.contains("Error") && !refs.is_empty(),
                "{errors} {refs:?}"
            );
        }
        // Shapes the typed API refuses are kept, so the pruned copy is refused as well.
        let odd = json!({"kind": "FunctionMesh", "metadata": "m", "spec": {"functions": 3}});
        assert_eq!(pruned_old(&odd), odd);
        assert_eq!(pruned_old(&json!([1])), json!([1]));
    }
}
