//! A workload's status from its StatefulSet: replicas, readiness, selector and conditions.
//! Pure; the reconciler writes it only when it differs from what is stored.

use fmesh_crds::WorkloadStatus;
use fmesh_crds::diagnostic::Report;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::conditions::{self, DEGRADED, PROGRESSING, READY, Want};

/// The status of a valid workload. `apply_error` is the last child write failure, if any.
pub fn workload(
    old: Option<&WorkloadStatus>,
    generation: Option<i64>,
    desired_replicas: i32,
    selector: String,
    sts: Option<&StatefulSet>,
    apply_error: Option<&str>,
    now: &Time,
) -> WorkloadStatus {
    let st = sts.and_then(|s| s.status.as_ref());
    let replicas = st.map_or(0, |s| s.replicas);
    let ready = st.and_then(|s| s.ready_replicas).unwrap_or(0);
    let updated = st.and_then(|s| s.updated_replicas).unwrap_or(0);
    let observed = match (
        sts.and_then(|s| s.metadata.generation),
        st.and_then(|s| s.observed_generation),
    ) {
        (Some(g), Some(o)) => o >= g,
        _ => false,
    };
    let rolled = observed && updated >= desired_replicas && replicas == desired_replicas;
    let all_ready = rolled && ready >= desired_replicas;
    let counts = format!("{ready}/{desired_replicas} replicas ready");
    let wanted = [
        if all_ready {
            Want {
                type_: READY,
                status: true,
                reason: "AllReplicasReady",
                message: counts.clone(),
            }
        } else {
            Want {
                type_: READY,
                status: false,
                reason: "ReplicasNotReady",
                message: counts.clone(),
            }
        },
        if all_ready {
            Want {
                type_: PROGRESSING,
                status: false,
                reason: "RolloutComplete",
                message: counts.clone(),
            }
        } else {
            Want {
                type_: PROGRESSING,
                status: true,
                reason: "RollingOut",
                message: format!("{updated}/{desired_replicas} updated, {counts}"),
            }
        },
        match apply_error {
            Some(e) => Want {
                type_: DEGRADED,
                status: true,
                reason: "ChildApplyFailed",
                message: e.into(),
            },
            None => Want {
                type_: DEGRADED,
                status: false,
                reason: "AsExpected",
                message: String::new(),
            },
        },
    ];
    let conds = conditions::merge(
        old.and_then(|o| o.conditions.as_deref()),
        &wanted,
        generation,
        now,
    );
    WorkloadStatus {
        conditions: Some(conds),
        replicas: Some(replicas),
        ready_replicas: Some(ready),
        selector: Some(selector),
        observed_generation: generation,
        ..old.cloned().unwrap_or_default()
    }
}

/// The status of a workload whose spec does not validate: `Ready=False, reason=InvalidSpec`
/// with every error message; replicas as before.
pub fn invalid(
    old: Option<&WorkloadStatus>,
    generation: Option<i64>,
    selector: String,
    report: &Report,
    now: &Time,
) -> WorkloadStatus {
    let message = invalid_message(report);
    let wanted = [
        Want {
            type_: READY,
            status: false,
            reason: "InvalidSpec",
            message: message.clone(),
        },
        Want {
            type_: PROGRESSING,
            status: false,
            reason: "InvalidSpec",
            message: "fix the spec to continue".into(),
        },
        Want {
            type_: DEGRADED,
            status: true,
            reason: "InvalidSpec",
            message,
        },
    ];
    let conds = conditions::merge(
        old.and_then(|o| o.conditions.as_deref()),
        &wanted,
        generation,
        now,
    );
    WorkloadStatus {
        conditions: Some(conds),
        selector: Some(selector),
        observed_generation: generation,
        ..old.cloned().unwrap_or_default()
    }
}

/// Validation errors, one per line (`path: message (hint)`).
pub fn invalid_message(report: &Report) -> String {
    report
        .errors()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
