//! Size limits of a mesh. Admission, the operator and `fmesh validate` analyse a mesh on
//! every write and every reconcile; these bounds keep the largest mesh the apiserver stores
//! (a 3 MiB request body) within a second and 64 MiB of analysis. The CRD schema states
//! them too (`maxItems`, `maxProperties`), so the apiserver refuses a larger object before
//! the validating webhook sees it; `fmesh validate` and the operator read objects that did
//! not pass through the apiserver, so validation checks them again.

use crate::FunctionMeshSpec;
use crate::common::InputConf;
use crate::diagnostic::{FieldPath, Report};
use crate::workload::ConsumerSpec;

/// Members (functions + sources + sinks) of one mesh; also each list's `maxItems`.
pub const MAX_MESH_MEMBERS: usize = 1000;
/// Topic names a mesh refers to in its members' inputs and outputs (a name counts once
/// per field naming it); also `maxItems`/`maxProperties` of each input's topic lists.
pub const MAX_MESH_TOPICS: usize = 5000;
/// Topic patterns of one mesh (`input.topicPattern` and `sourceSpecs` with
/// `isRegexPattern`): each is matched against every topic the mesh produces.
pub const MAX_MESH_PATTERNS: usize = 100;

/// [`check_mesh`]'s member count on a document not decoded yet: decoding a member into its
/// types costs kilobytes, so a mesh far over the limit is refused before that.
pub fn check_mesh_document(doc: &serde_json::Value) -> Result<(), Report> {
    let len = |list: &str| {
        doc.pointer(&format!("/spec/{list}"))
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len)
    };
    let sizes = [
        ("functions", len("functions")),
        ("sources", len("sources")),
        ("sinks", len("sinks")),
    ];
    let r = members_over(&sizes);
    if r.is_valid() { Ok(()) } else { Err(r) }
}

fn members_over(lists: &[(&str, usize)]) -> Report {
    let mut r = Report::default();
    let members: usize = lists.iter().map(|(_, n)| n).sum();
    if members > MAX_MESH_MEMBERS {
        let sizes: Vec<String> = lists
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(f, n)| format!("{n} {f}"))
            .collect();
        r.error(
            &FieldPath::root("spec"),
            format!(
                "the mesh has {members} members ({}), more than the limit of {MAX_MESH_MEMBERS} members per mesh",
                sizes.join(", ")
            ),
            format!(
                "split spec.functions, spec.sources and spec.sinks into meshes of at most {MAX_MESH_MEMBERS} members"
            ),
        );
    }
    r
}

/// What one member's input and output refer to.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    topics: usize,
    patterns: usize,
}

fn input_counts(input: &InputConf) -> Counts {
    let len = |m: Option<usize>| m.unwrap_or(0);
    let regex_specs = input
        .source_specs
        .iter()
        .flatten()
        .filter(|(_, s)| s.is_regex_pattern == Some(true))
        .count();
    Counts {
        topics: len(input.topics.as_ref().map(Vec::len))
            + usize::from(input.topic_pattern.is_some())
            + len(input.custom_serde_sources.as_ref().map(|m| m.len()))
            + len(input.custom_schema_sources.as_ref().map(|m| m.len()))
            + len(input.source_specs.as_ref().map(|m| m.len())),
        patterns: usize::from(input.topic_pattern.is_some()) + regex_specs,
    }
}

fn member_counts(consumer: Option<&ConsumerSpec>, has_output: bool) -> Counts {
    let c = consumer
        .and_then(|c| c.input.as_ref())
        .map(input_counts)
        .unwrap_or_default();
    Counts {
        topics: c.topics + usize::from(has_output),
        ..c
    }
}

/// Errors for a mesh over a limit, each at the member where the count passes it. Empty
/// when the mesh is within every limit; callers skip the rest of the analysis otherwise.
pub fn check_mesh(spec: &FunctionMeshSpec) -> Report {
    let root = FieldPath::root("spec");
    let mut r = members_over(&[
        ("functions", spec.functions.as_ref().map_or(0, Vec::len)),
        ("sources", spec.sources.as_ref().map_or(0, Vec::len)),
        ("sinks", spec.sinks.as_ref().map_or(0, Vec::len)),
    ]);
    if !r.is_valid() {
        // Counting topics of a mesh already refused costs time and says nothing new.
        return r;
    }
    let functions = spec.functions.iter().flatten().enumerate().map(|(i, f)| {
        (
            root.field("functions").index(i),
            member_counts(Some(&f.consumer), f.output.is_some()),
        )
    });
    let sources = spec.sources.iter().flatten().enumerate().map(|(i, s)| {
        (
            root.field("sources").index(i),
            member_counts(None, s.output.is_some()),
        )
    });
    let sinks = spec.sinks.iter().flatten().enumerate().map(|(i, s)| {
        (
            root.field("sinks").index(i),
            member_counts(Some(&s.consumer), false),
        )
    });
    let mut total = Counts::default();
    let (mut topics_over, mut patterns_over) = (false, false);
    for (path, c) in functions.chain(sources).chain(sinks) {
        total.topics += c.topics;
        total.patterns += c.patterns;
        if total.topics > MAX_MESH_TOPICS && !topics_over {
            topics_over = true;
            r.error(
                &path,
                format!(
                    "with this member the mesh names more than the limit of {MAX_MESH_TOPICS} topics per mesh (inputs and outputs of all members)"
                ),
                "split the mesh, or consume related topics with one input.topicPattern",
            );
        }
        if total.patterns > MAX_MESH_PATTERNS && !patterns_over {
            patterns_over = true;
            r.error(
                &path.field("input"),
                format!(
                    "with this member the mesh has more than the limit of {MAX_MESH_PATTERNS} topic patterns per mesh (input.topicPattern and sourceSpecs with isRegexPattern)"
                ),
                "split the mesh, or let fewer members consume by pattern",
            );
        }
    }
    r
}
