//! The Function / Source / Sink reconciler (one generic implementation): validate → build the
//! children (pure) → apply what changed → status when it changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fmesh_crds::{BackendConfig, RefKind, WorkloadStatus};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{Context, event_type, scoped, scoped_dynamic};
use crate::children;
use crate::conditions::{self, READY};
use crate::error::Error;
use crate::workload::{Workload, WorkloadResource};
use crate::{cleanup, hash, labels, status};

/// Runs the controller for kind `K` until the process stops.
pub(super) async fn run<K: WorkloadResource>(
    ctx: Arc<Context>,
    secrets: ReflectHandle<Secret>,
    config_maps: ReflectHandle<ConfigMap>,
    statefulsets: ReflectHandle<StatefulSet>,
    backend_configs: ReflectHandle<BackendConfig>,
) {
    let api = scoped::<K>(&ctx.client, &ctx.cfg);
    let controller = Controller::new(api, watcher::Config::default());
    let store = controller.store();
    let (store2, store3) = (store.clone(), store.clone());
    let cfg = ctx.cfg.clone();
    let mut controller = controller.owns_shared_stream(statefulsets);
    // The other children: a hand-edited or deleted Service, PDB or HPA is repaired at once.
    let selector = format!(
        "{}={},{}={}",
        labels::MANAGED_BY,
        labels::MANAGER,
        labels::COMPONENT,
        labels::component(K::KIND)
    );
    for kind in children::optional_kinds() {
        if kind.kind == "VerticalPodAutoscaler" && !ctx.caps.vpa {
            continue;
        }
        let ar = kind.api_resource();
        let api = scoped_dynamic(&ctx.client, &ctx.cfg, &ar);
        let observer = ctx.clone();
        let events = watcher(api, watcher::Config::default().labels(&selector))
            .default_backoff()
            .map_ok(move |event| {
                observer.observe_child(&kind, &event);
                event
            })
            .touched_objects();
        controller = controller.owns_stream_with(events, ar);
    }
    controller
        .watches_shared_stream(secrets, move |s| referencing(&store, "Secret", s.as_ref()))
        .watches_shared_stream(config_maps, move |c| {
            referencing(&store2, "ConfigMap", c.as_ref())
        })
        .watches_shared_stream(backend_configs, move |b| {
            backed_by(&store3, &cfg, b.as_ref())
        })
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "reconcile");
            }
        })
        .await;
}

/// The workloads in `store` that reference ConfigMap/Secret `obj`.
fn referencing<K: WorkloadResource, O: Resource>(
    store: &Store<K>,
    kind: &str,
    obj: &O,
) -> Vec<ObjectRef<K>> {
    let (Some(ns), Some(name)) = (obj.meta().namespace.as_deref(), obj.meta().name.as_deref())
    else {
        return Vec::new();
    };
    store
        .state()
        .iter()
        .filter(|w| w.namespace().as_deref() == Some(ns))
        .filter(|w| {
            crate::workload::references(&w.member())
                .iter()
                .any(|(k, n)| k.as_str() == kind && n == name)
        })
        .map(|w| ObjectRef::from_obj(w.as_ref()))
        .collect()
}

/// The workloads BackendConfig `bc` applies to: its namespace's, or all for the cluster-wide one.
fn backed_by<K: WorkloadResource>(
    store: &Store<K>,
    cfg: &crate::config::OperatorConfig,
    bc: &BackendConfig,
) -> Vec<ObjectRef<K>> {
    let (ns, name) = (bc.namespace().unwrap_or_default(), bc.name_any());
    let global = cfg.global_backend_config.as_deref() == Some(name.as_str())
        && cfg.global_backend_config_namespace == ns;
    let namespaced = cfg.namespaced_backend_config == name;
    store
        .state()
        .iter()
        .filter(|w| global || (namespaced && w.namespace().as_deref() == Some(ns.as_str())))
        .map(|w| ObjectRef::from_obj(w.as_ref()))
        .collect()
}

/// Merges the namespace's BackendConfig, then the cluster-wide one, under the workload's pod
/// policy (nearest wins), from the watch cache.
fn with_backend_configs(mut w: Workload, ctx: &Context) -> Workload {
    let cfg = &ctx.cfg;
    let layers = [
        Some((w.namespace.clone(), cfg.namespaced_backend_config.clone())),
        cfg.global_backend_config
            .clone()
            .map(|n| (cfg.global_backend_config_namespace.clone(), n)),
    ];
    for (ns, name) in layers.into_iter().flatten() {
        if let Some(bc) = ctx.backend_configs.get(&ObjectRef::new(&name).within(&ns)) {
            bc.spec
                .fill(w.spec.pod.get_or_insert_with(Default::default));
        }
    }
    w
}

fn key<K: WorkloadResource>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::KIND.as_str(),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

async fn reconcile<K: WorkloadResource>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_inner(obj.as_ref(), &ctx).await;
    ctx.observe::<K>(started, &result);
    if result.is_ok() {
        ctx.succeeded(&key(obj.as_ref()));
    }
    result
}

fn error_policy<K: WorkloadResource>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff(&key(obj.as_ref()));
    tracing::warn!(kind = K::KIND.as_str(), name = %obj.name_any(), error = %err, ?delay, "reconcile failed");
    Action::requeue(delay)
}

#[tracing::instrument(skip_all, fields(kind = K::KIND.as_str(), ns = obj.namespace().unwrap_or_default(), name = obj.name_any()))]
async fn reconcile_inner<K: WorkloadResource>(obj: &K, ctx: &Context) -> Result<Action, Error> {
    let ns = obj.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<K> = ctx.api(&ns);
    if obj.meta().deletion_timestamp.is_some() {
        return finalize(obj, &api, ctx).await;
    }
    let generation = obj.meta().generation;
    let selector = labels::selector_string(K::KIND, &obj.name_any());
    let report = obj.validate();
    if !report.is_valid() {
        let new = status::invalid(
            obj.status(),
            generation,
            selector,
            &report,
            &conditions::now(),
        );
        if was_invalid(obj.status()) != Some(true) {
            ctx.event(
                obj,
                EventType::Warning,
                "InvalidSpec",
                status::invalid_message(&report),
            )
            .await;
        }
        write_status(obj, &api, ctx, new).await?;
        return Ok(Action::await_change());
    }
    sync_finalizer(obj, &api, ctx).await?;
    let w = with_backend_configs(Workload::of(obj), ctx);
    let config_hash = config_hash(&w, ctx).await;
    let desired = children::desired(&w, &ctx.cfg, &ctx.caps, Some(&config_hash));
    let mut apply_error = None;
    for child in &desired.apply {
        if let Err(e) = ctx.apply(&ns, child).await {
            apply_error = Some(e);
            break;
        }
    }
    if apply_error.is_none() {
        for (kind, name) in &desired.absent {
            ctx.delete_if_exists(&ns, kind, name).await?;
        }
    }
    let sts_name = labels::statefulset_name(K::KIND, &obj.name_any());
    let sts = ctx.statefulsets.get(&ObjectRef::new(&sts_name).within(&ns));
    let new = status::workload(
        obj.status(),
        generation,
        w.replicas(),
        selector,
        sts.as_deref(),
        apply_error.as_ref().map(ToString::to_string).as_deref(),
        &conditions::now(),
    );
    announce(obj, ctx, &new, apply_error.as_ref()).await;
    write_status(obj, &api, ctx, new).await?;
    match apply_error {
        Some(e) => Err(e),
        // Re-check children read through the short-lived cache now and then (drift repair);
        // a re-check that finds nothing to change writes nothing.
        None => Ok(Action::requeue(Duration::from_secs(600))),
    }
}

fn was_invalid(s: Option<&WorkloadStatus>) -> Option<bool> {
    let c = s?.conditions.as_ref()?.iter().find(|c| c.type_ == READY)?;
    Some(c.reason == "InvalidSpec")
}

/// Events for Ready transitions and apply failures.
async fn announce<K: WorkloadResource>(
    obj: &K,
    ctx: &Context,
    new: &WorkloadStatus,
    err: Option<&Error>,
) {
    if let Some(e) = err {
        ctx.event(obj, EventType::Warning, "ChildApplyFailed", e.to_string())
            .await;
    }
    let before = conditions::is_true(obj.status().and_then(|s| s.conditions.as_deref()), READY);
    let after = conditions::is_true(new.conditions.as_deref(), READY);
    if before != after && (before.is_some() || after == Some(true)) {
        let ready = after == Some(true);
        let reason = if ready { "Ready" } else { "NotReady" };
        let msg = format!(
            "{}/{} replicas ready",
            new.ready_replicas.unwrap_or(0),
            new.replicas.unwrap_or(0)
        );
        ctx.event(obj, event_type(ready), reason, msg).await;
    }
}

/// Writes status with server-side apply, only when it differs from what is stored.
async fn write_status<K: WorkloadResource>(
    obj: &K,
    api: &Api<K>,
    ctx: &Context,
    new: WorkloadStatus,
) -> Result<(), Error> {
    if obj.status() == Some(&new) {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": new,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(labels::MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::StatusWriteFailed)?;
    ctx.metrics.write(K::KIND.as_str(), "status");
    Ok(())
}

/// Hash of every referenced ConfigMap and Secret, from the watch caches.
async fn config_hash(w: &Workload, ctx: &Context) -> String {
    let mut data = BTreeMap::new();
    for (kind, name) in &w.references {
        let r = |n: &str| (n.to_string(), w.namespace.clone());
        let content = if *kind == RefKind::Secret {
            let (n, ns) = r(name);
            ctx.secrets.get(&ObjectRef::new(&n).within(&ns)).map(|s| {
                let mut m: BTreeMap<String, Vec<u8>> = s
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect();
                for (k, v) in s.string_data.iter().flatten() {
                    m.insert(k.clone(), v.clone().into_bytes());
                }
                m
            })
        } else {
            let (n, ns) = r(name);
            ctx.config_maps
                .get(&ObjectRef::new(&n).within(&ns))
                .map(|c| {
                    let mut m: BTreeMap<String, Vec<u8>> = c
                        .data
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                        .collect();
                    for (k, v) in c.binary_data.iter().flatten() {
                        m.insert(k.clone(), v.0.clone());
                    }
                    m
                })
        };
        data.insert(format!("{}/{name}", kind.as_str()), content);
    }
    hash::of_data(&data)
}

fn wants_cleanup<K: WorkloadResource>(obj: &K) -> bool {
    obj.consumer().and_then(|c| c.cleanup_subscription) == Some(true)
}

fn has_finalizer<K: WorkloadResource>(obj: &K) -> bool {
    obj.finalizers().iter().any(|f| f == labels::FINALIZER)
}

/// A finalizer only while there is cleanup to do.
async fn sync_finalizer<K: WorkloadResource>(
    obj: &K,
    api: &Api<K>,
    ctx: &Context,
) -> Result<(), Error> {
    let (want, has) = (wants_cleanup(obj), has_finalizer(obj));
    if want == has {
        return Ok(());
    }
    let patch = if want {
        match obj.meta().finalizers.as_ref() {
            None => {
                json!([{"op": "add", "path": "/metadata/finalizers", "value": [labels::FINALIZER]}])
            }
            Some(_) => {
                json!([{"op": "add", "path": "/metadata/finalizers/-", "value": labels::FINALIZER}])
            }
        }
    } else {
        remove_finalizer_patch(obj)
    };
    patch_json(obj, api, patch).await?;
    ctx.metrics.write(K::KIND.as_str(), "finalizer");
    Ok(())
}

fn remove_finalizer_patch<K: WorkloadResource>(obj: &K) -> serde_json::Value {
    let i = obj
        .finalizers()
        .iter()
        .position(|f| f == labels::FINALIZER)
        .unwrap_or(0);
    json!([
        {"op": "test", "path": format!("/metadata/finalizers/{i}"), "value": labels::FINALIZER},
        {"op": "remove", "path": format!("/metadata/finalizers/{i}")},
    ])
}

async fn patch_json<K: WorkloadResource>(
    obj: &K,
    api: &Api<K>,
    patch: serde_json::Value,
) -> Result<(), Error> {
    let patch: json_patch::Patch = serde_json::from_value(patch).expect("a well-formed JSON patch");
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::<()>::Json(patch),
    )
    .await
    .map_err(Error::FinalizerFailed)?;
    Ok(())
}

/// Deletion: clean the subscription up (retried with backoff), give up after the configured
/// time with an Event, and drop the finalizer either way. Children go by garbage collection.
async fn finalize<K: WorkloadResource>(
    obj: &K,
    api: &Api<K>,
    ctx: &Context,
) -> Result<Action, Error> {
    if !has_finalizer(obj) {
        return Ok(Action::await_change());
    }
    let w = Workload::of(obj);
    let outcome = clean_up(&w, ctx).await;
    match outcome {
        Ok(()) => {
            ctx.event(
                obj,
                EventType::Normal,
                "SubscriptionDeleted",
                "subscription cleaned up".into(),
            )
            .await;
        }
        Err(e) => {
            let since = obj.meta().deletion_timestamp.as_ref().map_or(0, |t| {
                k8s_openapi::jiff::Timestamp::now().as_second() - t.0.as_second()
            });
            if since < ctx.cfg.cleanup_timeout_secs as i64 {
                return Err(Error::CleanupFailed(e));
            }
            let note = format!("gave up cleaning the subscription up after {since}s: {e}");
            ctx.event(obj, EventType::Warning, "CleanupGaveUp", note)
                .await;
        }
    }
    patch_json(obj, api, remove_finalizer_patch(obj)).await?;
    ctx.metrics.write(K::KIND.as_str(), "finalizer");
    Ok(Action::await_change())
}

async fn clean_up(w: &Workload, ctx: &Context) -> Result<(), String> {
    let pulsar = w.spec.messaging.pulsar.clone().unwrap_or_default();
    let cm = pulsar
        .pulsar_config
        .ok_or("no pulsar.pulsarConfig to find the admin URL")?;
    let web = ctx
        .config_maps
        .get(&ObjectRef::new(&cm).within(&w.namespace))
        .and_then(|c| c.data.as_ref()?.get("webServiceURL").cloned())
        .ok_or_else(|| format!("ConfigMap {cm} has no webServiceURL"))?;
    let token = pulsar.auth_secret.as_ref().and_then(|s| {
        let secret = ctx.secrets.get(&ObjectRef::new(s).within(&w.namespace))?;
        let params = secret
            .data
            .as_ref()?
            .get("clientAuthenticationParameters")?;
        let params = String::from_utf8(params.0.clone()).ok()?;
        params.strip_prefix("token:").map(str::to_string)
    });
    let urls = cleanup::subscription_urls(&web, w);
    cleanup::delete(&urls, token.as_deref()).await
}
