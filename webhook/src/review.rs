//! The AdmissionReview wire format (`admission.k8s.io/v1`), read defensively and written by hand.
//!
//! Not kube-core's types: kube-core 5 serializes `response.patch` as a JSON array of numbers,
//! while the API documents a base64 string; we write base64, which every apiserver accepts.

use base64::Engine;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

use fmesh_crds::{Function, FunctionMesh, Sink, Source};

use crate::admit::Kind;
use crate::elide;
use crate::object::{Object, Reviewed, Root, Skimmed, Typed};

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
    /// Absent when decoded for [`Webhook::Mutate`].
    pub old_object: Option<Reviewed>,
    pub dry_run: Option<bool>,
}

/// Which webhook reads the review: validation shows unknown-field warnings and reads
/// `oldObject`; mutation does neither (on UPDATE `oldObject` is as large as `object`, so
/// skipping it, still checked to be well-formed JSON, halves the decoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Webhook {
    Validate,
    Mutate,
}

/// `request` on the wire: `Obj` and `Old` are one of `object`'s decoders or, to skip
/// `oldObject`, `IgnoredAny`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<Obj, Old> {
    uid: String,
    kind: GroupVersionKind,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    operation: String,
    #[serde(default = "none")]
    object: Option<Obj>,
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
struct Review<Obj, Old> {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default = "none")]
    request: Option<WireRequest<Obj, Old>>,
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

/// Parses a request body for `webhook` at the endpoint of `kind`. serde_json's recursion
/// limit (128) bounds deep nesting, so hostile input ends in an error, not a stack overflow.
///
/// The object is decoded straight into the typed API when that gives the same answer (see
/// `crate::object`); a review the fast decoder refuses (an invalid object, unknown fields, a
/// malformed body) is decoded again as a whole, so answers and errors stay exact.
pub fn parse(body: &[u8], kind: Kind, webhook: Webhook) -> Result<Request, BadReview> {
    parse_noting(body, kind, webhook).0
}

/// Which decoding answered a review (a metric: a rise of `body` means the apiserver's JSON no
/// longer looks as the cut expects, one of `exact` more invalid objects or unknown fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoding {
    /// The fast decoder, on the copy without the last-applied values.
    Cut,
    /// The fast decoder, on the body as sent.
    Body,
    /// The whole-object decoder (also: a body refused before decoding).
    Exact,
}

impl Decoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Decoding::Cut => "cut",
            Decoding::Body => "body",
            Decoding::Exact => "exact",
        }
    }
}

/// [`parse`], and which decoding answered.
pub fn parse_noting(
    body: &[u8],
    kind: Kind,
    webhook: Webhook,
) -> (Result<Request, BadReview>, Decoding) {
    let text = match text(body) {
        Ok(text) => text,
        Err(bad) => return (Err(bad), Decoding::Exact),
    };
    let fast = match elide::last_applied(text) {
        // The fast decoder reads a copy without the last-applied values, trusted only if it
        // met every marker where it drops the annotation (see `crate::elide`).
        Some(elided) => match elide::counting(|| fast_of(kind, &elided.text, webhook)) {
            (Some(request), met) if met == elided.cut => Some((request, Decoding::Cut)),
            (Some(_), _) => fast_of(kind, text, webhook).map(|r| (r, Decoding::Body)),
            (None, _) => None,
        },
        None => fast_of(kind, text, webhook).map(|r| (r, Decoding::Body)),
    };
    match fast {
        Some((request, decoding)) => (Ok(request), decoding),
        None => (exact_text(text, webhook), Decoding::Exact),
    }
}

/// The body as text. JSON is UTF-8 (RFC 8259); checked here once for the whole body, serde_json
/// reading a `&str` does not check each string again (that was 6 % of a request's CPU).
fn text(body: &[u8]) -> Result<&str, BadReview> {
    if body.len() > MAX_BODY_BYTES {
        return Err(BadReview::TooLarge(body.len()));
    }
    // simdutf8 picks SSE4.2 or AVX2 at run time; std's check was 2 % of the server's CPU.
    simdutf8::compat::from_utf8(body).map_err(|e| {
        BadReview::Malformed(format!(
            "not UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        ))
    })
}

fn fast_of(kind: Kind, text: &str, webhook: Webhook) -> Option<Request> {
    match kind {
        Kind::Function => fast::<Function>(text, webhook),
        Kind::Source => fast::<Source>(text, webhook),
        Kind::Sink => fast::<Sink>(text, webhook),
        Kind::FunctionMesh => fast::<FunctionMesh>(text, webhook),
    }
}

fn fast<T: Root>(text: &str, webhook: Webhook) -> Option<Request> {
    let typed = |t: Typed<T, true>| Some(t.0);
    let quiet = |t: Typed<T, false>| Some(t.0);
    match webhook {
        Webhook::Validate => check::<Typed<T, true>, Typed<T, false>>(text)
            .ok()
            .map(|r| r.into_request(typed, quiet)),
        Webhook::Mutate => check::<Typed<T, false>, Skimmed>(text)
            .ok()
            .map(|r| r.into_request(quiet, |_| None)),
    }
}

/// The whole-object decoding: every review the fast decoder refuses comes here.
pub fn exact(body: &[u8], webhook: Webhook) -> Result<Request, BadReview> {
    exact_text(text(body)?, webhook)
}

fn exact_text(text: &str, webhook: Webhook) -> Result<Request, BadReview> {
    let whole = |warnings: bool| move |o: Object| Reviewed::from_value(o.0, warnings);
    match webhook {
        Webhook::Validate => {
            check::<Object, Object>(text).map(|r| r.into_request(whole(true), whole(false)))
        }
        Webhook::Mutate => {
            check::<Object, IgnoredAny>(text).map(|r| r.into_request(whole(false), |_| None))
        }
    }
}

fn check<Obj, Old>(text: &str) -> Result<WireRequest<Obj, Old>, BadReview>
where
    Obj: serde::de::DeserializeOwned,
    Old: serde::de::DeserializeOwned,
{
    let review: Review<Obj, Old> =
        serde_json::from_str(text).map_err(|e| BadReview::Malformed(e.to_string()))?;
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

impl<Obj, Old> WireRequest<Obj, Old> {
    fn into_request(
        self,
        object: impl FnOnce(Obj) -> Option<Reviewed>,
        old: impl FnOnce(Old) -> Option<Reviewed>,
    ) -> Request {
        Request {
            uid: self.uid,
            kind: self.kind,
            name: self.name,
            namespace: self.namespace,
            operation: self.operation,
            object: self.object.and_then(object),
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
    /// The JSON text of an RFC 6902 patch (mutating only).
    pub patch: Option<String>,
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
        // Written out directly: the patch's base64 (13 KB for a new 20-member mesh) needs no
        // escaping, and a `Value` tree would copy it and scan it for escapes again.
        let mut out =
            String::with_capacity(160 + self.patch.as_ref().map_or(0, |p| p.len() * 4 / 3 + 4));
        out.push_str(r#"{"apiVersion":""#);
        out.push_str(API_VERSION);
        out.push_str(r#"","kind":"AdmissionReview","response":{"uid":"#);
        push_json(&mut out, &uid);
        out.push_str(if self.allowed {
            r#","allowed":true"#
        } else {
            r#","allowed":false"#
        });
        if let Some(s) = &self.status {
            let mut status = json!({
                "code": s.code,
                "message": s.message,
                "status": if self.allowed { "Success" } else { "Failure" },
            });
            if !s.reason.is_empty() {
                status["reason"] = json!(s.reason);
            }
            out.push_str(r#","status":"#);
            push_json(&mut out, &status);
        }
        if !self.warnings.is_empty() {
            let warnings: Vec<&String> = self.warnings.iter().take(MAX_WARNINGS).collect();
            out.push_str(r#","warnings":"#);
            push_json(&mut out, &warnings);
        }
        if let Some(patch) = &self.patch {
            out.push_str(r#","patchType":"JSONPatch","patch":""#);
            base64::engine::general_purpose::STANDARD.encode_string(patch, &mut out);
            out.push('"');
        }
        out.push_str("}}");
        out.into_bytes()
    }
}

/// Appends `value` as JSON.
fn push_json<T: serde::Serialize + ?Sized>(out: &mut String, value: &T) {
    // Strings, numbers and lists of strings: serializing them cannot fail.
    if let Ok(json) = serde_json::to_string(value) {
        out.push_str(&json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    use crate::object::LAST_APPLIED;

    fn review(api_version: &str, kind: &str) -> Vec<u8> {
        json!({"apiVersion": api_version, "kind": kind, "request": {
            "uid": "u1", "kind": {"group": "compute.functionmesh.io", "version": "v1alpha1", "kind": "Function"},
            "operation": "CREATE", "namespace": "ns", "object": {}
        }})
        .to_string()
        .into_bytes()
    }

    fn parse_any(body: &[u8]) -> Result<Request, BadReview> {
        parse(body, Kind::Function, Webhook::Validate)
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
            fmesh_crds::Parsed::Resource(r, _) => match &**r {
                fmesh_crds::Resource::Function(f) => f.spec.workload.replicas,
                _ => None,
            },
            _ => None,
        }
    }

    #[test]
    fn old_object_is_decoded_only_when_validating() {
        let body = update(function(1));
        let full = parse(&body, Kind::Function, Webhook::Validate).unwrap();
        assert_eq!(replicas(&full.old_object), Some(1));
        assert_eq!(replicas(&full.object), Some(2));
        let skipped = parse(&body, Kind::Function, Webhook::Mutate).unwrap();
        assert!(skipped.old_object.is_none());
        assert_eq!(
            (skipped.uid.as_str(), skipped.operation.as_str()),
            ("u2", "UPDATE")
        );
        assert_eq!(replicas(&skipped.object), Some(2));
        // `null` and absent are the same either way.
        for webhook in [Webhook::Validate, Webhook::Mutate] {
            assert!(
                parse(&update(Value::Null), Kind::Function, webhook)
                    .unwrap()
                    .old_object
                    .is_none()
            );
        }
    }

    #[test]
    fn a_skipped_old_object_is_still_checked() {
        // Malformed JSON inside oldObject is an error, not silently skipped.
        let body = String::from_utf8(update(function(1))).unwrap();
        let broken = body.replace(r#""replicas":1"#, r#""replicas":1,,"#);
        assert_ne!(body, broken);
        for webhook in [Webhook::Validate, Webhook::Mutate] {
            let err = parse(broken.as_bytes(), Kind::Function, webhook).unwrap_err();
            assert!(
                matches!(&err, BadReview::Malformed(m) if m.contains("line 1")),
                "{err}"
            );
            assert_eq!(err.status(), 400);
        }
        // So are the review-level checks and limits.
        let mutate = |body: &[u8]| parse(body, Kind::Function, Webhook::Mutate);
        let wrong = json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"});
        assert_eq!(
            mutate(wrong.to_string().as_bytes()).unwrap_err(),
            BadReview::Version("admission.k8s.io/v1beta1".into())
        );
        let no_uid = json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": {
            "uid": "", "kind": {}, "operation": "UPDATE", "oldObject": {}}});
        assert_eq!(
            mutate(no_uid.to_string().as_bytes()).unwrap_err(),
            BadReview::NoUid
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(mutate(&big).unwrap_err().status(), 413);
        let deep = format!(
            r#"{{"apiVersion":"{API_VERSION}","kind":"AdmissionReview","request":{{"uid":"u","kind":{{}},"operation":"UPDATE","oldObject":{}{}}}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        // Decoded, deep nesting hits the recursion limit; skipped, it is scanned without
        // recursion (no stack to overflow) and mutation does not need it.
        assert!(matches!(
            parse(deep.as_bytes(), Kind::Function, Webhook::Validate),
            Err(BadReview::Malformed(_))
        ));
        assert!(mutate(deep.as_bytes()).unwrap().old_object.is_none());
    }

    /// Every document of the repository of a kind with admission endpoints.
    fn documents() -> Vec<Value> {
        crate::test_documents::documents()
            .into_iter()
            .map(|(_, v)| v)
            .filter(|v| {
                v["apiVersion"] == "compute.functionmesh.io/v1alpha1"
                    && Kind::ALL.iter().any(|k| v["kind"] == k.as_str())
            })
            .collect()
    }

    /// Every object node of `doc`, as a JSON pointer.
    fn object_pointers(doc: &Value, at: String, out: &mut Vec<String>) {
        match doc {
            Value::Object(m) => {
                out.push(at.clone());
                for (k, v) in m {
                    object_pointers(
                        v,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    object_pointers(v, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    fn body(object: &Value, old: Option<&Value>) -> Vec<u8> {
        let kind = object["kind"].as_str().unwrap_or("Function");
        json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": {
            "uid": "u", "kind": {"group": "compute.functionmesh.io", "version": "v1alpha1", "kind": kind},
            "operation": if old.is_some() { "UPDATE" } else { "CREATE" },
            "object": object, "oldObject": old}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_fast_decoder_answers_as_the_whole_object_decoding_or_not_at_all() {
        let mut fast_taken = 0;
        let mut cases = 0;
        for doc in documents() {
            let kind = Kind::ALL
                .into_iter()
                .find(|k| doc["kind"] == k.as_str())
                .unwrap();
            let mut variants = vec![(doc.clone(), true)];
            let mut pointers = Vec::new();
            object_pointers(&doc, String::new(), &mut pointers);
            for p in pointers {
                // An unknown field at every level, and a value of the wrong type there.
                let mut unknown = doc.clone();
                unknown.pointer_mut(&p).unwrap()["zzUnknownField"] = json!({"a": 1});
                variants.push((unknown, false));
                let mut wrong = doc.clone();
                *wrong.pointer_mut(&p).unwrap() = json!(7);
                variants.push((wrong, false));
            }
            let mut deleting = doc.clone();
            deleting["metadata"]["deletionTimestamp"] = Value::Null;
            let mut other_version = doc.clone();
            other_version["apiVersion"] = json!("compute.functionmesh.io/v1beta1");
            let mut no_spec = doc.clone();
            no_spec.as_object_mut().unwrap().remove("spec");
            let applied = last_applied(&doc);
            // The annotation's key elsewhere too, where a cut value would be kept (a label)
            // or skipped unseen (an unknown spec field): the copy must not be trusted.
            let mut labelled = applied.clone();
            labelled["metadata"]["labels"][LAST_APPLIED] = json!("l".repeat(600));
            let mut in_spec = applied.clone();
            in_spec["spec"]["zzUnknown"] = json!({LAST_APPLIED: "s".repeat(600)});
            variants.extend([
                (deleting, true),
                (other_version, false),
                (no_spec, false),
                (applied.clone(), true),
                (labelled, true),
                (in_spec, false),
            ]);
            for (object, clean) in variants {
                for old in [None, Some(&doc), Some(&applied)] {
                    let body = body(&object, old);
                    for webhook in [Webhook::Validate, Webhook::Mutate] {
                        cases += 1;
                        let answer = parse(&body, kind, webhook).map(|r| format!("{r:?}"));
                        let exact = exact(&body, webhook).map(|r| format!("{r:?}"));
                        assert_eq!(answer, exact, "{object}");
                        let text = std::str::from_utf8(&body).unwrap();
                        let fast = match kind {
                            Kind::Function => fast::<Function>(text, webhook).is_some(),
                            Kind::Source => fast::<Source>(text, webhook).is_some(),
                            Kind::Sink => fast::<Sink>(text, webhook).is_some(),
                            Kind::FunctionMesh => fast::<FunctionMesh>(text, webhook).is_some(),
                        };
                        if clean {
                            assert!(fast, "a clean document took the slow path: {object}");
                            fast_taken += 1;
                        }
                    }
                }
            }
        }
        assert!(
            cases > 1000 && fast_taken > 40,
            "{cases} cases, {fast_taken} fast"
        );
    }

    /// `doc` as `kubectl apply` stores it: with its own text in the last-applied annotation
    /// (padded, so it is long enough to be cut from even a small document).
    fn last_applied(doc: &Value) -> Value {
        let mut out = doc.clone();
        let copy = json!({"applied": doc, "pad": "p".repeat(600)}).to_string();
        out["metadata"]["annotations"][LAST_APPLIED] = json!(copy);
        out
    }

    #[test]
    fn the_last_applied_values_are_cut_and_every_marker_is_met() {
        for doc in documents() {
            let kind = Kind::ALL
                .into_iter()
                .find(|k| doc["kind"] == k.as_str())
                .unwrap();
            let applied = last_applied(&doc);
            let body = body(&applied, Some(&applied));
            for webhook in [Webhook::Validate, Webhook::Mutate] {
                assert_eq!(parse_noting(&body, kind, webhook).1, Decoding::Cut);
            }
            // The key also as a label: the copy is not trusted, the body is read as sent.
            let mut labelled = applied.clone();
            labelled["metadata"]["labels"][LAST_APPLIED] = json!("l".repeat(600));
            let labelled = self::body(&labelled, None);
            assert_eq!(
                parse_noting(&labelled, kind, Webhook::Mutate).1,
                Decoding::Body
            );
            let mut wrong = applied.clone();
            wrong["spec"] = json!(7);
            let wrong = self::body(&wrong, None);
            assert_eq!(
                parse_noting(&wrong, kind, Webhook::Mutate).1,
                Decoding::Exact
            );
            let text = std::str::from_utf8(&body).unwrap();
            let elided = elide::last_applied(text).unwrap();
            assert_eq!(elided.cut, 2);
            assert!(elided.text.len() < text.len() - 2 * 600);
            for webhook in [Webhook::Validate, Webhook::Mutate] {
                let (request, met) = elide::counting(|| fast_of(kind, &elided.text, webhook));
                assert_eq!(met, 2, "{webhook:?} {doc}");
                assert_eq!(
                    format!("{:?}", request.unwrap()),
                    format!("{:?}", exact(&body, webhook).unwrap())
                );
            }
        }
    }

    #[test]
    fn patch_is_base64_json() {
        let mut v = Verdict::allow();
        v.patch = Some(r#"[{"op":"add","path":"/spec/x","value":"a\"b"}]"#.into());
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
        let with_reason: Value =
            serde_json::from_slice(&Verdict::deny(400, "BadRequest", "m").encode("u")).unwrap();
        assert_eq!(with_reason["response"]["status"]["reason"], "BadRequest");
        assert!(with_reason["response"].get("warnings").is_none());
    }
}
