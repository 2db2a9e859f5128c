//! [`References`] backed by the cluster: kube-runtime reflectors over Secrets, ConfigMaps and
//! Namespace metadata. Secret and ConfigMap values are replaced by empty strings before they
//! enter the cache (annotations and managedFields, which can echo values, are dropped too), so
//! the cache holds key names only. Until a cache has synced, and on a cache miss (the object may
//! have been created a moment ago), a direct GET answers; its values are dropped at once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ObjectMeta};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};

use crate::metrics::Metrics;
use crate::references::{Lookup, References};

/// A reflector's store and whether it has synced.
struct Cache<K: Resource + Clone + 'static>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store: Store<K>,
    synced: Arc<AtomicBool>,
}

impl<K> Cache<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Default,
{
    fn get(&self, namespace: Option<&str>, name: &str) -> CacheAnswer<K> {
        if !self.synced.load(Ordering::Acquire) {
            return CacheAnswer::NotSynced;
        }
        let mut key = ObjectRef::<K>::new_with(name, Default::default());
        if let Some(ns) = namespace {
            key = key.within(ns);
        }
        match self.store.get(&key) {
            Some(obj) => CacheAnswer::Hit(obj),
            None => CacheAnswer::Miss,
        }
    }
}

enum CacheAnswer<K> {
    Hit(Arc<K>),
    Miss,
    NotSynced,
}

/// Cluster lookups through watched caches.
pub struct ClusterReferences {
    client: Client,
    secrets: Cache<Secret>,
    config_maps: Cache<ConfigMap>,
    namespaces: Cache<PartialObjectMeta<Namespace>>,
    metrics: Arc<Metrics>,
}

impl ClusterReferences {
    /// Starts the three reflectors (on the current tokio runtime) and returns at once.
    pub fn start(client: Client, metrics: Arc<Metrics>) -> Self {
        let secrets = spawn_cache(
            "secrets",
            watcher(
                Api::<Secret>::all(client.clone()),
                watcher::Config::default().any_semantic(),
            )
            .default_backoff()
            .modify(strip_secret),
        );
        let config_maps = spawn_cache(
            "configmaps",
            watcher(
                Api::<ConfigMap>::all(client.clone()),
                watcher::Config::default().any_semantic(),
            )
            .default_backoff()
            .modify(strip_config_map),
        );
        let namespaces = spawn_cache(
            "namespaces",
            watcher(
                Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
                watcher::Config::default().any_semantic(),
            )
            .default_backoff(),
        );
        ClusterReferences {
            client,
            secrets,
            config_maps,
            namespaces,
            metrics,
        }
    }

    /// Whether every cache has synced (lookups then rarely leave the process).
    pub fn synced(&self) -> bool {
        self.secrets.synced.load(Ordering::Acquire)
            && self.config_maps.synced.load(Ordering::Acquire)
            && self.namespaces.synced.load(Ordering::Acquire)
    }
}

fn spawn_cache<K, S>(what: &'static str, stream: S) -> Cache<K>
where
    K: Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Default + Send + Sync,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let synced = Arc::new(AtomicBool::new(false));
    tokio::spawn(stream.reflect(writer).for_each(move |event| async move {
        if let Err(e) = event {
            tracing::warn!(cache = what, error = %e, "watch error; retrying with backoff");
        }
    }));
    let (ready_store, flag) = (store.clone(), synced.clone());
    tokio::spawn(async move {
        if ready_store.wait_until_ready().await.is_ok() {
            flag.store(true, Ordering::Release);
            tracing::info!(cache = what, objects = ready_store.len(), "cache synced");
        }
    });
    Cache { store, synced }
}

fn strip_meta(meta: &mut ObjectMeta) {
    meta.annotations = None;
    meta.managed_fields = None;
    meta.labels = None;
}

fn strip_secret(s: &mut Secret) {
    strip_meta(&mut s.metadata);
    if let Some(data) = &mut s.data {
        for v in data.values_mut() {
            *v = ByteString(Vec::new());
        }
    }
    s.string_data = None;
}

fn strip_config_map(c: &mut ConfigMap) {
    strip_meta(&mut c.metadata);
    if let Some(data) = &mut c.data {
        for v in data.values_mut() {
            v.clear();
        }
    }
    if let Some(data) = &mut c.binary_data {
        for v in data.values_mut() {
            *v = ByteString(Vec::new());
        }
    }
}

fn secret_keys(s: &Secret) -> BTreeSet<String> {
    s.data
        .iter()
        .flat_map(|d| d.keys())
        .chain(s.string_data.iter().flat_map(|d| d.keys()))
        .cloned()
        .collect()
}

fn config_map_keys(c: &ConfigMap) -> BTreeSet<String> {
    c.data
        .iter()
        .flat_map(|d| d.keys())
        .chain(c.binary_data.iter().flat_map(|d| d.keys()))
        .cloned()
        .collect()
}

impl ClusterReferences {
    async fn direct<K>(
        &self,
        namespace: &str,
        name: &str,
        keys: fn(&K) -> BTreeSet<String>,
    ) -> Lookup
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let outcome = match api.get_opt(name).await {
            Ok(Some(obj)) => Lookup::Found(keys(&obj)),
            Ok(None) => Lookup::Missing,
            Err(kube::Error::Api(s)) if s.code == 403 => {
                Lookup::Failed(format!("the webhook may not read it ({})", s.message))
            }
            Err(e) => Lookup::Failed(e.to_string()),
        };
        self.metrics.lookup("direct", outcome_name(&outcome));
        outcome
    }
}

fn outcome_name(l: &Lookup) -> &'static str {
    match l {
        Lookup::Found(_) => "found",
        Lookup::Missing => "missing",
        Lookup::Failed(_) => "failed",
    }
}

impl References for ClusterReferences {
    async fn secret(&self, namespace: &str, name: &str) -> Lookup {
        match self.secrets.get(Some(namespace), name) {
            CacheAnswer::Hit(s) => {
                self.metrics.lookup("cache", "found");
                Lookup::Found(secret_keys(&s))
            }
            CacheAnswer::Miss | CacheAnswer::NotSynced => {
                self.direct::<Secret>(namespace, name, secret_keys).await
            }
        }
    }

    async fn config_map(&self, namespace: &str, name: &str) -> Lookup {
        match self.config_maps.get(Some(namespace), name) {
            CacheAnswer::Hit(c) => {
                self.metrics.lookup("cache", "found");
                Lookup::Found(config_map_keys(&c))
            }
            CacheAnswer::Miss | CacheAnswer::NotSynced => {
                self.direct::<ConfigMap>(namespace, name, config_map_keys)
                    .await
            }
        }
    }

    async fn namespace_annotation(&self, namespace: &str, key: &str) -> Option<String> {
        let meta = match self.namespaces.get(None, namespace) {
            CacheAnswer::Hit(ns) => Some(ns.metadata.clone()),
            CacheAnswer::Miss | CacheAnswer::NotSynced => {
                Api::<Namespace>::all(self.client.clone())
                    .get_metadata_opt(namespace)
                    .await
                    .ok()
                    .flatten()
                    .map(|m| m.metadata)
            }
        };
        meta?.annotations?.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripping_keeps_key_names_only() {
        let mut s: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"pw\":\"c2VjcmV0\"}}"}},
            "data": {"pw": "c2VjcmV0", "user": "dQ=="}
        }))
        .unwrap();
        strip_secret(&mut s);
        assert_eq!(
            secret_keys(&s),
            BTreeSet::from(["pw".to_string(), "user".to_string()])
        );
        let dump = format!("{s:?}");
        assert!(
            !dump.contains("c2VjcmV0") && !dump.contains("115, 101, 99"),
            "{dump}"
        );
        assert!(s.metadata.annotations.is_none());
    }
}
