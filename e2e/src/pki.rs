//! Keys and certificates: a cluster CA, the apiserver's serving certificate, the service-account
//! signing key and bearer tokens for each client. Generated once per state directory.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::error::{IoContext, Result};
use crate::layout::{Layout, NODE_IP, NODE_NAME};

/// Who talks to the apiserver, each with its own token (and so its own RBAC identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The user and the tests: `system:masters`.
    Admin,
    /// kube-controller-manager (uses per-controller service accounts on top).
    ControllerManager,
    /// kube-scheduler.
    Scheduler,
    /// The kubelet, authorised by the Node authorizer.
    Kubelet,
    /// kube-proxy (`system:kube-proxy`, bound to `system:node-proxier` by the apiserver).
    KubeProxy,
    /// CoreDNS (`system:coredns`, bound to its read-only role by `up`).
    CoreDns,
}

impl Identity {
    /// All identities, in token-file order.
    pub const ALL: [Identity; 6] = [
        Identity::Admin,
        Identity::ControllerManager,
        Identity::Scheduler,
        Identity::Kubelet,
        Identity::KubeProxy,
        Identity::CoreDns,
    ];

    /// File-name friendly name.
    pub fn name(self) -> &'static str {
        match self {
            Identity::Admin => "admin",
            Identity::ControllerManager => "kube-controller-manager",
            Identity::Scheduler => "kube-scheduler",
            Identity::Kubelet => "kubelet",
            Identity::KubeProxy => "kube-proxy",
            Identity::CoreDns => "coredns",
        }
    }

    fn user_and_groups(self) -> (String, &'static str) {
        match self {
            Identity::Admin => ("fmesh-admin".into(), "system:masters"),
            Identity::ControllerManager => ("system:kube-controller-manager".into(), ""),
            Identity::Scheduler => ("system:kube-scheduler".into(), ""),
            Identity::Kubelet => (format!("system:node:{NODE_NAME}"), "system:nodes"),
            Identity::KubeProxy => ("system:kube-proxy".into(), ""),
            Identity::CoreDns => (COREDNS_USER.into(), ""),
        }
    }
}

/// The user CoreDNS authenticates as.
pub const COREDNS_USER: &str = "system:coredns";

/// Bumped whenever what [`Pki::ensure`] generates changes (identities, SANs): a state
/// directory made by an older `up` is then generated anew.
const GENERATION: &str = "2";

/// Paths of the generated material.
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// The cluster CA certificate (trusted by kubeconfigs, put in service-account tokens).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    /// The apiserver's serving certificate.
    pub fn apiserver_cert(&self) -> PathBuf {
        self.dir.join("apiserver.crt")
    }
    /// The apiserver's serving key.
    pub fn apiserver_key(&self) -> PathBuf {
        self.dir.join("apiserver.key")
    }
    /// Service-account token signing key (private).
    pub fn sa_key(&self) -> PathBuf {
        self.dir.join("sa.key")
    }
    /// Service-account token verification key (public).
    pub fn sa_pub(&self) -> PathBuf {
        self.dir.join("sa.pub")
    }
    /// The apiserver's static token file.
    pub fn tokens(&self) -> PathBuf {
        self.dir.join("tokens.csv")
    }
    /// The bearer token of `who`.
    pub fn token(&self, who: Identity) -> Result<String> {
        let path = self.dir.join(format!("{}.token", who.name()));
        let token = fs::read_to_string(&path).ctx(|| format!("read {}", path.display()))?;
        Ok(token.trim().to_owned())
    }

    /// Generates whatever is missing under `<state>/pki`; existing material is kept, so clients and
    /// running components stay valid across `up`s.
    pub fn ensure(layout: &Layout) -> Result<Pki> {
        let pki = Pki { dir: layout.pki() };
        let generation = pki.dir.join("generation");
        let current = fs::read_to_string(&generation).is_ok_and(|g| g.trim() == GENERATION);
        if current && pki.tokens().exists() && pki.sa_pub().exists() && pki.apiserver_key().exists()
        {
            return Ok(pki);
        }
        fs::create_dir_all(&pki.dir).ctx(|| format!("create {}", pki.dir.display()))?;
        let ca_key = KeyPair::generate()?;
        let ca_params = ca_params("fmesh-e2e cluster CA")?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, &ca_key);

        let server_key = KeyPair::generate()?;
        let server = serving_params(
            "kube-apiserver",
            &[
                "127.0.0.1",
                NODE_IP,
                "10.96.0.1",
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
        )?
        .signed_by(&server_key, &issuer)?;

        let sa_key = KeyPair::generate()?;
        write_secret(&pki.dir.join("ca.key"), &ca_key.serialize_pem())?;
        write(&pki.ca_cert(), &ca_cert.pem())?;
        write_secret(&pki.apiserver_key(), &server_key.serialize_pem())?;
        write(&pki.apiserver_cert(), &server.pem())?;
        write_secret(&pki.sa_key(), &sa_key.serialize_pem())?;
        write(&pki.sa_pub(), &sa_key.public_key_pem())?;

        let mut csv = String::new();
        for who in Identity::ALL {
            let token = random_hex(16)?;
            let (user, groups) = who.user_and_groups();
            csv.push_str(&format!("{token},{user},{user},\"{groups}\"\n"));
            write_secret(&pki.dir.join(format!("{}.token", who.name())), &token)?;
        }
        write_secret(&pki.tokens(), &csv)?;
        // Written last: its presence marks the set as complete.
        write(&generation, GENERATION)?;
        Ok(pki)
    }
}

/// Parameters for a CA certificate named `cn`.
pub(crate) fn ca_params(cn: &str) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

/// Parameters for a TLS server certificate valid for `sans` (IPs or DNS names).
pub(crate) fn serving_params(cn: &str, sans: &[&str]) -> Result<CertificateParams> {
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(sans)?;
    params.distinguished_name = name(cn);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// `bytes` random bytes from the kernel, hex encoded.
pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .ctx(|| "read /dev/urandom".to_owned())?;
    Ok(hex::encode(buf))
}

fn write(path: &Path, content: &str) -> Result<()> {
    fs::write(path, content).ctx(|| format!("write {}", path.display()))
}

fn write_secret(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .ctx(|| format!("write {}", path.display()))
}
