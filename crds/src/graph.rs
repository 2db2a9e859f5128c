//! The graph of a mesh: members connected by the topics they produce and consume, and the
//! checks Function Mesh does not make — duplicate members, a member consuming its own output,
//! shared subscriptions, schema disagreements on an edge, dangling topics and cycles.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::common::{InputConf, OutputConf};
use crate::diagnostic::{FieldPath, Report};
use crate::topic::{Domain, PatternSet, TopicName, TopicParts, TopicPattern};
use crate::validate::{WorkloadKind, object_name};
use crate::workload::ConsumerSpec;
use crate::{FunctionMeshSpec, defaults, limits};

/// One member of the mesh, reduced to what the graph needs.
#[derive(Clone, Debug)]
pub struct Member {
    pub kind: WorkloadKind,
    pub name: String,
    /// Path of the member in the mesh, like `spec.functions[1]`.
    pub path: FieldPath,
    /// Input topics, fully qualified.
    pub inputs: Vec<TopicName>,
    /// Input topic patterns.
    pub patterns: Vec<TopicPattern>,
    pub output: Option<TopicName>,
    pub subscription: Option<String>,
    input_schema: BTreeMap<TopicName, String>,
    input_type: Option<String>,
    output_schema: Option<String>,
    output_type: Option<String>,
}

/// A topic and who touches it, by member index.
#[derive(Clone, Debug, Default)]
pub struct Topic {
    pub producers: Vec<usize>,
    pub consumers: Vec<usize>,
}

/// The analysed mesh, also what `fmesh graph` draws.
#[derive(Clone, Debug, Default)]
pub struct MeshGraph {
    pub members: Vec<Member>,
    /// Every topic named by a member, keyed by its full name.
    pub topics: BTreeMap<TopicName, Topic>,
    /// Topics consumed that nothing in the mesh produces.
    pub dangling_inputs: BTreeSet<TopicName>,
    /// Topics produced that nothing in the mesh consumes.
    pub unconsumed_outputs: BTreeSet<TopicName>,
    /// Members on a cycle, by index.
    pub cyclic_members: BTreeSet<usize>,
}

/// Builds the graph of a mesh and reports what is wrong with it. Member specs are read with
/// defaults applied (as the apiserver would see them after mutation).
pub fn analyze(mesh_name: &str, spec: &FunctionMeshSpec) -> (MeshGraph, Report) {
    let mut spec = spec.clone();
    defaults::mesh(&mut spec);
    analyze_defaulted(mesh_name, &spec)
}

/// [`analyze`] of a spec that is already defaulted (admission validates a defaulted copy;
/// cloning and defaulting a large mesh again cost as much as the analysis). A mesh over a
/// [`crate::limits`] limit is not analysed: its graph is empty and the report says why.
///
/// Work and memory are linear in the mesh's size, plus patterns × produced topics for the
/// pattern index (both bounded by the limits); no walk recurses.
pub(crate) fn analyze_defaulted(mesh_name: &str, spec: &FunctionMeshSpec) -> (MeshGraph, Report) {
    let r = limits::check_mesh(spec);
    if !r.is_valid() {
        return (MeshGraph::default(), r);
    }
    analyze_within_limits(mesh_name, spec)
}

/// The graph's findings, for [`crate::validate::mesh`], which checked the limits already.
pub(crate) fn graph_report(mesh_name: &str, spec: &FunctionMeshSpec) -> Report {
    analyze_within_limits(mesh_name, spec).1
}

fn analyze_within_limits(mesh_name: &str, spec: &FunctionMeshSpec) -> (MeshGraph, Report) {
    let mut r = Report::default();
    let members = collect_members(spec);
    check_names(&mut r, mesh_name, &members);

    let mut g = MeshGraph {
        members,
        ..MeshGraph::default()
    };
    for (i, m) in g.members.iter().enumerate() {
        if let Some(out) = &m.output {
            g.topics.entry(out.clone()).or_default().producers.push(i);
        }
        for t in &m.inputs {
            g.topics.entry(t.clone()).or_default().consumers.push(i);
        }
    }
    link_patterns(&mut g);
    check_edges(&mut r, &g);
    check_dangling(&mut r, &mut g);
    check_cycles(&mut r, &mut g);
    (g, r)
}

/// The patterns of one namespace and, for each, the member it belongs to.
type Group<'a> = (Vec<&'a TopicPattern>, Vec<usize>);

/// Patterns consume every produced topic they match. Patterns are grouped by their literal
/// namespace, and each group is one automaton: a topic is read once, against the patterns of
/// its namespace only, whatever their number.
fn link_patterns(g: &mut MeshGraph) {
    let MeshGraph {
        members, topics, ..
    } = g;
    let mut groups: HashMap<(Domain, &str), Group<'_>> = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        for p in &m.patterns {
            let (patterns, owners) = groups.entry((p.domain, p.namespace.as_str())).or_default();
            patterns.push(p);
            owners.push(i);
        }
    }
    let index: HashMap<_, _> = groups
        .into_iter()
        .map(|(ns, (patterns, owners))| (ns, (PatternSet::new(&patterns), owners)))
        .collect();
    if index.is_empty() {
        return;
    }
    for (name, topic) in topics.iter_mut().filter(|(_, t)| !t.producers.is_empty()) {
        let Some((set, owners)) = index.get(&(name.domain, name.namespace.as_str())) else {
            continue;
        };
        // A partition also matches through its base name.
        let mut matched = set.matches(&name.to_string(), &name.local);
        if name.partition().is_some() {
            let base = name.base();
            matched.extend(set.matches(&base.to_string(), &base.local));
        }
        topic
            .consumers
            .extend(matched.into_iter().map(|p| owners[p]));
        // A member may reach a topic by name and by patterns: it consumes it once.
        topic.consumers.sort_unstable();
        topic.consumers.dedup();
    }
}

fn collect_members(spec: &FunctionMeshSpec) -> Vec<Member> {
    let mut members = Vec::new();
    let root = FieldPath::root("spec");
    for (i, f) in spec.functions.iter().flatten().enumerate() {
        let path = root.field("functions").index(i);
        members.push(member(
            WorkloadKind::Function,
            &f.workload.name,
            path,
            Some(&f.consumer),
            f.output.as_ref(),
        ));
    }
    for (i, s) in spec.sources.iter().flatten().enumerate() {
        let path = root.field("sources").index(i);
        members.push(member(
            WorkloadKind::Source,
            &s.workload.name,
            path,
            None,
            s.output.as_ref(),
        ));
    }
    for (i, s) in spec.sinks.iter().flatten().enumerate() {
        let path = root.field("sinks").index(i);
        members.push(member(
            WorkloadKind::Sink,
            &s.workload.name,
            path,
            Some(&s.consumer),
            None,
        ));
    }
    members
}

/// Reads a member's topics; names that do not parse are left to per-member validation.
fn member(
    kind: WorkloadKind,
    name: &Option<String>,
    path: FieldPath,
    consumer: Option<&ConsumerSpec>,
    output: Option<&OutputConf>,
) -> Member {
    let input = consumer.and_then(|c| c.input.as_ref());
    let (inputs, patterns) = input.map(read_inputs).unwrap_or_default();
    let input_schema = input.map(input_schemas).unwrap_or_default();
    let output_topic = output
        .and_then(|o| o.topic.as_ref())
        .and_then(|t| t.parse().ok());
    let output_schema = output.and_then(|o| {
        let custom = o.custom_schema_sinks.as_ref().and_then(|m| {
            m.iter()
                .find(|(t, _)| {
                    TopicParts::parse(t).ok() == output_topic.as_ref().map(TopicName::parts)
                })
                .map(|(_, s)| s.clone())
        });
        custom.or_else(|| o.sink_schema_type.clone())
    });
    Member {
        kind,
        name: name.clone().unwrap_or_default(),
        path,
        inputs,
        patterns,
        output: output_topic,
        subscription: consumer.and_then(|c| c.subscription_name.clone()),
        input_schema,
        input_type: input.and_then(|i| i.type_class_name.clone()),
        output_schema,
        output_type: output.and_then(|o| o.type_class_name.clone()),
    }
}

fn read_inputs(input: &InputConf) -> (Vec<TopicName>, Vec<TopicPattern>) {
    let mut topics = BTreeSet::new();
    let mut patterns = Vec::new();
    for (field, name) in input.all_topics() {
        let is_regex = input
            .source_specs
            .as_ref()
            .and_then(|s| s.get(name))
            .is_some_and(|s| s.is_regex_pattern == Some(true));
        if field == "topicPattern" || is_regex {
            patterns.extend(TopicPattern::parse(name).ok());
        } else if let Ok(t) = name.parse() {
            topics.insert(t);
        }
    }
    (topics.into_iter().collect(), patterns)
}

/// The schema a consumer declares per topic: `sourceSpecs[t].schemaType` or `customSchemaSources[t]`.
fn input_schemas(input: &InputConf) -> BTreeMap<TopicName, String> {
    let mut out = BTreeMap::new();
    for (t, s) in input.custom_schema_sources.iter().flatten() {
        if let Ok(t) = t.parse() {
            out.insert(t, s.clone());
        }
    }
    for (t, spec) in input.source_specs.iter().flatten() {
        if let (Ok(t), Some(s)) = (t.parse(), &spec.schema_type) {
            out.insert(t, s.clone());
        }
    }
    out
}

fn check_names(r: &mut Report, mesh_name: &str, members: &[Member]) {
    if members.is_empty() {
        r.error(
            &FieldPath::root("spec"),
            "the mesh has no members",
            "add functions, sources or sinks",
        );
    }
    let mut seen: BTreeMap<&str, &FieldPath> = BTreeMap::new();
    for m in members {
        let path = m.path.field("name");
        if m.name.is_empty() {
            r.error(
                &path,
                "a mesh member needs a name",
                "name the member; its objects are called <mesh>-<member>",
            );
            continue;
        }
        if let Some(first) = seen.insert(&m.name, &m.path) {
            r.error(
                &path,
                format!("duplicate member name `{}` (also {first})", m.name),
                "give every member of the mesh its own name",
            );
        }
        object_name(
            r,
            &path,
            &format!("{mesh_name}-{}", m.name),
            "the member's object name (<mesh>-<member>)",
        );
    }
}

fn check_edges(r: &mut Report, g: &MeshGraph) {
    for (topic, t) in &g.topics {
        let schemas = Agreement::new(
            t.producers
                .iter()
                .filter_map(|&p| Some((p, g.members[p].output_schema.as_deref()?))),
            str::to_ascii_lowercase,
        );
        let bytes = defaults::BYTES_TYPE_CLASS;
        let types = Agreement::new(
            t.producers.iter().filter_map(|&p| {
                Some((
                    p,
                    g.members[p]
                        .output_type
                        .as_deref()
                        .filter(|t| *t != bytes)?,
                ))
            }),
            str::to_string,
        );
        for &c in &t.consumers {
            let consumer = &g.members[c];
            // A member produces one topic, so it produces this one exactly when it is its output.
            if consumer.output.as_ref() == Some(topic) {
                r.error(
                    &consumer.path.field("input"),
                    format!("member `{}` consumes its own output {topic}", consumer.name),
                    "a member cannot consume what it produces; use another topic",
                );
            }
            if let Some(cs) = consumer.input_schema.get(topic)
                && let Some((p, others)) = schemas.disagreeing(&cs.to_ascii_lowercase(), c)
            {
                let producer = &g.members[p];
                let ps = producer.output_schema.as_deref().unwrap_or_default();
                r.error(
                    &consumer.path.field("input"),
                    format!(
                        "on {topic}, `{}`{} produces schema {ps} but `{}` consumes it as {cs}",
                        producer.name,
                        and_others(others),
                        consumer.name
                    ),
                    "make the producer's output schema and the consumer's input schema agree",
                );
            }
            if let Some(ct) = consumer
                .input_type
                .as_deref()
                .filter(|t| *t != bytes && !defaults::AUTO_CONSUME_TYPE_CLASSES.contains(t))
                && let Some((p, others)) = types.disagreeing(ct, c)
            {
                let producer = &g.members[p];
                let pt = producer.output_type.as_deref().unwrap_or_default();
                r.error(
                    &consumer.path.field("input").field("typeClassName"),
                    format!(
                        "on {topic}, `{}`{} produces {pt} but `{}` expects {ct}",
                        producer.name,
                        and_others(others),
                        consumer.name
                    ),
                    "make output.typeClassName and input.typeClassName agree",
                );
            }
        }
        shared_subscriptions(r, topic, t, &g.members);
    }
}

fn and_others(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => " (and 1 other producer)".to_string(),
        n => format!(" (and {n} other producers)"),
    }
}

/// The values (schemas, type classes) a topic's producers declare, summarised so that each
/// consumer is compared with all producers at once: per value its count, and the first two
/// producers of the first three values, enough to name a producer that disagrees with any
/// consumer other than itself.
struct Agreement {
    counts: HashMap<String, usize>,
    total: usize,
    /// Up to three distinct values, each with up to two producers: (value, producers).
    examples: Vec<(String, Vec<usize>)>,
    /// Each producer's own value, for the consumer that is also a producer.
    own: HashMap<usize, String>,
}

impl Agreement {
    fn new<'a>(
        producers: impl Iterator<Item = (usize, &'a str)>,
        key: impl Fn(&str) -> String,
    ) -> Self {
        let mut a = Agreement {
            counts: HashMap::new(),
            total: 0,
            examples: Vec::new(),
            own: HashMap::new(),
        };
        for (p, value) in producers {
            let k = key(value);
            a.total += 1;
            *a.counts.entry(k.clone()).or_default() += 1;
            let room = a.examples.len() < 3;
            match a.examples.iter_mut().find(|(v, _)| *v == k) {
                Some((_, ps)) if ps.len() < 2 => ps.push(p),
                Some(_) => {}
                None if room => a.examples.push((k.clone(), vec![p])),
                None => {}
            }
            a.own.insert(p, k);
        }
        a
    }

    /// A producer other than `consumer` whose value is not `value`, and how many more there are.
    fn disagreeing(&self, value: &str, consumer: usize) -> Option<(usize, usize)> {
        let agreeing = self.counts.get(value).copied().unwrap_or(0);
        let own = self.own.get(&consumer).is_some_and(|v| v != value);
        let n = self.total - agreeing - usize::from(own);
        if n == 0 {
            return None;
        }
        let first = self
            .examples
            .iter()
            .filter(|(v, _)| v != value)
            .flat_map(|(_, ps)| ps.iter().copied())
            .find(|p| *p != consumer)?;
        Some((first, n - 1))
    }
}

fn shared_subscriptions(r: &mut Report, topic: &TopicName, t: &Topic, members: &[Member]) {
    let mut by_sub: BTreeMap<&str, usize> = BTreeMap::new();
    for &c in &t.consumers {
        let Some(sub) = members[c].subscription.as_deref() else {
            continue;
        };
        if let Some(first) = by_sub.insert(sub, c).filter(|f| *f != c) {
            r.error(
                &members[c].path.field("subscriptionName"),
                format!(
                    "`{}` and `{}` share subscription `{sub}` on {topic}, so each gets only part of the messages",
                    members[first].name, members[c].name
                ),
                "give each member its own subscriptionName",
            );
        }
    }
}

fn check_dangling(r: &mut Report, g: &mut MeshGraph) {
    for (topic, t) in &g.topics {
        if t.producers.is_empty() {
            g.dangling_inputs.insert(topic.clone());
            for &c in &t.consumers {
                r.warn(
                    &g.members[c].path.field("input"),
                    format!("nothing in the mesh produces {topic}"),
                    "fine if something outside the mesh publishes to it; otherwise check the topic name",
                );
            }
        }
        if t.consumers.is_empty() {
            g.unconsumed_outputs.insert(topic.clone());
            for &p in &t.producers {
                if g.members[p].kind == WorkloadKind::Function
                    || g.members[p].kind == WorkloadKind::Source
                {
                    r.warn(
                        &g.members[p].path.field("output").field("topic"),
                        format!("nothing in the mesh consumes {topic}"),
                        "fine if something outside the mesh reads it; otherwise check the topic name",
                    );
                }
            }
        }
    }
}

/// Members on a cycle of length two or more: strongly connected components of the graph
/// whose nodes are members and topics (member → its output → the topic's consumers), so the
/// edges number the mesh's topic references rather than producers × consumers.
fn check_cycles(r: &mut Report, g: &mut MeshGraph) {
    let n = g.members.len();
    // Nodes 0..n are members, n.. are topics that have both producers and consumers.
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for t in g.topics.values() {
        if t.producers.is_empty() || t.consumers.is_empty() {
            continue;
        }
        let node = next.len();
        next.push(t.consumers.clone());
        for &p in &t.producers {
            next[p].push(node);
        }
    }
    for scc in strongly_connected(&next) {
        let members: Vec<usize> = scc.into_iter().filter(|v| *v < n).collect();
        if members.len() < 2 {
            continue;
        }
        let names: Vec<&str> = members
            .iter()
            .map(|i| g.members[*i].name.as_str())
            .collect();
        r.warn(
            &g.members[members[0]].path,
            format!("members {} form a cycle", names.join(" → ")),
            "fine if the loop is intended (each message must eventually leave it)",
        );
        g.cyclic_members.extend(members);
    }
}

/// Tarjan's strongly connected components, each sorted, with an explicit stack: the depth
/// of the walk is the length of the mesh's longest chain, which the input chooses.
fn strongly_connected(next: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = next.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut counter = 0;
    let mut out = Vec::new();
    // (node, position of the next edge to follow)
    let mut walk: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        walk.push((root, 0));
        while let Some(&mut (v, ref mut edge)) = walk.last_mut() {
            if *edge == 0 && index[v] == UNSEEN {
                index[v] = counter;
                low[v] = counter;
                counter += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = next[v].get(*edge) {
                *edge += 1;
                if index[w] == UNSEEN {
                    walk.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            walk.pop();
            if let Some(&(parent, _)) = walk.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comp.sort_unstable();
                out.push(comp);
            }
        }
    }
    out
}
