//! The AdmissionReview wire format (`admission.k8s.io/v1`): the request decoded with serde into
//! small own types, the answer written with serde.
//!
//! Not kube-core's `AdmissionReview`: it requires fields the webhook never reads (`resource`,
//! `userInfo`), and it serializes `response.patch` as a JSON array of numbers where the API
//! documents a base64 string; the answer here carries base64, which every apiserver accepts.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use fmesh_crds::{Parsed, Resource};

/// The only AdmissionReview version served (the configurations ask for v1 only).
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// The largest body read: the apiserver caps a request at 3 MiB and an UPDATE review carries
/// the object twice (`object`, `oldObject`), plus the review's own fields.
pub const MAX_BODY_BYTES: usize = 7 * 1024 * 1024;

/// At most this many warnings are returned (the apiserver drops what does not fit anyway).
pub const MAX_WARNINGS: usize = 50;

/// Group, version and kind of the object under review.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

/// The part of `request` the webhook reads.
#[derive(Debug)]
pub struct Request {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub operation: String,
    /// `None` when absent, null or not a JSON object.
    pub object: Option<Reviewed>,
    /// Parsed only for [`Webhook::Validate`] (mutation never reads it).
    pub old_object: Option<Reviewed>,
    pub dry_run: Option<bool>,
}

/// Which webhook reads the review: validation shows unknown-field warnings and reads
/// `oldObject`; mutation does neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Webhook {
    Validate,
    Mutate,
}

/// An object of the review as the handlers read it.
#[derive(Debug)]
pub struct Reviewed {
    /// The typed object as sent (not defaulted), or why it is not one of the fmesh kinds.
    pub parsed: Parsed,
    /// `metadata` as sent (`Null` if absent).
    pub metadata: Value,
}

impl Reviewed {
    /// Parses `doc` with `fmesh_crds` (with unknown-field warnings if `warnings`); `None` if
    /// it is not a JSON object.
    pub fn from_value(mut doc: Value, warnings: bool) -> Option<Reviewed> {
        if !doc.is_object() {
            return None;
        }
        let parsed = if warnings {
            Resource::parse(&doc)
        } else {
            Resource::parse_without_warnings(&doc)
        };
        let metadata = doc.get_mut("metadata").map_or(Value::Null, Value::take);
        Some(Reviewed { parsed, metadata })
    }

    /// Being deleted (`metadata.deletionTimestamp` is there, even as null).
    pub fn deleting(&self) -> bool {
        self.metadata.get("deletionTimestamp").is_some()
    }

    /// A string field of `metadata` (`name`, `namespace`).
    pub fn meta_str(&self, field: &str) -> Option<&str> {
        self.metadata.get(field).and_then(Value::as_str)
    }

    /// An annotation's value, if it is a string.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .get("annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireReview {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    request: Option<WireRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest {
    uid: String,
    kind: GroupVersionKind,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    operation: String,
    #[serde(default)]
    object: Option<Value>,
    #[serde(default)]
    old_object: Option<Value>,
    #[serde(default)]
    dry_run: Option<bool>,
}

/// Why a body is not an AdmissionReview we answer (HTTP 400 or 413).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadReview {
    #[error("body of {0} bytes exceeds the {MAX_BODY_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("body is not a JSON AdmissionReview: {0}")]
    Malformed(String),
    #[error(
        "apiVersion {0:?} is not served; only {API_VERSION} is (set admissionReviewVersions: [v1])"
    )]
    Version(String),
    #[error("kind {0:?} is not AdmissionReview")]
    Kind(String),
    #[error("the AdmissionReview has no request")]
    NoRequest,
    #[error("the AdmissionReview request has no uid")]
    NoUid,
}

impl BadReview {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            BadReview::TooLarge(_) => 413,
            _ => 400,
        }
    }
}

/// Parses a request body for `webhook`. serde_json's recursion limit (128) bounds deep
/// nesting, so hostile input ends in an error, not a stack overflow.
pub fn parse(body: &[u8], webhook: Webhook) -> Result<Request, BadReview> {
    if body.len() > MAX_BODY_BYTES {
        return Err(BadReview::TooLarge(body.len()));
    }
    // Checked first so the error says what is wrong (serde_json would name a code point).
    let text = std::str::from_utf8(body).map_err(|e| {
        BadReview::Malformed(format!(
            "not UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        ))
    })?;
    let review: WireReview =
        serde_json::from_str(text).map_err(|e| BadReview::Malformed(e.to_string()))?;
    if review.api_version != API_VERSION {
        return Err(BadReview::Version(review.api_version));
    }
    if review.kind != "AdmissionReview" {
        return Err(BadReview::Kind(review.kind));
    }
    let r = review.request.ok_or(BadReview::NoRequest)?;
    if r.uid.is_empty() {
        return Err(BadReview::NoUid);
    }
    let validating = webhook == Webhook::Validate;
    Ok(Request {
        uid: r.uid,
        kind: r.kind,
        name: r.name,
        namespace: r.namespace,
        operation: r.operation,
        object: r.object.and_then(|o| Reviewed::from_value(o, validating)),
        // The old object's warnings were shown when it was admitted.
        old_object: r
            .old_object
            .filter(|_| validating)
            .and_then(|o| Reviewed::from_value(o, false)),
        dry_run: r.dry_run,
    })
}

/// The webhook's answer to one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    pub allowed: bool,
    /// For denials: HTTP-like code, machine reason (`Invalid`, `BadRequest`, …) and message.
    pub status: Option<Status>,
    pub warnings: Vec<String>,
    /// An RFC 6902 patch, a JSON array of operations (mutating only).
    pub patch: Option<Value>,
}

/// A denial's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireAnswer<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: WireResponse<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<WireStatus<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    /// Base64 of the patch's JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
}

#[derive(Serialize)]
struct WireStatus<'a> {
    code: u16,
    message: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
}

impl Verdict {
    /// Allowed, nothing to say.
    pub fn allow() -> Self {
        Verdict {
            allowed: true,
            ..Verdict::default()
        }
    }

    /// Denied with `code`, `reason` and `message`.
    pub fn deny(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Verdict {
            allowed: false,
            status: Some(Status {
                code,
                reason: reason.to_string(),
                message: message.into(),
            }),
            ..Verdict::default()
        }
    }

    /// With warnings (kubectl prints each as `Warning: …`).
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }

    /// A word for metrics and logs.
    pub fn result(&self) -> &'static str {
        match (self.allowed, &self.patch) {
            (false, _) => "denied",
            (true, Some(_)) => "patched",
            (true, None) => "allowed",
        }
    }

    /// The AdmissionReview answering request `uid`.
    pub fn encode(&self, uid: &str) -> Vec<u8> {
        let patch = self
            .patch
            .as_ref()
            .map(|p| base64::engine::general_purpose::STANDARD.encode(p.to_string().as_bytes()));
        let answer = WireAnswer {
            api_version: API_VERSION,
            kind: "AdmissionReview",
            response: WireResponse {
                uid,
                allowed: self.allowed,
                status: self.status.as_ref().map(|s| WireStatus {
                    code: s.code,
                    message: &s.message,
                    status: if self.allowed { "Success" } else { "Failure" },
                    reason: &s.reason,
                }),
                warnings: &self.warnings[..self.warnings.len().min(MAX_WARNINGS)],
                patch_type: patch.as_ref().map(|_| "JSONPatch"),
                patch,
            },
        };
        // Strings, numbers and booleans only: serializing cannot fail.
        serde_json::to_vec(&answer).expect("an AdmissionReview answer serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review(api_version: &str, kind: &str) -> Vec<u8> {
        json!({"apiVersion": api_version, "kind": kind, "request": {
            "uid": "u1", "kind": {"group": "compute.functionmesh.io", "version": "v1alpha1", "kind": "Function"},
            "operation": "CREATE", "namespace": "ns", "object": {}
        }})
        .to_string()
        .into_bytes()
    }

    fn parse_any(body: &[u8]) -> Result<Request, BadReview> {
        parse(body, Webhook::Validate)
    }

    #[test]
    fn accepts_v1_reviews_only() {
        assert_eq!(
            parse_any(&review(API_VERSION, "AdmissionReview"))
                .unwrap()
                .uid,
            "u1"
        );
        assert_eq!(
            parse_any(&review("admission.k8s.io/v1beta1", "AdmissionReview")).unwrap_err(),
            BadReview::Version("admission.k8s.io/v1beta1".into())
        );
        assert_eq!(
            parse_any(&review(API_VERSION, "Pod")).unwrap_err(),
            BadReview::Kind("Pod".into())
        );
    }

    #[test]
    fn hostile_bodies_are_errors() {
        assert!(matches!(
            parse_any(b"{not json"),
            Err(BadReview::Malformed(_))
        ));
        assert!(matches!(parse_any(b""), Err(BadReview::Malformed(_))));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse_any(deep.as_bytes()),
            Err(BadReview::Malformed(_))
        ));
        // Not UTF-8 (a Latin-1 "é" in a string): named as such, with where.
        let latin1 = b"{\"apiVersion\": \"caf\xe9\"}";
        assert_eq!(
            parse_any(latin1).unwrap_err(),
            BadReview::Malformed("not UTF-8: invalid byte at offset 19".into())
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_any(&big).unwrap_err().status(), 413);
        let no_request = json!({"apiVersion": API_VERSION, "kind": "AdmissionReview"});
        assert_eq!(
            parse_any(no_request.to_string().as_bytes()).unwrap_err(),
            BadReview::NoRequest
        );
        let no_uid = json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": {
            "uid": "", "kind": {}, "operation": "UPDATE", "oldObject": {}}});
        assert_eq!(
            parse(no_uid.to_string().as_bytes(), Webhook::Mutate).unwrap_err(),
            BadReview::NoUid
        );
    }

    fn function(replicas: u32) -> Value {
        json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
            "metadata": {"name": "f", "namespace": "ns"}, "spec": {"replicas": replicas}})
    }

    fn update(old: Value) -> Vec<u8> {
        json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": {
            "uid": "u2", "kind": {"group": "compute.functionmesh.io", "version": "v1alpha1", "kind": "Function"},
            "operation": "UPDATE", "namespace": "ns", "name": "f",
            "object": function(2), "oldObject": old, "userInfo": {"username": "u"}
        }})
        .to_string()
        .into_bytes()
    }

    fn replicas(o: &Option<Reviewed>) -> Option<i32> {
        match &o.as_ref()?.parsed {
            Parsed::Resource(r, _) => match &**r {
                Resource::Function(f) => f.spec.workload.replicas,
                _ => None,
            },
            _ => None,
        }
    }

    #[test]
    fn old_object_is_parsed_only_when_validating() {
        let body = update(function(1));
        let full = parse(&body, Webhook::Validate).unwrap();
        assert_eq!(replicas(&full.old_object), Some(1));
        assert_eq!(replicas(&full.object), Some(2));
        let skipped = parse(&body, Webhook::Mutate).unwrap();
        assert!(skipped.old_object.is_none());
        assert_eq!(
            (skipped.uid.as_str(), skipped.operation.as_str()),
            ("u2", "UPDATE")
        );
        assert_eq!(replicas(&skipped.object), Some(2));
        // `null` and absent are the same either way.
        for webhook in [Webhook::Validate, Webhook::Mutate] {
            assert!(
                parse(&update(Value::Null), webhook)
                    .unwrap()
                    .old_object
                    .is_none()
            );
        }
        // Malformed JSON inside oldObject is an error for both webhooks.
        let body = String::from_utf8(update(function(1))).unwrap();
        let broken = body.replace(r#""replicas":1"#, r#""replicas":1,,"#);
        assert_ne!(body, broken);
        for webhook in [Webhook::Validate, Webhook::Mutate] {
            let err = parse(broken.as_bytes(), webhook).unwrap_err();
            assert!(matches!(&err, BadReview::Malformed(_)), "{err}");
        }
    }

    #[test]
    fn unknown_fields_are_warned_about_when_validating_only() {
        let mut object = function(1);
        object["spec"]["replicaz"] = json!(3);
        let body = json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": {
            "uid": "u", "kind": {}, "operation": "CREATE", "object": object}})
        .to_string();
        let warnings = |webhook| match parse(body.as_bytes(), webhook).unwrap().object {
            Some(Reviewed {
                parsed: Parsed::Resource(_, report),
                ..
            }) => report
                .warnings()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let shown = warnings(Webhook::Validate);
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(shown[0].contains("spec.replicaz"), "{shown:?}");
        assert!(warnings(Webhook::Mutate).is_empty());
    }

    #[test]
    fn patch_is_base64_json() {
        let mut v = Verdict::allow();
        v.patch = Some(json!([{"op": "add", "path": "/spec/x", "value": "a\"b"}]));
        v.warnings = vec!["w \"1\"".into()];
        let out: Value = serde_json::from_slice(&v.encode("u")).unwrap();
        let b64 = out["response"]["patch"].as_str().unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let patch: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(patch[0]["op"], "add");
        assert_eq!(patch[0]["value"], "a\"b");
        assert_eq!(out["response"]["patchType"], "JSONPatch");
        assert_eq!(out["response"]["uid"], "u");
        assert_eq!(out["response"]["allowed"], true);
        assert_eq!(out["response"]["warnings"], json!(["w \"1\""]));
        assert_eq!(out["apiVersion"], API_VERSION);
        assert_eq!(out["kind"], "AdmissionReview");
    }

    #[test]
    fn denial_carries_status_and_escaped_text() {
        let v = Verdict::deny(422, "", "Function \"f\" is invalid:\n- spec.x: bad")
            .with_warnings(vec!["w".into()]);
        let out: Value = serde_json::from_slice(&v.encode("u\"1")).unwrap();
        let response = &out["response"];
        assert_eq!(response["uid"], "u\"1");
        assert_eq!(response["allowed"], false);
        assert_eq!(response["status"]["code"], 422);
        assert_eq!(response["status"]["status"], "Failure");
        assert_eq!(
            response["status"]["message"],
            "Function \"f\" is invalid:\n- spec.x: bad"
        );
        assert!(response["status"].get("reason").is_none());
        assert!(response.get("patch").is_none());
        assert!(response.get("patchType").is_none());
        let with_reason: Value =
            serde_json::from_slice(&Verdict::deny(400, "BadRequest", "m").encode("u")).unwrap();
        assert_eq!(with_reason["response"]["status"]["reason"], "BadRequest");
        assert!(with_reason["response"].get("warnings").is_none());
        let many = Verdict::allow().with_warnings(vec!["w".into(); MAX_WARNINGS + 5]);
        let out: Value = serde_json::from_slice(&many.encode("u")).unwrap();
        assert_eq!(
            out["response"]["warnings"].as_array().unwrap().len(),
            MAX_WARNINGS
        );
    }
}
