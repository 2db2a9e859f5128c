//! The graph of a mesh: members connected by the topics they produce and consume, and the
//! checks Function Mesh does not make — duplicate members, a member consuming its own output,
//! shared subscriptions, schema disagreements on an edge, dangling topics and cycles.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{InputConf, OutputConf};
use crate::diagnostic::{FieldPath, Report};
use crate::topic::{TopicName, TopicParts, TopicPattern};
use crate::validate::{WorkloadKind, object_name};
use crate::workload::ConsumerSpec;
use crate::{FunctionMeshSpec, defaults};

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
/// cloning and defaulting a large mesh again cost as much as the analysis).
pub(crate) fn analyze_defaulted(mesh_name: &str, spec: &FunctionMeshSpec) -> (MeshGraph, Report) {
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
    // Patterns consume every produced topic they match.
    let produced: Vec<TopicName> = g
        .topics
        .iter()
        .filter(|(_, t)| !t.producers.is_empty())
        .map(|(n, _)| n.clone())
        .collect();
    for (i, m) in g.members.iter().enumerate() {
        for p in &m.patterns {
            for t in produced.iter().filter(|t| p.matches(t)) {
                let entry = g.topics.get_mut(t).expect("produced topics are in the map");
                if !entry.consumers.contains(&i) {
                    entry.consumers.push(i);
                }
            }
        }
    }
    check_edges(&mut r, &g);
    check_dangling(&mut r, &mut g);
    check_cycles(&mut r, &mut g);
    (g, r)
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
        for &c in &t.consumers {
            let consumer = &g.members[c];
            if t.producers.contains(&c) {
                r.error(
                    &consumer.path.field("input"),
                    format!("member `{}` consumes its own output {topic}", consumer.name),
                    "a member cannot consume what it produces; use another topic",
                );
            }
            for &p in t.producers.iter().filter(|p| **p != c) {
                schema_agreement(r, topic, &g.members[p], consumer);
            }
        }
        shared_subscriptions(r, topic, t, &g.members);
    }
}

fn schema_agreement(r: &mut Report, topic: &TopicName, producer: &Member, consumer: &Member) {
    if let (Some(ps), Some(cs)) = (&producer.output_schema, consumer.input_schema.get(topic))
        && !ps.eq_ignore_ascii_case(cs)
    {
        r.error(
            &consumer.path.field("input"),
            format!(
                "on {topic}, `{}` produces schema {ps} but `{}` consumes it as {cs}",
                producer.name, consumer.name
            ),
            "make the producer's output schema and the consumer's input schema agree",
        );
    }
    let bytes = defaults::BYTES_TYPE_CLASS;
    if let (Some(pt), Some(ct)) = (&producer.output_type, &consumer.input_type)
        && pt != ct
        && pt != bytes
        && ct != bytes
    {
        r.error(
            &consumer.path.field("input").field("typeClassName"),
            format!(
                "on {topic}, `{}` produces {pt} but `{}` expects {ct}",
                producer.name, consumer.name
            ),
            "make output.typeClassName and input.typeClassName agree",
        );
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

/// Members on a cycle of length two or more (Tarjan's strongly connected components).
fn check_cycles(r: &mut Report, g: &mut MeshGraph) {
    let n = g.members.len();
    let mut next: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for t in g.topics.values() {
        for &p in &t.producers {
            next[p].extend(t.consumers.iter().filter(|c| **c != p));
        }
    }
    for scc in strongly_connected(&next)
        .into_iter()
        .filter(|c| c.len() > 1)
    {
        let names: Vec<&str> = scc.iter().map(|i| g.members[*i].name.as_str()).collect();
        r.warn(
            &g.members[scc[0]].path,
            format!("members {} form a cycle", names.join(" → ")),
            "fine if the loop is intended (each message must eventually leave it)",
        );
        g.cyclic_members.extend(scc);
    }
}

fn strongly_connected(next: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct Tarjan<'a> {
        next: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        out: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.counter);
            self.low[v] = self.counter;
            self.counter += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in self.next[v].iter() {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comp.sort_unstable();
                self.out.push(comp);
            }
        }
    }
    let n = next.len();
    let mut t = Tarjan {
        next,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        counter: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            t.visit(v);
        }
    }
    t.out
}
