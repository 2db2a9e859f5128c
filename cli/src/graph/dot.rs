//! Graphviz DOT: one `digraph`, one `cluster_` subgraph per mesh.

use std::fmt::Write as _;

use super::{Cluster, Flag, Node, Role};

/// The whole picture as DOT text (deterministic: same input, same bytes).
pub fn render(clusters: &[Cluster]) -> String {
    let mut out =
        String::from("digraph fmesh {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for c in clusters {
        let _ = writeln!(
            out,
            "  subgraph cluster_{} {{\n    label={};",
            c.id,
            quote(&c.title)
        );
        for n in &c.nodes {
            let _ = writeln!(out, "    {} [{}];", n.id, attributes(n));
        }
        out.push_str("  }\n");
        for e in &c.edges {
            let _ = writeln!(out, "  {} -> {};", e.from, e.to);
        }
    }
    out.push_str("}\n");
    out
}

fn attributes(n: &Node) -> String {
    let shape = match n.role {
        Role::Source => "invhouse",
        Role::Function => "box",
        Role::Sink => "house",
        Role::Topic => "ellipse",
        Role::Pattern => "note",
    };
    let mut label = n.label.clone();
    let mut tooltip = n.tooltip.clone();
    let mut attrs = vec![format!("shape={shape}")];
    match n.flag {
        Some(flag @ (Flag::NoProducer | Flag::NoConsumer)) => {
            attrs.push("style=dashed, color=red, fontcolor=red".to_string());
            tooltip = format!("{tooltip}: {}", flag.note());
        }
        Some(Flag::OnCycle) => {
            attrs.push("color=red, penwidth=2".to_string());
            label = format!("{label}\n(cycle)");
            tooltip = format!("{tooltip}: {}", Flag::OnCycle.note());
        }
        None => {}
    }
    attrs.insert(0, format!("label={}", quote(&label)));
    attrs.push(format!("tooltip={}", quote(&tooltip)));
    attrs.join(", ")
}

/// A DOT double-quoted string.
fn quote(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_has_clusters_shapes_edges_and_flags() {
        let dot = render(&crate::graph::tests::sample());
        assert!(dot.starts_with("digraph fmesh {"));
        assert!(dot.contains("subgraph cluster_mesh0 {\n    label=\"FunctionMesh/m\";"));
        assert!(dot.contains("[label=\"cdc\", shape=invhouse"));
        assert!(dot.contains(
            "[label=\"orphan\", shape=ellipse, style=dashed, color=red, fontcolor=red, \
             tooltip=\"persistent://public/default/orphan: nothing in the mesh produces it\"]"
        ));
        assert!(dot.contains("m0_0 -> t0_"));
        assert_eq!(dot, render(&crate::graph::tests::sample()), "deterministic");
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }
}
