//! The handlers: one validating and one mutating entry per kind, pure over [`References`].

use std::collections::BTreeSet;
use std::time::Duration;

use fmesh_crds::diagnostic::{Diagnostic, Report};
use fmesh_crds::{GROUP, Parsed, Resource};

use crate::mutate;
use crate::references::{self, Lookup, OPT_OUT_ANNOTATION, OPT_OUT_VALUE, References};
use crate::review::{Request, Reviewed, Verdict};
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
            let _ = mutate::defaults_patch(&res);
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
        let (object, res, parse_report) = match self.prepare(kind, req) {
            Prepared::Answer(v) => return v,
            Prepared::Object(object, res, report) => (object, res, report),
        };
        let mut report = parse_report.clone();
        let old = old_resource(req);
        let mut defaulted = res.clone();
        defaulted.apply_defaults();
        report.extend(defaulted.validate_defaulted());
        if old.is_some_and(|(_, old)| same_spec(res, old)) {
            // Metadata-only updates (labels, finalizers) of an existing object must not be
            // blocked by rules it already broke, or by a Secret deleted since. Compared as
            // the typed API reads them: a field it does not know changes nothing.
            return Verdict::allow().with_warnings(render(report.warnings()));
        }
        if let Some((old_object, old)) = old {
            let intents = update::intents(
                object.annotation(update::INTENT_ANNOTATION),
                old_object.annotation(update::INTENT_ANNOTATION),
            );
            let mut old_defaulted = old.clone();
            old_defaulted.apply_defaults();
            report.extend(update::check_defaulted(
                &old_defaulted,
                &defaulted,
                &intents,
            ));
        }
        if self.settings.reference_checks {
            report.extend(self.reference_report(req, object, res, old).await);
        }
        verdict_named(res.kind(), res.name(), report)
    }

    /// The mutating answer: the defaults as a patch of `add` operations, or nothing.
    pub async fn mutate(&self, kind: Kind, req: &Request) -> Verdict {
        let res = match self.prepare(kind, req) {
            Prepared::Answer(v) => return v,
            Prepared::Object(_, res, _) => res,
        };
        match mutate::defaults_patch(res) {
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

    /// Common front: operation, kind, object and parse checks.
    fn prepare<'a>(&self, kind: Kind, req: &'a Request) -> Prepared<'a> {
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
        let Some(object) = req.object.as_ref() else {
            return Prepared::Answer(Verdict::deny(
                400,
                "BadRequest",
                "the request has no object",
            ));
        };
        if object.deleting() {
            // Being deleted: only finalizers change now; never stand in the way.
            return Prepared::Answer(Verdict::allow());
        }
        match &object.parsed {
            Parsed::Resource(res, report) => Prepared::Object(object, res, report),
            Parsed::Invalid(report) => Prepared::Answer(verdict_named(
                kind.as_str(),
                &name_of(req, object),
                report.clone(),
            )),
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

    /// The reference checks of what `res` (the object as sent) introduces.
    async fn reference_report(
        &self,
        req: &Request,
        object: &Reviewed,
        res: &Resource,
        old: Option<(&Reviewed, &Resource)>,
    ) -> Report {
        let namespace = req
            .namespace
            .clone()
            .or_else(|| object.meta_str("namespace").map(str::to_string))
            .unwrap_or_else(|| "default".to_string());
        let mut refs = res.references();
        if let Some((_, old)) = old {
            // Only what this update introduces: a Secret deleted after admission is the
            // operator's concern, not a reason to refuse an unrelated edit.
            let before: BTreeSet<_> = old
                .references()
                .into_iter()
                .map(|r| (r.kind, r.name, r.keys))
                .collect();
            refs.retain(|r| !before.contains(&(r.kind, r.name.clone(), r.keys.clone())));
        }
        let opted_out = object.annotation(OPT_OUT_ANNOTATION) == Some(OPT_OUT_VALUE);
        if refs.is_empty() {
            return Report::default();
        }
        let lenient = opted_out
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
    Object(&'a Reviewed, &'a Resource, &'a Report),
}

/// The old object of an UPDATE, if it is a typed one (its warnings were shown when it was
/// admitted).
fn old_resource(req: &Request) -> Option<(&Reviewed, &Resource)> {
    if req.operation != "UPDATE" {
        return None;
    }
    let old = req.old_object.as_ref()?;
    match &old.parsed {
        Parsed::Resource(res, _) => Some((old, res)),
        _ => None,
    }
}

/// Whether two objects are of one kind and have the same spec.
fn same_spec(a: &Resource, b: &Resource) -> bool {
    match (a, b) {
        (Resource::Function(a), Resource::Function(b)) => a.spec == b.spec,
        (Resource::Source(a), Resource::Source(b)) => a.spec == b.spec,
        (Resource::Sink(a), Resource::Sink(b)) => a.spec == b.spec,
        (Resource::FunctionMesh(a), Resource::FunctionMesh(b)) => a.spec == b.spec,
        (Resource::BackendConfig(a), Resource::BackendConfig(b)) => a.spec == b.spec,
        _ => false,
    }
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

fn name_of(req: &Request, object: &Reviewed) -> String {
    object
        .meta_str("name")
        .map(str::to_string)
        .or_else(|| req.name.clone())
        .unwrap_or_default()
}

fn render<'a>(diags: impl Iterator<Item = &'a Diagnostic>) -> Vec<String> {
    diags.map(ToString::to_string).collect()
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
