//! The fmesh API, `compute.functionmesh.io/v1alpha1`: Function, Source, Sink, FunctionMesh and
//! BackendConfig, with the pure functions every other part shares — defaults, validation, and
//! the analysis of a mesh's graph of topics. No I/O happens here.

pub mod backend_config;
pub mod common;
pub mod connectors;
pub mod crd;
mod decode;
pub mod defaults;
pub mod diagnostic;
pub mod function;
pub mod graph;
pub mod limits;
pub mod members;
pub mod mesh;
pub mod quantity;
pub mod references;
pub mod resource;
#[cfg(feature = "shapes")]
pub mod shapes;
pub mod sink;
pub mod source;
pub mod topic;
pub mod validate;
pub mod workload;

pub use backend_config::{BackendConfig, BackendConfigSpec};
pub use function::{Function, FunctionSpec};
pub use members::Member;
pub use mesh::{FunctionMesh, FunctionMeshSpec, FunctionMeshStatus};
pub use references::{RefKind, Reference};
pub use resource::{Parsed, Resource};
pub use sink::{Sink, SinkSpec};
pub use source::{Source, SourceSpec};
pub use workload::{ConsumerSpec, WorkloadSpec, WorkloadStatus};

/// The API group of every fmesh kind.
pub const GROUP: &str = "compute.functionmesh.io";
/// The API version served.
pub const VERSION: &str = "v1alpha1";
