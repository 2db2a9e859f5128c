//! Kubeconfig files: one for the admin (users, tests), one per component, and a kube `Client` from them.

use std::fs;
use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{Error, IoContext, Result};

/// The apiserver URL every kubeconfig points at.
pub const SERVER: &str = "https://127.0.0.1:6443";

/// Writes a kubeconfig for `user` authenticating with `token`, trusting the CA at `ca`.
/// Only rewrites the file when its content changes.
pub fn write(path: &Path, ca: &Path, user: &str, token: &str) -> Result<()> {
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fmesh-e2e
  cluster:
    server: {SERVER}
    certificate-authority: {ca}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: fmesh-e2e
  context:
    cluster: fmesh-e2e
    user: {user}
    namespace: default
current-context: fmesh-e2e
",
        ca = ca.display()
    );
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
    }
    fs::write(path, text).ctx(|| format!("write {}", path.display()))
}

/// A kube `Client` from the kubeconfig at `path`.
pub async fn client(path: &Path) -> Result<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig {
        path: path.into(),
        source,
    })?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|source| Error::Kubeconfig {
            path: path.into(),
            source,
        })?;
    Ok(kube::Client::try_from(config)?)
}
