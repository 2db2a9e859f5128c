//! The broker: topics, partitioned-topic metadata and schemas.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use pulsar::proto::Schema;
use tokio::sync::Semaphore;

use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::metrics::Metrics;
use crate::topic::Topic;
use crate::topic_name::TopicName;

/// Shared broker state, one per process.
#[derive(Debug)]
pub struct Broker {
    /// Settings.
    pub config: BrokerConfig,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Bytes of not-yet-durable publishes, over all connections.
    pub pending_global: Arc<Semaphore>,
    /// Bytes of dispatched messages not yet written to sockets, over all connections.
    pub outbound_global: Arc<std::sync::atomic::AtomicUsize>,
    topics: Mutex<BTreeMap<TopicName, Slot>>,
    partitioned: Mutex<BTreeMap<TopicName, u32>>,
    schemas: Mutex<HashMap<TopicName, Vec<Schema>>>,
    ids: AtomicU64,
    instance: String,
}

/// A known topic partition: open with its files, or closed on disk.
#[derive(Debug)]
enum Slot {
    Open(Arc<Topic>),
    /// Its writer is finishing; the next use must wait (clients retry ServiceNotReady).
    Closing,
    /// On disk only; opened on next use. Keeps the figures it had for metrics.
    Closed {
        backlog: i64,
        size: i64,
    },
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A topic's schema version as clients see it (8 bytes, big endian).
pub fn schema_version(v: usize) -> Vec<u8> {
    (v as u64).to_be_bytes().to_vec()
}

impl Broker {
    /// Opens the data directory; its topics open on first use.
    pub fn open(config: BrokerConfig) -> Result<Arc<Broker>> {
        let topics_dir = config.data_dir.join("topics");
        std::fs::create_dir_all(&topics_dir).map_err(|e| BrokerError::io(&topics_dir, e))?;
        let metrics = Arc::new(Metrics::default());
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let broker = Arc::new(Broker {
            pending_global: Arc::new(Semaphore::new(config.max_pending_bytes_global)),
            outbound_global: Arc::default(),
            metrics,
            topics: Mutex::new(BTreeMap::new()),
            partitioned: Mutex::new(read_json(&config.data_dir.join("partitioned-topics.json"))?),
            schemas: Mutex::new(HashMap::new()),
            ids: AtomicU64::new(0),
            instance: format!("{started:x}"),
            config,
        });
        for name in broker.stored_topics()? {
            lock(&broker.topics).insert(
                name,
                Slot::Closed {
                    backlog: 0,
                    size: 0,
                },
            );
        }
        broker.load_schemas()?;
        Ok(broker)
    }

    /// A process-unique id (connections, generated names).
    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// A producer name that no earlier run of this broker handed out.
    pub fn generate_producer_name(&self) -> String {
        format!("fmesh-{}-{}", self.instance, self.next_id())
    }

    fn stored_topics(&self) -> Result<Vec<TopicName>> {
        let root = self.config.data_dir.join("topics");
        let mut out = Vec::new();
        for tenant in subdirs(&root)? {
            for ns in subdirs(&root.join(&tenant))? {
                for local in subdirs(&root.join(&tenant).join(&ns))? {
                    if let Ok(t) = TopicName::from_storage(&tenant, &ns, &local) {
                        out.push(t);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The partition (or plain topic), created on first use when allowed.
    pub fn topic(&self, name: &TopicName, create: bool) -> Result<Arc<Topic>> {
        let known = match lock(&self.topics).get(name) {
            Some(Slot::Open(t)) => return Ok(t.clone()),
            Some(Slot::Closing) => return Err(closing(name)),
            Some(Slot::Closed { .. }) => true,
            None => false,
        };
        if !known {
            let is_partition_of_known = name
                .partition_of()
                .is_some_and(|(base, i)| self.partitions(&base).is_some_and(|n| i < n));
            if !(is_partition_of_known || create && self.config.auto_create_topics) {
                return Err(BrokerError::TopicNotFound(name.to_string()));
            }
            if self.partitions(name).is_some() {
                return Err(BrokerError::Protocol(format!(
                    "{name} is partitioned; use its partitions"
                )));
            }
        }
        let mut topics = lock(&self.topics);
        match topics.get(name) {
            Some(Slot::Open(t)) => return Ok(t.clone()),
            Some(Slot::Closing) => return Err(closing(name)),
            _ => {}
        }
        let t = Topic::open(name.clone(), &self.config, self.metrics.clone())?;
        topics.insert(name.clone(), Slot::Open(t.clone()));
        self.metrics.open_topics.inc();
        Ok(t)
    }

    /// Whether the partition exists (open or on disk).
    pub fn topic_exists(&self, name: &TopicName) -> bool {
        lock(&self.topics).contains_key(name)
    }

    /// An existing partition, opened if it was closed; never created.
    pub fn existing_topic(&self, name: &TopicName) -> Result<Arc<Topic>> {
        if !self.topic_exists(name) {
            return Err(BrokerError::TopicNotFound(name.to_string()));
        }
        self.topic(name, false)
    }

    /// Every open partition.
    pub fn all_topics(&self) -> Vec<Arc<Topic>> {
        lock(&self.topics)
            .values()
            .filter_map(|s| match s {
                Slot::Open(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    /// Closes the partitions nobody has used for `idle` (their files close; the
    /// next use reopens them from disk). A topic is used while a producer or
    /// consumer is attached or anything besides this map holds it.
    pub async fn close_idle_topics(&self, idle: Duration) {
        let now = Instant::now();
        let mut closing = Vec::new();
        {
            let mut topics = lock(&self.topics);
            for (name, slot) in topics.iter_mut() {
                let Slot::Open(t) = slot else { continue };
                let held_elsewhere = Arc::strong_count(t) > 1;
                if t.unused_for(held_elsewhere, now) < idle {
                    continue;
                }
                let (backlog, size) = t.backlog_and_size();
                if let Slot::Open(t) = std::mem::replace(slot, Slot::Closing) {
                    closing.push((name.clone(), t, backlog, size));
                }
            }
        }
        for (name, t, backlog, size) in closing {
            t.close().await;
            tracing::debug!(topic = %name, "closed idle topic");
            lock(&self.topics).insert(name, Slot::Closed { backlog, size });
            self.metrics.open_topics.dec();
        }
    }

    /// Partition count of a partitioned topic.
    pub fn partitions(&self, name: &TopicName) -> Option<u32> {
        lock(&self.partitioned).get(name).copied()
    }

    /// All partitioned topics.
    pub fn partitioned_topics(&self) -> Vec<(TopicName, u32)> {
        lock(&self.partitioned)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Creates a partitioned topic (and its partitions).
    pub fn create_partitioned(&self, name: &TopicName, partitions: u32) -> Result<()> {
        if partitions == 0 || name.partition_of().is_some() {
            return Err(BrokerError::InvalidTopic(name.to_string()));
        }
        {
            let mut p = lock(&self.partitioned);
            if p.contains_key(name) || lock(&self.topics).contains_key(name) {
                return Err(BrokerError::ProducerBusy(format!("{name} already exists")));
            }
            p.insert(name.clone(), partitions);
            write_json(&self.config.data_dir.join("partitioned-topics.json"), &p)?;
        }
        for i in 0..partitions {
            self.topic(&name.partition(i), true)?;
        }
        Ok(())
    }

    /// Deletes a topic (all partitions when partitioned) and its files.
    pub async fn delete_topic(&self, name: &TopicName) -> Result<()> {
        let parts: Vec<TopicName> = match self.partitions(name) {
            Some(n) => (0..n).map(|i| name.partition(i)).collect(),
            None => vec![name.clone()],
        };
        let mut found = false;
        for p in parts {
            let slot = {
                let mut topics = lock(&self.topics);
                if let Some(Slot::Closing) = topics.get(&p) {
                    return Err(closing(&p));
                }
                topics.remove(&p)
            };
            if let Some(slot) = slot {
                found = true;
                if let Slot::Open(t) = slot {
                    self.metrics.open_topics.dec();
                    // Wait for its writer unless a client still holds it (it then fails on its own).
                    if Arc::strong_count(&t) == 1 {
                        t.close().await;
                    }
                }
                let dir = self.config.data_dir.join("topics").join(p.storage_path());
                std::fs::remove_dir_all(&dir).map_err(|e| BrokerError::io(&dir, e))?;
            }
        }
        let mut p = lock(&self.partitioned);
        if p.remove(name).is_some() {
            found = true;
            write_json(&self.config.data_dir.join("partitioned-topics.json"), &p)?;
        }
        if found {
            Ok(())
        } else {
            Err(BrokerError::TopicNotFound(name.to_string()))
        }
    }

    /// Topics of a namespace as clients list them (partitions by name).
    /// `domain` limits the answer to `persistent` or `non-persistent` topics.
    pub fn topics_of_namespace(&self, tenant: &str, ns: &str, domain: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = lock(&self.topics)
            .keys()
            .filter(|t| t.tenant == tenant && t.namespace == ns)
            .filter(|t| domain.is_none_or(|d| t.domain == d))
            .map(|t| t.to_string())
            .collect();
        out.sort();
        out
    }

    fn schema_path(&self, name: &TopicName) -> PathBuf {
        self.config
            .data_dir
            .join("schemas")
            .join(name.storage_path())
    }

    fn load_schemas(&self) -> Result<()> {
        let root = self.config.data_dir.join("schemas");
        for tenant in subdirs(&root)? {
            for ns in subdirs(&root.join(&tenant))? {
                let dir = root.join(&tenant).join(&ns);
                let rd = std::fs::read_dir(&dir).map_err(|e| BrokerError::io(&dir, e))?;
                for ent in rd.flatten() {
                    let local = ent.file_name().to_string_lossy().to_string();
                    let Ok(name) = TopicName::from_storage(&tenant, &ns, &local) else {
                        continue;
                    };
                    let bytes =
                        std::fs::read(ent.path()).map_err(|e| BrokerError::io(ent.path(), e))?;
                    let versions = decode_schemas(&bytes)?;
                    lock(&self.schemas).insert(name, versions);
                }
            }
        }
        Ok(())
    }

    /// Registers `schema` for a topic (partitions share their topic's schemas)
    /// and returns its version.
    pub fn register_schema(&self, topic: &TopicName, schema: &Schema) -> Result<usize> {
        let key = topic
            .partition_of()
            .map_or_else(|| topic.clone(), |(b, _)| b);
        let mut all = lock(&self.schemas);
        let versions = all.entry(key.clone()).or_default();
        if let Some(v) = versions.iter().position(|s| s == schema) {
            return Ok(v);
        }
        if let Some(last) = versions.last()
            && last.r#type != schema.r#type
        {
            return Err(BrokerError::IncompatibleSchema(format!(
                "{key} has schema type {}, got {}",
                last.r#type, schema.r#type
            )));
        }
        versions.push(schema.clone());
        let path = self.schema_path(&key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BrokerError::io(dir, e))?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, encode_schemas(versions))
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| BrokerError::io(&path, e))?;
        Ok(versions.len() - 1)
    }

    /// A schema version of a topic (the latest when `version` is None).
    pub fn schema(&self, topic: &TopicName, version: Option<usize>) -> Option<(Schema, usize)> {
        let key = topic
            .partition_of()
            .map_or_else(|| topic.clone(), |(b, _)| b);
        let all = lock(&self.schemas);
        let versions = all.get(&key)?;
        let v = version.unwrap_or(versions.len().checked_sub(1)?);
        versions.get(v).map(|s| (s.clone(), v))
    }

    /// Starts the periodic maintenance (rates, retention); runs until the runtime stops.
    pub fn spawn_maintenance(self: &Arc<Self>) {
        let broker = Arc::downgrade(self);
        tokio::spawn(async move {
            let every = Duration::from_secs(5);
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(b) = broker.upgrade() else { return };
                for t in b.all_topics() {
                    t.maintain(every, b.config.retention);
                }
                if !b.config.topic_idle_close.is_zero() {
                    b.close_idle_topics(b.config.topic_idle_close).await;
                }
                let (mut backlog, mut size) = (0i64, 0i64);
                for slot in lock(&b.topics).values() {
                    let (bl, sz) = match slot {
                        Slot::Open(t) => t.backlog_and_size(),
                        Slot::Closed { backlog, size } => (*backlog, *size),
                        Slot::Closing => (0, 0),
                    };
                    backlog += bl;
                    size += sz;
                }
                b.metrics.backlog.set(backlog);
                b.metrics.storage_bytes.set(size);
            }
        });
    }
}

fn closing(name: &TopicName) -> BrokerError {
    BrokerError::NotReady(format!("{name} is closing after being idle; retry"))
}

fn encode_schemas(versions: &[Schema]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in versions {
        let body = s.encode_to_vec();
        crate::storage::record::frame(&body, &mut out);
    }
    out
}

fn decode_schemas(bytes: &[u8]) -> Result<Vec<Schema>> {
    crate::storage::record::scan(bytes, 16 << 20)
        .records
        .iter()
        .map(|(_, b)| Schema::decode(*b).map_err(|e| BrokerError::Corrupt(format!("schema: {e}"))))
        .collect()
}

fn subdirs(dir: &std::path::Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BrokerError::io(dir, e)),
    };
    Ok(rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect())
}

fn read_json(path: &std::path::Path) -> Result<BTreeMap<TopicName, u32>> {
    let raw: BTreeMap<String, u32> = match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| BrokerError::Corrupt(format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(BrokerError::io(path, e)),
    };
    raw.into_iter()
        .map(|(k, v)| Ok((TopicName::parse(&k)?, v)))
        .collect()
}

fn write_json(path: &std::path::Path, map: &BTreeMap<TopicName, u32>) -> Result<()> {
    let raw: BTreeMap<String, u32> = map.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let body = serde_json::to_vec_pretty(&raw).map_err(|e| BrokerError::Corrupt(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| BrokerError::io(path, e))
}
