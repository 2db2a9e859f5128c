//! `fmesh validate`: every error and warning of every fmesh object in the inputs, each at its
//! file and line, in the same words admission uses (both call `fmesh_crds`).

use std::io::{self, Write};

use fmesh_crds::Parsed;
use fmesh_crds::diagnostic::{Diagnostic, Severity};
use serde::Serialize;

use crate::document::parse_documents;
use crate::input::{InputError, InputPath, SourceText};
use crate::manifest::{FmeshObject, Manifest, OtherObject, classify};

/// One diagnostic, placed: what `--output json` prints, one per array element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    /// Empty when the document is not a Kubernetes object.
    pub kind: String,
    pub name: String,
    pub severity: Severity,
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Finding {
    fn new(file: &str, line: usize, kind: &str, name: &str, d: Diagnostic) -> Self {
        Finding {
            file: file.to_string(),
            line,
            kind: kind.to_string(),
            name: name.to_string(),
            severity: d.severity,
            path: d.path,
            message: d.message,
            hint: d.hint,
        }
    }

    /// `file:line: [warning: ]Kind/name: path: message (hint)`.
    pub fn human(&self) -> String {
        let mark = if self.severity == Severity::Warning {
            "warning: "
        } else {
            ""
        };
        let subject = match (self.kind.as_str(), self.name.as_str()) {
            ("", _) => "document".to_string(),
            (kind, "") => format!("{kind}/<unnamed>"),
            (kind, name) => format!("{kind}/{name}"),
        };
        let what = if self.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.path)
        };
        let hint = self
            .hint
            .as_ref()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        format!(
            "{}:{}: {mark}{subject}: {what}{}{hint}",
            self.file, self.line, self.message
        )
    }
}

/// Everything found in the inputs.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    /// fmesh objects checked.
    pub objects: usize,
    /// Objects of other kinds, with their file, kept for reference checks.
    pub others: Vec<(String, OtherObject)>,
    /// Inputs that could not be read or parsed at all.
    pub unreadable: Vec<String>,
}

impl Outcome {
    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
    /// How many findings are warnings.
    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }

    /// 2 when some input could not be checked, 1 when something is invalid (or warned, if
    /// `strict`), 0 otherwise.
    pub fn exit_code(&self, strict: bool) -> u8 {
        if !self.unreadable.is_empty() {
            2
        } else if self.errors() > 0 || (strict && self.warnings() > 0) {
            1
        } else {
            0
        }
    }

    /// `3 objects, 1 error, 2 warnings` (plus skipped and unreadable counts when there are any).
    pub fn summary(&self) -> String {
        let mut parts = vec![
            plural(self.objects, "object"),
            plural(self.errors(), "error"),
            plural(self.warnings(), "warning"),
        ];
        if !self.others.is_empty() {
            parts.push(format!(
                "{} skipped (not fmesh kinds)",
                plural(self.others.len(), "other object")
            ));
        }
        if !self.unreadable.is_empty() {
            parts.push(format!(
                "{} unreadable",
                plural(self.unreadable.len(), "input")
            ));
        }
        parts.join(", ")
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Checks every input; input problems are reported on stderr as they happen.
pub fn check_inputs(files: &[InputPath], expand_errors: Vec<InputError>) -> Outcome {
    let mut out = Outcome::default();
    for e in expand_errors {
        report_unreadable(&mut out, e.to_string());
    }
    for file in files {
        match crate::input::read(file) {
            Ok(source) => check_source(&mut out, &source),
            Err(e) => report_unreadable(&mut out, e.to_string()),
        }
    }
    out
}

fn report_unreadable(out: &mut Outcome, message: String) {
    eprintln!("fmesh: error: {message}");
    out.unreadable.push(message);
}

/// Checks every document of one input.
pub fn check_source(out: &mut Outcome, source: &SourceText) {
    let docs = match parse_documents(&source.text) {
        Ok(docs) => docs,
        Err(e) => return report_unreadable(out, format!("{}: {e}", source.name)),
    };
    for manifest in docs.into_iter().flat_map(classify) {
        match manifest {
            Manifest::Fmesh(obj) => {
                out.objects += 1;
                out.findings.extend(check_object(&source.name, &obj));
            }
            Manifest::Other(other) => out.others.push((source.name.clone(), other)),
            Manifest::NotAnObject { doc, problem } => {
                let line = doc.line_of_path(&problem.path);
                out.findings
                    .push(Finding::new(&source.name, line, "", "", problem));
            }
        }
    }
}

/// One object's diagnostics in line order: unknown-field warnings, then every rule.
fn check_object(file: &str, obj: &FmeshObject) -> Vec<Finding> {
    let report = match &obj.parsed {
        Parsed::Resource(res, unknown_fields) => {
            let mut report = unknown_fields.clone();
            report.extend(res.validate());
            report
        }
        Parsed::Invalid(report) => report.clone(),
        Parsed::Other { .. } => return Vec::new(),
    };
    let mut findings: Vec<Finding> = report
        .0
        .into_iter()
        .map(explain_yaml_boolean)
        .map(|d| Finding::new(file, obj.doc.line_of_path(&d.path), &obj.kind, &obj.name, d))
        .collect();
    findings.sort_by_key(|f| f.line);
    findings
}

/// A string field holding a boolean is almost always an unquoted `on`, `no`, `y`…, which YAML
/// (as Kubernetes reads it) takes for a boolean; say so instead of the generic type hint.
fn explain_yaml_boolean(mut d: Diagnostic) -> Diagnostic {
    if d.message.starts_with("invalid type: boolean") && d.message.ends_with("expected a string") {
        d.hint =
            Some("quote the value: YAML reads unquoted yes/no/on/off/y/n as booleans".to_string());
    }
    d
}

/// Prints the findings one per line (human) or as one JSON array.
pub fn print(out: &Outcome, json: bool) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut stdout, &out.findings)?;
        writeln!(stdout)?;
    } else {
        for f in &out.findings {
            writeln!(stdout, "{}", f.human())?;
        }
    }
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(text: &str) -> Outcome {
        let mut out = Outcome::default();
        check_source(
            &mut out,
            &SourceText {
                name: "f.yaml".into(),
                text: text.into(),
            },
        );
        out
    }

    const FUNCTION: &str = "\
apiVersion: compute.functionmesh.io/v1alpha1
kind: Function
metadata:
  name: enrich
spec:
  className: org.example.Enrich
  java: {jar: enrich.jar}
  input: {topics: [in]}
  output: {topic: out}
  pulsar: {pulsarConfig: test-pulsar}
";

    #[test]
    fn a_valid_function_has_no_errors() {
        let out = outcome(FUNCTION);
        assert_eq!(out.objects, 1);
        assert_eq!(out.errors(), 0, "{:?}", out.findings);
        assert_eq!(out.exit_code(false), 0);
    }

    #[test]
    fn findings_carry_the_line_of_their_field() {
        let text = FUNCTION.replace(
            "  className: org.example.Enrich\n",
            "  className: org.example.Enrich\n  maxPendingAsyncRequests: -1\n",
        );
        let out = outcome(&text);
        let f = out
            .findings
            .iter()
            .find(|f| f.path == "spec.maxPendingAsyncRequests")
            .expect("rule fires");
        assert_eq!(
            (f.line, f.kind.as_str(), f.name.as_str()),
            (7, "Function", "enrich")
        );
        assert!(f.human().starts_with(
            "f.yaml:7: Function/enrich: spec.maxPendingAsyncRequests: must be positive"
        ));
        assert_eq!(out.exit_code(false), 1);
    }

    #[test]
    fn warnings_are_marked_and_fail_only_when_strict() {
        let out = outcome(&FUNCTION.replace("  pulsar:", "  colour: blue\n  pulsar:"));
        let w = out
            .findings
            .iter()
            .find(|f| f.severity == Severity::Warning)
            .expect("unknown field warns");
        assert!(
            w.human()
                .starts_with("f.yaml:10: warning: Function/enrich: spec.colour:"),
            "{}",
            w.human()
        );
        assert_eq!((out.exit_code(false), out.exit_code(true)), (0, 1));
    }

    #[test]
    fn an_unquoted_yaml_boolean_in_a_string_field_is_explained() {
        let out = outcome(&FUNCTION.replace("output: {topic: out}", "output: {topic: on}"));
        let f = out
            .findings
            .iter()
            .find(|f| f.path == "spec.output.topic")
            .expect("type error");
        assert_eq!(f.line, 9);
        assert!(
            f.hint
                .as_deref()
                .is_some_and(|h| h.starts_with("quote the value")),
            "{f:?}"
        );
    }

    #[test]
    fn summary_counts_everything() {
        let text = format!("{FUNCTION}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\n");
        let out = outcome(&text);
        assert_eq!(
            out.summary(),
            "1 object, 0 errors, 0 warnings, 1 other object skipped (not fmesh kinds)"
        );
    }
}
