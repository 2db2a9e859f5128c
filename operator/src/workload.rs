//! One view over Function, Source and Sink: what the builders need, taken from a defaulted CR.

use std::fmt::Debug;

use fmesh_crds::common::OutputConf;
use fmesh_crds::common::RuntimeKind;
use fmesh_crds::diagnostic::{FieldPath, Report};
use fmesh_crds::validate::WorkloadKind;
use fmesh_crds::{
    ConsumerSpec, Function, Member, RefKind, Resource as AnyResource, Sink, Source, WorkloadSpec,
    WorkloadStatus, defaults,
};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::details;

/// What the generic workload reconciler needs from each of the three kinds.
pub trait WorkloadResource:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Which kind this is.
    const KIND: WorkloadKind;
    /// The common fields.
    fn workload(&self) -> &WorkloadSpec;
    /// Input settings (Functions and Sinks).
    fn consumer(&self) -> Option<&ConsumerSpec>;
    /// Output settings (Functions and Sources).
    fn output(&self) -> Option<&OutputConf>;
    /// The object as the one member it declares (its workload, inputs and output at `spec`).
    fn member(&self) -> Member<'_> {
        Member {
            kind: Self::KIND,
            path: FieldPath::root("spec"),
            workload: self.workload(),
            consumer: self.consumer(),
            output: self.output(),
        }
    }
    /// The observed state.
    fn status(&self) -> Option<&WorkloadStatus>;
    /// A copy with admission's defaults applied (the operator never relies on the webhook).
    fn defaulted(&self) -> Self;
    /// The validation report of the object, as the webhook and `fmesh validate` compute it.
    fn validate(&self) -> Report;
    /// Pulsar's `FunctionDetails` for the instance mains, from the defaulted object.
    fn details(&self) -> Value;
    /// The kind's own spec as JSON.
    fn spec_value(&self) -> Value;
}

/// Every ConfigMap and Secret a member's pods read, once each (the list is `fmesh_crds`',
/// shared with the webhook's checks).
pub fn references(member: &Member<'_>) -> Vec<(RefKind, String)> {
    let mut r: Vec<(RefKind, String)> = member
        .references()
        .into_iter()
        .map(|r| (r.kind, r.name))
        .collect();
    r.sort();
    r.dedup();
    r
}

impl WorkloadResource for Function {
    const KIND: WorkloadKind = WorkloadKind::Function;
    fn workload(&self) -> &WorkloadSpec {
        &self.spec.workload
    }
    fn consumer(&self) -> Option<&ConsumerSpec> {
        Some(&self.spec.consumer)
    }
    fn output(&self) -> Option<&OutputConf> {
        self.spec.output.as_ref()
    }
    fn status(&self) -> Option<&WorkloadStatus> {
        self.status.as_ref()
    }
    fn defaulted(&self) -> Self {
        let mut o = self.clone();
        let name = o.name_any();
        defaults::function(Some(&name), &mut o.spec);
        o
    }
    fn validate(&self) -> Report {
        AnyResource::Function(Box::new(self.clone())).validate()
    }
    fn details(&self) -> Value {
        details::function(&self.spec)
    }
    fn spec_value(&self) -> Value {
        serde_json::to_value(&self.spec).expect("a spec serializes")
    }
}

impl WorkloadResource for Source {
    const KIND: WorkloadKind = WorkloadKind::Source;
    fn workload(&self) -> &WorkloadSpec {
        &self.spec.workload
    }
    fn consumer(&self) -> Option<&ConsumerSpec> {
        None
    }
    fn output(&self) -> Option<&OutputConf> {
        self.spec.output.as_ref()
    }
    fn status(&self) -> Option<&WorkloadStatus> {
        self.status.as_ref()
    }
    fn defaulted(&self) -> Self {
        let mut o = self.clone();
        let name = o.name_any();
        defaults::source(Some(&name), &mut o.spec);
        o
    }
    fn validate(&self) -> Report {
        AnyResource::Source(Box::new(self.clone())).validate()
    }
    fn details(&self) -> Value {
        details::source(&self.spec)
    }
    fn spec_value(&self) -> Value {
        serde_json::to_value(&self.spec).expect("a spec serializes")
    }
}

impl WorkloadResource for Sink {
    const KIND: WorkloadKind = WorkloadKind::Sink;
    fn workload(&self) -> &WorkloadSpec {
        &self.spec.workload
    }
    fn consumer(&self) -> Option<&ConsumerSpec> {
        Some(&self.spec.consumer)
    }
    fn output(&self) -> Option<&OutputConf> {
        None
    }
    fn status(&self) -> Option<&WorkloadStatus> {
        self.status.as_ref()
    }
    fn defaulted(&self) -> Self {
        let mut o = self.clone();
        let name = o.name_any();
        defaults::sink(Some(&name), &mut o.spec);
        o
    }
    fn validate(&self) -> Report {
        AnyResource::Sink(Box::new(self.clone())).validate()
    }
    fn details(&self) -> Value {
        details::sink(&self.spec)
    }
    fn spec_value(&self) -> Value {
        serde_json::to_value(&self.spec).expect("a spec serializes")
    }
}

/// Everything the pure builders read, taken from a defaulted Function, Source or Sink.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// `metadata.name`.
    pub name: String,
    pub namespace: String,
    /// Owner reference every child carries.
    pub owner: OwnerReference,
    /// The common spec, defaulted.
    pub spec: WorkloadSpec,
    pub consumer: Option<ConsumerSpec>,
    /// Pulsar's `FunctionDetails` JSON.
    pub details: Value,
    /// The defaulted spec plus `kind` and `objectName`, without the replica counts (scaling
    /// must not change the pod template): what `fmesh-runner` reads (`FMESH_SPEC`).
    pub runner_spec: Value,
    /// For `volumeClaimTemplates` etc. (Function only).
    pub function: Option<fmesh_crds::FunctionSpec>,
    /// Every ConfigMap and Secret its pods read, once each.
    pub references: Vec<(RefKind, String)>,
}

impl Workload {
    /// The view of a CR; defaults are applied here.
    pub fn of<K: WorkloadResource>(obj: &K) -> Workload {
        let d = obj.defaulted();
        let kind = K::KIND;
        let mut runner_spec = d.spec_value();
        if let Value::Object(m) = &mut runner_spec {
            for scale in ["replicas", "minReplicas", "maxReplicas"] {
                m.remove(scale);
            }
            m.insert("kind".into(), json!(kind.as_str()));
            m.insert("objectName".into(), json!(d.name_any()));
        }
        let function = serde_json::to_value(&d)
            .ok()
            .filter(|_| kind == WorkloadKind::Function)
            .and_then(|v| serde_json::from_value::<Function>(v).ok())
            .map(|f| f.spec);
        Workload {
            kind,
            name: d.name_any(),
            namespace: d.namespace().unwrap_or_default(),
            owner: owner_reference(&d),
            spec: d.workload().clone(),
            consumer: d.consumer().cloned(),
            details: d.details(),
            runner_spec,
            function,
            references: references(&d.member()),
        }
    }

    /// The runtime that runs it (validation guarantees exactly one on a valid object).
    pub fn runtime(&self) -> Option<RuntimeKind> {
        self.spec.runtime.kind()
    }

    /// Runs under `fmesh-runner` rather than one of Pulsar's instance mains.
    pub fn runs_on_runner(&self) -> bool {
        match self.runtime() {
            Some(k) => k.is_fmesh_native() || k == RuntimeKind::Generic,
            None => true,
        }
    }

    /// Spec replicas after defaults.
    pub fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }

    /// Autoscaling is asked for (`maxReplicas` set).
    pub fn autoscaled(&self) -> bool {
        self.spec.max_replicas.is_some()
    }
}

/// A controller owner reference to `obj` (uid empty when rendering an object never stored).
pub fn owner_reference<K: Resource<DynamicType = ()>>(obj: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: obj.meta().name.clone().unwrap_or_default(),
        uid: obj.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}
