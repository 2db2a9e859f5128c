//! fmesh admission webhook: validation (the same `fmesh_crds` rules `fmesh validate` runs, plus
//! mesh-graph analysis, UPDATE safety rules and reference checks against the cluster) and
//! defaulting (an RFC 6902 patch of `add` operations) for Function, Source, Sink and
//! FunctionMesh, served over HTTPS with certificates from `fmesh-certs`.
//!
//! Handlers ([`admit`]) are pure over the [`references::References`] trait; the cluster-backed
//! implementation is in [`cache`]; [`server`] is the HTTP edge.

pub mod admit;
pub mod cache;
pub mod metrics;
pub mod mutate;
pub mod references;
pub mod registration;
pub mod review;
pub mod server;
#[cfg(test)]
mod test_documents;
pub mod update;

pub use admit::{Admission, Kind, Settings};
pub use references::{Lookup, References, StaticReferences};
pub use review::{Request, Verdict};
