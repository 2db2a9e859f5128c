//! cert-manager mode: serve the certificate and key cert-manager mounts (`tls.crt`, `tls.key`)
//! and reload them when the kubelet swaps the mounted files. The files are polled: a mounted
//! Secret changes by an atomic symlink swap, which polling sees without inotify subtleties.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::resolver::HotResolver;

/// A certificate and key on disk.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// `dir/tls.crt` and `dir/tls.key`, the names cert-manager's Secrets mount as.
    pub fn in_dir(dir: &Path) -> Self {
        CertFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        }
    }

    fn read(&self) -> Result<(String, String)> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        Ok((read(&self.cert)?, read(&self.key)?))
    }

    /// Loads the files into `resolver`; returns whether the served certificate changed.
    pub fn load(&self, resolver: &HotResolver) -> Result<bool> {
        let (cert, key) = self.read()?;
        resolver.set_pem(&cert, &key)
    }

    /// Re-reads the files every `every` and swaps the certificate when they changed. A
    /// half-written pair (certificate and key not matching yet) is retried on the next tick.
    pub async fn watch(self, resolver: Arc<HotResolver>, every: Duration) {
        // Unknown at first: the first tick loads whatever is there (a no-op if already served).
        let mut last = None;
        loop {
            tokio::time::sleep(every).await;
            let now = self.digest();
            if now == last {
                continue;
            }
            match self.load(&resolver) {
                Ok(_) => last = now,
                Err(e) => {
                    tracing::warn!(error = %e, cert = %self.cert.display(), "mounted certificate changed but does not load yet")
                }
            }
        }
    }

    fn digest(&self) -> Option<Vec<u8>> {
        let (cert, key) = self.read().ok()?;
        let mut h = Sha256::new();
        h.update(cert.as_bytes());
        h.update(key.as_bytes());
        Some(h.finalize().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki;

    #[tokio::test]
    async fn reloads_when_the_files_change() {
        let dir = std::env::temp_dir().join(format!("fmesh-certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = CertFiles::in_dir(&dir);
        let ca = pki::generate_ca("ca", Duration::from_secs(3600)).unwrap();
        let sans = vec!["localhost".to_string()];
        let a = pki::issue_serving(&ca, "s", &sans, Duration::from_secs(600)).unwrap();
        let b = pki::issue_serving(&ca, "s", &sans, Duration::from_secs(600)).unwrap();
        std::fs::write(&files.cert, &a.cert_pem).unwrap();
        std::fs::write(&files.key, &a.key_pem).unwrap();
        let resolver = HotResolver::new();
        assert!(files.load(&resolver).unwrap());
        tokio::spawn(
            files
                .clone()
                .watch(resolver.clone(), Duration::from_millis(20)),
        );
        std::fs::write(&files.cert, &b.cert_pem).unwrap();
        std::fs::write(&files.key, &b.key_pem).unwrap();
        let want = pki::fingerprint(&b.cert_pem).unwrap();
        for _ in 0..200 {
            if resolver.fingerprint().as_deref() == Some(want.as_str()) {
                std::fs::remove_dir_all(&dir).ok();
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("certificate was not reloaded");
    }
}
