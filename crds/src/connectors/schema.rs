//! A connector config checked against its JSON Schema with the `jsonschema` crate, each error
//! turned into `spec.sinkConfig.batchSize: must be ≥ 1` with a fix.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::{ConnectorKind, NativeConnector};
use crate::diagnostic::{FieldPath, Report};

type Cache = Mutex<HashMap<(ConnectorKind, &'static str), &'static Validator>>;

/// The compiled validator of `c` (compiled once per process: admission calls this per request).
fn validator(c: &NativeConnector) -> Result<&'static Validator, String> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(v) = map.get(&(c.kind, c.name)) {
        return Ok(v);
    }
    let v = jsonschema::validator_for(&c.schema()).map_err(|e| e.to_string())?;
    // A handful of connectors, each compiled once: leaking keeps the borrow simple.
    let v: &'static Validator = Box::leak(Box::new(v));
    map.insert((c.kind, c.name), v);
    Ok(v)
}

/// Records one diagnostic per schema violation of `config`, at its path under `at`.
pub(super) fn check(c: &NativeConnector, config: &Value, at: &FieldPath, r: &mut Report) {
    let v = match validator(c) {
        Ok(v) => v,
        Err(e) => {
            // A bug in fmesh, not in the object: say so rather than pass it silently.
            r.error(
                at,
                format!(
                    "fmesh's schema for the {} {} does not compile: {e}",
                    c.name, c.kind
                ),
                "report this as an fmesh bug",
            );
            return;
        }
    };
    for e in v.iter_errors(config) {
        let mut path = at.clone();
        for seg in e.instance_path().iter() {
            path = match seg {
                LocationSegment::Property(p) => path.field(&p),
                LocationSegment::Index(i) => path.index(i),
            };
        }
        match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    let known = properties(&c.schema(), &e);
                    let hint = match closest(key, &known) {
                        Some(k) => format!("did you mean `{k}`? (known: {})", known.join(", ")),
                        None => format!("known: {}", known.join(", ")),
                    };
                    r.error(
                        &path.field(key),
                        format!("unknown setting for the {} {}", c.name, c.kind),
                        hint,
                    );
                }
            }
            kind => {
                let (message, hint) = describe(kind, &e);
                r.error(&path, message, hint);
            }
        }
    }
}

/// Property names allowed at the object the error is about (top level or a nested `$defs`).
fn properties(schema: &Value, e: &ValidationError<'_>) -> Vec<String> {
    // The schema path ends in `/additionalProperties`; its parent holds `properties`.
    let pointer = e
        .schema_path()
        .as_str()
        .trim_end_matches("/additionalProperties")
        .to_string();
    let node = schema.pointer(&pointer).unwrap_or(schema);
    let node = match node.get("$ref").and_then(Value::as_str) {
        Some(r) => schema.pointer(r.trim_start_matches('#')).unwrap_or(node),
        None => node,
    };
    node.get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn closest<'a>(key: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| {
            (
                strsim::jaro_winkler(&key.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.as_str())
}

fn describe(kind: &ValidationErrorKind, e: &ValidationError<'_>) -> (String, String) {
    let got = e.instance();
    match kind {
        ValidationErrorKind::Minimum { limit } => (
            format!("must be ≥ {limit}, got {got}"),
            format!("use {limit} or more"),
        ),
        ValidationErrorKind::Maximum { limit } => (
            format!("must be ≤ {limit}, got {got}"),
            format!("use {limit} or less"),
        ),
        ValidationErrorKind::ExclusiveMinimum { limit } => (
            format!("must be > {limit}, got {got}"),
            format!("use more than {limit}"),
        ),
        ValidationErrorKind::ExclusiveMaximum { limit } => (
            format!("must be < {limit}, got {got}"),
            format!("use less than {limit}"),
        ),
        ValidationErrorKind::MinLength { limit } => (
            format!("must have at least {limit} character(s)"),
            "give a value".into(),
        ),
        ValidationErrorKind::MaxLength { limit } => (
            format!("must have at most {limit} characters"),
            "shorten it".into(),
        ),
        ValidationErrorKind::MinItems { limit } => (
            format!("needs at least {limit} item(s)"),
            "add items".into(),
        ),
        ValidationErrorKind::Required { property } => {
            let p = property
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| property.to_string());
            (format!("`{p}` is required"), format!("set {p}"))
        }
        ValidationErrorKind::Enum { options } => (
            format!("{got} is not one of {options}"),
            format!("use one of {options}"),
        ),
        ValidationErrorKind::Type { kind } => {
            let want = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => ts
                    .into_iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            (
                format!("must be {want}, got {got}"),
                format!(
                    "write a{} {want}",
                    if want.starts_with(['a', 'e', 'i', 'o', 'u']) {
                        "n"
                    } else {
                        ""
                    }
                ),
            )
        }
        ValidationErrorKind::Pattern { pattern } => (
            format!("{got} does not match `{pattern}`"),
            "fix the value's format".into(),
        ),
        ValidationErrorKind::Format { format } => (
            format!("{got} is not a valid {format}"),
            format!("write a {format}"),
        ),
        _ => (
            e.to_string(),
            "see `fmesh connectors -o json` for the schema".into(),
        ),
    }
}
