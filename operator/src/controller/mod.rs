//! The reconcilers and what they share: the context (client, settings, caches of the
//! ConfigMaps, Secrets and StatefulSets they read), server-side apply that skips unchanged
//! objects, events, and exponential backoff.

mod mesh;
mod workload;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Secret};
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::capabilities::Capabilities;
use crate::children::{Child, ChildKind};
use crate::config::OperatorConfig;
use crate::error::Error;
use crate::labels;
use crate::metrics::{FailureLabels, KindLabel, Metrics};

/// How long a remembered "applied with this hash" stays trusted before the object is read again
/// (a backstop: watches of the children forget what someone else changed or deleted).
const APPLIED_CACHE_TTL: Duration = Duration::from_secs(300);
/// Longest backoff between failed reconciles.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What every reconcile gets.
pub struct Context {
    pub client: Client,
    pub cfg: OperatorConfig,
    pub caps: Capabilities,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub secrets: Store<Secret>,
    pub config_maps: Store<ConfigMap>,
    pub statefulsets: Store<StatefulSet>,
    pub backend_configs: Store<fmesh_crds::BackendConfig>,
    applied: Mutex<HashMap<String, (String, Instant)>>,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// An `Api` in the watched scope for a namespaced kind.
    fn api<K>(&self, ns: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Server-side applies `child` unless it was already applied with the same content hash
    /// (read from the StatefulSet cache, a short-lived memory, or a GET). Returns whether a
    /// write happened.
    async fn apply(&self, ns: &str, child: &Child) -> Result<bool, Error> {
        let key = child_key(&child.kind, ns, &child.name);
        let want = child.applied_hash();
        if self.current_hash(ns, child, &key).await?.as_deref() == Some(want) {
            return Ok(false);
        }
        let ar = child.kind.api_resource();
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
        let pp = PatchParams::apply(labels::MANAGER).force();
        api.patch(&child.name, &pp, &Patch::Apply(&child.object))
            .await
            .map_err(|source| Error::ChildApplyFailed {
                kind: child.kind.kind.clone(),
                name: child.name.clone(),
                source,
            })?;
        self.metrics.write(&child.kind.kind, "apply");
        self.remember(key, want);
        Ok(true)
    }

    async fn current_hash(
        &self,
        ns: &str,
        child: &Child,
        key: &str,
    ) -> Result<Option<String>, Error> {
        if child.kind.kind == "StatefulSet" {
            let r = reflector::ObjectRef::new(&child.name).within(ns);
            return Ok(self
                .statefulsets
                .get(&r)
                .and_then(|s| applied_hash(s.meta())));
        }
        if let Some((h, at)) = self.applied.lock().expect("not poisoned").get(key)
            && at.elapsed() < APPLIED_CACHE_TTL
        {
            return Ok(Some(h.clone()));
        }
        let ar = child.kind.api_resource();
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
        let found = api
            .get_opt(&child.name)
            .await
            .map_err(|source| Error::ReadFailed {
                what: format!("{} {}", child.kind.kind, child.name),
                source,
            })?;
        let h = found.as_ref().and_then(|o| applied_hash(&o.metadata));
        if let Some(h) = &h {
            self.remember(key.to_string(), h);
        }
        Ok(h)
    }

    fn remember(&self, key: String, hash: &str) {
        self.applied
            .lock()
            .expect("not poisoned")
            .insert(key, (hash.to_string(), Instant::now()));
    }

    /// Deletes an optional child if it exists (a read first, so a steady state writes nothing).
    async fn delete_if_exists(
        &self,
        ns: &str,
        kind: &crate::children::ChildKind,
        name: &str,
    ) -> Result<(), Error> {
        let key = child_key(kind, ns, name);
        if let Some((h, at)) = self.applied.lock().expect("not poisoned").get(&key)
            && h.is_empty()
            && at.elapsed() < APPLIED_CACHE_TTL
        {
            return Ok(());
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), ns, &kind.api_resource());
        let read = |source| Error::ReadFailed {
            what: format!("{} {name}", kind.kind),
            source,
        };
        if api.get_opt(name).await.map_err(read)?.is_some() {
            api.delete(name, &DeleteParams::background())
                .await
                .map_err(|source| Error::ChildDeleteFailed {
                    kind: kind.kind.clone(),
                    name: name.into(),
                    source,
                })?;
            self.metrics.write(&kind.kind, "delete");
        }
        self.remember(key, "");
        Ok(())
    }

    /// Keeps the memory of applied children true to what a watch of their kind saw: a child
    /// someone else changed (another hash), created or deleted is forgotten, so that the
    /// reconcile this event triggers reads it again and repairs it. The operator's own applies
    /// come back with the hash it remembers and are kept.
    fn observe_child(&self, kind: &ChildKind, event: &watcher::Event<DynamicObject>) {
        let (obj, deleted) = match event {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (o, false),
            watcher::Event::Delete(o) => (o, true),
            watcher::Event::Init | watcher::Event::InitDone => return,
        };
        let key = child_key(kind, &obj.namespace().unwrap_or_default(), &obj.name_any());
        let mut applied = self.applied.lock().expect("not poisoned");
        let stale = applied
            .get(&key)
            .is_some_and(|(h, _)| deleted || Some(h) != applied_hash(&obj.metadata).as_ref());
        if stale {
            applied.remove(&key);
        }
    }

    /// Publishes an Event about `obj`; failures are logged, never fatal.
    async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let reference = object_reference(obj);
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(truncate(note, 1000)),
            action: "Reconcile".into(),
            secondary: None,
        };
        match self.recorder.publish(&ev, &reference).await {
            Ok(()) => self.metrics.write("Event", "create"),
            Err(e) => tracing::warn!(error = %e, reason, "could not publish event"),
        }
    }

    fn succeeded(&self, key: &str) {
        self.failures.lock().expect("not poisoned").remove(key);
    }

    /// The next backoff for `key`: 1 s, 2 s, 4 s … capped at five minutes.
    fn backoff(&self, key: &str) -> Duration {
        let mut f = self.failures.lock().expect("not poisoned");
        let n = f.entry(key.to_string()).or_insert(0);
        *n = (*n + 1).min(16);
        Duration::from_secs(1u64 << (*n - 1).min(9)).min(MAX_BACKOFF)
    }

    fn observe<K: Resource<DynamicType = ()>>(
        &self,
        started: Instant,
        result: &Result<kube::runtime::controller::Action, Error>,
    ) {
        let kind = K::kind(&()).into_owned();
        self.metrics
            .reconciles
            .get_or_create(&KindLabel { kind: kind.clone() })
            .inc();
        self.metrics
            .duration
            .get_or_create(&KindLabel { kind: kind.clone() })
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = result {
            self.metrics
                .failures
                .get_or_create(&FailureLabels {
                    kind,
                    error: e.metric_label().into(),
                })
                .inc();
        }
    }
}

/// The key of a child in the memory of applied children.
fn child_key(kind: &ChildKind, ns: &str, name: &str) -> String {
    format!("{}/{}/{}/{}", kind.api_version, kind.kind, ns, name)
}

fn applied_hash(meta: &kube::api::ObjectMeta) -> Option<String> {
    meta.annotations
        .as_ref()?
        .get(labels::APPLIED_HASH)
        .cloned()
}

fn object_reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    obj.object_ref(&())
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A shared cache of `K` in the configured scope; controllers `subscribe` to its writer.
fn shared<K>(
    client: &Client,
    cfg: &OperatorConfig,
) -> (Store<K>, reflector::store::Writer<K>, Api<K>)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let api = scoped::<K>(client, cfg);
    let (reader, writer) = reflector::store_shared::<K>(1024);
    (reader, writer, api)
}

fn scoped<K>(client: &Client, cfg: &OperatorConfig) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match &cfg.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// [`scoped`] for a kind known at run time.
fn scoped_dynamic(
    client: &Client,
    cfg: &OperatorConfig,
    ar: &kube::api::ApiResource,
) -> Api<DynamicObject> {
    match &cfg.watch_namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

/// Runs every controller until the process is asked to stop. `instance` names this replica in
/// Events.
pub async fn run(
    client: Client,
    cfg: OperatorConfig,
    caps: Capabilities,
    metrics: Arc<Metrics>,
    instance: Option<String>,
) {
    let (secrets, secret_writer, secret_api) = shared::<Secret>(&client, &cfg);
    let (config_maps, cm_writer, cm_api) = shared::<ConfigMap>(&client, &cfg);
    let (statefulsets, sts_writer, sts_api) = shared::<StatefulSet>(&client, &cfg);
    let (backend_configs, bc_writer, bc_api) = shared::<fmesh_crds::BackendConfig>(&client, &cfg);
    let subs =
        |w: &reflector::store::Writer<Secret>| w.subscribe().expect("a shared store subscribes");
    let secret_subs = [
        subs(&secret_writer),
        subs(&secret_writer),
        subs(&secret_writer),
    ];
    let cm_subs = [
        cm_writer.subscribe().expect("shared"),
        cm_writer.subscribe().expect("shared"),
        cm_writer.subscribe().expect("shared"),
    ];
    let bc_subs = [
        bc_writer.subscribe().expect("shared"),
        bc_writer.subscribe().expect("shared"),
        bc_writer.subscribe().expect("shared"),
    ];
    let sts_subs = [
        sts_writer.subscribe().expect("shared"),
        sts_writer.subscribe().expect("shared"),
        sts_writer.subscribe().expect("shared"),
    ];
    // Service-account tokens are never referenced by a workload; leave them out of the cache.
    let secret_wc = watcher::Config::default().fields("type!=kubernetes.io/service-account-token");
    let managed =
        watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER));
    let sources = futures::future::join4(
        reflector::reflector(
            secret_writer,
            watcher(secret_api, secret_wc).default_backoff(),
        )
        .for_each(|_| async {}),
        reflector::reflector(
            cm_writer,
            watcher(cm_api, watcher::Config::default()).default_backoff(),
        )
        .for_each(|_| async {}),
        reflector::reflector(sts_writer, watcher(sts_api, managed).default_backoff())
            .for_each(|_| async {}),
        reflector::reflector(
            bc_writer,
            watcher(bc_api, watcher::Config::default()).default_backoff(),
        )
        .for_each(|_| async {}),
    );
    let reporter = Reporter {
        controller: labels::MANAGER.into(),
        instance,
    };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        cfg: cfg.clone(),
        caps,
        metrics,
        secrets,
        config_maps,
        statefulsets,
        backend_configs,
        applied: Mutex::default(),
        failures: Mutex::default(),
    });
    let [s1, s2, s3] = secret_subs;
    let [c1, c2, c3] = cm_subs;
    let [t1, t2, t3] = sts_subs;
    let [b1, b2, b3] = bc_subs;
    let controllers = futures::future::join4(
        workload::run::<fmesh_crds::Function>(ctx.clone(), s1, c1, t1, b1),
        workload::run::<fmesh_crds::Source>(ctx.clone(), s2, c2, t2, b2),
        workload::run::<fmesh_crds::Sink>(ctx.clone(), s3, c3, t3, b3),
        mesh::run(ctx.clone()),
    );
    // Controllers start once every shared cache holds the cluster's state: a reconcile reading
    // an empty cache would rewrite unchanged children, and kube-runtime's readiness signal wakes
    // only the last of several waiters, so reconciles must not wait on it themselves.
    let started = async {
        // One waiter at a time per cache (see above); an Err means the reflector is gone,
        // which ends `sources` and with it this function.
        let _ = ctx.secrets.wait_until_ready().await;
        let _ = ctx.config_maps.wait_until_ready().await;
        let _ = ctx.statefulsets.wait_until_ready().await;
        let _ = ctx.backend_configs.wait_until_ready().await;
        tracing::debug!("caches synced, starting the controllers");
        controllers.await
    };
    tokio::select! {
        _ = sources => {}
        _ = started => {}
    }
}

/// The event type for a condition change.
fn event_type(good: bool) -> EventType {
    if good {
        EventType::Normal
    } else {
        EventType::Warning
    }
}
