//! `fmesh graph`: the meshes of a file as a picture of members and topics, rendered as Graphviz
//! DOT or Mermaid. Each FunctionMesh is one cluster; standalone Functions, Sources and Sinks in
//! the same file are drawn together as one more cluster, as if they were members of one mesh.

mod dot;
mod mermaid;

use std::collections::BTreeMap;

use fmesh_crds::graph::{MeshGraph, analyze};
use fmesh_crds::validate::WorkloadKind;
use fmesh_crds::{FunctionMeshSpec, Resource};

pub use dot::render as render_dot;
pub use mermaid::render as render_mermaid;

/// The title of the cluster that gathers standalone objects.
const STANDALONE_TITLE: &str = "standalone Functions, Sources and Sinks";

/// What a node stands for; renderers pick its shape from this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Source,
    Function,
    Sink,
    Topic,
    /// An input topic pattern that matches no topic of the mesh.
    Pattern,
}

/// Why a node is highlighted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// Consumed, but nothing in the mesh produces it.
    NoProducer,
    /// Produced, but nothing in the mesh consumes it.
    NoConsumer,
    /// A member on a cycle.
    OnCycle,
}

impl Flag {
    /// A short note for labels and tooltips.
    pub fn note(self) -> &'static str {
        match self {
            Flag::NoProducer => "nothing in the mesh produces it",
            Flag::NoConsumer => "nothing in the mesh consumes it",
            Flag::OnCycle => "on a cycle",
        }
    }
}

/// One node to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Unique in the picture, safe as a bare identifier.
    pub id: String,
    pub label: String,
    /// The full topic name, or the member's kind and path.
    pub tooltip: String,
    pub role: Role,
    pub flag: Option<Flag>,
}

/// A producer → topic or topic → consumer edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

/// One mesh's nodes and edges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub id: String,
    pub title: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// The clusters of every mesh in the file (plus one for standalone objects, if any).
pub fn clusters(resources: &[&Resource]) -> Vec<Cluster> {
    let mut out = Vec::new();
    for res in resources {
        if let Resource::FunctionMesh(mesh) = res {
            let (graph, _) = analyze(res.name(), &mesh.spec);
            let title = format!("FunctionMesh/{}", res.name());
            out.push(cluster(out.len(), title, &graph, true));
        }
    }
    if let Some(spec) = standalone_mesh(resources) {
        let (graph, _) = analyze("standalone", &spec);
        // Member paths (`spec.functions[0]`) exist only in the synthetic mesh: not shown.
        out.push(cluster(
            out.len(),
            STANDALONE_TITLE.to_string(),
            &graph,
            false,
        ));
    }
    out
}

/// Standalone Functions, Sources and Sinks as the members of one mesh, named by metadata.name.
fn standalone_mesh(resources: &[&Resource]) -> Option<FunctionMeshSpec> {
    let mut spec = FunctionMeshSpec::default();
    let named = |member: &Option<String>, res: &Resource| {
        member.clone().or_else(|| Some(res.name().to_string()))
    };
    for res in resources {
        match res {
            Resource::Function(o) => {
                let mut s = o.spec.clone();
                s.workload.name = named(&s.workload.name, res);
                spec.functions.get_or_insert_with(Vec::new).push(s);
            }
            Resource::Source(o) => {
                let mut s = o.spec.clone();
                s.workload.name = named(&s.workload.name, res);
                spec.sources.get_or_insert_with(Vec::new).push(s);
            }
            Resource::Sink(o) => {
                let mut s = o.spec.clone();
                s.workload.name = named(&s.workload.name, res);
                spec.sinks.get_or_insert_with(Vec::new).push(s);
            }
            Resource::FunctionMesh(_) | Resource::BackendConfig(_) => {}
        }
    }
    (spec != FunctionMeshSpec::default()).then_some(spec)
}

/// One cluster; `in_mesh` says whether member paths point into a real FunctionMesh.
fn cluster(index: usize, title: String, g: &MeshGraph, in_mesh: bool) -> Cluster {
    let member_id = |i: usize| format!("m{index}_{i}");
    let mut nodes: Vec<Node> = g
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| member_node(member_id(i), m, g.cyclic_members.contains(&i), in_mesh))
        .collect();
    let mut edges = Vec::new();
    let labels = topic_labels(g);
    for (t, (name, topic)) in g.topics.iter().enumerate() {
        let id = format!("t{index}_{t}");
        let flag = if g.dangling_inputs.contains(name) {
            Some(Flag::NoProducer)
        } else if g.unconsumed_outputs.contains(name) {
            Some(Flag::NoConsumer)
        } else {
            None
        };
        let label = labels
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.local.clone());
        nodes.push(Node {
            id: id.clone(),
            label,
            tooltip: name.to_string(),
            role: Role::Topic,
            flag,
        });
        edges.extend(topic.producers.iter().map(|p| Edge {
            from: member_id(*p),
            to: id.clone(),
        }));
        edges.extend(topic.consumers.iter().map(|c| Edge {
            from: id.clone(),
            to: member_id(*c),
        }));
    }
    for (i, m) in g.members.iter().enumerate() {
        for (j, p) in m.patterns.iter().enumerate() {
            if g.topics.keys().any(|t| p.matches(t)) {
                continue;
            }
            let id = format!("p{index}_{i}_{j}");
            let tooltip = format!("topic pattern {}", p.full);
            let label = p.full.rsplit('/').next().unwrap_or(&p.full).to_string();
            nodes.push(Node {
                id: id.clone(),
                label,
                tooltip,
                role: Role::Pattern,
                flag: Some(Flag::NoProducer),
            });
            edges.push(Edge {
                from: id,
                to: member_id(i),
            });
        }
    }
    Cluster {
        id: format!("mesh{index}"),
        title,
        nodes,
        edges,
    }
}

fn member_node(id: String, m: &fmesh_crds::graph::Member, on_cycle: bool, in_mesh: bool) -> Node {
    let role = match m.kind {
        WorkloadKind::Source => Role::Source,
        WorkloadKind::Function => Role::Function,
        WorkloadKind::Sink => Role::Sink,
    };
    let name = if m.name.is_empty() {
        "<unnamed>"
    } else {
        &m.name
    };
    let tooltip = if in_mesh {
        format!("{} {name} ({})", m.kind.as_str(), m.path)
    } else {
        format!("{} {name}", m.kind.as_str())
    };
    Node {
        id,
        label: name.to_string(),
        tooltip,
        role,
        flag: on_cycle.then_some(Flag::OnCycle),
    }
}

/// Topic labels: the local name, or `tenant/ns/local` where two topics share a local name.
fn topic_labels(g: &MeshGraph) -> BTreeMap<fmesh_crds::topic::TopicName, String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for name in g.topics.keys() {
        *count.entry(name.local.as_str()).or_default() += 1;
    }
    g.topics
        .keys()
        .map(|name| {
            let label = if count[name.local.as_str()] > 1 {
                format!("{}/{}", name.namespace, name.local)
            } else {
                name.local.clone()
            };
            (name.clone(), label)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmesh_crds::Parsed;

    /// source → raw → enrich → enriched (unconsumed); enrich also reads `orphan` (no producer).
    pub(super) fn sample() -> Vec<Cluster> {
        let mesh = serde_json::json!({
            "apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "FunctionMesh",
            "metadata": {"name": "m"},
            "spec": {
                "sources": [{"name": "cdc", "className": "C", "java": {"jar": "c.jar"},
                             "output": {"topic": "raw"}, "sourceConfig": {}, "pulsar": {"pulsarConfig": "p"}}],
                "functions": [{"name": "enrich", "className": "E", "java": {"jar": "e.jar"},
                               "input": {"topics": ["raw", "orphan"]}, "output": {"topic": "enriched"},
                               "pulsar": {"pulsarConfig": "p"}}]
            }
        });
        let Parsed::Resource(res, _) = Resource::parse(&mesh) else {
            panic!("sample parses")
        };
        clusters(&[&res])
    }

    #[test]
    fn members_and_topics_become_nodes_with_flags() {
        let c = &sample()[0];
        assert_eq!(c.title, "FunctionMesh/m");
        let find = |label: &str| {
            c.nodes
                .iter()
                .find(|n| n.label == label)
                .unwrap_or_else(|| panic!("{label} drawn"))
        };
        assert_eq!(find("cdc").role, Role::Source);
        assert_eq!(find("enrich").role, Role::Function);
        assert_eq!(find("orphan").flag, Some(Flag::NoProducer));
        assert_eq!(find("enriched").flag, Some(Flag::NoConsumer));
        assert_eq!(find("raw").flag, None);
        assert_eq!(find("raw").tooltip, "persistent://public/default/raw");
        let raw = &find("raw").id;
        assert!(c.edges.contains(&Edge {
            from: find("cdc").id.clone(),
            to: raw.clone()
        }));
        assert!(c.edges.contains(&Edge {
            from: raw.clone(),
            to: find("enrich").id.clone()
        }));
    }

    #[test]
    fn standalone_objects_are_drawn_as_one_cluster() {
        let f = serde_json::json!({
            "apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
            "metadata": {"name": "solo"},
            "spec": {"className": "E", "input": {"topics": ["a"]}, "output": {"topic": "b"}}
        });
        let Parsed::Resource(res, _) = Resource::parse(&f) else {
            panic!("parses")
        };
        let all = clusters(&[&res]);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].title, STANDALONE_TITLE);
        let solo = all[0]
            .nodes
            .iter()
            .find(|n| n.label == "solo")
            .expect("drawn");
        assert_eq!(
            (solo.role, solo.tooltip.as_str()),
            (Role::Function, "Function solo")
        );
    }

    #[test]
    fn members_on_a_cycle_and_unmatched_patterns_are_flagged() {
        let function = |name: &str, input: serde_json::Value, output: &str| {
            serde_json::json!({"name": name, "className": "F", "java": {"jar": "f.jar"},
                               "input": input, "output": {"topic": output},
                               "pulsar": {"pulsarConfig": "p"}})
        };
        let mesh = serde_json::json!({
            "apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "FunctionMesh",
            "metadata": {"name": "loop"},
            "spec": {"functions": [
                function("ping", serde_json::json!({"topics": ["b"]}), "a"),
                function("pong", serde_json::json!({"topics": ["a"]}), "b"),
                function("watch", serde_json::json!({"topicPattern": "audit-.*"}), "c"),
            ]}
        });
        let Parsed::Resource(res, _) = Resource::parse(&mesh) else {
            panic!("parses")
        };
        let c = &clusters(&[&res])[0];
        let flag = |label: &str| c.nodes.iter().find(|n| n.label == label).map(|n| n.flag);
        assert_eq!(flag("ping"), Some(Some(Flag::OnCycle)));
        assert_eq!(flag("pong"), Some(Some(Flag::OnCycle)));
        assert_eq!(flag("watch"), Some(None));
        let pattern = c
            .nodes
            .iter()
            .find(|n| n.role == Role::Pattern)
            .expect("pattern drawn");
        assert_eq!(
            (pattern.label.as_str(), pattern.flag),
            ("audit-.*", Some(Flag::NoProducer))
        );
    }
}
