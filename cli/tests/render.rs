//! `fmesh render` prints the operator's objects for the CRs in a file.

use std::process::Command;

fn render(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fmesh"))
        .arg("render")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("fmesh runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn renders_a_functions_workload() {
    let (code, out, err) = render(&["examples/function.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("kind: StatefulSet") && out.contains("name: uppercase-function"),
        "{out}"
    );
    assert!(
        out.contains("apiVersion: autoscaling/v2\n"),
        "maxReplicas asks for an HPA: {out}"
    );
}

#[test]
fn renders_a_mesh_as_its_child_objects() {
    let (code, out, err) = render(&["examples/cdc-search-mesh.yaml"]);
    assert_eq!(code, 0, "{err}");
    for name in [
        "orders-search-cdc",
        "orders-search-enrich",
        "orders-search-search-index",
    ] {
        assert!(out.contains(&format!("name: {name}")), "{name} missing");
    }
}

#[test]
fn invalid_objects_are_not_rendered_and_fail() {
    let (code, out, err) = render(&["examples/invalid/broken-mesh.yaml"]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("spec.functions[0].maxMessageRetry"), "{err}");
}
