//! The brokers a differential test runs against: [`fmesh_broker::testing`].

// Not every test file uses it.
#[allow(unused_imports)]
pub use fmesh_broker::testing::*;
