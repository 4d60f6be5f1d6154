//! The `sitelink` command: key tools, config check, the gateway service and
//! its status. Exit codes: 0 success, 1 failure at run time, 2 bad input
//! (config, key, arguments, or a start-up check such as an address in use).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sitelink::{config, control::admin, keys, service};

#[derive(Parser)]
#[command(
    name = "sitelink",
    version,
    about = "A userspace site-to-site VPN gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a new private key (base64, as `wg genkey`).
    Genkey,
    /// Read a private key on stdin, print its public key (as `wg pubkey`).
    Pubkey,
    /// Validate a gateway config; exit 2 with file:line:column on error.
    Check {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the gateway until SIGINT or SIGTERM.
    Run {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Show a running gateway's connections, tunnels and counters.
    Status {
        /// The gateway's config (to find its admin socket).
        #[arg(short, long, value_name = "FILE", required_unless_present = "socket")]
        config: Option<PathBuf>,
        /// The admin socket, instead of the config.
        #[arg(long, value_name = "PATH", conflicts_with = "config")]
        socket: Option<PathBuf>,
        /// Print the status document as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Bad input: config, key, or a start-up check.
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Genkey => match keys::generate_private_key() {
            Ok(key) => {
                println!("{}", keys::encode_key(&key));
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, chain(&e)),
        },
        Command::Pubkey => pubkey(),
        Command::Check { config } => check(&config),
        Command::Run { config } => run(&config),
        Command::Status {
            config,
            socket,
            json,
        } => status(config.as_deref(), socket.as_deref(), json),
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sitelink: {message}");
    ExitCode::from(code)
}

/// An error with its chain of causes, one per line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text += &format!("\n  caused by: {cause}");
        source = cause.source();
    }
    text
}

fn pubkey() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().take(1024).read_to_string(&mut input) {
        return fail(EXIT_BAD_INPUT, format!("cannot read a key on stdin: {e}"));
    }
    match keys::decode_key(&input) {
        Ok(private) => {
            println!("{}", keys::encode_key(&keys::public_key_of(&private)));
            ExitCode::SUCCESS
        }
        Err(e) => fail(
            EXIT_BAD_INPUT,
            format!(
                "stdin: {e}\n  fix: pipe a private key made by `sitelink genkey` or `wg genkey`"
            ),
        ),
    }
}

fn check(path: &Path) -> ExitCode {
    match config::load(path) {
        Ok(cfg) => {
            let tunnels: usize = cfg.connections.iter().map(|c| c.tunnels.len()).sum();
            println!(
                "{}: ok: gateway {} ({:?}), {} endpoint(s), {} connection(s), {} tunnel(s)",
                path.display(),
                cfg.name,
                cfg.role,
                cfg.endpoints.len(),
                cfg.connections.len(),
                tunnels
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(EXIT_BAD_INPUT, e),
    }
}

fn run(path: &Path) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cfg = match config::load(path) {
        Ok(cfg) => cfg,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    match service::run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        // Every start-up failure is something the operator fixes in the
        // config or the machine: bad input.
        Err(e) => fail(EXIT_BAD_INPUT, chain(&e)),
    }
}

fn status(config_path: Option<&Path>, socket: Option<&Path>, json: bool) -> ExitCode {
    let socket = match (socket, config_path) {
        (Some(s), _) => s.to_path_buf(),
        (None, Some(path)) => match config::load(path) {
            Ok(cfg) => cfg.admin_socket,
            Err(e) => return fail(EXIT_BAD_INPUT, e),
        },
        (None, None) => return fail(EXIT_BAD_INPUT, "give -c FILE or --socket PATH"),
    };
    match admin::query(&socket, "status") {
        Ok(doc) if json => {
            println!("{doc}");
            ExitCode::SUCCESS
        }
        Ok(doc) => {
            print!("{}", admin::render(&doc));
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, chain(&e)),
    }
}
