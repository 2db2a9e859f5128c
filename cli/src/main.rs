//! `fmesh`: validate fmesh manifests, draw meshes, print the CRDs.

mod crds;
mod document;
mod graph;
mod input;
mod manifest;
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
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("fmesh: error: {e:#}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
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

fn run_graph(args: &GraphArgs) -> anyhow::Result<u8> {
    let path = if args.file.as_os_str() == "-" {
        input::InputPath::Stdin
    } else {
        input::InputPath::File(args.file.clone())
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
            "fmesh: warning: {}:{}: {}/{} does not parse and is not drawn (run `fmesh validate`)",
            source.name,
            obj.doc.first_line(),
            obj.kind,
            obj.name
        );
    }
    let resources: Vec<&fmesh_crds::Resource> = objects
        .iter()
        .filter_map(manifest::FmeshObject::resource)
        .collect();
    let clusters = graph::clusters(&resources);
    if clusters.is_empty() {
        eprintln!(
            "fmesh: error: {}: no FunctionMesh, Function, Source or Sink to draw",
            source.name
        );
        return Ok(1);
    }
    let text = match args.format {
        GraphFormat::Dot => graph::render_dot(&clusters),
        GraphFormat::Mermaid => graph::render_mermaid(&clusters),
    };
    write_stdout(&text).context("writing the graph")?;
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
