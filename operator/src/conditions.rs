//! Status conditions in the Kubernetes shape: `lastTransitionTime` moves only when the status
//! does, so recomputing an unchanged state yields an identical status (and no write).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// `Ready`.
pub const READY: &str = "Ready";
/// `Progressing`.
pub const PROGRESSING: &str = "Progressing";
/// `Degraded`.
pub const DEGRADED: &str = "Degraded";

/// A condition to set: type, status, reason, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

/// A mesh's conditions from its members: Ready when all run, Progressing until then, Degraded
/// when one is degraded or invalid; `detail` says which members are not running.
pub fn mesh_wants(ready: bool, degraded: bool, detail: &str) -> [Want<'static>; 3] {
    [
        Want {
            type_: READY,
            status: ready,
            reason: if ready {
                "AllMembersReady"
            } else {
                "MembersNotReady"
            },
            message: detail.into(),
        },
        Want {
            type_: PROGRESSING,
            status: !ready,
            reason: if ready {
                "Stable"
            } else {
                "MembersProgressing"
            },
            message: detail.into(),
        },
        Want {
            type_: DEGRADED,
            status: degraded,
            reason: if degraded {
                "MemberDegraded"
            } else {
                "AsExpected"
            },
            message: if degraded {
                detail.into()
            } else {
                String::new()
            },
        },
    ]
}

/// The new condition list: each wanted condition replaces the old one of its type, keeping the
/// old `lastTransitionTime` when the status is unchanged; `now` is used otherwise.
pub fn merge(
    old: Option<&[Condition]>,
    wanted: &[Want<'_>],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    wanted
        .iter()
        .map(|w| {
            let status = if w.status { "True" } else { "False" };
            let prev = old.and_then(|o| o.iter().find(|c| c.type_ == w.type_));
            let last = match prev {
                Some(p) if p.status == status => p.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: w.type_.into(),
                status: status.into(),
                reason: w.reason.into(),
                // An empty message is serialized as `null`, which the CRD schema refuses.
                message: if w.message.is_empty() {
                    w.reason.to_string()
                } else {
                    w.message.clone()
                },
                observed_generation: generation,
                last_transition_time: last,
            }
        })
        .collect()
}

/// The status of condition `type_`, if present.
pub fn is_true(conds: Option<&[Condition]>, type_: &str) -> Option<bool> {
    conds?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status == "True")
}

/// The current time, at the second precision the API server stores.
pub fn now() -> Time {
    let t = k8s_openapi::jiff::Timestamp::now();
    Time(k8s_openapi::jiff::Timestamp::from_second(t.as_second()).unwrap_or(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn transition_time_moves_only_with_status() {
        let w = |status| Want {
            type_: READY,
            status,
            reason: "R",
            message: "m".into(),
        };
        let first = merge(None, &[w(false)], Some(1), &t(100));
        let same = merge(Some(&first), &[w(false)], Some(1), &t(200));
        assert_eq!(first, same, "recomputing is a no-op");
        let flipped = merge(Some(&same), &[w(true)], Some(1), &t(300));
        assert_eq!(flipped[0].last_transition_time, t(300));
    }
}
