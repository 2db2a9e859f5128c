//! The `fmesh` binary run on temporary files: exit codes, output formats, hostile input.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const FUNCTION: &str = "\
apiVersion: compute.functionmesh.io/v1alpha1
kind: Function
metadata:
  name: enrich
spec:
  className: org.example.Enrich
  java: {jar: enrich.jar}
  input: {topics: [in]}
  output: {topic: out}
  pulsar: {pulsarConfig: test-pulsar}
";

const CONFIG_MAP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: test-pulsar
data:
  webServiceURL: http://pulsar:8080
";

/// cdc → raw → enrich → enriched → index; enrich also reads `orphan`, which nothing produces.
const MESH: &str = "\
apiVersion: compute.functionmesh.io/v1alpha1
kind: FunctionMesh
metadata:
  name: pipeline
spec:
  sources:
    - name: cdc
      className: org.example.Cdc
      java: {jar: cdc.jar}
      output: {topic: raw}
      sourceConfig: {db: orders}
      pulsar: {pulsarConfig: test-pulsar}
  functions:
    - name: enrich
      className: org.example.Enrich
      java: {jar: enrich.jar}
      input:
        topics: [raw, orphan]
      output: {topic: enriched}
      pulsar: {pulsarConfig: test-pulsar}
  sinks:
    - name: index
      className: org.example.Index
      java: {jar: index.jar}
      input: {topics: [enriched]}
      sinkConfig: {url: http://es:9200}
      pulsar: {pulsarConfig: test-pulsar}
";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    run_with_stdin(args, b"")
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fmesh"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fmesh starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("stdin accepts input");
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("fmesh finishes");
    let run = Run {
        code: status.code().expect("fmesh exits, not killed by a signal"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "fmesh panicked: {}",
        run.stderr
    );
    run
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> String {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, content).expect("temp file is writable");
    path.display().to_string()
}

#[test]
fn a_valid_file_exits_0_with_a_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "f.yaml", FUNCTION);
    let r = run(&["validate", &file]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("1 object, 0 errors"), "{}", r.stderr);
}

#[test]
fn an_invalid_file_exits_1_naming_file_line_object_and_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = FUNCTION.replace(
        "  className: org.example.Enrich\n",
        "  className: org.example.Enrich\n  maxPendingAsyncRequests: 0\n",
    );
    let file = write(dir.path(), "f.yaml", bad);
    let r = run(&["validate", &file]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let expected = format!("{file}:7: Function/enrich: spec.maxPendingAsyncRequests: ");
    assert!(
        r.stdout.lines().any(|l| l.starts_with(&expected)),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("1 error"), "{}", r.stderr);
}

#[test]
fn warnings_pass_unless_strict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        dir.path(),
        "f.yaml",
        FUNCTION.replace("  pulsar:", "  clasName: typo\n  pulsar:"),
    );
    let r = run(&["validate", &file]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "{file}:10: warning: Function/enrich: spec.clasName: unknown field"
        )),
        "{}",
        r.stdout
    );
    assert_eq!(run(&["validate", "--strict", &file]).code, 1);
}

#[test]
fn an_unreadable_path_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.yaml").display().to_string();
    let r = run(&["validate", &missing]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("missing.yaml: cannot read"),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["validate"]).code, 2);
    assert_eq!(run(&["validate", "--output", "xml", "x"]).code, 2);
    assert_eq!(run(&["frobnicate"]).code, 2);
}

#[test]
fn hostile_input_is_refused_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let block_nesting: String = (0..500).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "garbage.yaml",
            b"key: [unclosed\n  : : {".to_vec(),
            "not valid YAML",
        ),
        (
            "binary.yaml",
            vec![0x7f, b'E', b'L', b'F', 0, 1, 2, 0xff],
            "binary data",
        ),
        ("latin1.yaml", b"name: caf\xe9\n".to_vec(), "not UTF-8"),
        (
            "flow.yaml",
            "[".repeat(10_000).into_bytes(),
            "nested deeper than 64 levels",
        ),
        (
            "closed.yaml",
            format!("{}{}", "{a: ".repeat(100), "}".repeat(100)).into_bytes(),
            "nested deeper than 64 levels",
        ),
        (
            "block.yaml",
            block_nesting.into_bytes(),
            "nested deeper than 64 levels",
        ),
    ];
    for (name, content, message) in cases {
        let file = write(dir.path(), name, content);
        let r = run(&["validate", &file]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{name}: {}", r.stderr);
    }
}

#[test]
fn a_file_over_16_mib_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let line = "# padding padding padding padding padding padding padding padding\n";
    let file = write(
        dir.path(),
        "huge.yaml",
        line.repeat(17 * 1024 * 1024 / line.len() + 1),
    );
    let r = run(&["validate", &file]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("larger than 16 MiB"), "{}", r.stderr);
}

#[test]
fn a_document_that_is_not_an_object_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        dir.path(),
        "text.yaml",
        "just some prose\n---\nname: no kind here\n",
    );
    let r = run(&["validate", &file]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "{file}:1: document: the document is not a mapping"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "{file}:3: document: apiVersion: `apiVersion` is missing"
        )),
        "{}",
        r.stdout
    );
}

#[test]
fn json_output_is_an_array_of_placed_findings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "mesh.yaml", MESH);
    let r = run(&["validate", "--output", "json", &file]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let findings: Vec<Value> = serde_json::from_str(&r.stdout).expect("stdout is a JSON array");
    let dangling = findings
        .iter()
        .find(|f| f["message"].as_str().is_some_and(|m| m.contains("orphan")))
        .expect("the dangling input is reported");
    assert_eq!(dangling["file"], file.as_str());
    assert_eq!(dangling["line"], 17);
    assert_eq!(dangling["kind"], "FunctionMesh");
    assert_eq!(dangling["name"], "pipeline");
    assert_eq!(dangling["severity"], "warning");
    assert_eq!(dangling["path"], "spec.functions[0].input");
    assert!(dangling["hint"].is_string());
}

#[test]
fn other_kinds_in_a_multi_document_file_are_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        dir.path(),
        "all.yaml",
        format!("{CONFIG_MAP}---\n{FUNCTION}"),
    );
    let r = run(&["validate", &file]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("1 object, 0 errors, 0 warnings, 1 other object skipped"),
        "{}",
        r.stderr
    );
}

#[test]
fn directories_are_walked_in_order_and_stdin_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = FUNCTION.replace("name: enrich", "name: Bad_Name");
    write(dir.path(), "b.yaml", &bad);
    write(dir.path(), "a.yml", &bad);
    write(dir.path(), "ignored.txt", "not: [yaml");
    let r = run(&["validate", &dir.path().display().to_string()]);
    assert_eq!(r.code, 1);
    let files: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.split(':').next())
        .collect();
    assert!(
        files.first().is_some_and(|f| f.ends_with("a.yml"))
            && files.last().is_some_and(|f| f.ends_with("b.yaml")),
        "{}",
        r.stdout
    );

    let r = run_with_stdin(&["validate", "-"], FUNCTION.as_bytes());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = run_with_stdin(&["validate", "-"], bad.as_bytes());
    assert!(
        r.stdout
            .starts_with("<stdin>:4: Function/Bad_Name: metadata.name:"),
        "{}",
        r.stdout
    );
}

#[test]
fn graph_dot_draws_members_topics_and_the_dangling_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "mesh.yaml", format!("{CONFIG_MAP}---\n{MESH}"));
    let r = run(&["graph", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("digraph fmesh {"), "{}", r.stdout);
    for member in [
        "\"cdc\", shape=invhouse",
        "\"enrich\", shape=box",
        "\"index\", shape=house",
    ] {
        assert!(r.stdout.contains(member), "{member}: {}", r.stdout);
    }
    for topic in ["raw", "enriched"] {
        assert!(r.stdout.contains(&format!(
            "label=\"{topic}\", shape=ellipse, tooltip=\"persistent://public/default/{topic}\""
        )));
    }
    assert!(
        r.stdout
            .contains("label=\"orphan\", shape=ellipse, style=dashed, color=red"),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout,
        run(&["graph", "--format", "dot", &file]).stdout,
        "deterministic"
    );
}

#[test]
fn graph_mermaid_draws_members_topics_and_the_dangling_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "mesh.yaml", MESH);
    let r = run(&["graph", "--format", "mermaid", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("flowchart LR\n"));
    for node in [
        "[/\"cdc\"/]:::source",
        "[\"enrich\"]:::function",
        "[\\\"index\"\\]:::sink",
        "([\"raw\"]):::topic",
    ] {
        assert!(r.stdout.contains(node), "{node}: {}", r.stdout);
    }
    assert!(
        r.stdout.contains("([\"orphan (no producer)\"]):::topic"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("  class ") && l.ends_with(" dangling")),
        "{}",
        r.stdout
    );
}

#[test]
fn graph_draws_standalone_objects_and_refuses_an_empty_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "f.yaml", FUNCTION);
    let r = run(&["graph", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("standalone Functions, Sources and Sinks")
            && r.stdout.contains("\"enrich\"")
    );

    let file = write(dir.path(), "cm.yaml", CONFIG_MAP);
    let r = run(&["graph", &file]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("no FunctionMesh, Function, Source or Sink to draw"),
        "{}",
        r.stderr
    );
}

#[test]
fn crds_are_printed_and_written_exactly_as_generated() {
    let r = run(&["crds"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let crds = fmesh_crds::crd::all();
    assert_eq!(
        r.stdout.matches("kind: CustomResourceDefinition").count(),
        crds.len()
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("crds");
    let r = run(&["crds", "--out", &out.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for crd in crds {
        let name = fmesh_crds::crd::file_name(&crd);
        let on_disk = std::fs::read_to_string(out.join(&name)).expect("CRD file written");
        assert_eq!(
            on_disk,
            serde_saphyr::to_string(&crd).expect("CRD serializes"),
            "{name}"
        );
    }
}

/// Graphviz itself accepts the output, when it is installed (skipped otherwise).
#[test]
fn graphviz_accepts_the_dot_output() {
    if Command::new("dot")
        .arg("-V")
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("graphviz `dot` not installed; skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let odd = FUNCTION.replace("topic: out", "topic: \"we\\\"ird\\\\name\"");
    let file = write(dir.path(), "mesh.yaml", format!("{MESH}---\n{odd}"));
    let dot = run(&["graph", &file]);
    assert_eq!(dot.code, 0, "{}", dot.stderr);
    let rendered = run_program("dot", &["-Tsvg"], dot.stdout.as_bytes());
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
}

fn run_program(program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("program starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("stdin accepts input");
    child.wait_with_output().expect("program finishes")
}

#[test]
fn the_items_of_a_list_are_checked_at_their_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let indented: String = FUNCTION
        .replace(
            "  className: org.example.Enrich\n",
            "  className: org.example.Enrich\n  maxPendingAsyncRequests: 0\n",
        )
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("  - {l}\n")
            } else {
                format!("    {l}\n")
            }
        })
        .collect();
    let file = write(
        dir.path(),
        "list.yaml",
        format!("apiVersion: v1\nkind: List\nitems:\n{indented}"),
    );
    let r = run(&["validate", &file]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let expected = format!("{file}:10: Function/enrich: spec.maxPendingAsyncRequests: ");
    assert!(
        r.stdout.lines().any(|l| l.starts_with(&expected)),
        "{}",
        r.stdout
    );
}
