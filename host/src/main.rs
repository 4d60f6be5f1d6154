//! The `sitelink` command: key tools, config check and export, the gateway
//! service and its status. Exit codes: 0 success, 1 failure at run time, 2 bad input
//! (config, key, arguments, or a start-up check such as an address in use).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use sitelink::api::{Request, Response};
use sitelink::control::admin::{self, chain};
use sitelink::control::render;
use sitelink::export::{self, ExportError};
use sitelink::{config, driver, keys};

// jemalloc, for a heap that gives back what swaps and churn free (why, and
// its options: `sitelink::control::heap`).
sitelink::gateway_allocator!();

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
    /// Write the far side's configuration of one VPN connection: wg-quick
    /// files, BIRD 2, GoBGP, or a sitelink gateway of the opposite role.
    Export(ExportArgs),
    /// Run the gateway until SIGINT or SIGTERM.
    Run {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Show a running gateway's connections, tunnels and counters.
    Status {
        #[command(flatten)]
        gateway: Gateway,
        /// Print the status document as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a running gateway's BGP sessions: state, uptime, prefixes
    /// received, accepted and advertised.
    #[command(subcommand_negates_reqs = true)]
    Bgp {
        #[command(subcommand)]
        action: Option<BgpAction>,
        #[command(flatten)]
        gateway: Gateway,
        #[arg(long, global = true)]
        json: bool,
    },
    /// Show a running gateway's route table: every candidate with its
    /// source, tunnel, AS path, and whether it is installed.
    Routes {
        #[command(flatten)]
        gateway: Gateway,
        /// Only routes of prefixes inside CIDR (itself included).
        #[arg(long, value_name = "CIDR")]
        prefix: Option<IpNet>,
        /// Only routes of this VPN connection.
        #[arg(long, value_name = "NAME")]
        connection: Option<String>,
        /// At most N routes (default 10000, at most 100000: the gateway
        /// builds the list between its liveness probes).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// List, swap or remove a running gateway's policy plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Read the gateway's config file again and apply what changed without
    /// a restart (routes, networks, limits, failback hold, propagation,
    /// plugins); tunnels and BGP sessions keep running. A config with an
    /// error, or a change that needs a restart, changes nothing (exit 2,
    /// with the reasons). SIGHUP does the same.
    Reload {
        #[command(flatten)]
        gateway: Gateway,
        /// Only show what would change.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// One line per tunnel: liveness, handshake age, weight, drain and
    /// counters.
    Tunnels {
        #[command(flatten)]
        gateway: Gateway,
        #[arg(long)]
        json: bool,
    },
    /// Planned maintenance: move traffic off a tunnel, or back.
    Tunnel {
        #[command(subcommand)]
        command: TunnelCommand,
    },
}

#[derive(Subcommand)]
enum TunnelCommand {
    /// Move traffic off tunnel CIDR (its inside CIDR), the far side first:
    /// BFD AdminDown on a static connection, a longer AS path and a worse
    /// MED over its BGP session on a dynamic one (then ours follows). Waits
    /// until the far side has moved.
    Drain {
        #[arg(value_name = "CIDR")]
        tunnel: String,
        #[command(flatten)]
        gateway: Gateway,
        #[arg(long)]
        json: bool,
    },
    /// Put a drained tunnel back to what the failover decision says.
    Undrain {
        #[arg(value_name = "CIDR")]
        tunnel: String,
        #[command(flatten)]
        gateway: Gateway,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BgpAction {
    /// Ask peers to send their routes again (ROUTE-REFRESH, RFC 2918):
    /// every established session, or the one over --tunnel.
    Refresh {
        /// The tunnel (inside CIDR) whose session to refresh.
        #[arg(long, value_name = "CIDR")]
        tunnel: Option<String>,
    },
}

/// Which running gateway: by its config or its admin socket.
#[derive(Args)]
struct Gateway {
    /// The gateway's config (to find its admin socket).
    #[arg(
        short,
        long,
        value_name = "FILE",
        required_unless_present = "socket",
        global = true
    )]
    config: Option<PathBuf>,
    /// The admin socket, instead of the config.
    #[arg(long, value_name = "PATH", conflicts_with = "config", global = true)]
    socket: Option<PathBuf>,
}

/// `sitelink export`'s arguments.
#[derive(Args)]
struct ExportArgs {
    /// This gateway's config.
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// The VPN connection to export.
    #[arg(long, value_name = "NAME")]
    connection: String,
    /// wg-quick (a file per tunnel), bird (BIRD 2), gobgp (gobgpd TOML) or
    /// sitelink (a gateway of the opposite role).
    #[arg(long, value_name = "FORMAT")]
    format: String,
    /// Write the files into DIR (created if missing) instead of stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The far side's private key, checked against the tunnels'
    /// remote_public_key and put into the wg-quick files (and, with --out,
    /// copied next to a sitelink config).
    #[arg(long, value_name = "FILE")]
    private_key: Option<PathBuf>,
    /// A prefix of the far site to advertise (repeatable; bird, gobgp,
    /// sitelink). Default: the connection's static_routes.
    #[arg(long = "network", value_name = "PREFIX")]
    networks: Vec<String>,
    /// The address the far side reaches an endpoint at, for endpoints that
    /// listen on 0.0.0.0 or [::].
    #[arg(long, value_name = "IP")]
    endpoint_address: Option<String>,
    /// The far gateway's name (sitelink format). Default: cgw if this
    /// gateway is the vgw, else vgw.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Each slot with its plugin, version, calls, faults and mean call time.
    List {
        #[command(flatten)]
        gateway: Gateway,
        #[arg(long)]
        json: bool,
    },
    /// Load FILE into SLOT (failover, route-selection, bgp-filter) without
    /// resetting any tunnel; --dry-run only shows what would change.
    Swap {
        slot: String,
        file: PathBuf,
        #[command(flatten)]
        gateway: Gateway,
        /// Show the route-table and tunnel-weight changes; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Install it even if it faults on the stored routes or the
        /// current tunnel health (by default such a swap is refused).
        #[arg(long, conflicts_with = "dry_run")]
        force: bool,
        /// A parameter for the plugin (repeatable). Without any, the
        /// parameters the config sets for the slot are used.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Put SLOT back to the built-in default.
    Remove {
        slot: String,
        #[command(flatten)]
        gateway: Gateway,
        #[arg(long)]
        json: bool,
    },
    /// Run FILE in shadow mode in SLOT: beside the plugin in force, on the
    /// same live events, its answers compared and never acted on.
    Shadow {
        slot: String,
        file: PathBuf,
        #[command(flatten)]
        gateway: Gateway,
        /// A parameter for the plugin (repeatable). Without any, the
        /// parameters the config sets for the slot are used.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Where the shadow of SLOT differed from the plugin in force.
    Diff {
        slot: String,
        #[command(flatten)]
        gateway: Gateway,
        #[arg(long)]
        json: bool,
    },
    /// Install the shadow of SLOT as its plugin (refused if it faulted).
    Promote {
        slot: String,
        #[command(flatten)]
        gateway: Gateway,
        #[arg(long)]
        json: bool,
    },
    /// End shadow mode in SLOT.
    Unshadow {
        slot: String,
        #[command(flatten)]
        gateway: Gateway,
        #[arg(long)]
        json: bool,
    },
    /// Run FILE (a bgp-filter or route-selection component) over routes
    /// recorded with `sitelink routes --json` or written by hand, offline:
    /// each route's verdict and changed attributes, or each prefix's
    /// installed candidates. Exits 1 if the plugin faults.
    Test {
        file: PathBuf,
        /// bgp-filter or route-selection.
        #[arg(long)]
        slot: String,
        /// The routes: `sitelink routes --json` output, or a JSON list of
        /// routes (only "prefix" is required).
        #[arg(long, value_name = "ROUTES.json")]
        routes: PathBuf,
        /// A parameter for the plugin (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Run the export filter instead of the import filter. Live, the
        /// export filter sees only this gateway's `[bgp] networks`, each
        /// with an AS path of the local AS alone, origin IGP and the local
        /// next hop; write the routes file that way to see what it does.
        #[arg(long)]
        export: bool,
        /// The peer's AS number (default: the first AS of each route's path).
        #[arg(long)]
        peer_asn: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

/// Bad input: config, key, or a start-up check.
const EXIT_BAD_INPUT: u8 = 2;

/// A command's output into a closed pipe (`sitelink routes | head`) ends it
/// quietly, as it does any Unix tool: Rust's runtime ignores SIGPIPE, and
/// `print!` then panics on the write. The gateway itself (`run`) keeps it
/// ignored: its sockets get EPIPE, an error it handles.
fn quiet_on_closed_pipe() {
    // SAFETY: called at the start of main, before this process starts any
    // thread; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run { .. }) {
        quiet_on_closed_pipe();
    }
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
        Command::Export(args) => export_connection(&args),
        Command::Run { config } => run(&config),
        Command::Status { gateway, json } => ask(&gateway, &Request::Status, json),
        Command::Bgp {
            action: Some(BgpAction::Refresh { tunnel }),
            gateway,
            json,
        } => ask(&gateway, &Request::BgpRefresh { tunnel }, json),
        Command::Bgp {
            action: None,
            gateway,
            json,
        } => ask(&gateway, &Request::Bgp, json),
        Command::Routes {
            gateway,
            prefix,
            connection,
            limit,
            json,
        } => {
            let request = Request::Routes {
                prefix: prefix.map(|p| p.trunc().to_string()),
                connection,
                limit,
            };
            ask(&gateway, &request, json)
        }
        Command::Plugin { command } => plugin(command),
        Command::Reload {
            gateway,
            dry_run,
            json,
        } => ask_or(&gateway, &Request::Reload { dry_run }, json, EXIT_BAD_INPUT),
        Command::Tunnels { gateway, json } => {
            ask_with(&gateway, &Request::Status, json, 1, |r| match r {
                Response::Status(s) => render::tunnels(s),
                other => render::response(other),
            })
        }
        Command::Tunnel { command } => {
            let (tunnel, gateway, json, drain) = match command {
                TunnelCommand::Drain {
                    tunnel,
                    gateway,
                    json,
                } => (tunnel, gateway, json, true),
                TunnelCommand::Undrain {
                    tunnel,
                    gateway,
                    json,
                } => (tunnel, gateway, json, false),
            };
            ask(&gateway, &Request::TunnelDrain { tunnel, drain }, json)
        }
    }
}

fn plugin(command: PluginCommand) -> ExitCode {
    match command {
        PluginCommand::List { gateway, json } => ask(&gateway, &Request::PluginList, json),
        PluginCommand::Diff {
            slot,
            gateway,
            json,
        } => ask(&gateway, &Request::PluginDiff { slot }, json),
        PluginCommand::Promote {
            slot,
            gateway,
            json,
        } => ask(&gateway, &Request::PluginPromote { slot }, json),
        PluginCommand::Unshadow {
            slot,
            gateway,
            json,
        } => ask(&gateway, &Request::PluginUnshadow { slot }, json),
        PluginCommand::Shadow {
            slot,
            file,
            gateway,
            params,
            json,
        } => {
            let path = match plugin_path(&file) {
                Ok(p) => p,
                Err(e) => return fail(EXIT_BAD_INPUT, e),
            };
            let params = match parse_params(&params) {
                Ok(p) => p,
                Err(e) => return fail(EXIT_BAD_INPUT, e),
            };
            let request = Request::PluginShadow {
                slot,
                path,
                params: (!params.is_empty()).then_some(params),
            };
            ask(&gateway, &request, json)
        }
        PluginCommand::Test {
            file,
            slot,
            routes,
            params,
            export,
            peer_asn,
            json,
        } => {
            let direction = if export {
                sitelink::policy::Direction::Export
            } else {
                sitelink::policy::Direction::Import
            };
            plugin_test(&file, &slot, &routes, &params, direction, peer_asn, json)
        }
        PluginCommand::Remove {
            slot,
            gateway,
            json,
        } => ask(&gateway, &Request::PluginRemove { slot }, json),
        PluginCommand::Swap {
            slot,
            file,
            gateway,
            dry_run,
            force,
            params,
            json,
        } => {
            let file = match plugin_path(&file) {
                Ok(f) => f,
                Err(e) => return fail(EXIT_BAD_INPUT, e),
            };
            let given = match parse_params(&params) {
                Ok(given) => given,
                Err(e) => return fail(EXIT_BAD_INPUT, e),
            };
            let request = Request::PluginSwap {
                slot,
                path: file,
                params: (!given.is_empty()).then_some(given),
                dry_run,
                force,
            };
            ask(&gateway, &request, json)
        }
    }
}

/// A plugin file's absolute path, for the gateway (which opens it).
fn plugin_path(file: &Path) -> Result<PathBuf, String> {
    let path = std::fs::canonicalize(file).map_err(|e| {
        format!(
            "plugin file {}: {e}\n  fix: give the path of a .wasm component",
            file.display()
        )
    })?;
    if path.to_str().is_none() {
        return Err(format!(
            "plugin file {}: the path is not UTF-8\n  fix: rename the file or a directory above it",
            path.display()
        ));
    }
    Ok(path)
}

/// `--param KEY=VALUE` arguments.
fn parse_params(params: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut given = BTreeMap::new();
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            return Err(format!(
                "--param {p:?} is not KEY=VALUE\n  fix: e.g. --param prefer=169.254.11.0/30"
            ));
        };
        given.insert(k.to_string(), v.to_string());
    }
    Ok(given)
}

/// `sitelink plugin test`: the plugin under the default limits of
/// `[plugins]`, over the routes file.
fn plugin_test(
    file: &Path,
    slot: &str,
    routes: &Path,
    params: &[String],
    direction: sitelink::policy::Direction,
    peer_asn: Option<u32>,
    json: bool,
) -> ExitCode {
    use sitelink::policy::{offline, EngineSettings, PolicyEngine, Slot};
    let slot = match slot {
        "bgp-filter" => Slot::BgpFilter,
        "route-selection" => Slot::RouteSelection,
        other => {
            return fail(
                EXIT_BAD_INPUT,
                format!(
                    "--slot {other:?}: plugin test runs bgp-filter or route-selection plugins\n  \
                     fix: for a failover plugin, use `sitelink plugin swap --dry-run` on a running gateway"
                ),
            )
        }
    };
    let params = match parse_params(params) {
        Ok(p) => p,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let text = match std::fs::read_to_string(routes) {
        Ok(t) => t,
        Err(e) => return fail(EXIT_BAD_INPUT, format!("{}: {e}", routes.display())),
    };
    let list = match offline::parse_routes(&text) {
        Ok(l) => l,
        Err(e) => return fail(EXIT_BAD_INPUT, format!("{}: {e}", routes.display())),
    };
    let engine = PolicyEngine::new(EngineSettings {
        deadline: std::time::Duration::from_millis(50),
        memory_limit_bytes: 64 << 20,
        max_faults: 5,
        cache_dir: None,
    });
    let mut plugin = match engine.and_then(|e| e.load(slot, file, params)) {
        Ok(p) => p,
        Err(e) => return fail(EXIT_BAD_INPUT, chain(&e)),
    };
    let report = match (plugin.try_empty(), slot) {
        (Err(fault), _) => offline::refused(&plugin, fault),
        (Ok(()), Slot::BgpFilter) => offline::run_filter(&mut plugin, direction, &list, peer_asn),
        (Ok(()), _) => offline::run_selection(&mut plugin, &list),
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => return fail(1, e),
        }
    } else {
        print!("{}", render::plugin_test(&report));
    }
    if report.fault.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sitelink: {message}");
    ExitCode::from(code)
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
            match sitelink::policy::check_configured(&cfg.plugins, &mut |line| println!("{line}")) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(EXIT_BAD_INPUT, e),
            }
        }
        Err(e) => fail(EXIT_BAD_INPUT, e),
    }
}

fn export_connection(args: &ExportArgs) -> ExitCode {
    let request = match export_request(args) {
        Ok(r) => r,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let cfg = match config::load(&args.config) {
        Ok(cfg) => cfg,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let result = match export::export(&cfg, &request) {
        Ok(r) => r,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    for w in &result.warnings {
        eprintln!("sitelink: warning: {w}");
    }
    match &args.out {
        None => print!("{}", export::to_stdout(&result)),
        Some(dir) => match export::write_files(dir, &result) {
            Ok(paths) => {
                for p in paths {
                    eprintln!("sitelink: wrote {}", p.display());
                }
            }
            Err(e) => return fail(EXIT_BAD_INPUT, e),
        },
    }
    ExitCode::SUCCESS
}

/// The export request from the arguments (the key file is read here).
fn export_request(args: &ExportArgs) -> Result<export::Request, ExportError> {
    let format = args.format.parse()?;
    let networks = if args.networks.is_empty() {
        None
    } else {
        let parsed: Result<Vec<_>, _> = args
            .networks
            .iter()
            .map(|n| export::parse_network(n))
            .collect();
        Some(parsed?)
    };
    Ok(export::Request {
        connection: args.connection.clone(),
        format,
        networks,
        far_name: args
            .name
            .as_deref()
            .map(export::parse_far_name)
            .transpose()?,
        endpoint_address: args
            .endpoint_address
            .as_deref()
            .map(export::parse_endpoint_address)
            .transpose()?,
        private_key: args
            .private_key
            .as_deref()
            .map(export::read_far_key)
            .transpose()?,
    })
}

fn run(path: &Path) -> ExitCode {
    // The config first: it says the log's format (its own errors go to
    // stderr as every command's do).
    let cfg = match config::load(path) {
        Ok(cfg) => cfg,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format {
        config::LogFormat::Human => log.init(),
        config::LogFormat::Json => log.json().init(),
    }
    match driver::run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        // Not the config's fault: exit 1, so that a service manager tells
        // it from bad input and starts the gateway again.
        Err(e @ driver::StartError::DataPathEnded(_)) => fail(1, chain(&e)),
        // Every start-up failure is something the operator fixes in the
        // config or the machine: bad input.
        Err(e) => fail(EXIT_BAD_INPUT, chain(&e)),
    }
}

/// Sends `request` to the gateway and prints the answer (as JSON, or
/// rendered for people). An answer with an `error` exits 1.
fn ask(gateway: &Gateway, request: &Request, json: bool) -> ExitCode {
    ask_or(gateway, request, json, 1)
}

/// [`ask`], an error answer exiting with `error_code`.
fn ask_or(gateway: &Gateway, request: &Request, json: bool, error_code: u8) -> ExitCode {
    ask_with(gateway, request, json, error_code, render::response)
}

/// [`ask_or`] with a renderer of its own.
fn ask_with(
    gateway: &Gateway,
    request: &Request,
    json: bool,
    error_code: u8,
    render: fn(&Response) -> String,
) -> ExitCode {
    let socket = match (&gateway.socket, &gateway.config) {
        (Some(s), _) => s.clone(),
        (None, Some(path)) => match config::load(path) {
            Ok(cfg) => cfg.admin_socket,
            Err(e) => return fail(EXIT_BAD_INPUT, e),
        },
        (None, None) => return fail(EXIT_BAD_INPUT, "give -c FILE or --socket PATH"),
    };
    match admin::query(&socket, request) {
        Ok(Response::Error(e)) => fail(error_code, e.error),
        Ok(reply) => {
            if json {
                println!("{}", reply.to_line());
            } else {
                print!("{}", render(&reply));
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, chain(&e)),
    }
}
