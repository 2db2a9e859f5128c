//! The workloads a resource declares, in one walk: a Function, Source or Sink is one member
//! at `spec`; a FunctionMesh has one per entry of `spec.functions`, `spec.sources` and
//! `spec.sinks`, in that order, each at its own path.

use crate::common::OutputConf;
use crate::diagnostic::FieldPath;
use crate::mesh::FunctionMeshSpec;
use crate::resource::Resource;
use crate::validate::WorkloadKind;
use crate::workload::{ConsumerSpec, WorkloadSpec};

/// One workload of a resource, borrowed from it.
#[derive(Clone, Debug)]
pub struct Member<'a> {
    /// Function, Source or Sink.
    pub kind: WorkloadKind,
    /// Where its spec is: `spec`, or `spec.functions[2]` in a mesh.
    pub path: FieldPath,
    /// What every kind has.
    pub workload: &'a WorkloadSpec,
    /// Its inputs (Functions and Sinks).
    pub consumer: Option<&'a ConsumerSpec>,
    /// Its output (Functions and Sources).
    pub output: Option<&'a OutputConf>,
}

impl FunctionMeshSpec {
    /// Every member: functions, then sources, then sinks.
    pub fn members(&self) -> Vec<Member<'_>> {
        let spec = FieldPath::root("spec");
        let functions = self
            .functions
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, f)| Member {
                kind: WorkloadKind::Function,
                path: spec.field("functions").index(i),
                workload: &f.workload,
                consumer: Some(&f.consumer),
                output: f.output.as_ref(),
            });
        let sources = self
            .sources
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, s)| Member {
                kind: WorkloadKind::Source,
                path: spec.field("sources").index(i),
                workload: &s.workload,
                consumer: None,
                output: s.output.as_ref(),
            });
        let sinks = self
            .sinks
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, s)| Member {
                kind: WorkloadKind::Sink,
                path: spec.field("sinks").index(i),
                workload: &s.workload,
                consumer: Some(&s.consumer),
                output: None,
            });
        functions.chain(sources).chain(sinks).collect()
    }
}

impl Resource {
    /// The workloads this resource declares (none for a BackendConfig).
    pub fn members(&self) -> Vec<Member<'_>> {
        let spec = FieldPath::root("spec");
        match self {
            Resource::Function(o) => vec![Member {
                kind: WorkloadKind::Function,
                path: spec,
                workload: &o.spec.workload,
                consumer: Some(&o.spec.consumer),
                output: o.spec.output.as_ref(),
            }],
            Resource::Source(o) => vec![Member {
                kind: WorkloadKind::Source,
                path: spec,
                workload: &o.spec.workload,
                consumer: None,
                output: o.spec.output.as_ref(),
            }],
            Resource::Sink(o) => vec![Member {
                kind: WorkloadKind::Sink,
                path: spec,
                workload: &o.spec.workload,
                consumer: Some(&o.spec.consumer),
                output: None,
            }],
            Resource::FunctionMesh(o) => o.spec.members(),
            Resource::BackendConfig(_) => Vec::new(),
        }
    }
}
