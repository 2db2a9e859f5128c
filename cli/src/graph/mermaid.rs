//! Mermaid flowchart: one `subgraph` per mesh, a class per role, flagged nodes in red.

use std::fmt::Write as _;

use super::{Cluster, Flag, Node, Role};

/// Styles for the roles and flags, appended once.
const CLASS_DEFS: &str = "  classDef source fill:#e8f5e9,stroke:#2e7d32
  classDef function fill:#e3f2fd,stroke:#1565c0
  classDef sink fill:#fff3e0,stroke:#ef6c00
  classDef topic fill:#f5f5f5,stroke:#616161
  classDef dangling stroke:#d32f2f,stroke-width:2px,stroke-dasharray:5 5,color:#d32f2f
  classDef cycle stroke:#d32f2f,stroke-width:3px
";

/// The whole picture as a Mermaid flowchart (deterministic: same input, same bytes).
pub fn render(clusters: &[Cluster]) -> String {
    let mut out = String::from("flowchart LR\n");
    for c in clusters {
        let _ = writeln!(out, "  subgraph {}[\"{}\"]", c.id, escape(&c.title));
        for n in &c.nodes {
            let _ = writeln!(out, "    %% {}: {}", n.id, n.tooltip.replace('\n', " "));
            let _ = writeln!(out, "    {}:::{}", shape(n), class(n.role));
        }
        out.push_str("  end\n");
        for e in &c.edges {
            let _ = writeln!(out, "  {} --> {}", e.from, e.to);
        }
    }
    out.push_str(CLASS_DEFS);
    for (flag_class, flags) in [
        ("dangling", [Flag::NoProducer, Flag::NoConsumer].as_slice()),
        ("cycle", &[Flag::OnCycle]),
    ] {
        let ids: Vec<&str> = clusters
            .iter()
            .flat_map(|c| &c.nodes)
            .filter(|n| n.flag.is_some_and(|f| flags.contains(&f)))
            .map(|n| n.id.as_str())
            .collect();
        if !ids.is_empty() {
            let _ = writeln!(out, "  class {} {flag_class}", ids.join(","));
        }
    }
    out
}

fn shape(n: &Node) -> String {
    let mut label = escape(&n.label);
    match n.flag {
        Some(Flag::OnCycle) => label.push_str(" (cycle)"),
        Some(Flag::NoProducer) => label.push_str(" (no producer)"),
        Some(Flag::NoConsumer) => label.push_str(" (no consumer)"),
        None => {}
    }
    let id = &n.id;
    match n.role {
        Role::Source => format!("{id}[/\"{label}\"/]"),
        Role::Function => format!("{id}[\"{label}\"]"),
        Role::Sink => format!("{id}[\\\"{label}\"\\]"),
        Role::Topic => format!("{id}([\"{label}\"])"),
        Role::Pattern => format!("{id}{{{{\"{label}\"}}}}"),
    }
}

fn class(role: Role) -> &'static str {
    match role {
        Role::Source => "source",
        Role::Function => "function",
        Role::Sink => "sink",
        Role::Topic | Role::Pattern => "topic",
    }
}

/// Mermaid labels are quoted; quotes and markup characters become entity codes.
fn escape(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_has_subgraphs_shapes_edges_and_flags() {
        let text = render(&crate::graph::tests::sample());
        assert!(text.starts_with("flowchart LR\n  subgraph mesh0[\"FunctionMesh/m\"]\n"));
        assert!(text.contains("[/\"cdc\"/]:::source"));
        assert!(text.contains("([\"orphan (no producer)\"]):::topic"));
        assert!(text.contains("%% t0_1: persistent://public/default/orphan"));
        assert!(text.contains("m0_0 --> t0_"));
        assert!(text.contains("classDef dangling"));
        assert!(
            text.lines()
                .any(|l| l.starts_with("  class ") && l.ends_with(" dangling"))
        );
    }

    #[test]
    fn labels_cannot_break_out_of_their_quotes() {
        assert_eq!(escape("a\"<b>"), "a#quot;#lt;b#gt;");
    }
}
