//! `fmesh connectors`: the connector catalogue as a table, or as JSON with each native
//! connector's config schema.

use fmesh_crds::connectors::{ConnectorKind, java, native};
use serde_json::{Value, json};

/// The catalogue as two aligned tables: native connectors, then Pulsar IO connectors.
pub fn table() -> String {
    let mut rows = vec![
        ["KIND", "NAME", "SECRETS (secretsMap)", "DESCRIPTION"]
            .map(String::from)
            .to_vec(),
    ];
    for c in native() {
        let secrets: Vec<&str> = c.secrets.iter().map(|s| s.name).collect();
        rows.push(vec![
            c.kind.to_string(),
            c.name.to_string(),
            or_dash(&secrets.join(", ")),
            c.description.to_string(),
        ]);
    }
    let mut out = String::from(
        "Native connectors (spec.builtin.name; run by fmesh-runner; `-o json` for config schemas)\n",
    );
    out.push_str(&align(&rows));
    let mut rows = vec![
        ["KIND", "NAME", "CLASS", "IMAGE", "REQUIRED CONFIG"]
            .map(String::from)
            .to_vec(),
    ];
    let mut all: Vec<_> = java().iter().collect();
    all.sort_by_key(|c| (c.kind, c.name));
    for c in all {
        rows.push(vec![
            c.kind.to_string(),
            c.name.to_string(),
            c.class_name.to_string(),
            c.image(),
            or_dash(&c.required.join(", ")),
        ]);
    }
    out.push_str(
        "\nPulsar IO connectors (java.jar: builtin://NAME, or sourceType/sinkType: NAME)\n",
    );
    out.push_str(&align(&rows));
    out
}

/// The catalogue as JSON: `{"native": [...with "schema"], "pulsarIO": [...]}`.
pub fn json() -> Value {
    let native: Vec<Value> = native()
        .iter()
        .map(|c| {
            json!({
                "kind": c.kind,
                "name": c.name,
                "description": c.description,
                "secrets": c.secrets,
                "configField": c.kind.config_field(),
                "schema": c.schema(),
            })
        })
        .collect();
    let pulsar_io: Vec<Value> = java()
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
            v["image"] = json!(c.image());
            v["jar"] = json!(c.jar());
            v["reference"] = json!(format!("{}{}", java::BUILTIN_SCHEME, c.name));
            v["configField"] = json!(match c.kind {
                ConnectorKind::Source => "sourceConfig",
                ConnectorKind::Sink => "sinkConfig",
            });
            v
        })
        .collect();
    json!({"native": native, "pulsarIO": pulsar_io})
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

fn align(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == r.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_connector_once() {
        let t = table();
        for c in native() {
            assert!(
                t.lines()
                    .any(|l| l.starts_with(&format!("{:<6}  {} ", c.kind, c.name))
                        || l.contains(c.description)),
                "{} missing:\n{t}",
                c.name
            );
        }
        for c in java() {
            assert_eq!(t.matches(c.class_name).count(), 1, "{}", c.class_name);
        }
    }

    #[test]
    fn json_carries_the_schemas() {
        let v = json();
        let datagen = v["native"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "datagen")
            .unwrap();
        assert_eq!(datagen["schema"]["properties"]["rate"]["minimum"], json!(0));
        assert!(
            v["pulsarIO"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["reference"] == "builtin://elastic_search")
        );
    }
}
