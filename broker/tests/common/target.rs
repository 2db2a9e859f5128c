//! The brokers a differential test runs against: [`fmesh_broker::testing`].

pub use fmesh_broker::testing::*;
