//! The operator validates every stored mesh before reconciling it: hostile shapes are
//! answered with an `InvalidSpec` message (or none), on a small stack, never a crash loop.

use fmesh_crds::{FunctionMesh, shapes};
use fmesh_operator::mesh::invalid_spec;
use serde_json::Value;

const SMALL_STACK: usize = 256 * 1024;

/// The operator's validation of `doc` as the watch delivers it (typed, not via admission).
fn invalid_on_small_stack(doc: Value) -> Option<String> {
    let m: FunctionMesh = serde_json::from_value(doc).expect("a shape is a mesh");
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(move || invalid_spec(&m))
        .expect("a thread starts")
        .join()
        .expect("validation returns instead of overflowing the stack")
}

#[test]
fn a_long_chain_is_valid() {
    assert_eq!(invalid_on_small_stack(shapes::largest_chain()), None);
}

#[test]
fn a_wide_bipartite_mesh_gets_one_line_per_consumer() {
    let message = invalid_on_small_stack(shapes::largest_bipartite()).expect("schemas disagree");
    assert_eq!(message.lines().count(), 500, "{}", &message[..200]);
}

#[test]
fn many_patterns_are_valid_at_the_limit() {
    assert_eq!(invalid_on_small_stack(shapes::patterns(100, 300, 0)), None);
}

#[test]
fn meshes_over_the_limits_are_invalid_naming_the_limit() {
    for doc in [
        shapes::chain(20_000),
        shapes::bipartite(4000),
        shapes::patterns(2000, 2000, 0),
    ] {
        let message = invalid_on_small_stack(doc).expect("over the limit");
        assert!(
            message.starts_with("spec: the mesh has ")
                && message.contains("more than the limit of 1000 members per mesh"),
            "{message}"
        );
    }
}
