//! What the API server serves beyond what fmesh requires, discovered once at start: whether
//! the VPA CRD is installed. The builders take this as input instead of assuming. (HPAs and
//! PDBs are `autoscaling/v2` and `policy/v1`, served by every Kubernetes fmesh supports.)

use kube::Client;

/// The optional APIs the builders may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `autoscaling.k8s.io/v1` VerticalPodAutoscaler is served.
    pub vpa: bool,
}

impl Capabilities {
    /// A cluster without the VPA: what `fmesh render` assumes offline.
    pub fn latest() -> Self {
        Capabilities { vpa: false }
    }

    /// Asks the server (one request: `/apis/autoscaling.k8s.io`).
    pub async fn discover(client: &Client) -> Result<Self, kube::Error> {
        let vpa = match kube::discovery::group(client, "autoscaling.k8s.io").await {
            Ok(g) => g
                .versioned_resources("v1")
                .iter()
                .any(|(r, _)| r.kind == "VerticalPodAutoscaler"),
            Err(_) => false,
        };
        Ok(Capabilities { vpa })
    }
}
