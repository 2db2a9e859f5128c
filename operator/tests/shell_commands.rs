//! Values from a CR never reach a shell as code. Every string field that lands in an
//! official runner image's command line is filled with shell and kubelet metacharacters; the
//! rendered StatefulSet's command is expanded as the kubelet does and run by `sh` in a
//! scratch directory whose programs (`java`, `python`, `chmod`, the Go executable) are
//! recorders: the recorded argv must equal the argv the builder intends, and nothing else may
//! run (no file appears in the scratch directory).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use fmesh_crds::{Parsed, Resource};
use fmesh_operator::command::instance_programs;
use fmesh_operator::render::render;
use fmesh_operator::{OperatorConfig, Workload};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Writes its program name, argument count and arguments, NUL-separated, to `$RECORD`.
const RECORDER: &str = "#!/bin/sh\nprintf '%s\\0' \"${0##*/}\" \"$#\" \"$@\" >> \"$RECORD\"\n";

const BROKER_URL: &str = "pulsar://broker:6650";

/// The environment the container would have (values for every name fmesh's expansions
/// read), also what the kubelet expands `$(NAME)` with.
fn container_env(pod: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("POD_NAME", pod.to_string()),
        ("brokerServiceURL", BROKER_URL.to_string()),
        ("webServiceURL", "http://broker:8080".to_string()),
        ("clientAuthenticationPlugin", "org.example.Auth".to_string()),
        ("clientAuthenticationParameters", "token:abc".to_string()),
        ("tlsTrustCertsFilePath", "/etc/ca.crt".to_string()),
    ])
}

/// The kubelet's expansion of a container's command: `$$` is `$`, `$(NAME)` of a defined
/// variable its value, anything else as written.
fn kubelet_expand(s: &str, env: &BTreeMap<&'static str, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
            && let Some(v) = env.get(&inner[..end])
        {
            out.push_str(v);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// What fmesh's fixed expansions give in that environment (shard 3).
fn expansion(snippet: &'static str) -> String {
    match snippet {
        "\"${SHARD_ID}\"" => "3".into(),
        "\"$brokerServiceURL\"" | "\"${brokerServiceURL}\"" => BROKER_URL.into(),
        "\"$clientAuthenticationPlugin\"" => "org.example.Auth".into(),
        "\"$clientAuthenticationParameters\"" => "token:abc".into(),
        "\"${tlsAllowInsecureConnection:-false}\"" => "false".into(),
        "\"${tlsHostnameVerificationEnable:-true}\"" => "true".into(),
        "\"$tlsTrustCertsFilePath\"" => "/etc/ca.crt".into(),
        other => panic!("an expansion the test does not know: {other}"),
    }
}

/// Runs the StatefulSet's main container command; returns each recorded program and argv.
fn run_recorded(sts: &Value, go_exe: Option<&str>) -> Vec<(String, Vec<String>)> {
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    let command: Vec<String> = serde_json::from_value(container["command"].clone()).unwrap();
    assert_eq!(command[..2], ["sh", "-c"], "{command:?}");
    let pod = format!("{}-3", sts["metadata"]["name"].as_str().unwrap());
    let env = container_env(&pod);
    let script = kubelet_expand(&command[2], &env);

    let bin = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let record = bin.path().join("record");
    let recorder = |p: &Path| {
        std::fs::write(p, RECORDER).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    for program in ["java", "python", "chmod"] {
        recorder(&bin.path().join(program));
    }
    let mut expected_files = Vec::new();
    if let Some(exe) = go_exe {
        let rel = exe
            .strip_prefix("./")
            .expect("the test's Go executables are relative");
        recorder(&scratch.path().join(rel));
        expected_files.push(rel.to_string());
    }
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .current_dir(scratch.path())
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PATH", bin.path())
        .env("RECORD", &record)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "sh failed on {script}");
    let mut left: Vec<String> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, expected_files, "something else ran: {script}");
    parse_records(&std::fs::read(&record).unwrap_or_default())
}

fn parse_records(bytes: &[u8]) -> Vec<(String, Vec<String>)> {
    let mut fields = bytes
        .split(|b| *b == 0)
        .map(|f| String::from_utf8(f.to_vec()).unwrap());
    let mut out = Vec::new();
    while let Some(program) = fields.next().filter(|p| !p.is_empty()) {
        let n: usize = fields.next().unwrap().parse().unwrap();
        out.push((program, (0..n).map(|_| fields.next().unwrap()).collect()));
    }
    out
}

/// Renders `doc` with the operator's builders; for each StatefulSet of an official runtime,
/// runs its command and compares what ran with what the builder intends.
fn check(doc: Value, go_exe: Option<&str>) -> Vec<Vec<String>> {
    let Parsed::Resource(res, _) = Resource::parse(&doc) else {
        panic!("not parsed: {doc}")
    };
    let objects = render(&res, &OperatorConfig::default());
    let children: Vec<Workload> = objects
        .iter()
        .filter_map(|o| match o["kind"].as_str()? {
            "Function" => Some(Workload::of(
                &serde_json::from_value::<fmesh_crds::Function>(o.clone()).ok()?,
            )),
            "Source" => Some(Workload::of(
                &serde_json::from_value::<fmesh_crds::Source>(o.clone()).ok()?,
            )),
            "Sink" => Some(Workload::of(
                &serde_json::from_value::<fmesh_crds::Sink>(o.clone()).ok()?,
            )),
            _ => None,
        })
        .collect();
    let workloads = match &*res {
        Resource::Function(f) => vec![Workload::of(f.as_ref())],
        Resource::Source(s) => vec![Workload::of(s.as_ref())],
        Resource::Sink(s) => vec![Workload::of(s.as_ref())],
        _ => children,
    };
    let sets: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "StatefulSet")
        .collect();
    assert_eq!(sets.len(), workloads.len());
    let mut argvs = Vec::new();
    for (sts, w) in sets.into_iter().zip(&workloads) {
        let intended: Vec<(String, Vec<String>)> = instance_programs(w)
            .iter()
            .map(|words| {
                let argv: Vec<String> = words.iter().map(|w| w.resolve(expansion)).collect();
                let program = argv[0].rsplit('/').next().unwrap().to_string();
                (program, argv[1..].to_vec())
            })
            .collect();
        assert!(!intended.is_empty(), "an official runtime runs a program");
        let ran = run_recorded(sts, go_exe);
        assert_eq!(ran, intended);
        argvs.extend(ran.into_iter().map(|(_, a)| a));
    }
    argvs
}

/// Text a shell or the kubelet would read as code, mixed with plain text.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "$(touch${IFS}PWN)",
        "`touch PWN2`",
        "'",
        "\"",
        "\\",
        "\n",
        ";touch PWN3;",
        "&& touch PWN4",
        "| tee PWN5",
        ">PWN6",
        "*",
        "?",
        "[a-z]",
        "${IFS}",
        "$HOME",
        "$(POD_NAME)",
        "$$(brokerServiceURL)",
        "$(brokerServiceURL)",
        "#",
        "~",
        " ",
        "\t",
        "{a,b}",
        "!",
        "%s",
    ]);
    prop::collection::vec(
        prop_oneof![pieces.prop_map(String::from), "[a-zA-Z0-9./:=-]{1,6}"],
        1..5,
    )
    .prop_map(|v| v.concat())
}

/// A file name a recorder can live at: hostile, but one path component.
fn hostile_file_name() -> impl Strategy<Value = String> {
    hostile().prop_map(|s| {
        let s: String = s.replace('/', "_").chars().take(100).collect();
        format!("go-{s}")
    })
}

#[derive(Clone, Debug)]
struct Fields {
    name: String,
    class: String,
    instance_path: String,
    deps_dir: String,
    entry_class: String,
    java_opts: Vec<String>,
    jar: String,
    py: String,
    cluster: String,
    tenant: String,
    cert_key: String,
    auth_plugin: String,
    auth_params: String,
    state_url: String,
    state_class: String,
    topic: String,
    user_value: String,
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        (hostile(), hostile(), hostile(), hostile(), hostile()),
        (prop::collection::vec(hostile(), 1..3), hostile(), hostile()),
        (hostile(), hostile(), hostile(), hostile(), hostile()),
        (hostile(), hostile(), hostile(), hostile()),
    )
        .prop_map(|(a, b, c, d)| Fields {
            name: a.0,
            class: a.1,
            instance_path: a.2,
            deps_dir: a.3,
            entry_class: a.4,
            java_opts: b.0,
            jar: b.1,
            py: b.2,
            cluster: c.0,
            tenant: c.1,
            cert_key: c.2,
            auth_plugin: c.3,
            auth_params: c.4,
            state_url: d.0,
            state_class: d.1,
            topic: d.2,
            user_value: d.3,
        })
}

/// The spec parts every kind shares, carrying hostile values.
fn common(f: &Fields) -> Value {
    json!({
        "name": f.name,
        "className": f.class,
        "clusterName": f.cluster,
        "tenant": f.tenant,
        "replicas": 1,
        "pulsar": {
            "pulsarConfig": "pulsar",
            "tlsConfig": {"enabled": true, "certSecretName": "ca", "certSecretKey": f.cert_key},
            "authConfig": {"genericAuth": {
                "clientAuthenticationPlugin": f.auth_plugin,
                "clientAuthenticationParameters": f.auth_params,
            }},
        },
        "statefulConfig": {"pulsar": {"serviceUrl": f.state_url,
            "javaProvider": {"className": f.state_class}}},
        "funcConfig": {"k": f.user_value},
    })
}

fn java(f: &Fields) -> Value {
    json!({
        "jar": f.jar,
        "instancePath": f.instance_path,
        "extraDependenciesDir": f.deps_dir,
        "entryClass": f.entry_class,
        "javaOpts": f.java_opts,
    })
}

fn object(kind: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "uid": "u-1"},
        "spec": spec,
    })
}

fn merged(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn java_functions_sources_and_sinks_run_exactly_their_argv(f in fields()) {
        let input = json!({"topics": [f.topic]});
        let function = merged(common(&f), json!({"java": java(&f), "input": input,
            "output": {"topic": "out"}}));
        let argvs = check(object("Function", function), None);
        let argv = &argvs[0];
        // The values land whole, where they are meant to.
        let cp = argv.iter().position(|a| a == "-cp").unwrap();
        prop_assert_eq!(&argv[cp + 1], &format!("{}:{}/*", f.instance_path, f.deps_dir));
        let log_file = format!("-Dpulsar.function.log.file={}-3", f.name);
        prop_assert!(argv.contains(&log_file));
        prop_assert!(argv.contains(&f.entry_class));
        let opts = fmesh_operator::command::java_opts(&f.java_opts);
        let at = argv.iter().position(|a| a == "-XX:+ExitOnOutOfMemoryError").unwrap();
        prop_assert_eq!(&argv[at + 1..at + 1 + opts.len()], &opts[..]);
        let cert = format!("/etc/tls/pulsar-functions/{}", f.cert_key);
        prop_assert!(argv.contains(&cert));
        prop_assert!(argv.contains(&f.auth_params));

        let source = merged(common(&f), json!({"java": java(&f), "sourceConfig": {"k": f.user_value},
            "output": {"topic": "out"}}));
        check(object("Source", source), None);
        let sink = merged(common(&f), json!({"java": java(&f), "sinkConfig": {"k": f.user_value},
            "input": {"topics": [f.topic]}}));
        check(object("Sink", sink), None);
    }

    #[test]
    fn python_functions_run_exactly_their_argv(f in fields()) {
        let function = merged(common(&f), json!({"python": {"py": f.py},
            "input": {"topics": [f.topic]}, "output": {"topic": "out"}}));
        let argvs = check(object("Function", function), None);
        let argv = &argvs[0];
        let at = argv.iter().position(|a| a == "--logging_file").unwrap();
        prop_assert_eq!(&argv[at + 1], &f.name);
        let at = argv.iter().position(|a| a == "--py").unwrap();
        prop_assert_eq!(&argv[at + 1], &f.py);
    }

    #[test]
    fn go_functions_run_exactly_their_argv(f in fields(), exe in hostile_file_name()) {
        let exe = format!("./{exe}");
        let function = merged(common(&f), json!({"golang": {"go": exe},
            "input": {"topics": [f.topic]}, "output": {"topic": "out"}}));
        let argvs = check(object("Function", function), Some(&exe));
        prop_assert_eq!(&argvs[0], &vec!["+x".to_string(), exe.clone()]);
        let conf: Value = serde_json::from_str(&argvs[1][1]).unwrap();
        prop_assert_eq!(&conf["pulsarServiceURL"], BROKER_URL);
        prop_assert_eq!(&conf["instanceID"], 3);
        prop_assert_eq!(&conf["funcID"], "3-u-1");
        prop_assert_eq!(&conf["clusterName"], f.cluster.as_str());
        prop_assert_eq!(&conf["name"], f.name.as_str());
    }

    #[test]
    fn mesh_members_run_exactly_their_argv(f in fields()) {
        let java_member = merged(common(&f), json!({"name": "j", "java": java(&f),
            "input": {"topics": [f.topic]}, "output": {"topic": "mid"}}));
        let python_member = merged(common(&f), json!({"name": "p", "python": {"py": f.py},
            "input": {"topics": ["mid"]}, "output": {"topic": "out"}}));
        let sink = merged(common(&f), json!({"name": "s", "java": java(&f),
            "sinkConfig": {"k": f.user_value}, "input": {"topics": ["out"]}}));
        let mesh = object("FunctionMesh", json!({"functions": [java_member, python_member],
            "sinks": [sink]}));
        prop_assert_eq!(check(mesh, None).len(), 3);
    }
}

#[test]
fn the_issues_payload_stays_a_classpath_entry() {
    let f = json!({"className": "C", "replicas": 1, "pulsar": {"pulsarConfig": "pulsar"},
        "java": {"jar": "a.jar", "extraDependenciesDir": "$(touch${IFS}PWN)"},
        "input": {"topics": ["in"]}});
    let argvs = check(object("Function", f), None);
    assert!(
        argvs[0].contains(&"/pulsar/instances/java-instance.jar:$(touch${IFS}PWN)/*".to_string())
    );
}
