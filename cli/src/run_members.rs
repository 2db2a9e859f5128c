//! `fmesh run`'s members: the Functions, Sources and Sinks of the inputs (a mesh expanded into
//! its children as the operator does), each turned into the runner's plan. Pure: no I/O.

use std::collections::BTreeSet;
use std::path::Path;

use fmesh_crds::Resource;
use fmesh_crds::topic::{TopicName, TopicPattern};
use fmesh_crds::validate::WorkloadKind;
use fmesh_runner::RunnerError;
use fmesh_runner::spec::{self, Kind, Plan, RuntimePlan};
use serde_json::Value;

/// One Function, Source or Sink to run, `replicas` times.
#[derive(Clone, Debug)]
pub struct Member {
    /// How the live line names it: `mesh/member`, or the object's name.
    pub label: String,
    /// The runner's plan (relative module paths resolved against the manifest's folder).
    pub plan: Plan,
    /// Instances to start.
    pub replicas: u32,
}

/// Why one member cannot run locally: where it was declared and the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unrunnable {
    /// Kind of the object in the file.
    pub kind: String,
    /// Name of the object in the file.
    pub name: String,
    /// The field path in that object (`spec.sources[0].java`).
    pub path: String,
    /// Why.
    pub reason: String,
}

/// The members of valid, defaulted resources declared in a file in `dir`. Every member the
/// runner cannot run is reported; none is skipped silently.
pub fn members(
    resources: &[Resource],
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Member>, Vec<Unrunnable>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for res in resources {
        let mut push =
            |kind: Kind, label: String, name: &str, prefix: String, spec: &Value| match plan(
                kind, name, spec, dir, env,
            ) {
                Ok(plan) => out.push(Member {
                    label,
                    plan,
                    replicas: replicas(spec),
                }),
                Err(e) => bad.push(unrunnable(res, &prefix, e)),
            };
        match res {
            Resource::Function(o) => push(
                Kind::Function,
                res.name().into(),
                res.name(),
                "spec".into(),
                &to_value(&o.spec),
            ),
            Resource::Source(o) => push(
                Kind::Source,
                res.name().into(),
                res.name(),
                "spec".into(),
                &to_value(&o.spec),
            ),
            Resource::Sink(o) => push(
                Kind::Sink,
                res.name().into(),
                res.name(),
                "spec".into(),
                &to_value(&o.spec),
            ),
            Resource::FunctionMesh(mesh) => {
                for child in fmesh_operator::mesh::children(mesh) {
                    let (kind, field) = match child.kind {
                        WorkloadKind::Function => (Kind::Function, "functions"),
                        WorkloadKind::Source => (Kind::Source, "sources"),
                        WorkloadKind::Sink => (Kind::Sink, "sinks"),
                    };
                    let index = member_index(&mesh.spec, child.kind, &child.member);
                    let prefix = format!("spec.{field}[{index}]");
                    let label = format!("{}/{}", res.name(), child.member);
                    push(kind, label, &child.name, prefix, &child.object["spec"]);
                }
            }
            Resource::BackendConfig(_) => {}
        }
    }
    (out, bad)
}

fn to_value<T: serde::Serialize>(spec: &T) -> Value {
    serde_json::to_value(spec).expect("a parsed spec serializes")
}

fn plan(
    kind: Kind,
    name: &str,
    spec: &Value,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, RunnerError> {
    let mut plan = spec::plan_for(kind, name, spec, env)?;
    // Paths in a spec are paths in the pod; locally, relative ones mean "beside the manifest".
    match &mut plan.runtime {
        RuntimePlan::Wasm { module, .. } if module.is_relative() => *module = dir.join(&*module),
        RuntimePlan::Python { file, .. } if file.is_relative() => *file = dir.join(&*file),
        _ => {}
    }
    Ok(plan)
}

fn replicas(spec: &Value) -> u32 {
    spec.get("replicas")
        .and_then(Value::as_u64)
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(1)
        .max(1)
}

/// The runner's `spec.x` path, placed under the member's own path in the file.
fn unrunnable(res: &Resource, prefix: &str, e: RunnerError) -> Unrunnable {
    let (path, reason) = match e {
        RunnerError::InvalidSpec { path, message } => {
            let rest = path.strip_prefix("spec").unwrap_or(&path);
            (format!("{prefix}{rest}"), message)
        }
        other => (prefix.to_string(), other.to_string()),
    };
    Unrunnable {
        kind: res.kind().to_string(),
        name: res.name().to_string(),
        path,
        reason,
    }
}

fn member_index(spec: &fmesh_crds::FunctionMeshSpec, kind: WorkloadKind, member: &str) -> usize {
    let named = |n: &Option<String>| n.as_deref() == Some(member);
    let found = match kind {
        WorkloadKind::Function => spec
            .functions
            .iter()
            .flatten()
            .position(|f| named(&f.workload.name)),
        WorkloadKind::Source => spec
            .sources
            .iter()
            .flatten()
            .position(|s| named(&s.workload.name)),
        WorkloadKind::Sink => spec
            .sinks
            .iter()
            .flatten()
            .position(|s| named(&s.workload.name)),
    };
    found.unwrap_or(0)
}

/// Members at the end of the flow: sinks, and members whose output nothing in the run reads.
/// `--messages N` stops once each of them has processed N.
pub fn terminal(members: &[Member]) -> Vec<usize> {
    let full = |t: &str| t.parse::<TopicName>().map(|n| n.to_string()).ok();
    let consumed: BTreeSet<String> = members
        .iter()
        .flat_map(|m| m.plan.inputs.iter())
        .filter_map(|t| full(t))
        .collect();
    let patterns: Vec<TopicPattern> = members
        .iter()
        .filter_map(|m| m.plan.topic_pattern.as_deref())
        .filter_map(|p| TopicPattern::parse(p).ok())
        .collect();
    let read = |topic: &str| {
        let Ok(name) = topic.parse::<TopicName>() else {
            return false;
        };
        consumed.contains(&name.to_string()) || patterns.iter().any(|p| p.matches(&name))
    };
    members
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            m.plan.kind == Kind::Sink || !m.plan.output_topic.as_deref().is_some_and(read)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Where a kind sits in the flow: sources, functions, sinks (the order lines are printed in).
pub fn flow_rank(kind: Kind) -> u8 {
    match kind {
        Kind::Source => 0,
        Kind::Function => 1,
        Kind::Sink => 2,
    }
}

/// The order to start in: consumers first (so a `latest` subscription exists before anything
/// is produced), sources last. Stopping goes the other way round.
pub fn start_order(members: &[Member]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(flow_rank(members[i].plan.kind)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmesh_crds::Parsed;

    fn resources(yaml: &str) -> Vec<Resource> {
        let docs = crate::document::parse_documents(yaml).unwrap();
        docs.iter()
            .map(|d| match Resource::parse(&d.to_json()) {
                Parsed::Resource(r, _) => {
                    let mut r = *r;
                    r.apply_defaults();
                    r
                }
                other => panic!("{other:?}"),
            })
            .collect()
    }

    const MESH: &str = "
apiVersion: compute.functionmesh.io/v1alpha1
kind: FunctionMesh
metadata: {name: m}
spec:
  sources:
    - name: gen
      builtin: {name: datagen}
      output: {topic: a}
  functions:
    - name: up
      replicas: 2
      wasm: {module: guests/f.wat, export: upper}
      input: {topics: [persistent://public/default/a]}
      output: {topic: b}
    - name: tap
      builtin: {name: identity}
      input: {topics: [b]}
      output: {topic: c}
  sinks:
    - name: out
      builtin: {name: log}
      input: {topics: [b]}
";

    #[test]
    fn a_mesh_expands_into_its_members_with_their_plans() {
        let (ms, bad) = members(&resources(MESH), Path::new("/m"), &|_| None);
        assert!(bad.is_empty(), "{bad:?}");
        let labels: Vec<&str> = ms.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(labels, ["m/up", "m/tap", "m/gen", "m/out"]);
        let up = &ms[0];
        assert_eq!((up.replicas, up.plan.name.as_str()), (2, "up"));
        assert!(matches!(&up.plan.runtime,
            RuntimePlan::Wasm { module, export, .. } if module == Path::new("/m/guests/f.wat") && export == "upper"));
        // `tap` writes c, which nothing reads; the sink is terminal by kind.
        let term: Vec<&str> = terminal(&ms)
            .iter()
            .map(|&i| ms[i].label.as_str())
            .collect();
        assert_eq!(term, ["m/tap", "m/out"]);
        let order: Vec<&str> = start_order(&ms)
            .iter()
            .map(|&i| ms[i].label.as_str())
            .collect();
        assert_eq!(order, ["m/out", "m/up", "m/tap", "m/gen"]);
    }

    #[test]
    fn java_members_are_reported_with_their_path_in_the_mesh() {
        let yaml = MESH.replace(
            "    - name: out\n      builtin: {name: log}",
            "    - name: out\n      className: org.example.Sink\n      java: {jar: s.jar}",
        );
        let (ms, bad) = members(&resources(&yaml), Path::new("/m"), &|_| None);
        assert_eq!(ms.len(), 3);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(
            (bad[0].kind.as_str(), bad[0].name.as_str()),
            ("FunctionMesh", "m")
        );
        assert_eq!(bad[0].path, "spec.sinks[0].java");
        assert!(bad[0].reason.contains("not fmesh-runner"), "{:?}", bad[0]);
    }

    #[test]
    fn a_standalone_function_keeps_spec_paths() {
        let yaml = "
apiVersion: compute.functionmesh.io/v1alpha1
kind: Function
metadata: {name: f}
spec:
  input: {topics: [in]}
  python: {}
";
        let (_, bad) = members(&resources(yaml), Path::new("/"), &|_| None);
        assert_eq!(bad[0].path, "spec.python.py");
        assert_eq!(bad[0].kind, "Function");
    }
}
