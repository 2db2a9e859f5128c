//! Golden outputs of the pure builders: one fixture per runtime and feature, rendered as YAML
//! and compared with `tests/golden/<fixture>.yaml` (reviewed by hand). To regenerate after an
//! intended change: `FMESH_UPDATE_GOLDEN=1 cargo test -p fmesh-operator --test builders`.

use std::path::PathBuf;

use fmesh_crds::{Parsed, Resource};
use fmesh_operator::render::render_with;
use fmesh_operator::{Capabilities, OperatorConfig};
use serde_json::Value;

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

fn fixture(name: &str) -> Resource {
    let text = std::fs::read_to_string(dir("fixtures").join(format!("{name}.yaml"))).unwrap();
    let doc: Value = serde_saphyr::from_str(&text).unwrap();
    match Resource::parse(&doc) {
        Parsed::Resource(r, _) => {
            let report = r.validate();
            assert!(report.is_valid(), "{name} must be valid: {:?}", report);
            *r
        }
        other => panic!("{name}: {other:?}"),
    }
}

fn rendered(name: &str, caps: &Capabilities) -> Vec<Value> {
    render_with(&fixture(name), &OperatorConfig::default(), caps)
}

fn golden(name: &str, objects: &[Value]) {
    let mut text = String::new();
    for o in objects {
        text.push_str("---\n");
        text.push_str(&serde_saphyr::to_string(o).unwrap());
    }
    let path = dir("golden").join(format!("{name}.yaml"));
    if std::env::var_os("FMESH_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(dir("golden")).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing; run with FMESH_UPDATE_GOLDEN=1", path.display()));
    assert!(
        want == text,
        "{name} differs from {}; review and regenerate with FMESH_UPDATE_GOLDEN=1\n{text}",
        path.display()
    );
}

fn kinds(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["apiVersion"].as_str().unwrap(),
                o["kind"].as_str().unwrap()
            )
        })
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn main_container(objects: &[Value]) -> &Value {
    &find(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn java_function() {
    let o = rendered("function-java", &Capabilities::latest());
    golden("function-java", &o);
    let c = main_container(&o);
    assert_eq!(
        c["image"],
        "streamnative/pulsar-functions-java-runner:3.0.0"
    );
    let line = c["command"][2].as_str().unwrap();
    for part in [
        "SHARD_ID=${POD_NAME##*-}",
        "exec java -cp /pulsar/instances/java-instance.jar",
        "org.apache.pulsar.functions.instance.JavaInstanceMain --jar /pulsar/download/exclaim.jar",
        "--function_details '{",
        "--pulsar_serviceurl \"$brokerServiceURL\"",
        "--port 9093 --metrics_port 9094",
        "--client_auth_plugin \"$clientAuthenticationPlugin\"",
        "--use_tls true --tls_allow_insecure false --hostname_verification_enabled true",
        "--tls_trust_cert_path /etc/tls/pulsar-functions/ca.crt",
        "EnvironmentBasedSecretsProvider",
        "--state_storage_serviceurl bk://bookie:4181",
        "--function_id \"${SHARD_ID}\"-11111111-1111-1111-1111-111111111111",
    ] {
        assert!(line.contains(part), "missing `{part}` in {line}");
    }
    let init = &find(&o, "StatefulSet")["spec"]["template"]["spec"]["initContainers"][0];
    assert!(
        init["command"][2]
            .as_str()
            .unwrap()
            .contains("packages download function://public/default/exclaim@1.0")
    );
    let env = c["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "brokerServiceURL"
        && e["valueFrom"]["configMapKeyRef"]["name"] == "pulsar-east"));
    assert!(env.iter().any(|e| e["name"] == "DB_PASSWORD"
        && e["valueFrom"]["secretKeyRef"]["name"] == "db-credentials"));
}

#[test]
fn python_function() {
    let o = rendered("function-python", &Capabilities::latest());
    golden("function-python", &o);
    let line = main_container(&o)["command"][2].as_str().unwrap();
    assert!(line.contains("exec python /pulsar/instances/python-instance/python_instance_main.py"));
    assert!(line.contains("--tls_trust_cert_path \"$tlsTrustCertsFilePath\""));
}

#[test]
fn go_function() {
    let o = rendered("function-golang", &Capabilities::latest());
    golden("function-golang", &o);
    let line = main_container(&o)["command"][2].as_str().unwrap();
    assert!(
        line.contains(r#"-instance-conf '{"pulsarServiceURL":"'"${brokerServiceURL}"'","instanceID":'"${SHARD_ID}"',"#),
        "{line}"
    );
    let init = &find(&o, "StatefulSet")["spec"]["template"]["spec"]["initContainers"][0];
    assert_eq!(
        init["command"][2],
        "wget -O /pulsar/download/exclamation https://packages.example.com/exclamation"
    );
}

#[test]
fn builtin_source_runs_on_the_runner() {
    let o = rendered("source-builtin", &Capabilities::latest());
    golden("source-builtin", &o);
    let c = main_container(&o);
    assert_eq!(c["image"], "fmesh.local/runner:dev");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let env = c["env"].as_array().unwrap();
    let spec = env.iter().find(|e| e["name"] == "FMESH_SPEC").unwrap()["value"]
        .as_str()
        .unwrap();
    let spec: Value = serde_json::from_str(spec).unwrap();
    assert_eq!(spec["kind"], "Source");
    assert_eq!(spec["objectName"], "datagen");
    assert_eq!(spec["builtin"]["name"], "datagen");
    assert!(env.iter().any(|e| e["name"] == "FMESH_PULSAR_URL"
        && e["valueFrom"]["configMapKeyRef"]["key"] == "brokerServiceURL"));
    assert!(env.iter().any(|e| e["name"] == "FMESH_AUTH_TOKEN_FILE"));
}

#[test]
fn wasm_sink_downloads_its_module() {
    let o = rendered("sink-wasm", &Capabilities::latest());
    golden("sink-wasm", &o);
    let c = main_container(&o);
    let env = c["env"].as_array().unwrap();
    let spec = env.iter().find(|e| e["name"] == "FMESH_SPEC").unwrap()["value"]
        .as_str()
        .unwrap();
    let spec: Value = serde_json::from_str(spec).unwrap();
    assert_eq!(spec["wasm"]["module"], "/pulsar/download/sink.wasm");
}

#[test]
fn autoscaling_and_pod_policy() {
    let o = rendered("function-autoscale", &Capabilities::latest());
    golden("function-autoscale", &o);
    assert_eq!(
        kinds(&o),
        [
            "v1 Service",
            "apps/v1 StatefulSet",
            "policy/v1 PodDisruptionBudget",
            "autoscaling/v2 HorizontalPodAutoscaler"
        ]
    );
    let hpa = find(&o, "HorizontalPodAutoscaler");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Function");
    assert_eq!(hpa["spec"]["maxReplicas"], 5);
    let pod = &find(&o, "StatefulSet")["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"]["team"], "a");
    assert_eq!(pod["spec"]["serviceAccountName"], "handler");
    assert_eq!(pod["spec"]["securityContext"]["runAsUser"], 2000);
    assert_eq!(pod["spec"]["containers"][1]["name"], "proxy");
    assert_eq!(pod["spec"]["initContainers"][0]["name"], "warmup");
    assert_eq!(
        pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"],
        9094
    );
}

#[test]
fn mesh_children_are_owned_and_labelled() {
    let o = rendered("mesh", &Capabilities::latest());
    golden("mesh", &o);
    let crs: Vec<&Value> = o
        .iter()
        .filter(|v| v["apiVersion"] == "compute.functionmesh.io/v1alpha1")
        .collect();
    let names: Vec<&str> = crs
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "orders-search-enrich",
            "orders-search-cdc",
            "orders-search-search-index"
        ]
    );
    for c in crs {
        assert_eq!(
            c["metadata"]["labels"]["compute.functionmesh.io/mesh"],
            "orders-search"
        );
        assert_eq!(c["metadata"]["ownerReferences"][0]["kind"], "FunctionMesh");
        assert_eq!(c["metadata"]["ownerReferences"][0]["controller"], true);
    }
}

#[test]
fn rendering_is_deterministic() {
    for name in ["function-java", "mesh", "function-autoscale"] {
        assert_eq!(
            rendered(name, &Capabilities::latest()),
            rendered(name, &Capabilities::latest())
        );
    }
}

/// `kubectl scale` and the HPA change `replicas` only: the pod template (and so the pods that
/// stay) must not depend on it, for every runtime.
#[test]
fn the_pod_template_does_not_depend_on_the_replica_count() {
    for name in [
        "function-java",
        "function-python",
        "function-golang",
        "source-builtin",
        "sink-wasm",
    ] {
        let templates: Vec<Value> = [1, 3]
            .into_iter()
            .map(|n| {
                let mut res = fixture(name);
                match &mut res {
                    Resource::Function(o) => o.spec.workload.replicas = Some(n),
                    Resource::Source(o) => o.spec.workload.replicas = Some(n),
                    Resource::Sink(o) => o.spec.workload.replicas = Some(n),
                    _ => unreachable!("{name} is one workload"),
                }
                let objects =
                    render_with(&res, &OperatorConfig::default(), &Capabilities::latest());
                find(&objects, "StatefulSet")["spec"]["template"].clone()
            })
            .collect();
        assert_eq!(
            templates[0], templates[1],
            "{name}: scaling 1 → 3 changes the pod template"
        );
    }
}
