//! `fmesh`: validate fmesh manifests, draw meshes, print the CRDs.

mod connectors;
mod crds;
mod document;
mod graph;
mod input;
mod manifest;
mod run;
mod run_members;
mod run_status;
mod validate;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

/// Exit status for unreadable input and usage errors (clap uses it too).
const EXIT_UNREADABLE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "fmesh",
    version,
    about = "Function Mesh, rebuilt in Rust: serverless Pulsar stream processing on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check fmesh manifests with the same rules admission applies.
    ///
    /// Reads multi-document YAML (or JSON) files, directories (walked recursively for *.yaml,
    /// *.yml and *.json, sorted) or `-` for stdin. Objects of other kinds (ConfigMap, Secret, …)
    /// are skipped; the items of a `kind: List` (as `kubectl get -o yaml` prints) are checked
    /// one by one. Prints one line per finding: `file:line: [warning: ]Kind/name: path: message
    /// (hint)`, and a summary on stderr.
    ///
    /// Exit status: 0 valid (warnings allowed), 1 invalid (or warnings with --strict),
    /// 2 unreadable input (missing, over 16 MiB, binary, not YAML, nested too deep) or usage error.
    Validate(ValidateArgs),
    /// Draw the meshes of a file as Graphviz DOT or Mermaid.
    ///
    /// Each FunctionMesh becomes one cluster: members (sources, functions, sinks) and topics are
    /// nodes, with edges producer → topic → consumer. Standalone Function, Source and Sink objects
    /// in the file are drawn together as one more cluster, as if members of one mesh. Topics
    /// nothing produces or consumes are dashed red; members on a cycle are red and marked.
    /// Objects that do not parse are skipped with a warning (`fmesh validate` says why).
    ///
    /// Exit status: 0 drawn, 1 nothing to draw, 2 unreadable input or usage error.
    Graph(GraphArgs),
    /// Print the CustomResourceDefinitions, or write one file each with --out.
    Crds(CrdsArgs),
    /// List the connector catalogue: fmesh's native connectors and the Pulsar IO connectors.
    ///
    /// Native connectors run in fmesh-runner (`builtin: {name: …}` in a Source or Sink) and
    /// have a JSON Schema for their sourceConfig/sinkConfig (printed by `-o json`), which
    /// admission and `fmesh validate` check. Pulsar IO connectors are named by
    /// `java.jar: builtin://<name>` or `sourceType`/`sinkType`; their required keys are checked.
    Connectors(ConnectorsArgs),
    /// Print the objects the operator would apply for the CRs in a file, from its own builders.
    ///
    /// For GitOps review and debugging: StatefulSets, Services, HPAs, PDBs (and a mesh's child
    /// Functions, Sources and Sinks), as multi-document YAML. Defaults are applied first, as
    /// admission would. Objects that do not validate are not rendered; their errors go to stderr.
    ///
    /// Exit status: 0 rendered, 1 some object invalid or nothing to render, 2 unreadable input.
    Render(RenderArgs),
    /// Run Functions, Sources, Sinks and FunctionMeshes locally, in this process.
    ///
    /// The inputs are checked as `fmesh validate` checks them (and refused the same way); each
    /// mesh is expanded into its members as the operator does; every member × replicas runs
    /// with fmesh-runner against an embedded broker on a free loopback port (or --pulsar-url).
    /// Members the runner cannot run (java, golang, …) are refused with their field path.
    /// Prints a line per member (received, processed, errors, msg/s) every --status-interval-ms.
    /// Ctrl-C (or SIGTERM, --duration, --messages) stops sources first, drains in-flight
    /// messages and exits 0; a second Ctrl-C exits at once (130).
    ///
    /// Exit status: 0 stopped cleanly, 1 invalid or unrunnable input or a failed instance,
    /// 2 unreadable input.
    Run(run::RunArgs),
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// A manifest file, or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    file: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ValidateArgs {
    /// Files, directories, or `-` for stdin.
    #[arg(required = true, value_name = "FILE|DIR|-")]
    paths: Vec<PathBuf>,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    strict: bool,
    /// How findings are printed.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// One line per finding.
    Text,
    /// A JSON array of {file, line, kind, name, severity, path, message, hint}.
    Json,
}

#[derive(Debug, clap::Args)]
struct GraphArgs {
    /// A manifest file, or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    file: PathBuf,
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    format: GraphFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum GraphFormat {
    /// Graphviz (`dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

#[derive(Debug, clap::Args)]
struct ConnectorsArgs {
    /// `text` (tables) or `json` (with config schemas).
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

#[derive(Debug, clap::Args)]
struct CrdsArgs {
    /// Write each CRD to DIR/<plural>.<group>.yaml instead of printing them.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => run_validate(&args),
        Command::Graph(args) => run_graph(&args),
        Command::Crds(args) => run_crds(&args),
        Command::Connectors(args) => run_connectors(&args),
        Command::Render(args) => run_render(&args),
        Command::Run(args) => {
            init_tracing();
            run::run(&args)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("fmesh: error: {e:#}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}

/// Logs of the instances on stderr; warnings only unless RUST_LOG says otherwise.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // pulsar-rs logs every first connect attempt as a warning.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,pulsar::retry_op=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run_validate(args: &ValidateArgs) -> anyhow::Result<u8> {
    let (files, expand_errors) = input::expand(&args.paths);
    let outcome = validate::check_inputs(&files, expand_errors);
    quiet_broken_pipe(validate::print(&outcome, args.output == OutputFormat::Json))
        .context("writing findings")?;
    if args.output == OutputFormat::Text {
        eprintln!("{}", outcome.summary());
    }
    Ok(outcome.exit_code(args.strict))
}

/// The fmesh objects of one file or stdin, with a warning for each that does not parse.
fn load_objects(
    file: &std::path::Path,
    verb: &str,
) -> anyhow::Result<(String, Vec<manifest::FmeshObject>)> {
    let path = if file.as_os_str() == "-" {
        input::InputPath::Stdin
    } else {
        input::InputPath::File(file.to_path_buf())
    };
    let source = input::read(&path)?;
    let docs = document::parse_documents(&source.text).with_context(|| source.name.clone())?;
    let objects: Vec<manifest::FmeshObject> = docs
        .into_iter()
        .flat_map(manifest::classify)
        .filter_map(|m| match m {
            manifest::Manifest::Fmesh(obj) => Some(obj),
            _ => None,
        })
        .collect();
    for obj in objects.iter().filter(|o| o.resource().is_none()) {
        eprintln!(
            "fmesh: warning: {}:{}: {}/{} does not parse and is not {verb} (run `fmesh validate`)",
            source.name,
            obj.doc.first_line(),
            obj.kind,
            obj.name
        );
    }
    Ok((source.name, objects))
}

fn run_graph(args: &GraphArgs) -> anyhow::Result<u8> {
    let (name, objects) = load_objects(&args.file, "drawn")?;
    let resources: Vec<&fmesh_crds::Resource> = objects
        .iter()
        .filter_map(manifest::FmeshObject::resource)
        .collect();
    let clusters = graph::clusters(&resources);
    if clusters.is_empty() {
        eprintln!("fmesh: error: {name}: no FunctionMesh, Function, Source or Sink to draw");
        return Ok(1);
    }
    let text = match args.format {
        GraphFormat::Dot => graph::render_dot(&clusters),
        GraphFormat::Mermaid => graph::render_mermaid(&clusters),
    };
    write_stdout(&text).context("writing the graph")?;
    Ok(0)
}

fn run_render(args: &RenderArgs) -> anyhow::Result<u8> {
    let (name, objects) = load_objects(&args.file, "rendered")?;
    let caps = fmesh_operator::Capabilities::latest();
    let cfg = fmesh_operator::OperatorConfig::default();
    let mut out = String::new();
    let mut invalid = objects.len() != objects.iter().filter(|o| o.resource().is_some()).count();
    for res in objects.iter().filter_map(manifest::FmeshObject::resource) {
        let report = res.validate();
        if !report.is_valid() {
            invalid = true;
            for d in report.errors() {
                eprintln!("fmesh: {name}: {}/{}: {d}", res.kind(), res.name());
            }
            continue;
        }
        let mut defaulted = res.clone();
        defaulted.apply_defaults();
        for obj in fmesh_operator::render::render_with(&defaulted, &cfg, &caps) {
            out.push_str("---\n");
            out.push_str(&serde_saphyr::to_string(&obj).context("serializing an object")?);
        }
    }
    if out.is_empty() {
        eprintln!("fmesh: error: {name}: nothing to render");
        return Ok(1);
    }
    write_stdout(&out).context("writing the objects")?;
    Ok(u8::from(invalid))
}

fn run_connectors(args: &ConnectorsArgs) -> anyhow::Result<u8> {
    let text = match args.output {
        OutputFormat::Text => connectors::table(),
        OutputFormat::Json => format!("{:#}\n", connectors::json()),
    };
    write_stdout(&text).context("writing the catalogue")?;
    Ok(0)
}

fn run_crds(args: &CrdsArgs) -> anyhow::Result<u8> {
    let rendered = crds::rendered()?;
    match &args.out {
        Some(dir) => {
            for path in crds::write_all(dir, &rendered)? {
                eprintln!("wrote {path}");
            }
        }
        None => write_stdout(&crds::stream(&rendered)).context("writing the CRDs")?,
    }
    Ok(0)
}

/// Writes to stdout; a reader that went away (`fmesh … | head`) is not an error.
fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    quiet_broken_pipe(
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush()),
    )
}

fn quiet_broken_pipe(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
