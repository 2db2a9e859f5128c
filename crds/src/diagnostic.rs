//! What validation reports: errors and warnings, each with the JSON path, the message and a fix.

use std::fmt;

use serde::Serialize;

/// Errors reject the object; warnings are printed and let it through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// JSON path of the field, like `spec.functions[1].maxReplicas`.
    pub path: String,
    pub message: String,
    /// A one-line fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    /// `path: message (hint)`, the form kubectl and `fmesh validate` print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// A JSON path under construction: `spec`, `.functions`, `[1]`, `.maxReplicas`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    /// A path starting at a top-level field (`spec`, `metadata`).
    pub fn root(name: &str) -> Self {
        FieldPath(name.to_string())
    }
    /// A child field.
    pub fn field(&self, name: &str) -> Self {
        self.joined(&[".", name])
    }
    /// A list element.
    pub fn index(&self, i: usize) -> Self {
        use fmt::Write;
        let mut out = self.joined(&["["]);
        // Writing to a String cannot fail.
        let _ = write!(out.0, "{i}]");
        out
    }
    /// A map entry.
    pub fn key(&self, k: &str) -> Self {
        self.joined(&["[", k, "]"])
    }
    // Validation builds thousands of paths per mesh: one sized allocation and concatenation,
    // not `format!`, whose formatting machinery dominated the cost of building them.
    fn joined(&self, parts: &[&str]) -> Self {
        let extra: usize = parts.iter().map(|p| p.len()).sum();
        let mut out = String::with_capacity(self.0.len() + extra + 4);
        out.push_str(&self.0);
        for p in parts {
            out.push_str(p);
        }
        FieldPath(out)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Diagnostics kept per report: a hostile object can be wrong in millions of ways, and each
/// finding costs memory here and in the admission answer. Past this, one last diagnostic says
/// more were left out; it is an error if any left out was.
pub const MAX_DIAGNOSTICS: usize = 1000;

/// Diagnostics collected while walking one object, at most [`MAX_DIAGNOSTICS`] and a marker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Report(pub Vec<Diagnostic>);

impl Report {
    /// Records an error at `path`.
    pub fn error(&mut self, path: &FieldPath, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Error, path, message.into(), hint.into());
    }
    /// Records a warning at `path`.
    pub fn warn(&mut self, path: &FieldPath, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Warning, path, message.into(), hint.into());
    }
    fn push(&mut self, severity: Severity, path: &FieldPath, message: String, hint: String) {
        let hint = (!hint.is_empty()).then_some(hint);
        self.add(Diagnostic {
            severity,
            path: path.to_string(),
            message,
            hint,
        });
    }
    fn add(&mut self, d: Diagnostic) {
        if self.0.len() < MAX_DIAGNOSTICS {
            self.0.push(d);
            return;
        }
        match self.0.get_mut(MAX_DIAGNOSTICS) {
            Some(marker) => marker.severity = marker.severity.min(d.severity),
            None => self.0.push(Diagnostic {
                severity: d.severity,
                path: d.path,
                message: format!(
                    "more findings left out: only the first {MAX_DIAGNOSTICS} are reported"
                ),
                hint: Some("fix these and check again".to_string()),
            }),
        }
    }
    pub fn extend(&mut self, other: Report) {
        if self.0.is_empty() && other.0.len() <= MAX_DIAGNOSTICS + 1 {
            self.0 = other.0;
            return;
        }
        for d in other.0 {
            self.add(d);
        }
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
    /// No errors (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.errors().next().is_none()
    }
    /// Whether some diagnostic sits exactly at `path` (for tests and callers that branch on it).
    pub fn has(&self, severity: Severity, path: &str) -> bool {
        self.0
            .iter()
            .any(|d| d.severity == severity && d.path == path)
    }
}
