//! The AdmissionReview wire format (`admission.k8s.io/v1`), read defensively and written by hand.
//!
//! Not kube-core's types: kube-core 5 serializes `response.patch` as a JSON array of numbers,
//! while the API documents a base64 string; we write base64, which every apiserver accepts.

use base64::Engine;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::object::Object;

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

/// The part of `request` the webhook reads. `object` and `oldObject` come without
/// `metadata.managedFields` and the last-applied annotation ([`crate::object`]).
#[derive(Clone, Debug)]
pub struct Request {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub operation: String,
    pub object: Option<Value>,
    /// Absent when decoded with [`OldObject::Skip`].
    pub old_object: Option<Value>,
    pub dry_run: Option<bool>,
}

/// Whether `oldObject` is decoded. Mutation never reads it, and on UPDATE it is as large as
/// `object`: skipping it (still checked to be well-formed JSON) halves the decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OldObject {
    Decode,
    Skip,
}

/// `request` on the wire; `Old` is [`Object`] or, to skip `oldObject`, `IgnoredAny`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<Old> {
    uid: String,
    kind: GroupVersionKind,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    operation: String,
    #[serde(default)]
    object: Option<Object>,
    #[serde(default = "none")]
    old_object: Option<Old>,
    #[serde(default)]
    dry_run: Option<bool>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review<Old> {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default = "none")]
    request: Option<WireRequest<Old>>,
}

/// Why a body is not an AdmissionReview we answer (HTTP 400, 413 or 415).
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

/// Parses a request body, `oldObject` included. serde_json's recursion limit (128) bounds
/// deep nesting, so hostile input ends in an error, not a stack overflow.
pub fn parse(body: &[u8]) -> Result<Request, BadReview> {
    parse_with(body, OldObject::Decode)
}

/// Parses a request body, decoding `oldObject` only if asked to.
pub fn parse_with(body: &[u8], old: OldObject) -> Result<Request, BadReview> {
    if body.len() > MAX_BODY_BYTES {
        return Err(BadReview::TooLarge(body.len()));
    }
    match old {
        OldObject::Decode => check::<Object>(body).map(|r| r.into_request(|o| Some(o.0))),
        OldObject::Skip => check::<IgnoredAny>(body).map(|r| r.into_request(|_| None)),
    }
}

fn check<Old: serde::de::DeserializeOwned>(body: &[u8]) -> Result<WireRequest<Old>, BadReview> {
    let review: Review<Old> =
        serde_json::from_slice(body).map_err(|e| BadReview::Malformed(e.to_string()))?;
    if review.api_version != API_VERSION {
        return Err(BadReview::Version(review.api_version));
    }
    if review.kind != "AdmissionReview" {
        return Err(BadReview::Kind(review.kind));
    }
    let request = review.request.ok_or(BadReview::NoRequest)?;
    if request.uid.is_empty() {
        return Err(BadReview::NoUid);
    }
    Ok(request)
}

impl<Old> WireRequest<Old> {
    fn into_request(self, old: impl FnOnce(Old) -> Option<Value>) -> Request {
        Request {
            uid: self.uid,
            kind: self.kind,
            name: self.name,
            namespace: self.namespace,
            operation: self.operation,
            object: self.object.map(|o| o.0),
            old_object: self.old_object.and_then(old),
            dry_run: self.dry_run,
        }
    }
}

/// The webhook's answer to one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    pub allowed: bool,
    /// For denials: HTTP-like code, machine reason (`Invalid`, `BadRequest`, …) and message.
    pub status: Option<Status>,
    pub warnings: Vec<String>,
    /// An RFC 6902 JSON patch (mutating only).
    pub patch: Option<Value>,
}

/// A denial's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub reason: String,
    pub message: String,
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
        let mut response = json!({ "uid": uid, "allowed": self.allowed });
        if let Some(s) = &self.status {
            response["status"] = json!({
                "code": s.code,
                "message": s.message,
                "status": if self.allowed { "Success" } else { "Failure" },
            });
            if !s.reason.is_empty() {
                response["status"]["reason"] = json!(s.reason);
            }
        }
        if !self.warnings.is_empty() {
            let warnings: Vec<&String> = self.warnings.iter().take(MAX_WARNINGS).collect();
            response["warnings"] = json!(warnings);
        }
        if let Some(patch) = &self.patch {
            response["patchType"] = json!("JSONPatch");
            response["patch"] =
                json!(base64::engine::general_purpose::STANDARD.encode(patch.to_string()));
        }
        let review = json!({
            "apiVersion": API_VERSION,
            "kind": "AdmissionReview",
            "response": response,
        });
        review.to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(api_version: &str, kind: &str) -> Vec<u8> {
        json!({"apiVersion": api_version, "kind": kind, "request": {
            "uid": "u1", "kind": {"group": "compute.functionmesh.io", "version": "v1alpha1", "kind": "Function"},
            "operation": "CREATE", "namespace": "ns", "object": {}
        }})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn accepts_v1_reviews_only() {
        assert_eq!(
            parse(&review(API_VERSION, "AdmissionReview")).unwrap().uid,
            "u1"
        );
        assert_eq!(
            parse(&review("admission.k8s.io/v1beta1", "AdmissionReview")).unwrap_err(),
            BadReview::Version("admission.k8s.io/v1beta1".into())
        );
        assert_eq!(
            parse(&review(API_VERSION, "Pod")).unwrap_err(),
            BadReview::Kind("Pod".into())
        );
    }

    #[test]
    fn hostile_bodies_are_errors() {
        assert!(matches!(parse(b"{not json"), Err(BadReview::Malformed(_))));
        assert!(matches!(parse(b""), Err(BadReview::Malformed(_))));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(BadReview::Malformed(_))
        ));
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse(&big).unwrap_err().status(), 413);
        let no_request = json!({"apiVersion": API_VERSION, "kind": "AdmissionReview"});
        assert_eq!(
            parse(no_request.to_string().as_bytes()).unwrap_err(),
            BadReview::NoRequest
        );
    }

    fn update(old: Value) -> Vec<u8> {
        json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": {
            "uid": "u2", "kind": {"group": "compute.functionmesh.io", "version": "v1alpha1", "kind": "Function"},
            "operation": "UPDATE", "namespace": "ns", "name": "f",
            "object": {"spec": {"replicas": 2}}, "oldObject": old, "userInfo": {"username": "u"}
        }})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn old_object_is_decoded_only_when_asked() {
        let body = update(json!({"spec": {"replicas": 1}}));
        let full = parse_with(&body, OldObject::Decode).unwrap();
        assert_eq!(full.old_object, Some(json!({"spec": {"replicas": 1}})));
        assert_eq!(full.object, Some(json!({"spec": {"replicas": 2}})));
        let skipped = parse_with(&body, OldObject::Skip).unwrap();
        assert_eq!(skipped.old_object, None);
        assert_eq!(
            (skipped.uid.as_str(), skipped.operation.as_str()),
            ("u2", "UPDATE")
        );
        assert_eq!(skipped.object, full.object);
        // `null` and absent are the same either way.
        for old in [OldObject::Decode, OldObject::Skip] {
            assert_eq!(
                parse_with(&update(Value::Null), old).unwrap().old_object,
                None
            );
        }
    }

    #[test]
    fn a_skipped_old_object_is_still_checked() {
        // Malformed JSON inside oldObject is an error, not silently skipped.
        let body = String::from_utf8(update(json!({"spec": {"replicas": 1}}))).unwrap();
        let broken = body.replace(r#""replicas":1"#, r#""replicas":1,,"#);
        assert_ne!(body, broken);
        for old in [OldObject::Decode, OldObject::Skip] {
            let err = parse_with(broken.as_bytes(), old).unwrap_err();
            assert!(
                matches!(&err, BadReview::Malformed(m) if m.contains("line 1")),
                "{err}"
            );
            assert_eq!(err.status(), 400);
        }
        // So are the review-level checks and limits.
        let wrong = json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"});
        assert_eq!(
            parse_with(wrong.to_string().as_bytes(), OldObject::Skip).unwrap_err(),
            BadReview::Version("admission.k8s.io/v1beta1".into())
        );
        let no_uid = json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": {
            "uid": "", "kind": {}, "operation": "UPDATE", "oldObject": {}}});
        assert_eq!(
            parse_with(no_uid.to_string().as_bytes(), OldObject::Skip).unwrap_err(),
            BadReview::NoUid
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_with(&big, OldObject::Skip).unwrap_err().status(), 413);
        let deep = format!(
            r#"{{"apiVersion":"{API_VERSION}","kind":"AdmissionReview","request":{{"uid":"u","kind":{{}},"operation":"UPDATE","oldObject":{}{}}}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        // Decoded, deep nesting hits the recursion limit; skipped, it is scanned without
        // recursion (no stack to overflow) and mutation does not need it.
        assert!(matches!(
            parse_with(deep.as_bytes(), OldObject::Decode),
            Err(BadReview::Malformed(_))
        ));
        assert_eq!(
            parse_with(deep.as_bytes(), OldObject::Skip)
                .unwrap()
                .old_object,
            None
        );
    }

    #[test]
    fn patch_is_base64_json() {
        let mut v = Verdict::allow();
        v.patch = Some(json!([{"op": "add", "path": "/spec/x", "value": 1}]));
        let out: Value = serde_json::from_slice(&v.encode("u")).unwrap();
        let b64 = out["response"]["patch"].as_str().unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let patch: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(patch[0]["op"], "add");
        assert_eq!(out["response"]["patchType"], "JSONPatch");
        assert_eq!(out["response"]["uid"], "u");
    }
}
