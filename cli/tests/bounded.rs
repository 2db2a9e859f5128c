//! `fmesh validate` of hostile mesh shapes exits with findings (0 or 1), never a signal, on a
//! small main-thread stack (`ulimit -s`); and `fmesh render` shows an instance command line
//! in which CR values are quoted exactly as the operator builds it.

use std::path::Path;
use std::process::{Command, Output};

use fmesh_crds::{Parsed, Resource, shapes};
use serde_json::{Value, json};

/// The main thread's stack for the CLI, in KiB. Debug builds need about 512 KiB for the
/// fixed-depth walks (schema generation); a walk per member needs far more for thousands.
const STACK_KIB: u32 = 1024;

fn fmesh_on_small_stack(args: &[&str]) -> Output {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("ulimit -s {STACK_KIB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_fmesh"))
        .args(args)
        .output()
        .expect("fmesh runs")
}

fn validate(dir: &Path, name: &str, doc: &Value) -> (i32, String) {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec(doc).unwrap()).unwrap();
    let out = fmesh_on_small_stack(&["validate", path.to_str().unwrap()]);
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("{name}: killed: {:?}", out.status));
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn hostile_shapes_are_validated_on_a_small_stack() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = validate(dir.path(), "chain", &shapes::largest_chain());
    assert_eq!(code, 0, "{out}");
    let (code, out) = validate(dir.path(), "bipartite", &shapes::largest_bipartite());
    assert_eq!(code, 1);
    assert_eq!(
        out.matches("produces schema").count(),
        500,
        "{}",
        &out[..300]
    );
    let (code, out) = validate(dir.path(), "patterns", &shapes::largest_patterns());
    assert_eq!(code, 0, "{}", &out[..300.min(out.len())]);
    for (name, doc) in [
        ("chain-6000", shapes::chain(6000)),
        ("bipartite-4000", shapes::bipartite(4000)),
        ("patterns-2000", shapes::patterns(2000, 2000, 0)),
    ] {
        let (code, out) = validate(dir.path(), name, &doc);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(
            out.contains("spec: the mesh has") && out.contains("limit of 1000 members per mesh"),
            "{name}: {out}"
        );
    }
}

#[test]
fn render_shows_cr_values_quoted_as_the_operator_builds_them() {
    let payload = "$(touch${IFS}PWN)";
    let doc = json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
        "metadata": {"name": "f", "namespace": "ns"},
        "spec": {"className": "C", "replicas": 1, "pulsar": {"pulsarConfig": "pulsar"},
            "input": {"topics": ["in"]},
            "java": {"jar": "a.jar", "extraDependenciesDir": payload, "entryClass": "E'; touch X; '",
                "javaOpts": ["-Xmx1g `touch Y`"]}}});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fmesh"))
        .args(["render", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let objects: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let sts = objects.iter().find(|o| o["kind"] == "StatefulSet").unwrap();
    let command = &sts["spec"]["template"]["spec"]["containers"][0]["command"];

    let Parsed::Resource(res, _) = Resource::parse(&doc) else {
        panic!()
    };
    let built = fmesh_operator::render(&res, &fmesh_operator::OperatorConfig::default());
    let want = built.iter().find(|o| o["kind"] == "StatefulSet").unwrap();
    assert_eq!(
        command,
        &want["spec"]["template"]["spec"]["containers"][0]["command"]
    );
    let line = command[2].as_str().unwrap();
    assert!(
        line.contains("'/pulsar/instances/java-instance.jar:$$(touch$${IFS}PWN)/*'"),
        "{line}"
    );
    assert!(line.contains(r"'E'\''; touch X; '\'''"), "{line}");
    assert!(line.contains(" -Xmx1g '`touch' 'Y`' "), "{line}");
}
