//! What a function sees of one input message, and what an invocation asks the runner to do.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// One input message as handed to a function.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Record {
    /// Topic (partition) it came from.
    pub topic: String,
    /// `ledger:entry:partition:batch`, as Pulsar prints message ids.
    pub message_id: String,
    /// Partition key.
    pub key: Option<String>,
    /// User properties.
    pub properties: BTreeMap<String, String>,
    /// Event time (ms since the epoch), when the producer set one.
    pub event_time: Option<u64>,
    /// Publish time (ms since the epoch).
    pub publish_time: u64,
    /// The bytes.
    #[serde(skip)]
    pub payload: Vec<u8>,
}

/// A message the function publishes through its context (`context.publish`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Publish {
    /// Destination topic.
    pub topic: String,
    /// The bytes.
    pub payload: Vec<u8>,
    /// Partition key.
    pub key: Option<String>,
    /// Properties.
    pub properties: BTreeMap<String, String>,
}

/// Log levels a function can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

impl Level {
    /// Parses a level name (any case; Python's `warning` and `critical` too).
    pub fn parse(s: &str) -> Level {
        match s.to_ascii_lowercase().as_str() {
            "debug" | "trace" => Level::Debug,
            "warn" | "warning" => Level::Warn,
            "error" | "critical" | "fatal" => Level::Error,
            _ => Level::Info,
        }
    }

    /// Upper-case name, for the log topic.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// Everything one invocation produced besides its return value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    /// The value for the output topic (`None`: nothing is published, as in Pulsar).
    pub output: Option<Vec<u8>>,
    /// Messages for other topics.
    pub publishes: Vec<Publish>,
    /// Log lines.
    pub logs: Vec<(Level, String)>,
    /// `record_metric` calls.
    pub metrics: Vec<(String, f64)>,
    /// The function acknowledged the message itself (manual guarantee).
    pub acked: bool,
}

/// Named counters (`incr_counter`/`get_counter`), kept in memory for the instance's life.
#[derive(Clone, Debug, Default)]
pub struct Counters(Arc<Mutex<HashMap<String, i64>>>);

impl Counters {
    /// Adds `amount` and returns the new value.
    pub fn incr(&self, key: &str, amount: i64) -> i64 {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let v = map.entry(key.to_string()).or_insert(0);
        *v += amount;
        *v
    }

    /// The current value (0 when never incremented).
    pub fn get(&self, key: &str) -> i64 {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).copied().unwrap_or(0)
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> HashMap<String, i64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
