//! Waiting for cluster state with a deadline (never sleep and hope).

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::wait::{Condition, await_condition};

use crate::error::{Error, Result};

/// Polls `check` every 500 ms until it returns `Some`, or fails after `timeout`.
/// API errors while polling are retried (the object may not exist yet).
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "waiting for {what}"),
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                secs: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until pod `name` is Running, returning it.
pub async fn pod_running(pods: &Api<Pod>, name: &str, timeout: Duration) -> Result<Pod> {
    object(
        pods,
        name,
        timeout,
        &format!("pod {name} to run"),
        |pod: Option<&Pod>| phase(pod).as_deref() == Some("Running"),
    )
    .await
}

/// Waits until pod `name` has finished (Succeeded or Failed), returning it.
pub async fn pod_finished(pods: &Api<Pod>, name: &str, timeout: Duration) -> Result<Pod> {
    object(
        pods,
        name,
        timeout,
        &format!("pod {name} to finish"),
        |pod: Option<&Pod>| matches!(phase(pod).as_deref(), Some("Succeeded" | "Failed")),
    )
    .await
}

/// A pod's phase.
pub fn phase(pod: Option<&Pod>) -> Option<String> {
    pod?.status.as_ref()?.phase.clone()
}

/// Watches one object until `condition` holds.
pub async fn object<K, C>(
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    what: &str,
    condition: C,
) -> Result<K>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    C: Condition<K>,
{
    let found = tokio::time::timeout(timeout, await_condition(api.clone(), name, condition))
        .await
        .map_err(|_| Error::Timeout {
            what: what.to_owned(),
            secs: timeout.as_secs(),
        })?
        .map_err(|e| Error::Command {
            command: format!("watch for {what}"),
            detail: e.to_string(),
        })?;
    found.ok_or_else(|| Error::Command {
        command: format!("watch for {what}"),
        detail: "object was deleted".into(),
    })
}
