//! Property: `defaults` is idempotent and never changes a field the user set, for any mix of
//! present and absent fields (including values that look "empty": false, 0, "").

use fmesh_crds::{FunctionSpec, SinkSpec, SourceSpec, defaults};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn maybe(
    key: &'static str,
    v: impl Strategy<Value = Value>,
) -> impl Strategy<Value = Option<(String, Value)>> {
    proptest::option::of(v.prop_map(move |v| (key.to_string(), v)))
}

fn object(fields: Vec<Option<(String, Value)>>) -> Value {
    Value::Object(fields.into_iter().flatten().collect::<Map<_, _>>())
}

fn small_int() -> impl Strategy<Value = Value> {
    (-2i64..6).prop_map(Value::from)
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![Just(json!("")), "[a-z]{1,8}".prop_map(Value::from)]
}

fn boolean() -> impl Strategy<Value = Value> {
    any::<bool>().prop_map(Value::from)
}

fn guarantee() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("atleast_once")),
        Just(json!("atmost_once")),
        Just(json!("effectively_once")),
        Just(json!("manual"))
    ]
}

fn window() -> impl Strategy<Value = Value> {
    (
        maybe("windowLengthCount", small_int()),
        maybe("windowLengthDurationMs", small_int()),
        maybe("slidingIntervalCount", small_int()),
        maybe("slidingIntervalDurationMs", small_int()),
        maybe("timestampExtractorClassName", text()),
        maybe("maxLagMs", small_int()),
        maybe("watermarkEmitIntervalMs", small_int()),
    )
        .prop_map(|(a, b, c, d, e, f, g)| object(vec![a, b, c, d, e, f, g]))
}

fn io() -> impl Strategy<Value = Value> {
    (maybe("typeClassName", text()), maybe("topic", text())).prop_map(|(a, b)| object(vec![a, b]))
}

fn input() -> impl Strategy<Value = Value> {
    (
        maybe("typeClassName", text()),
        maybe(
            "topics",
            proptest::collection::vec(text(), 0..3).prop_map(Value::from),
        ),
    )
        .prop_map(|(a, b)| object(vec![a, b]))
}

fn producer() -> impl Strategy<Value = Value> {
    (
        maybe("maxPendingMessages", small_int()),
        maybe("useThreadLocalProducers", boolean()),
    )
        .prop_map(|(a, b)| object(vec![a, b]))
}

/// A spec with a random subset of the fields `defaults` touches.
fn spec() -> impl Strategy<Value = Value> {
    (
        (
            maybe("replicas", small_int()),
            maybe("minReplicas", small_int()),
            maybe("maxReplicas", small_int()),
        ),
        (
            maybe("name", text()),
            maybe("tenant", text()),
            maybe("namespace", text()),
            maybe("clusterName", text()),
        ),
        (
            maybe("autoAck", boolean()),
            maybe("processingGuarantee", guarantee()),
            maybe("subscriptionName", text()),
        ),
        (
            maybe("logTopic", text()),
            maybe(
                "logTopicAgent",
                prop_oneof![Just(json!("runtime")), Just(json!("sidecar"))],
            ),
        ),
        (
            maybe("maxPendingAsyncRequests", small_int()),
            maybe("forwardSourceMessageProperty", boolean()),
        ),
        (
            maybe("windowConfig", window()),
            maybe("input", input()),
            maybe(
                "output",
                (io(), proptest::option::of(producer())).prop_map(|(mut o, p)| {
                    if let (Value::Object(m), Some(p)) = (&mut o, p) {
                        m.insert("producerConf".into(), p);
                    }
                    o
                }),
            ),
        ),
    )
        .prop_map(|(a, b, c, d, e, f)| {
            object(vec![
                a.0, a.1, a.2, b.0, b.1, b.2, b.3, c.0, c.1, c.2, d.0, d.1, e.0, e.1, f.0, f.1, f.2,
            ])
        })
}

/// The spec without the fields another kind has (they would be unknown fields, dropped).
fn without(mut user: Value, keys: &[&str]) -> Value {
    if let Value::Object(m) = &mut user {
        for k in keys {
            m.remove(*k);
        }
    }
    user
}

/// Every leaf the user wrote is still there with the same value.
fn is_subset(small: &Value, big: &Value) -> bool {
    match (small, big) {
        (Value::Object(s), Value::Object(b)) => s
            .iter()
            .all(|(k, v)| b.get(k).is_some_and(|bv| is_subset(v, bv))),
        _ => small == big,
    }
}

fn check<T>(user: Value, apply: impl Fn(&mut T)) -> Result<(), TestCaseError>
where
    T: serde::de::DeserializeOwned + serde::Serialize + Clone + PartialEq + std::fmt::Debug,
{
    let mut spec: T = serde_json::from_value(user.clone()).expect("generated specs parse");
    apply(&mut spec);
    let once = spec.clone();
    apply(&mut spec);
    prop_assert_eq!(&once, &spec, "applying defaults twice changed the spec");
    let defaulted = serde_json::to_value(&once).unwrap();
    prop_assert!(
        is_subset(&user, &defaulted),
        "a user field changed:\nuser: {user}\nafter: {defaulted}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn function_defaults_are_idempotent_and_additive(user in spec()) {
        check::<FunctionSpec>(user, |s| defaults::function(Some("fn"), s))?;
    }

    #[test]
    fn source_defaults_are_idempotent_and_additive(user in spec()) {
        let user = without(user, &["input", "windowConfig", "autoAck", "subscriptionName", "maxPendingAsyncRequests"]);
        check::<SourceSpec>(user, |s| defaults::source(Some("src"), s))?;
    }

    #[test]
    fn sink_defaults_are_idempotent_and_additive(user in spec()) {
        let user = without(user, &["output", "windowConfig", "maxPendingAsyncRequests", "forwardSourceMessageProperty"]);
        check::<SinkSpec>(user, |s| defaults::sink(Some("snk"), s))?;
    }
}

#[test]
fn the_property_would_catch_a_rewrite() {
    // Guard against a vacuous subset check: a rewritten leaf must be detected.
    assert!(!is_subset(
        &json!({"autoAck": false}),
        &json!({"autoAck": true})
    ));
    assert!(is_subset(
        &json!({"a": {"b": 1}}),
        &json!({"a": {"b": 1, "c": 2}})
    ));
}
