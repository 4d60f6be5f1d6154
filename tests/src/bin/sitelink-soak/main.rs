//! `sitelink-soak`: the soak benchmark of the hardening issue. For MINUTES
//! (default 30) a sitelink VGW carries traffic while its BGP peer adds and
//! withdraws 10,000 routes every few seconds, a plugin is swapped every
//! minute and the config is reloaded every 5 minutes; it reports the VGW's
//! RSS at the start and the end, the errors, and every packet lost, with
//! its time, next to the event log, so that a reader sees whether a loss
//! coincides with an event. The targets: RSS growth under 5%, and nothing
//! lost outside the planned events (swaps and reloads are meant to be
//! hitless, so ideally nothing at all).
//!
//! The lab (`setup`): topology 4 (interop) of ARCHITECTURE.md, a sitelink
//! VGW (the default Wasm `bgp-filter` and `route-selection` plugins loaded)
//! and, as the customer gateway, wireguard-go tunnels and BIRD 2 configured
//! from `sitelink export`, with a `protocol static` of 10,000 churn routes.
//! Then a warm-up (each plugin compiled, two churn cycles, one round of
//! the swaps, a reload there and back), after which the soak's clock starts
//! and, until it ends:
//! - `churn`: `birdc enable/disable churn4` every SOAK_CHURN_S (5) seconds,
//!   each toggle followed until the VGW's FIB holds all or none of the
//!   routes (so they really arrive and leave), timed;
//! - `planned`: a `sitelink plugin swap` every SOAK_SWAP_S (60) seconds
//!   from 45 s on, and a `sitelink reload` adding or removing a network
//!   every SOAK_RELOAD_S (300) seconds from 150 s on (SOAK_SWAP_SLOT=SLOT:
//!   only that slot's swaps);
//! - `traffic`: a ping train site A -> site B every 10 ms (`ping -D`), and
//!   an iperf3 UDP stream at SOAK_UDP_RATE (5M; `0` for none);
//! - `watch`: the VGW's RSS and BGP sessions every SOAK_SAMPLE_S (5)
//!   seconds; afterwards its log's WARN/ERROR lines and its tunnel log.
//!
//! `report` prints markdown for BENCHMARKS.md on stdout (progress goes to
//! stderr). SOAK_OUT=DIR keeps the lab's logs and configs and the report
//! there. Exit 1 if the soak could not run (the reason on stderr); a soak
//! that ran but missed a target still exits 0 with the report saying so.
//!
//! Usage (as root): `scripts/soak.sh [MINUTES]`, or with a built gateway
//! and plugins: `SITELINK_BIN=target/release/sitelink
//! target/release/sitelink-soak [MINUTES]` (fractions allowed: `0.5`).

use std::fs;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use sitelink_lab::cleanup::{install_signal_cleanup, Watchdog};
use sitelink_lab::proc_stat::proc_status_bytes;
use sitelink_lab::{Error, Result};

mod churn;
mod planned;
mod report;
mod setup;
mod timeline;
mod traffic;
mod watch;

use churn::pause_until;
use planned::Planned;
use report::Outcome;
use timeline::Timeline;
use traffic::Traffic;
use watch::Resources;

/// Churn cycles before the soak's clock starts.
const WARMUP_CYCLES: u32 = 2;

/// What to run, from the argument and the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub minutes: f64,
    pub duration: Duration,
    /// SOAK_ROUTES: the churn routes.
    pub routes: u32,
    /// SOAK_CHURN_S: seconds between toggles (half a cycle).
    pub churn_half: Duration,
    /// SOAK_SWAP_S.
    pub swap_every: Duration,
    /// SOAK_RELOAD_S.
    pub reload_every: Duration,
    /// SOAK_SAMPLE_S.
    pub sample_every: Duration,
    /// SOAK_UDP_RATE (iperf3's `-b`), None for no UDP stream.
    pub udp_rate: Option<String>,
    /// SOAK_OUT: where to keep the logs and the report.
    pub out: Option<PathBuf>,
    /// SOAK_SWAP_SLOT: only the swaps of this slot (`bgp-filter` or
    /// `route-selection`), to tell their effects apart; the indexes of
    /// [`planned::SWAPS`] to go round.
    pub swap_rota: Vec<usize>,
}

fn env_or<T: FromStr>(key: &str, default: T) -> Result<T> {
    match std::env::var(key) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| Error::msg(format!("{key}={v:?} is not a valid number"))),
        Err(_) => Ok(default),
    }
}

fn seconds(key: &str, default: f64) -> Result<Duration> {
    let s: f64 = env_or(key, default)?;
    if !(s > 0.0 && s < 1e6) {
        return Err(Error::msg(format!(
            "{key} must be a positive number of seconds"
        )));
    }
    Ok(Duration::from_secs_f64(s))
}

impl Settings {
    fn read() -> Result<Settings> {
        let mut args = std::env::args().skip(1);
        let minutes: f64 = match args.next() {
            None => 30.0,
            Some(a) => a
                .parse()
                .map_err(|_| Error::msg(format!("MINUTES must be a number, not {a:?}")))?,
        };
        if let Some(extra) = args.next() {
            return Err(Error::msg(format!("unexpected argument {extra:?}")));
        }
        if !(minutes > 0.0 && minutes <= 24.0 * 60.0) {
            return Err(Error::msg("MINUTES must be above 0 and at most a day"));
        }
        let routes: u32 = env_or("SOAK_ROUTES", 10_000)?;
        if !(1..=1_000_000).contains(&routes) {
            return Err(Error::msg("SOAK_ROUTES must be from 1 to 1000000"));
        }
        let udp_rate = std::env::var("SOAK_UDP_RATE").unwrap_or_else(|_| "5M".into());
        Ok(Settings {
            minutes,
            duration: Duration::from_secs_f64(minutes * 60.0),
            routes,
            churn_half: seconds("SOAK_CHURN_S", 5.0)?,
            swap_every: seconds("SOAK_SWAP_S", 60.0)?,
            reload_every: seconds("SOAK_RELOAD_S", 300.0)?,
            sample_every: seconds("SOAK_SAMPLE_S", 5.0)?,
            udp_rate: (!matches!(udp_rate.trim(), "" | "0" | "off")).then_some(udp_rate),
            out: std::env::var_os("SOAK_OUT").map(PathBuf::from),
            swap_rota: planned::rota(std::env::var("SOAK_SWAP_SLOT").ok().as_deref())?,
        })
    }

    /// The first swap's and the first reload's soak time.
    fn first_events(&self) -> (f64, f64) {
        (
            self.swap_every.as_secs_f64() * 0.75,
            self.reload_every.as_secs_f64() / 2.0,
        )
    }
}

fn main() {
    install_signal_cleanup();
    let settings = match Settings::read() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sitelink-soak: {e}\nusage: sitelink-soak [MINUTES] (see the source's doc)");
            std::process::exit(2);
        }
    };
    // Above every bounded wait: set-up, the soak, the traffic's end.
    let _watchdog = Watchdog::arm(
        "sitelink-soak",
        settings.duration + Duration::from_secs(1200),
    );
    match soak(&settings) {
        Ok(report) => print!("{report}"),
        Err(e) => {
            eprintln!("sitelink-soak: {e}");
            std::process::exit(1);
        }
    }
}

/// The swaps and reloads, on schedule, until soak time `until` or `stop`.
fn planned_events(
    s: &setup::Soaked,
    t: &Timeline,
    cfg: &Settings,
    until: f64,
    stop: &AtomicBool,
) -> Planned {
    let mut done = Planned::default();
    let (mut next_swap, mut next_reload) = cfg.first_events();
    let (mut swaps, mut reloads) = (0, 0);
    loop {
        let next = next_swap.min(next_reload);
        if next >= until {
            break;
        }
        pause_until(t, next, stop);
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if next_reload <= next_swap {
            planned::reload(s, t, reloads, &mut done);
            reloads += 1;
            next_reload += cfg.reload_every.as_secs_f64();
        } else {
            let i = cfg.swap_rota[swaps % cfg.swap_rota.len()];
            planned::swap(s, t, i, &mut done);
            swaps += 1;
            next_swap += cfg.swap_every.as_secs_f64();
        }
    }
    pause_until(t, until, stop);
    done
}

/// Before the clock starts: each plugin compiled, [`WARMUP_CYCLES`] churn
/// cycles, and with the first cycle's table full one round of the swaps
/// and a reload there and back, so that the starting RSS holds what each
/// of them allocates the first time.
fn warm_up(s: &setup::Soaked) -> Result<()> {
    eprintln!(
        "[soak] warm-up: compiling the plugins, {WARMUP_CYCLES} churn cycles of {} routes, \
         {} swaps, 2 reloads",
        s.routes,
        planned::SWAPS.len()
    );
    planned::compile_ahead(s)?;
    for cycle in 0..WARMUP_CYCLES {
        let took = churn::toggle(s, true)?;
        eprintln!("[soak] warm-up: {} routes in after {took:?}", s.routes);
        // With the table full, as most of the soak's events will find it
        // (over both sessions: the swaps' times are then the same work in
        // every run).
        if cycle == 0 {
            let took = churn::settled(s)?;
            eprintln!("[soak] warm-up: every session holds them {took:?} later");
            for i in 0..planned::SWAPS.len() {
                let (took, _) = planned::swap_once(s, i)?;
                eprintln!("[soak] warm-up: swap {i} took {took:?}");
            }
            for add in [true, false] {
                let (took, _) = planned::reload_once(s, add)?;
                eprintln!("[soak] warm-up: reload (add={add}) took {took:?}");
            }
        }
        let took = churn::toggle(s, false)?;
        eprintln!("[soak] warm-up: {} routes out after {took:?}", s.routes);
    }
    Ok(())
}

/// Builds the lab, soaks it and renders the report; with SOAK_OUT, keeps
/// the lab's logs and configs there, also when the soak failed.
fn soak(cfg: &Settings) -> Result<String> {
    let machine = report::machine();
    eprintln!("[soak] building the lab (interop: sitelink VGW, wireguard-go and BIRD 2) ...");
    let s = setup::start(cfg.routes)?;
    let outcome = soak_on(&s, cfg, machine);
    if let Some(dir) = &cfg.out {
        let kept = s.keep_files(dir).and_then(|()| {
            if let Ok(o) = &outcome {
                fs::write(dir.join("report.md"), report::render(o))?;
                fs::write(dir.join("timeline.tsv"), report::timeline_tsv(o))?;
            }
            Ok(())
        });
        match kept {
            Ok(()) => eprintln!("[soak] logs and configs kept in {}", dir.display()),
            Err(e) => eprintln!("[soak] could not keep the logs in {}: {e}", dir.display()),
        }
    }
    outcome.map(|o| report::render(&o))
}

/// The warm-up and the soak on a running lab.
fn soak_on<'a>(s: &setup::Soaked, cfg: &'a Settings, machine: String) -> Result<Outcome<'a>> {
    warm_up(s).map_err(|e| s.lab.with_logs(e))?;
    let until = cfg.duration.as_secs_f64();
    let secs = cfg.duration.as_secs_f64().ceil() as u64;
    let traffic = Traffic::start(s, secs, cfg.udp_rate.as_deref())?;
    let t = Timeline::start();
    let start = Resources::read(s.pid)?;
    let sessions_start = watch::sessions(s)?;
    eprintln!(
        "[soak] soaking for {:.1} min; RSS {:.1} MB",
        cfg.minutes,
        report::mb(start.rss)
    );
    let stop = AtomicBool::new(false);
    let (churned, rss, planned) = thread::scope(|sc| {
        let churn = sc.spawn(|| churn::run(s, &t, cfg.churn_half, until, &stop));
        let sampler = sc.spawn(|| {
            watch::sample(
                s,
                &t,
                cfg.sample_every,
                until,
                sessions_start.clone(),
                &stop,
            )
        });
        let planned = planned_events(s, &t, cfg, until, &stop);
        let churned = churn.join();
        let rss = sampler.join();
        (churned, rss, planned)
    });
    let panicked = |what: &str| Error::msg(format!("the {what} thread panicked"));
    let (churned, rss) = (
        churned.map_err(|_| panicked("churn"))?,
        rss.map_err(|_| panicked("sampler"))?,
    );
    let elapsed = t.now();
    if stop.load(Ordering::Relaxed) {
        return Err(s.lab.with_logs(Error::msg(format!(
            "the soak stopped at {}: the VGW is gone",
            timeline::clock(elapsed)
        ))));
    }
    let end = Resources::read(s.pid)?;
    let hwm = proc_status_bytes(s.pid, "VmHWM")?;
    let sessions_end = watch::sessions(s)?;
    let rate = cfg.udp_rate.clone().unwrap_or_default();
    let (ping, udp) = traffic.finish(t.zero_epoch_s(), &rate)?;
    let final_ping = s
        .lab
        .sites_ping(Duration::from_secs(10))
        .map(drop)
        .map_err(|e| e.to_string());
    let warnings = watch::warnings(&fs::read_to_string(s.log_path())?, &t);
    for e in watch::tunnel_events(&s.tunnel_log_path(), &t, 0.0)? {
        t.push(e);
    }
    Ok(Outcome {
        settings: cfg,
        machine,
        elapsed,
        events: t.events(),
        churn: churned,
        planned,
        rss,
        start,
        end,
        hwm,
        ping,
        udp,
        warnings,
        sessions: (sessions_start, sessions_end),
        final_ping,
    })
}
