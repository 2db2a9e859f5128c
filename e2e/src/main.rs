//! `fmesh-e2e`: bring a local single-node Kubernetes up and down, build images for it, inspect it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fmesh_e2e::images::{self, Built};
use fmesh_e2e::{LocalCluster, layout};

#[derive(Parser)]
#[command(
    name = "fmesh-e2e",
    about = "A real local Kubernetes for fmesh development, demos and tests"
)]
struct Cli {
    /// The cluster's state directory (keys, data, logs, pid files).
    #[arg(long, global = true, env = "FMESH_E2E_STATE_DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bring the cluster up (idempotent); the last line printed is `KUBECONFIG=<path>`.
    Up,
    /// Stop everything `up` started and remove its mounts, network namespaces and bridge.
    Down {
        /// Also remove the state directory (the cached Kubernetes binaries stay).
        #[arg(long)]
        purge: bool,
    },
    /// Build and import images: pause, smoke, each fmesh program the workspace has, and
    /// Function Mesh's Java runner and sample images (unless --no-runners).
    Images {
        /// Skip the Java runner images (Debian's JRE, Pulsar from Maven Central).
        #[arg(long, conflicts_with = "runners_only")]
        no_runners: bool,
        /// Only the Java runner images (no cargo build).
        #[arg(long)]
        runners_only: bool,
        /// Build the fmesh programs with the release profile.
        #[arg(long)]
        release: bool,
        /// The fmesh workspace (default: the one this binary was built from).
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Uninstall fmesh (`manifests/overlays/local`) so that nothing is left: its custom
    /// resources and their workloads first, then the bundle.
    Uninstall {
        /// How long each step may take, in seconds.
        #[arg(long, default_value_t = 180)]
        timeout: u64,
    },
    /// What runs, its health, and where its logs are.
    Status,
    /// Run the cluster's own kubectl against it: `fmesh-e2e kubectl get pods -A`.
    Kubectl {
        /// Arguments passed to kubectl.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Regenerate the OLM bundle (manifests/bundle/) and the Argo CD argocd-cm snippet from
    /// manifests/base (rendered by the cached kubectl), examples/ and manifests/argocd/health/.
    Bundle {
        /// The fmesh workspace (default: the one this binary was built from).
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Apache Pulsar (standalone, resolved from Maven Central) beside or instead of fmesh-broker.
    Pulsar {
        #[command(subcommand)]
        command: fmesh_e2e::pulsar::cli::PulsarCommand,
    },
    /// The last lines of a component's log.
    Logs {
        /// etcd, containerd, kube-apiserver, kube-controller-manager, kube-scheduler or kubelet.
        component: String,
        /// How many lines.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    fmesh_e2e::install_crypto_provider();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "info,kube_client::client::builder=off,kube_client::client::tls=off,pulsar=warn",
                )
            }),
        )
        // kube's client logs every refused connection while we poll a starting apiserver, and
        // pulsar-rs every retry while `pulsar up` polls a starting Pulsar.
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fmesh-e2e: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let cluster = LocalCluster::new(
        cli.state_dir.unwrap_or_else(layout::default_state_dir),
        &layout::cache_root(),
    );
    match cli.command {
        Command::Up => {
            let started = Instant::now();
            let kubeconfig = cluster.up().await.context("bringing the cluster up")?;
            eprintln!(
                "cluster ready in {:.1}s; kubectl: {}",
                started.elapsed().as_secs_f64(),
                cluster.binaries().program("kubectl").display()
            );
            println!("KUBECONFIG={}", kubeconfig.display());
        }
        Command::Down { purge } => {
            cluster.down(purge).context("tearing the cluster down")?;
            eprintln!(
                "cluster down{}",
                if purge { " and state removed" } else { "" }
            );
        }
        Command::Images {
            release,
            workspace,
            no_runners,
            runners_only,
        } => {
            let workspace = workspace.unwrap_or_else(default_workspace);
            images::ensure_base(cluster.layout())
                .context("pause and smoke images (is the cluster up?)")?;
            println!("{}\n{}", images::PAUSE, images::SMOKE);
            let programs = if runners_only {
                Vec::new()
            } else {
                images::build_fmesh(cluster.layout(), &workspace, release)?
            };
            for built in programs {
                match built {
                    Built::Imported { reference, binary } => {
                        println!("{reference}\t(from {})", binary.display())
                    }
                    Built::Skipped { program, reason } => eprintln!("skipped {program}: {reason}"),
                }
            }
            if !no_runners {
                let started = Instant::now();
                let built = fmesh_e2e::runners::build(cluster.layout(), &layout::cache_root())
                    .context("the Java runner images")?;
                for b in built {
                    let how = if b.rebuilt { "built" } else { "unchanged" };
                    println!("{}	({how})", b.reference);
                }
                eprintln!("runner images in {:.1}s", started.elapsed().as_secs_f64());
            }
        }
        Command::Uninstall { timeout } => {
            let started = Instant::now();
            fmesh_e2e::Cluster::running(cluster)
                .await
                .context("connecting to the cluster (is it up?)")?
                .uninstall(std::time::Duration::from_secs(timeout))
                .await
                .context("uninstalling fmesh")?;
            eprintln!(
                "fmesh uninstalled in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        Command::Status => {
            let status = cluster.status().await;
            println!("{status}");
            if !status.healthy() {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Kubectl { args } => {
            let kubectl = cluster.binaries().program("kubectl");
            let status = std::process::Command::new(&kubectl)
                .env("KUBECONFIG", cluster.layout().admin_kubeconfig())
                .args(args)
                .status()
                .with_context(|| format!("running {} (is the cluster up?)", kubectl.display()))?;
            return Ok(ExitCode::from(
                status
                    .code()
                    .and_then(|c| u8::try_from(c).ok())
                    .unwrap_or(1),
            ));
        }
        Command::Bundle { workspace } => {
            let workspace = workspace.unwrap_or_else(default_workspace);
            let kubectl = cluster.binaries().program("kubectl");
            let files = fmesh_e2e::bundle::generate(&kubectl, &workspace)
                .context("generating the bundle (kubectl comes from `fmesh-e2e up`)")?;
            fmesh_e2e::bundle::write(&workspace, &files)?;
            for path in files.keys() {
                println!("{}", path.display());
            }
        }
        Command::Pulsar { command } => return Ok(fmesh_e2e::pulsar::cli::run(command).await?),
        Command::Logs { component, lines } => {
            print!("{}", cluster.logs(&component, lines)?);
            println!();
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The workspace this binary was built from (e2e's parent directory).
fn default_workspace() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
