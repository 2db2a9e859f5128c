//! The handlers: one validating and one mutating entry per kind, pure over [`References`].

use std::collections::BTreeSet;
use std::time::Duration;

use fmesh_crds::diagnostic::{Diagnostic, Report};
use fmesh_crds::{GROUP, Parsed, Resource};

use crate::mutate;
use crate::object::Reviewed;
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
    ///
    /// Defaults the objects in `req` in place, after reading what was sent: one defaulted
    /// object serves the validation and the UPDATE rules, without a copy of each (a copy cost
    /// as much as the defaulting, and more with the caches cold, as they are in the server).
    pub async fn validate(&self, kind: Kind, req: &mut Request) -> Verdict {
        let sent = match self.prepare(kind, req) {
            Prepared::Answer(v) => return v,
            Prepared::Object(object, res, report) => self.read_sent(req, object, res, report),
        };
        let (Some(res), old) = resources_mut(req) else {
            // `prepare` found a typed object.
            return Verdict::deny(500, "InternalError", "the object vanished; retry");
        };
        let mut report = sent.report;
        res.apply_defaults();
        report.extend(res.validate_defaulted());
        if sent.same_spec {
            // Metadata-only updates (labels, finalizers) of an existing object must not be
            // blocked by rules it already broke, or by a Secret deleted since. Compared as
            // the typed API reads them: a field it does not know changes nothing.
            return Verdict::allow().with_warnings(render(report.warnings()));
        }
        if let Some(old) = old {
            old.apply_defaults();
            report.extend(update::check_defaulted(old, res, &sent.intents));
        }
        if let Some(refs) = sent.references {
            report.extend(self.reference_report(refs).await);
        }
        verdict_named(res.kind(), res.name(), report)
    }

    /// What validation reads of the objects as sent, before they are defaulted.
    fn read_sent(&self, req: &Request, object: &Reviewed, res: &Resource, report: &Report) -> Sent {
        let old = old_resource(req);
        let same_spec = old.is_some_and(|(_, old)| same_spec(res, old));
        let intents = old.map_or_else(BTreeSet::new, |(old_object, _)| {
            update::intents(
                object.annotation(update::INTENT_ANNOTATION),
                old_object.annotation(update::INTENT_ANNOTATION),
            )
        });
        let references = (self.settings.reference_checks && !same_spec).then(|| {
            let namespace = req
                .namespace
                .clone()
                .or_else(|| object.meta_str("namespace").map(str::to_string))
                .unwrap_or_else(|| "default".to_string());
            let mut refs = references::collect(res);
            if let Some((_, old)) = old {
                // Only what this update introduces: a Secret deleted after admission is the
                // operator's concern, not a reason to refuse an unrelated edit.
                let before: BTreeSet<_> = references::collect(old)
                    .into_iter()
                    .map(|r| (r.target, r.name, r.keys))
                    .collect();
                refs.retain(|r| !before.contains(&(r.target, r.name.clone(), r.keys.clone())));
            }
            SentReferences {
                namespace,
                refs,
                opted_out: object.annotation(OPT_OUT_ANNOTATION) == Some(OPT_OUT_VALUE),
            }
        });
        Sent {
            report: report.clone(),
            same_spec,
            intents,
            references,
        }
    }

    /// The mutating answer: the defaults as a patch of `add` operations, or nothing.
    ///
    /// A CREATE's object is defaulted in place (new objects nearly always get defaults); an
    /// UPDATE's on a copy first, which skips the patch walk when nothing changes (a stored
    /// object was defaulted when it was created).
    pub async fn mutate(&self, kind: Kind, req: &mut Request) -> Verdict {
        if let Prepared::Answer(v) = self.prepare(kind, req) {
            return v;
        }
        let creating = req.operation == "CREATE";
        let (Some(res), _) = resources_mut(req) else {
            // `prepare` found a typed object.
            return Verdict::deny(500, "InternalError", "the object vanished; retry");
        };
        let patch = if creating {
            mutate::defaults_patch_in_place(res)
        } else {
            mutate::defaults_patch(res)
        };
        match patch {
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

    async fn reference_report(&self, sent: SentReferences) -> Report {
        let SentReferences {
            namespace,
            refs,
            opted_out,
        } = sent;
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

/// What validation reads of the objects as sent (see [`Admission::validate`]).
struct Sent {
    /// The parse report (unknown-field warnings).
    report: Report,
    /// An UPDATE that leaves the spec as it was.
    same_spec: bool,
    /// The UPDATE intents this request states.
    intents: BTreeSet<String>,
    /// What to look up, when reference checks are on.
    references: Option<SentReferences>,
}

/// The references an object introduces, and where to look them up.
struct SentReferences {
    namespace: String,
    refs: Vec<references::Reference>,
    /// The object carries the opt-out annotation.
    opted_out: bool,
}

/// The typed object and, on UPDATE, the typed old object of `req`, to default in place.
fn resources_mut(req: &mut Request) -> (Option<&mut Resource>, Option<&mut Resource>) {
    fn typed(o: Option<&mut Reviewed>) -> Option<&mut Resource> {
        match &mut o?.parsed {
            Parsed::Resource(res, _) => Some(&mut **res),
            _ => None,
        }
    }
    let update = req.operation == "UPDATE";
    let old = if update {
        typed(req.old_object.as_mut())
    } else {
        None
    };
    (typed(req.object.as_mut()), old)
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
pub(crate) fn same_spec(a: &Resource, b: &Resource) -> bool {
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
