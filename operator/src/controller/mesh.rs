//! The FunctionMesh reconciler: apply one child per member, delete children of members that
//! are gone, aggregate their status. Deleting the mesh deletes the children through their
//! owner references (garbage collection), so no finalizer is needed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use fmesh_crds::mesh::FunctionMeshStatus;
use fmesh_crds::validate::WorkloadKind;
use fmesh_crds::{Function, FunctionMesh, Sink, Source, WorkloadStatus};
use futures::StreamExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{Context, event_type, scoped};
use crate::conditions::{self, DEGRADED, READY, Want};
use crate::error::Error;
use crate::labels;
use crate::mesh::{self, MeshChild};
use crate::workload::WorkloadResource;

/// Runs the mesh controller until the process stops.
pub(super) async fn run(ctx: Arc<Context>) {
    let wc =
        watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER));
    Controller::new(
        scoped::<FunctionMesh>(&ctx.client, &ctx.cfg),
        watcher::Config::default(),
    )
    .owns(scoped::<Function>(&ctx.client, &ctx.cfg), wc.clone())
    .owns(scoped::<Source>(&ctx.client, &ctx.cfg), wc.clone())
    .owns(scoped::<Sink>(&ctx.client, &ctx.cfg), wc)
    .run(reconcile, error_policy, ctx)
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::debug!(error = %e, "mesh reconcile");
        }
    })
    .await;
}

fn key(m: &FunctionMesh) -> String {
    format!(
        "FunctionMesh/{}/{}",
        m.namespace().unwrap_or_default(),
        m.name_any()
    )
}

async fn reconcile(m: Arc<FunctionMesh>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_inner(&m, &ctx).await;
    ctx.observe::<FunctionMesh>(started, &result);
    if result.is_ok() {
        ctx.succeeded(&key(&m));
    }
    result
}

fn error_policy(m: Arc<FunctionMesh>, err: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff(&key(&m));
    tracing::warn!(mesh = %m.name_any(), error = %err, ?delay, "mesh reconcile failed");
    Action::requeue(delay)
}

/// A child found in the cluster: kind, name, whether this mesh controls it, its status.
struct Found {
    kind: WorkloadKind,
    name: String,
    ours: bool,
    hash: Option<String>,
    status: Option<WorkloadStatus>,
}

#[tracing::instrument(skip_all, fields(ns = m.namespace().unwrap_or_default(), mesh = m.name_any()))]
async fn reconcile_inner(m: &FunctionMesh, ctx: &Context) -> Result<Action, Error> {
    let ns = m.namespace().ok_or(Error::MissingNamespace)?;
    if m.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api: Api<FunctionMesh> = ctx.api(&ns);
    if let Some(message) = mesh::invalid_spec(m) {
        let wanted = [
            Want {
                type_: READY,
                status: false,
                reason: "InvalidSpec",
                message: message.clone(),
            },
            Want {
                type_: DEGRADED,
                status: true,
                reason: "InvalidSpec",
                message: message.clone(),
            },
        ];
        let invalid_before = m
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == READY))
            .is_some_and(|c| c.reason == "InvalidSpec");
        if !invalid_before {
            ctx.event(m, EventType::Warning, "InvalidSpec", message)
                .await;
        }
        let mut new = m.status.clone().unwrap_or_default();
        new.conditions = Some(conditions::merge(
            m.status.as_ref().and_then(|s| s.conditions.as_deref()),
            &wanted,
            m.meta().generation,
            &conditions::now(),
        ));
        new.observed_generation = m.meta().generation;
        write_status(m, &api, ctx, new).await?;
        return Ok(Action::await_change());
    }
    let wanted = mesh::children(m);
    let found = list_children(ctx, &ns, m).await?;
    for child in &wanted {
        let current = found
            .iter()
            .find(|f| f.kind == child.kind && f.name == child.name);
        if current.and_then(|f| f.hash.as_deref())
            != child.object["metadata"]["annotations"][labels::APPLIED_HASH].as_str()
        {
            apply_child(ctx, &ns, child).await?;
        }
    }
    for f in found.iter().filter(|f| f.ours) {
        if !wanted.iter().any(|c| c.kind == f.kind && c.name == f.name) {
            delete_child(ctx, &ns, f).await?;
            ctx.event(
                m,
                EventType::Normal,
                "MemberRemoved",
                format!("deleted {} {}", f.kind.as_str(), f.name),
            )
            .await;
        }
    }
    let statuses: BTreeMap<String, Option<WorkloadStatus>> =
        found.into_iter().map(|f| (f.name, f.status)).collect();
    let members = mesh::members(&wanted, &statuses);
    let ready = members
        .iter()
        .all(|mm| mm.phase.as_deref() == Some("Running"));
    let not_ready: Vec<String> = members
        .iter()
        .filter(|mm| mm.phase.as_deref() != Some("Running"))
        .map(|mm| format!("{} {}", mm.name, mm.phase.as_deref().unwrap_or("Pending")))
        .collect();
    let degraded = members
        .iter()
        .any(|mm| matches!(mm.phase.as_deref(), Some("Degraded" | "Invalid")));
    let summary = format!(
        "{}/{} members running",
        members.len() - not_ready.len(),
        members.len()
    );
    let detail = if not_ready.is_empty() {
        summary.clone()
    } else {
        format!("{summary}; not running: {}", not_ready.join(", "))
    };
    let conds = conditions::mesh_wants(ready, degraded, &detail);
    let old = m.status.as_ref();
    let new = FunctionMeshStatus {
        conditions: Some(conditions::merge(
            old.and_then(|s| s.conditions.as_deref()),
            &conds,
            m.meta().generation,
            &conditions::now(),
        )),
        members: Some(members),
        observed_generation: m.meta().generation,
    };
    let before = conditions::is_true(old.and_then(|s| s.conditions.as_deref()), READY);
    if before != Some(ready) && (before.is_some() || ready) {
        ctx.event(
            m,
            event_type(ready),
            if ready { "Ready" } else { "NotReady" },
            summary,
        )
        .await;
    }
    write_status(m, &api, ctx, new).await?;
    Ok(Action::await_change())
}

async fn list_children(ctx: &Context, ns: &str, m: &FunctionMesh) -> Result<Vec<Found>, Error> {
    let lp = ListParams::default().labels(&format!("{}={}", labels::MESH, m.name_any()));
    let uid = m.uid().unwrap_or_default();
    let mut out = Vec::new();
    out.extend(list::<Function>(ctx, ns, &lp, &uid).await?);
    out.extend(list::<Source>(ctx, ns, &lp, &uid).await?);
    out.extend(list::<Sink>(ctx, ns, &lp, &uid).await?);
    Ok(out)
}

async fn list<K: WorkloadResource>(
    ctx: &Context,
    ns: &str,
    lp: &ListParams,
    uid: &str,
) -> Result<Vec<Found>, Error> {
    let api: Api<K> = ctx.api(ns);
    let items = api.list(lp).await.map_err(|source| Error::ReadFailed {
        what: format!("{} children", K::KIND.as_str()),
        source,
    })?;
    Ok(items
        .items
        .into_iter()
        .map(|o| Found {
            kind: K::KIND,
            name: o.name_any(),
            ours: o
                .owner_references()
                .iter()
                .any(|r| r.uid == uid && r.controller == Some(true)),
            hash: o.annotations().get(labels::APPLIED_HASH).cloned(),
            status: o.status().cloned(),
        })
        .collect())
}

async fn apply_child(ctx: &Context, ns: &str, child: &MeshChild) -> Result<(), Error> {
    let pp = PatchParams::apply(labels::MANAGER).force();
    let patch = Patch::Apply(&child.object);
    let err = |source| Error::ChildApplyFailed {
        kind: child.kind.as_str().into(),
        name: child.name.clone(),
        source,
    };
    match child.kind {
        WorkloadKind::Function => ctx
            .api::<Function>(ns)
            .patch(&child.name, &pp, &patch)
            .await
            .map(drop),
        WorkloadKind::Source => ctx
            .api::<Source>(ns)
            .patch(&child.name, &pp, &patch)
            .await
            .map(drop),
        WorkloadKind::Sink => ctx
            .api::<Sink>(ns)
            .patch(&child.name, &pp, &patch)
            .await
            .map(drop),
    }
    .map_err(err)?;
    ctx.metrics.write(child.kind.as_str(), "apply");
    Ok(())
}

async fn delete_child(ctx: &Context, ns: &str, f: &Found) -> Result<(), Error> {
    let dp = DeleteParams::background();
    let res = match f.kind {
        WorkloadKind::Function => ctx.api::<Function>(ns).delete(&f.name, &dp).await.map(drop),
        WorkloadKind::Source => ctx.api::<Source>(ns).delete(&f.name, &dp).await.map(drop),
        WorkloadKind::Sink => ctx.api::<Sink>(ns).delete(&f.name, &dp).await.map(drop),
    };
    match res {
        Ok(()) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(source) => {
            return Err(Error::ChildDeleteFailed {
                kind: f.kind.as_str().into(),
                name: f.name.clone(),
                source,
            });
        }
    }
    ctx.metrics.write(f.kind.as_str(), "delete");
    Ok(())
}

async fn write_status(
    m: &FunctionMesh,
    api: &Api<FunctionMesh>,
    ctx: &Context,
    new: FunctionMeshStatus,
) -> Result<(), Error> {
    if m.status.as_ref() == Some(&new) {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": FunctionMesh::api_version(&()),
        "kind": "FunctionMesh",
        "status": new,
    });
    api.patch_status(
        &m.name_any(),
        &PatchParams::apply(labels::MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::StatusWriteFailed)?;
    ctx.metrics.write("FunctionMesh", "status");
    Ok(())
}
