//! fmesh-e2e: a real single-node Kubernetes on this machine (etcd, apiserver, controller-manager,
//! scheduler, containerd, kubelet as background processes under one state directory), images for
//! it built without Docker, and the helpers the end-to-end tests use.
//!
//! Tests call [`Cluster::ensure`] (brings the cluster up once per process), then create their own
//! namespace with [`Cluster::namespace`].

pub mod bundle;
pub mod cgroups;
pub mod cluster;
pub mod cni;
pub mod components;
pub mod containerd;
pub mod dns;
pub mod error;
pub mod images;
pub mod install;
pub mod k8sbin;
pub mod kubeconfig;
pub mod layout;
pub mod mounts;
pub mod namespace;
pub mod pki;
pub mod prereq;
pub mod probe;
pub mod process;
pub mod pulsar;
pub mod runners;
pub mod wait;
pub mod webhook;

pub use cluster::{Cluster, LocalCluster, Status, install_crypto_provider};
pub use error::{Error, Result};
pub use namespace::{NAMESPACE_LABEL, TestNamespace};
