//! Hostile mesh shapes (`fmesh_crds::shapes`) are validated on a small stack, with findings
//! that stay proportional to the mesh: no walk recurses per member, no finding per pair.

use fmesh_crds::diagnostic::{Report, Severity};
use fmesh_crds::limits::{MAX_MESH_MEMBERS, MAX_MESH_PATTERNS};
use fmesh_crds::{FunctionMesh, Parsed, Resource, graph, shapes};
use serde_json::Value;

/// Validation runs on threads this small (a tokio worker has 2 MiB; a recursion per member
/// needs far more than this for a thousand members).
const SMALL_STACK: usize = 256 * 1024;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    // The CRD schemas the unknown-field check reads are built once per process, by a walk
    // over the types (as deep as the types, whatever the input): build them here, as the
    // webhook does when it starts.
    let _ = Resource::parse(&shapes::chain(1));
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("a thread starts")
        .join()
        .expect("validation returns instead of overflowing the stack")
}

fn validate(doc: Value) -> Report {
    on_small_stack(move || match Resource::parse(&doc) {
        Parsed::Resource(res, _) => res.validate(),
        Parsed::Invalid(r) => r,
        Parsed::Other { .. } => panic!("not an fmesh object"),
    })
}

fn mesh(doc: Value) -> FunctionMesh {
    serde_json::from_value(doc).expect("a shape is a mesh")
}

#[test]
fn a_chain_at_the_member_limit_is_walked_on_a_small_stack() {
    let r = validate(shapes::largest_chain());
    assert!(r.is_valid(), "{:?}", r.0.first());
    // Its ends: the first input nothing produces, the last output nothing consumes.
    assert_eq!(r.warnings().count(), 2, "{:?}", r.0);
}

#[test]
fn a_cycle_through_every_member_is_found_on_a_small_stack() {
    let mut doc = shapes::largest_chain();
    let last = MAX_MESH_MEMBERS - 1;
    doc["spec"]["functions"][last]["output"]["topic"] = "t0".into();
    let m = mesh(doc);
    let g = on_small_stack(move || graph::analyze("m", &m.spec).0);
    assert_eq!(g.cyclic_members.len(), MAX_MESH_MEMBERS);
}

#[test]
fn a_wide_bipartite_mesh_gets_one_finding_per_consumer() {
    let r = validate(shapes::largest_bipartite());
    let consumers = MAX_MESH_MEMBERS / 2;
    let schema: Vec<_> = r
        .errors()
        .filter(|d| d.message.contains("produces schema"))
        .collect();
    assert_eq!(schema.len(), consumers, "one per consumer, not per pair");
    assert!(
        schema[0].message.contains("(and 499 other producers)"),
        "{}",
        schema[0]
    );
    assert_eq!(schema[0].path, format!("spec.functions[{consumers}].input"));
}

#[test]
fn patterns_at_the_limit_link_every_topic_they_match() {
    let doc = shapes::patterns(MAX_MESH_PATTERNS, 200, 0);
    let m = mesh(doc);
    let g = on_small_stack(move || graph::analyze("m", &m.spec).0);
    let produced: Vec<_> = g
        .topics
        .iter()
        .filter(|(n, t)| !t.producers.is_empty() && n.local.starts_with("t-"))
        .collect();
    assert_eq!(produced.len(), 200);
    for (name, t) in produced {
        assert_eq!(t.consumers.len(), MAX_MESH_PATTERNS, "{name}");
    }
}

#[test]
fn the_largest_pattern_mesh_the_apiserver_takes_is_valid() {
    let doc = shapes::largest_patterns();
    let size = serde_json::to_vec(&doc).unwrap().len();
    assert!(size <= shapes::APISERVER_BODY_LIMIT, "{size}");
    assert!(size > shapes::APISERVER_BODY_LIMIT * 9 / 10, "{size}");
    let r = validate(doc);
    assert!(r.is_valid(), "{:?}", r.0.first());
}

fn limit_error(r: &Report) -> String {
    let errors: Vec<_> = r.errors().collect();
    assert_eq!(errors.len(), 1, "{:?}", r.0);
    errors[0].to_string()
}

#[test]
fn meshes_over_the_limits_are_refused_naming_the_limit_and_field() {
    let e = limit_error(&validate(shapes::chain(20_000)));
    assert!(
        e.starts_with("spec: the mesh has 20000 members (20000 functions), more than the limit of 1000 members per mesh"),
        "{e}"
    );
    let e = limit_error(&validate(shapes::bipartite(4000)));
    assert!(e.contains("limit of 1000 members"), "{e}");
    let e = limit_error(&validate(shapes::patterns(2000, 0, 0)));
    assert!(e.contains("limit of 1000 members"), "{e}");
    let e = limit_error(&validate(shapes::patterns(MAX_MESH_PATTERNS + 1, 10, 0)));
    assert!(
        e.starts_with(&format!(
            "spec.functions[{}].input: with this member the mesh has more than the limit of {MAX_MESH_PATTERNS} topic patterns",
            10 + MAX_MESH_PATTERNS
        )),
        "{e}"
    );
}

#[test]
fn a_mesh_over_the_topic_limit_is_refused_at_the_member_that_passes_it() {
    let mut doc = shapes::chain(3);
    let topics: Vec<String> = (0..fmesh_crds::limits::MAX_MESH_TOPICS)
        .map(|i| format!("x{i}"))
        .collect();
    doc["spec"]["functions"][1]["input"]["topics"] = serde_json::json!(topics);
    let e = limit_error(&validate(doc));
    assert!(
        e.starts_with("spec.functions[1]: with this member the mesh names more than the limit of 5000 topics per mesh"),
        "{e}"
    );
}

#[test]
fn a_report_keeps_a_bounded_number_of_findings() {
    use fmesh_crds::diagnostic::{FieldPath, MAX_DIAGNOSTICS};
    let mut r = Report::default();
    let at = FieldPath::root("spec");
    for _ in 0..MAX_DIAGNOSTICS {
        r.warn(&at, "w", "");
    }
    assert!(r.is_valid());
    r.error(&at, "e", "");
    r.warn(&at, "w", "");
    assert_eq!(r.0.len(), MAX_DIAGNOSTICS + 1);
    // The error left out still makes the report invalid.
    assert!(!r.is_valid());
    assert_eq!(r.0[MAX_DIAGNOSTICS].severity, Severity::Error);
}
