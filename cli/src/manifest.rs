//! The documents of an input sorted into fmesh objects, other Kubernetes objects (skipped, kept
//! for reference checks) and documents that are not Kubernetes objects at all.

use fmesh_crds::diagnostic::{Diagnostic, Severity};
use fmesh_crds::{Parsed, Resource};
use serde_json::Value;

use crate::document::Document;

/// One document, classified.
#[derive(Debug)]
pub enum Manifest {
    /// An fmesh object, or a document that claims to be one (`Parsed::Invalid`).
    Fmesh(FmeshObject),
    /// Another kind (ConfigMap, Secret, …): not validated here.
    Other(OtherObject),
    /// A document without `apiVersion` and `kind`, or not a mapping.
    NotAnObject { doc: Document, problem: Diagnostic },
}

/// A document in the fmesh API group.
#[derive(Debug)]
pub struct FmeshObject {
    pub doc: Document,
    /// `kind` and `metadata.name` as written, for messages (also when parsing failed).
    pub kind: String,
    pub name: String,
    pub parsed: Parsed,
}

/// An object of another kind, remembered by where it is and what it is called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherObject {
    pub line: usize,
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl FmeshObject {
    /// The parsed object, when it parsed.
    pub fn resource(&self) -> Option<&Resource> {
        match &self.parsed {
            Parsed::Resource(res, _) => Some(res),
            _ => None,
        }
    }
}

/// Sorts one document; a `List` yields one manifest per item.
pub fn classify(doc: Document) -> Vec<Manifest> {
    match doc.list_items() {
        Some(items) => items.into_iter().flat_map(classify).collect(),
        None => vec![classify_object(doc)],
    }
}

fn classify_object(doc: Document) -> Manifest {
    let json = doc.to_json();
    if !json.is_object() {
        let problem = document_error(
            "",
            "the document is not a mapping, so not a Kubernetes object",
            "",
        );
        return Manifest::NotAnObject { doc, problem };
    }
    let text = |pointer: &str| {
        json.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind, name) = (text("/apiVersion"), text("/kind"), text("/metadata/name"));
    if api_version.is_empty() || kind.is_empty() {
        let field = if api_version.is_empty() {
            "apiVersion"
        } else {
            "kind"
        };
        let problem = document_error(
            field,
            &format!("`{field}` is missing, so this is not a Kubernetes object"),
            "every object needs apiVersion and kind, e.g. compute.functionmesh.io/v1alpha1 and Function",
        );
        return Manifest::NotAnObject { doc, problem };
    }
    match Resource::parse(&json) {
        Parsed::Other { api_version, kind } => Manifest::Other(OtherObject {
            line: doc.first_line(),
            api_version,
            kind,
            name,
        }),
        parsed => Manifest::Fmesh(FmeshObject {
            doc,
            kind,
            name,
            parsed,
        }),
    }
}

fn document_error(path: &str, message: &str, hint: &str) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        path: path.to_string(),
        message: message.to_string(),
        hint: (!hint.is_empty()).then(|| hint.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::parse_documents;

    fn classify_all(text: &str) -> Vec<Manifest> {
        parse_documents(text)
            .expect("test YAML parses")
            .into_iter()
            .flat_map(classify)
            .collect()
    }

    #[test]
    fn documents_are_sorted_by_what_they_are() {
        let text = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
apiVersion: compute.functionmesh.io/v1alpha1
kind: Function
metadata: {name: f}
spec: {className: C}
---
just text
---
kind: Function
";
        let all = classify_all(text);
        assert!(
            matches!(&all[0], Manifest::Other(o) if o.kind == "ConfigMap" && o.name == "settings" && o.line == 1)
        );
        assert!(matches!(&all[1], Manifest::Fmesh(o) if o.kind == "Function" && o.name == "f"));
        assert!(
            matches!(&all[2], Manifest::NotAnObject { problem, .. } if problem.path.is_empty())
        );
        assert!(
            matches!(&all[3], Manifest::NotAnObject { problem, .. } if problem.path == "apiVersion")
        );
    }
}
