//! The fmesh operator: turns Function, Source, Sink and FunctionMesh objects into the Kubernetes
//! objects that run them.
//!
//! The shape follows kube-rs' controller-rs: every desired child comes from a **pure** builder
//! (`statefulset`, `service`, `hpa`, `pdb`, `vpa`, `pod`, `command`, `mesh`), the reconcilers
//! (`controller`) read, build, apply with server-side apply under one field manager, and write
//! status only when it changed. [`render`] exposes the same builders to `fmesh render`.

pub mod capabilities;
pub mod children;
pub mod cleanup;
pub mod client;
pub mod command;
pub mod conditions;
pub mod config;
pub mod controller;
pub mod details;
pub mod error;
pub mod hash;
pub mod hpa;
pub mod http;
pub mod labels;
pub mod leader;
pub mod mesh;
pub mod metrics;
pub mod pdb;
pub mod pod;
pub mod render;
pub mod service;
pub mod shell;
pub mod statefulset;
pub mod status;
pub mod vpa;
pub mod workload;

pub use capabilities::Capabilities;
pub use config::OperatorConfig;
pub use error::Error;
pub use render::render;
pub use workload::{Workload, WorkloadResource};
