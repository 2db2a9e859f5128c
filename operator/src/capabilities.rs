//! What the API server serves, discovered once at start: the HPA and PDB API versions
//! (Kubernetes 1.20 has autoscaling/v2beta2 and policy/v1beta1 only) and whether the VPA CRD
//! is installed. The builders take this as input instead of assuming.

use kube::Client;

/// The versions the builders emit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `autoscaling/v2` or `autoscaling/v2beta2`.
    pub hpa_api_version: String,
    /// `policy/v1` or `policy/v1beta1`.
    pub pdb_api_version: String,
    /// `autoscaling.k8s.io/v1` VerticalPodAutoscaler is served.
    pub vpa: bool,
}

impl Capabilities {
    /// A current Kubernetes (1.25+) without the VPA: what `fmesh render` assumes offline.
    pub fn latest() -> Self {
        Capabilities {
            hpa_api_version: "autoscaling/v2".into(),
            pdb_api_version: "policy/v1".into(),
            vpa: false,
        }
    }

    /// Kubernetes 1.20, as the local test cluster.
    pub fn kubernetes_1_20() -> Self {
        Capabilities {
            hpa_api_version: "autoscaling/v2beta2".into(),
            pdb_api_version: "policy/v1beta1".into(),
            vpa: false,
        }
    }

    /// Asks the server (one request per group: `/apis/autoscaling`, `/apis/policy`,
    /// `/apis/autoscaling.k8s.io`).
    pub async fn discover(client: &Client) -> Result<Self, kube::Error> {
        let autoscaling = kube::discovery::group(client, "autoscaling").await?;
        let policy = kube::discovery::group(client, "policy").await?;
        let has = |g: &kube::discovery::ApiGroup, v: &str| g.versions().any(|x| x == v);
        let hpa_api_version = if has(&autoscaling, "v2") {
            "autoscaling/v2"
        } else {
            "autoscaling/v2beta2"
        };
        let pdb_api_version = if has(&policy, "v1") {
            "policy/v1"
        } else {
            "policy/v1beta1"
        };
        let vpa = match kube::discovery::group(client, "autoscaling.k8s.io").await {
            Ok(g) => g
                .versioned_resources("v1")
                .iter()
                .any(|(r, _)| r.kind == "VerticalPodAutoscaler"),
            Err(_) => false,
        };
        Ok(Capabilities {
            hpa_api_version: hpa_api_version.into(),
            pdb_api_version: pdb_api_version.into(),
            vpa,
        })
    }
}
