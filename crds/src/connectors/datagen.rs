//! `datagen` source: messages from a template at a fixed rate.
//!
//! Template placeholders, in `template`, `key` and `properties` values:
//! `{{seq}}` (0, 1, 2, … per instance), `{{instance}}`, `{{name}}` (the source's name),
//! `{{timestamp}}` (ms since the epoch), `{{rand A B}}` (an integer in A..=B), `{{uuid}}`
//! (random, version 4), `{{pick a b c}}` (one of the words).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Checked;
use crate::diagnostic::Report;

/// `sourceConfig` of the `datagen` source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatagenConfig {
    /// Messages per second per instance; 0 publishes as fast as the broker takes them.
    #[serde(default = "default_rate")]
    #[schemars(range(min = 0))]
    pub rate: f64,
    /// Messages in all per instance; absent: no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Payload template (see the module docs for placeholders).
    #[serde(default = "default_template")]
    pub template: String,
    /// Message key template; absent: no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Message property templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

fn default_rate() -> f64 {
    1.0
}

fn default_template() -> String {
    r#"{"seq": {{seq}}, "source": "{{name}}"}"#.to_string()
}

impl Default for DatagenConfig {
    fn default() -> Self {
        DatagenConfig {
            rate: default_rate(),
            count: None,
            template: default_template(),
            key: None,
            properties: BTreeMap::new(),
        }
    }
}

/// One piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Copied as is.
    Text(String),
    /// `{{seq}}`.
    Seq,
    /// `{{instance}}`.
    Instance,
    /// `{{name}}`.
    Name,
    /// `{{timestamp}}`.
    Timestamp,
    /// `{{uuid}}`.
    Uuid,
    /// `{{rand A B}}`, inclusive.
    Rand(i64, i64),
    /// `{{pick a b c}}`.
    Pick(Vec<String>),
}

/// A template parsed once, rendered per message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(Vec<Part>);

/// What a rendering may vary on; `random` yields uniformly distributed u64s.
pub struct Vars<'a> {
    /// Message number within the instance.
    pub seq: u64,
    /// Instance index.
    pub instance: u32,
    /// Source name.
    pub name: &'a str,
    /// Milliseconds since the epoch.
    pub timestamp_ms: u64,
}

impl Template {
    /// Parses `text`; the error says which placeholder is wrong and what is allowed.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                format!(
                    "`{{{{` at byte {} is never closed with `}}}}`",
                    text.len() - rest.len() + open
                )
            })?;
            parts.push(placeholder(after[..close].trim())?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template(parts))
    }

    /// The text for one message.
    pub fn render(&self, vars: &Vars<'_>, random: &mut dyn FnMut() -> u64) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Seq => out.push_str(&vars.seq.to_string()),
                Part::Instance => out.push_str(&vars.instance.to_string()),
                Part::Name => out.push_str(vars.name),
                Part::Timestamp => out.push_str(&vars.timestamp_ms.to_string()),
                Part::Uuid => out.push_str(&uuid_v4(random(), random())),
                Part::Rand(lo, hi) => {
                    let span = (*hi as i128 - *lo as i128 + 1) as u128;
                    let v = *lo as i128 + (random() as u128 % span) as i128;
                    out.push_str(&v.to_string());
                }
                Part::Pick(words) => {
                    let i = (random() % words.len() as u64) as usize;
                    out.push_str(&words[i]);
                }
            }
        }
        out
    }
}

fn placeholder(inner: &str) -> Result<Part, String> {
    let mut words = inner.split_whitespace();
    let head = words.next().unwrap_or("");
    let args: Vec<&str> = words.collect();
    let no_args = |p: Part| {
        if args.is_empty() {
            Ok(p)
        } else {
            Err(format!("`{{{{{head}}}}}` takes no arguments"))
        }
    };
    match head {
        "seq" => no_args(Part::Seq),
        "instance" => no_args(Part::Instance),
        "name" => no_args(Part::Name),
        "timestamp" => no_args(Part::Timestamp),
        "uuid" => no_args(Part::Uuid),
        "rand" => match args.as_slice() {
            [a, b] => {
                let (lo, hi) = (a.parse::<i64>(), b.parse::<i64>());
                match (lo, hi) {
                    (Ok(lo), Ok(hi)) if lo <= hi => Ok(Part::Rand(lo, hi)),
                    _ => Err(format!(
                        "`{{{{rand {a} {b}}}}}` needs two integers, the first ≤ the second"
                    )),
                }
            }
            _ => Err("`rand` takes two integers: {{rand 1 100}}".into()),
        },
        "pick" if !args.is_empty() => Ok(Part::Pick(args.iter().map(|s| s.to_string()).collect())),
        "pick" => Err("`pick` needs at least one word: {{pick red green blue}}".into()),
        other => Err(format!(
            "unknown placeholder `{{{{{other}}}}}`; use seq, instance, name, timestamp, uuid, rand A B or pick a b …"
        )),
    }
}

fn uuid_v4(a: u64, b: u64) -> String {
    let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

/// Template syntax, which the schema cannot check.
pub(super) fn check(config: &Map<String, Value>, _secrets: &[&str], at: &Checked, r: &mut Report) {
    let mut one = |field: &crate::diagnostic::FieldPath, text: &str| {
        if let Err(e) = Template::parse(text) {
            r.error(field, e, "see `fmesh connectors` for the placeholders");
        }
    };
    for field in ["template", "key"] {
        if let Some(Value::String(t)) = config.get(field) {
            one(&at.config.field(field), t);
        }
    }
    if let Some(Value::Object(props)) = config.get("properties") {
        for (k, v) in props {
            if let Value::String(t) = v {
                one(&at.config.field("properties").field(k), t);
            }
        }
    }
}
