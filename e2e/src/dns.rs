//! Cluster DNS: CoreDNS runs on the node (see `components`); here, what it may read.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams};

use crate::error::Result;
use crate::pki::COREDNS_USER;

/// The role's and the binding's name, as clusters made by kubeadm call them.
const NAME: &str = "system:coredns";

/// Applies the read-only role CoreDNS's kubernetes plugin needs (Services, EndpointSlices,
/// Namespaces; Pods for `pods insecure` answers) and binds it to CoreDNS's user.
pub async fn ensure_rbac(client: &kube::Client) -> Result<()> {
    let rule = |groups: &[&str], resources: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: vec!["list".into(), "watch".into()],
        ..PolicyRule::default()
    };
    let meta = ObjectMeta {
        name: Some(NAME.into()),
        ..ObjectMeta::default()
    };
    let role = ClusterRole {
        metadata: meta.clone(),
        rules: Some(vec![
            rule(&[""], &["endpoints", "services", "pods", "namespaces"]),
            rule(&["discovery.k8s.io"], &["endpointslices"]),
        ]),
        ..ClusterRole::default()
    };
    let binding = ClusterRoleBinding {
        metadata: meta,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: NAME.into(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "User".into(),
            name: COREDNS_USER.into(),
            ..Subject::default()
        }]),
    };
    let params = PatchParams::apply("fmesh-e2e").force();
    Api::<ClusterRole>::all(client.clone())
        .patch(NAME, &params, &Patch::Apply(&role))
        .await?;
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(NAME, &params, &Patch::Apply(&binding))
        .await?;
    Ok(())
}
