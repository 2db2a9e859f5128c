//! YAML documents read with the line of every node, so a diagnostic's JSON path
//! (`spec.functions[1].maxReplicas`) can be reported at its line in the file.
//!
//! serde-saphyr records where each node starts (`Spanned`); the documents are read into a small
//! tree that keeps those lines, then turned into `serde_json::Value` for `fmesh_crds`.

use std::fmt;
use std::rc::Rc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::{Budget, Spanned};

/// Deepest nesting of sequences and mappings accepted. A Function's deepest field (pod
/// affinity terms) sits about a dozen levels down; the cap keeps recursion far from the stack limit.
pub const MAX_DEPTH: usize = 64;

/// A YAML node and the 1-based line it starts on.
pub type Node = Spanned<NodeKind>;

/// What a node holds.
#[derive(Debug)]
pub enum NodeKind {
    Scalar(Value),
    Seq(Vec<Node>),
    /// Entries in file order: key, the key's line, value.
    Map(Vec<MapEntry>),
}

/// One entry of a mapping.
#[derive(Debug)]
pub struct MapEntry {
    pub key: String,
    pub key_line: usize,
    pub value: Node,
}

/// One document of a YAML stream, or one item of a `kind: List` document.
#[derive(Clone, Debug)]
pub struct Document {
    root: Rc<Node>,
    /// Where this document's object sits in `root`: empty, or `items[3]` in a List.
    base: String,
}

/// Why a text could not be read as YAML.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("nested deeper than {MAX_DEPTH} levels; not a Kubernetes object")]
    TooDeep,
    #[error("not valid YAML: {0}")]
    Syntax(String),
}

/// Reads every non-empty document of `text`.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    check_depth(text)?;
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: MAX_DEPTH },
        with_snippet: false,
    };
    let roots: Vec<Node> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| YamlError::Syntax(one_line(&e)))?;
    Ok(roots
        .into_iter()
        .map(|root| Document {
            root: Rc::new(root),
            base: String::new(),
        })
        .collect())
}

/// Scans the event stream (no tree is built) so deep nesting is refused before any recursion.
fn check_depth(text: &str) -> Result<(), YamlError> {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    let report = serde_saphyr::budget::check_yaml_budget(
        text,
        budget,
        serde_saphyr::budget::EnforcingPolicy::AllContent,
    )
    .map_err(|e| scan_error(&e.to_string()))?;
    match report.breached {
        Some(serde_saphyr::budget::BudgetBreach::Depth { .. }) => Err(YamlError::TooDeep),
        Some(breach) => Err(YamlError::Syntax(format!(
            "the input exceeds a parser limit ({breach:?})"
        ))),
        None => Ok(()),
    }
}

/// The scanner refuses flow collections (`[[[…`) nested past its own limit before the depth
/// budget sees them; that refusal is reported as the nesting problem it is.
fn scan_error(message: &str) -> YamlError {
    if message.contains("recursion limit exceeded") {
        YamlError::TooDeep
    } else {
        YamlError::Syntax(message.to_string())
    }
}

fn one_line(e: &serde_saphyr::Error) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line a node starts on.
pub fn line_of(node: &Node) -> usize {
    usize::try_from(node.referenced.line()).unwrap_or(0)
}

impl Document {
    /// The node this document's object is.
    fn node(&self) -> &Node {
        descend(&self.root, &self.base).0
    }

    /// The first line of the document's content.
    pub fn first_line(&self) -> usize {
        line_of(self.node()).max(1)
    }

    /// The document as JSON, what `fmesh_crds::Resource::parse` takes.
    pub fn to_json(&self) -> Value {
        to_json(self.node())
    }

    /// The line of the field at `path` (as `fmesh_crds` writes paths: `a.b[2].c`, map keys
    /// as `m[key]`). A field that is absent is reported at its nearest present ancestor; a path
    /// that matches nothing at the document's first line.
    pub fn line_of_path(&self, path: &str) -> usize {
        descend(&self.root, &join(&self.base, path))
            .1
            .filter(|l| *l > 0)
            .unwrap_or_else(|| self.first_line())
    }

    /// The items of a `v1` `List` (what `kubectl get -o yaml` prints), each as a document;
    /// `None` for any other document.
    pub fn list_items(&self) -> Option<Vec<Document>> {
        let NodeKind::Map(entries) = &self.node().value else {
            return None;
        };
        let scalar = |key: &str| {
            entries
                .iter()
                .find(|e| e.key == key)
                .and_then(|e| match &e.value.value {
                    NodeKind::Scalar(Value::String(s)) => Some(s.as_str()),
                    _ => None,
                })
        };
        if scalar("apiVersion") != Some("v1") || scalar("kind") != Some("List") {
            return None;
        }
        let items = entries
            .iter()
            .find(|e| e.key == "items")
            .map(|e| &e.value.value);
        let count = match items {
            Some(NodeKind::Seq(items)) => items.len(),
            _ => 0,
        };
        let item = |i| Document {
            root: Rc::clone(&self.root),
            base: join(&self.base, &format!("items[{i}]")),
        };
        Some((0..count).map(item).collect())
    }
}

/// `base` + `path` as one path: `items[0]` + `spec.x` → `items[0].spec.x`.
fn join(base: &str, path: &str) -> String {
    if base.is_empty() || path.is_empty() || path.starts_with('[') {
        format!("{base}{path}")
    } else {
        format!("{base}.{path}")
    }
}

fn to_json(node: &Node) -> Value {
    match &node.value {
        NodeKind::Scalar(v) => v.clone(),
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), to_json(&e.value)))
                .collect(),
        ),
    }
}

/// Walks `path` down from `node`: the deepest node reached and its line (`None` when not
/// even the first step matched).
fn descend<'n>(node: &'n Node, path: &str) -> (&'n Node, Option<usize>) {
    let mut current = node;
    let mut line = None;
    let mut rest = path;
    while !rest.is_empty() {
        let Some((next, next_line, remaining)) = step(current, rest) else {
            break;
        };
        line = Some(next_line);
        current = next;
        rest = remaining;
    }
    (current, line)
}

/// One step: `name`, `.name`, `[index]` or `[key]` at the start of `rest`.
fn step<'n, 'p>(node: &'n Node, rest: &'p str) -> Option<(&'n Node, usize, &'p str)> {
    match &node.value {
        NodeKind::Seq(items) => {
            let inner = rest.strip_prefix('[')?;
            let (index, after) = inner.split_once(']')?;
            let item = items.get(index.parse::<usize>().ok()?)?;
            Some((item, line_of(item), after))
        }
        NodeKind::Map(entries) => {
            // Keys may hold '.', '[' or ']' themselves: match against the actual keys, longest first.
            let (entry, after) = entries
                .iter()
                .filter_map(|e| key_prefix(rest, &e.key).map(|after| (e, after)))
                .min_by_key(|(_, after)| after.len())?;
            Some((&entry.value, entry.key_line, after))
        }
        NodeKind::Scalar(_) => None,
    }
}

/// What follows `key` at the start of `rest` when it names that key as `key`, `.key` or `[key]`.
fn key_prefix<'p>(rest: &'p str, key: &str) -> Option<&'p str> {
    let ends_segment =
        |after: &str| after.is_empty() || after.starts_with('.') || after.starts_with('[');
    if let Some(after) = rest
        .strip_prefix('[')
        .and_then(|r| r.strip_prefix(key))
        .and_then(|r| r.strip_prefix(']'))
    {
        return ends_segment(after).then_some(after);
    }
    let plain = rest.strip_prefix('.').unwrap_or(rest);
    let after = plain.strip_prefix(key)?;
    ends_segment(after).then_some(after)
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeKind, E> {
        serde_json::Number::from_f64(v)
            .map(|n| NodeKind::Scalar(Value::Number(n)))
            .ok_or_else(|| E::custom(format!("{v} is not a number JSON can hold")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Value::String(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Value::String(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Scalar(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        NodeKind::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Spanned<Key>, Node>()? {
            let key_line = usize::try_from(key.referenced.line()).unwrap_or(0);
            entries.push(MapEntry {
                key: key.value.0,
                key_line,
                value,
            });
        }
        Ok(NodeKind::Map(entries))
    }
}

/// A mapping key: any scalar, as text (JSON objects have string keys).
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar mapping key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
        Ok(Key("null".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESH: &str = "\
# a comment
apiVersion: compute.functionmesh.io/v1alpha1
kind: FunctionMesh
metadata:
  name: m
spec:
  functions:
    - name: a
      input:
        topics: [in]
    - name: b
      maxReplicas: 3
      input:
        sourceSpecs:
          persistent://public/default/x.y:
            schemaType: JSON
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
";

    fn docs() -> Vec<Document> {
        parse_documents(MESH).expect("test YAML parses")
    }

    #[test]
    fn documents_start_where_their_content_starts() {
        let d = docs();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].first_line(), 2);
        assert_eq!(d[1].first_line(), 18);
    }

    #[test]
    fn fields_are_found_at_their_key_line() {
        let d = &docs()[0];
        assert_eq!(d.line_of_path("metadata.name"), 5);
        assert_eq!(d.line_of_path("spec.functions[1].maxReplicas"), 12);
        assert_eq!(d.line_of_path("spec.functions[0].input.topics[0]"), 10);
        assert_eq!(d.line_of_path("spec.functions[1]"), 11);
    }

    #[test]
    fn map_keys_with_dots_and_slashes_are_found() {
        let d = &docs()[0];
        let path =
            "spec.functions[1].input.sourceSpecs[persistent://public/default/x.y].schemaType";
        assert_eq!(d.line_of_path(path), 16);
    }

    #[test]
    fn absent_fields_fall_back_to_the_nearest_ancestor_then_the_document() {
        let d = &docs()[0];
        assert_eq!(d.line_of_path("spec.functions[0].output.topic"), 8);
        assert_eq!(d.line_of_path("spec.functions[7]"), 7);
        assert_eq!(d.line_of_path("status"), 2);
        assert_eq!(docs()[1].line_of_path("metadata.name"), 20);
    }

    #[test]
    fn a_key_is_not_matched_by_its_prefix() {
        let text = "spec:\n  in: 1\n  input: 2\n";
        let d = &parse_documents(text).expect("parses")[0];
        assert_eq!(d.line_of_path("spec.input"), 3);
        assert_eq!(d.line_of_path("spec.in"), 2);
    }

    #[test]
    fn list_items_are_documents_of_their_own() {
        let text =
            "apiVersion: v1\nkind: List\nitems:\n  - kind: A\n    spec:\n      x: 1\n  - kind: B\n";
        let list = &parse_documents(text).expect("parses")[0];
        let items = list.list_items().expect("a List");
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0].to_json(),
            serde_json::json!({"kind": "A", "spec": {"x": 1}})
        );
        assert_eq!(
            (items[0].first_line(), items[0].line_of_path("spec.x")),
            (4, 6)
        );
        assert_eq!(
            (items[1].first_line(), items[1].line_of_path("spec.x")),
            (7, 7)
        );
        assert!(items[0].list_items().is_none());
    }

    #[test]
    fn json_is_read_like_yaml() {
        let text = "{\n  \"kind\": \"Function\",\n  \"spec\": {\"replicas\": 2}\n}\n";
        let d = &parse_documents(text).expect("parses")[0];
        assert_eq!(
            d.to_json(),
            serde_json::json!({"kind": "Function", "spec": {"replicas": 2}})
        );
        assert_eq!(d.line_of_path("spec.replicas"), 3);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let flow = "[".repeat(10_000);
        assert!(matches!(parse_documents(&flow), Err(YamlError::TooDeep)));
        let block: String = (0..200)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        assert!(matches!(parse_documents(&block), Err(YamlError::TooDeep)));
    }

    #[test]
    fn empty_documents_are_skipped() {
        assert!(parse_documents("").expect("parses").is_empty());
        assert_eq!(
            parse_documents("---\n---\na: 1\n").expect("parses").len(),
            1
        );
    }
}
