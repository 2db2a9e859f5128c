//! Rules for UPDATE: changes that cannot be applied to a running workload safely.
//!
//! Compared on defaulted copies of the old and new object (what the operator acts on):
//! - `tenant`, `namespace`, `name` (the Pulsar identity): never in place. The operator would
//!   start a new Pulsar function under the new identity while the old subscription, state and
//!   backlog stay behind; delete and recreate instead.
//! - `subscriptionName`: in place it abandons the old subscription's backlog and starts the
//!   new one at `subscriptionPosition` (messages lost or replayed). Allowed with the intent
//!   recorded as `fmesh.io/update-intent: subscriptionName`.
//! - `processingGuarantee`: Pulsar refuses to alter it for an existing function; an
//!   effectively-once → at-least-once switch also changes dedup semantics mid-stream. Allowed
//!   with `fmesh.io/update-intent: processingGuarantee` (the operator then recreates the
//!   function's subscription state deliberately).
//!
//! An intent counts only in the UPDATE that sets or changes the annotation: left on the object
//! it would silently allow every later change of the same field. For another such change,
//! change the annotation's value (words after the field name are free text, e.g.
//! `subscriptionName 2026-11-27`).
//!
//! Mesh members are matched by kind and member name (a renamed member is a removal plus an
//! addition, which is fine).

use std::collections::BTreeSet;

use fmesh_crds::Resource;
use fmesh_crds::diagnostic::{FieldPath, Report};
use fmesh_crds::workload::{ConsumerSpec, WorkloadSpec};

/// The annotation recording which guarded fields an UPDATE changes on purpose
/// (comma-separated: `subscriptionName`, `processingGuarantee`).
pub const INTENT_ANNOTATION: &str = "fmesh.io/update-intent";

struct Member<'a> {
    kind: &'static str,
    path: FieldPath,
    workload: &'a WorkloadSpec,
    consumer: Option<&'a ConsumerSpec>,
}

fn members(res: &Resource) -> Vec<Member<'_>> {
    let spec = FieldPath::root("spec");
    let one = |kind, workload, consumer| {
        vec![Member {
            kind,
            path: spec.clone(),
            workload,
            consumer,
        }]
    };
    match res {
        Resource::Function(o) => one("Function", &o.spec.workload, Some(&o.spec.consumer)),
        Resource::Source(o) => one("Source", &o.spec.workload, None),
        Resource::Sink(o) => one("Sink", &o.spec.workload, Some(&o.spec.consumer)),
        Resource::FunctionMesh(o) => {
            let mut out = Vec::new();
            for (i, f) in o.spec.functions.iter().flatten().enumerate() {
                out.push(Member {
                    kind: "Function",
                    path: spec.field("functions").index(i),
                    workload: &f.workload,
                    consumer: Some(&f.consumer),
                });
            }
            for (i, s) in o.spec.sources.iter().flatten().enumerate() {
                out.push(Member {
                    kind: "Source",
                    path: spec.field("sources").index(i),
                    workload: &s.workload,
                    consumer: None,
                });
            }
            for (i, s) in o.spec.sinks.iter().flatten().enumerate() {
                out.push(Member {
                    kind: "Sink",
                    path: spec.field("sinks").index(i),
                    workload: &s.workload,
                    consumer: Some(&s.consumer),
                });
            }
            out
        }
        Resource::BackendConfig(_) => Vec::new(),
    }
}

/// The intents an UPDATE records: those of `new`'s [`INTENT_ANNOTATION`] value, unless `old`
/// carried the very same value (an intent is spent by the update that states it).
pub fn intents(new: Option<&str>, old: Option<&str>) -> BTreeSet<String> {
    let Some(stated) = new.filter(|v| Some(*v) != old) else {
        return BTreeSet::new();
    };
    stated
        .split(',')
        .filter_map(|item| item.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Errors for unsafe in-place changes from `old` to `new`.
pub fn check(old: &Resource, new: &Resource, intents: &BTreeSet<String>) -> Report {
    let (mut old, mut new) = (old.clone(), new.clone());
    old.apply_defaults();
    new.apply_defaults();
    check_defaulted(&old, &new, intents)
}

/// [`check`] of copies the caller has already defaulted ([`Resource::apply_defaults`]).
pub fn check_defaulted(old: &Resource, new: &Resource, intents: &BTreeSet<String>) -> Report {
    let single = !matches!(new, Resource::FunctionMesh(_));
    let old_members = members(old);
    let mut r = Report::default();
    for m in members(new) {
        let before = old_members
            .iter()
            .find(|o| o.kind == m.kind && (single || o.workload.name == m.workload.name));
        if let Some(before) = before {
            compare(&mut r, before, &m, intents);
        }
    }
    r
}

fn compare(r: &mut Report, old: &Member<'_>, new: &Member<'_>, intents: &BTreeSet<String>) {
    let identity = [
        ("tenant", &old.workload.tenant, &new.workload.tenant),
        (
            "namespace",
            &old.workload.namespace,
            &new.workload.namespace,
        ),
        ("name", &old.workload.name, &new.workload.name),
    ];
    for (field, before, after) in identity {
        if before != after {
            r.error(
                &new.path.field(field),
                format!(
                    "cannot change the Pulsar {field} in place (`{}` → `{}`)",
                    show(before),
                    show(after)
                ),
                "the old subscription, state and backlog would be orphaned; delete the object and create it under the new identity",
            );
        }
    }
    let old_sub = old.consumer.and_then(|c| c.subscription_name.as_ref());
    let new_sub = new.consumer.and_then(|c| c.subscription_name.as_ref());
    if old_sub != new_sub && !intents.contains("subscriptionName") {
        r.error(
            &new.path.field("subscriptionName"),
            format!(
                "changing the subscription in place (`{}` → `{}`) abandons its backlog and position",
                show(&old_sub.cloned()),
                show(&new_sub.cloned())
            ),
            format!("if intended, set the annotation {INTENT_ANNOTATION}: subscriptionName in this same update"),
        );
    }
    let (old_pg, new_pg) = (
        old.workload.processing_guarantee,
        new.workload.processing_guarantee,
    );
    if old_pg != new_pg && !intents.contains("processingGuarantee") {
        let name = |p: Option<fmesh_crds::common::ProcessingGuarantee>| {
            p.and_then(|p| serde_json::to_value(p).ok())
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "unset".into())
        };
        r.error(
            &new.path.field("processingGuarantee"),
            format!(
                "changing the processing guarantee in place (`{}` → `{}`) is refused by Pulsar for a running function",
                name(old_pg),
                name(new_pg)
            ),
            format!("if intended, set the annotation {INTENT_ANNOTATION}: processingGuarantee in this same update"),
        );
    }
}

fn show(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("unset")
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmesh_crds::Parsed;
    use serde_json::{Value, json};

    fn parse(doc: &Value) -> Resource {
        match Resource::parse(doc) {
            Parsed::Resource(r, _) => *r,
            other => panic!("{other:?}"),
        }
    }

    fn function(spec: Value) -> Resource {
        parse(
            &json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
            "metadata": {"name": "f"}, "spec": spec}),
        )
    }

    #[test]
    fn identity_moves_are_refused() {
        let r = check(
            &function(json!({"tenant": "a"})),
            &function(json!({"tenant": "b", "namespace": "x"})),
            &BTreeSet::new(),
        );
        assert!(r.has(fmesh_crds::diagnostic::Severity::Error, "spec.tenant"));
        assert!(r.has(fmesh_crds::diagnostic::Severity::Error, "spec.namespace"));
    }

    #[test]
    fn subscription_and_guarantee_need_an_intent() {
        let old = function(json!({"subscriptionName": "s1"}));
        let new =
            function(json!({"subscriptionName": "s2", "processingGuarantee": "effectively_once"}));
        let r = check(&old, &new, &BTreeSet::new());
        assert_eq!(r.errors().count(), 2, "{r:?}");
        let both: BTreeSet<String> =
            ["subscriptionName".into(), "processingGuarantee".into()].into();
        assert!(check(&old, &new, &both).is_valid());
        // Defaults count: writing down the default subscription is not a change.
        let implicit = function(json!({}));
        let explicit = function(json!({"subscriptionName": "public/default/f"}));
        assert!(check(&implicit, &explicit, &BTreeSet::new()).is_valid());
    }

    #[test]
    fn mesh_members_are_matched_by_name() {
        let mesh = |fns: Value| {
            parse(
                &json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "FunctionMesh",
                "metadata": {"name": "m"}, "spec": {"functions": fns}}),
            )
        };
        let old = mesh(json!([{"name": "a", "tenant": "t1"}, {"name": "b"}]));
        let renamed = mesh(json!([{"name": "b"}, {"name": "c", "tenant": "t2"}]));
        assert!(check(&old, &renamed, &BTreeSet::new()).is_valid());
        let moved = mesh(json!([{"name": "b"}, {"name": "a", "tenant": "t2"}]));
        let r = check(&old, &moved, &BTreeSet::new());
        assert!(
            r.has(
                fmesh_crds::diagnostic::Severity::Error,
                "spec.functions[1].tenant"
            ),
            "{r:?}"
        );
    }

    #[test]
    fn an_intent_counts_only_in_the_update_that_states_it() {
        let with = Some;
        let none = None;
        let stated = intents(with("subscriptionName, processingGuarantee later"), none);
        assert_eq!(
            stated,
            ["processingGuarantee".to_string(), "subscriptionName".into()].into()
        );
        // Left on the object, the same annotation allows nothing more.
        assert!(intents(with("subscriptionName"), with("subscriptionName")).is_empty());
        // A changed value states a new intent.
        let again = intents(
            with("subscriptionName 2026-11-27"),
            with("subscriptionName"),
        );
        assert!(again.contains("subscriptionName"), "{again:?}");
        assert!(intents(none, with("subscriptionName")).is_empty());
    }
}
