//! Hostile mesh shapes, for the tests and the benchmark that check validation stays bounded
//! (feature `shapes`): a long chain (deep walks), a wide bipartite mesh (producers × consumers
//! on one topic) and many topic patterns (patterns × topics). Each is valid member by member,
//! so every rule runs; `largest_*` are the largest the limits and the apiserver accept.

use serde_json::{Value, json};

use crate::limits::{MAX_MESH_MEMBERS, MAX_MESH_PATTERNS};

/// The apiserver's limit on a request body for an object stored in etcd.
pub const APISERVER_BODY_LIMIT: usize = 3 * 1024 * 1024;

fn function(name: &str, input: Value, output: Option<String>) -> Value {
    let mut f = json!({
        "name": name,
        "className": "Fn",
        "wasm": {"module": "fn.wasm"},
        "pulsar": {"pulsarConfig": "pulsar"},
        "input": input,
    });
    if let Some(topic) = output {
        f["output"] = json!({"topic": topic});
    }
    f
}

fn mesh(functions: Vec<Value>) -> Value {
    json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1",
        "kind": "FunctionMesh",
        "metadata": {"name": "m", "namespace": "default"},
        "spec": {"functions": functions},
    })
}

/// `n` functions, each consuming the previous one's output: a path `n` long.
pub fn chain(n: usize) -> Value {
    let functions = (0..n)
        .map(|i| {
            function(
                &format!("f{i}"),
                json!({"topics": [format!("t{i}")]}),
                Some(format!("t{}", i + 1)),
            )
        })
        .collect();
    mesh(functions)
}

/// `n / 2` producers and `n / 2` consumers of one topic, the producers declaring two schemas
/// and every consumer a third: each consumer disagrees with every producer.
pub fn bipartite(n: usize) -> Value {
    let half = n / 2;
    let producers = (0..half).map(|i| {
        let mut f = function(
            &format!("p{i}"),
            json!({"topics": [format!("in{i}")]}),
            Some("mid".to_string()),
        );
        f["output"]["sinkSchemaType"] = json!(if i % 2 == 0 { "AVRO" } else { "JSON" });
        f
    });
    let consumers = (0..n - half).map(|i| {
        function(
            &format!("c{i}"),
            json!({"topics": ["mid"], "customSchemaSources": {"mid": "PROTOBUF"}}),
            Some(format!("out{i}")),
        )
    });
    mesh(producers.chain(consumers).collect())
}

/// `patterns` consumers, each with a pattern matching every one of `topics` producers'
/// outputs in one namespace (no literal start to index on), topic names padded to
/// `topic_len` characters.
pub fn patterns(patterns: usize, topics: usize, topic_len: usize) -> Value {
    patterns_like(patterns, topics, topic_len, |i| format!("(?:t|u{i})-.*x"))
}

/// [`patterns`] with each consumer's pattern given by `pattern(i)`.
pub fn patterns_like(
    patterns: usize,
    topics: usize,
    topic_len: usize,
    pattern: impl Fn(usize) -> String,
) -> Value {
    let topic = |i: usize| {
        let base = format!("t-{i}-");
        format!(
            "{base}{}",
            "x".repeat(topic_len.saturating_sub(base.len()).max(1))
        )
    };
    let producers = (0..topics).map(|i| {
        function(
            &format!("p{i}"),
            json!({"topics": [format!("in{i}")]}),
            Some(topic(i)),
        )
    });
    let consumers = (0..patterns).map(|i| {
        function(
            &format!("c{i}"),
            json!({"topicPattern": pattern(i)}),
            Some(format!("out{i}")),
        )
    });
    mesh(producers.chain(consumers).collect())
}

/// [`chain`] at the member limit.
pub fn largest_chain() -> Value {
    chain(MAX_MESH_MEMBERS)
}

/// [`bipartite`] at the member limit.
pub fn largest_bipartite() -> Value {
    bipartite(MAX_MESH_MEMBERS)
}

/// [`patterns`] at the pattern and member limits, topic names as long as the apiserver's
/// body limit allows.
pub fn largest_patterns() -> Value {
    largest_patterns_like(|i| format!("(?:t|u{i})-.*x"))
}

/// [`largest_patterns`] with regular expressions that defeat a DFA (the classic "the n-th
/// character from the end" family), so the matcher falls back to its slowest engine.
pub fn largest_hostile_patterns() -> Value {
    largest_patterns_like(|i| format!("(?:t|u{i})[-0-9x]*[-0-9][-0-9x]{{{}}}x", 12 + i % 8))
}

fn largest_patterns_like(pattern: impl Fn(usize) -> String + Copy) -> Value {
    let topics = MAX_MESH_MEMBERS - MAX_MESH_PATTERNS;
    let bare = serde_json::to_vec(&patterns_like(MAX_MESH_PATTERNS, topics, 0, pattern))
        .map_or(0, |v| v.len());
    let topic_len = APISERVER_BODY_LIMIT.saturating_sub(bare) / topics;
    patterns_like(MAX_MESH_PATTERNS, topics, topic_len, pattern)
}
