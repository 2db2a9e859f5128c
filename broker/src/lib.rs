//! fmesh-broker: a small, durable broker speaking the Apache Pulsar binary
//! protocol, for local runs, CI, demos and the edge.
//!
//! Layout: [`codec`] frames, [`connection`] commands, [`broker`] topics and
//! schemas, [`topic`] one partition, [`subscription`] cursors and dispatch,
//! [`storage`] segment and cursor files, [`admin`] REST, [`auth`], [`metrics`].

pub mod admin;
pub mod auth;
pub mod broker;
pub mod codec;
pub mod config;
pub mod connection;
pub mod error;
pub mod metrics;
pub mod murmur3;
pub mod outbox;
pub mod packages;
pub mod quickack;
pub mod server;
pub mod storage;
pub mod subscription;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
pub mod topic;
pub mod topic_name;

pub use config::{AuthConfig, BrokerConfig, FsyncPolicy};
pub use error::BrokerError;
pub use server::{RunningBroker, start};
