//! What the time target (in at 99% no later than BIRD 2) leaves sitelink
//! in this run: the cores' time it may spend, and the bound the feeder
//! sets by itself.
//!
//! Owns: the two closing lines after the sharing and waiting tables. Must
//! not: measure anything (the receivers' runs do).

use crate::Outcome;

/// Both lines, when the run has BIRD 2 and sitelink with their figures.
pub fn print(outcomes: &[Outcome], cores: usize) {
    let find = |name: &str| outcomes.iter().find(|o| o.receiver == name);
    let (Some(bird), Some(site)) = (find("BIRD 2"), find("sitelink")) else {
        return;
    };
    let Some(t) = bird.most else {
        return;
    };
    print_cores(t.as_secs_f64(), site, cores);
    print_feeder_bound(t.as_secs_f64(), outcomes);
}

/// What sitelink may spend to be in at 99% as soon as BIRD 2 was (at `t`),
/// on these cores: no core may idle and the feeder must get its share.
/// sitelink and its feeder (BIRD, and the wireguard-go it sends through)
/// have cores x `t` between them; what the feeder took in sitelink's run
/// (read at sitelink's own 99% point) leaves sitelink the rest. An
/// estimate of a condition that is needed but not enough: the feeder must
/// also never wait for a core. It doubles the noise of `t`.
fn print_cores(t: f64, site: &Outcome, cores: usize) {
    let (Some(used), Some(feeder)) = (site.cpu_to_most, site.feeder_cpu_to_most) else {
        return;
    };
    let room = t * cores as f64;
    let budget = room - feeder.as_secs_f64();
    let (left, ratio) = if budget > 0.0 {
        (
            format!("{budget:.2}"),
            format!(" ({:.2}x its budget)", used.as_secs_f64() / budget),
        )
    } else {
        ("nothing".to_string(), String::new())
    };
    println!(
        "\nTo be in at 99% as soon as BIRD 2 ({t:.2} s), sitelink and its feeder had {room:.2} \
         core-seconds; the feeder took {:.2}, which leaves sitelink {left}: it used {:.2}{ratio}.",
        feeder.as_secs_f64(),
        used.as_secs_f64(),
    );
}

/// The feeder's BIRD is one thread, and it must have sent 99% of the table
/// before a receiver has it: its own run time until then is a lower bound
/// on that receiver's time to 99%, however fast the receiver. Sending
/// through a tunnel costs it more than over a veth (its kernel segments
/// and writes each packet to the tunnel's TUN device), so when the bound
/// behind every tunnel passes BIRD 2's time `t`, no receiver behind a
/// tunnel could have been in as soon in this run.
fn print_feeder_bound(t: f64, outcomes: &[Outcome]) {
    let ran: Vec<(&str, f64)> = outcomes
        .iter()
        .filter_map(|o| Some((o.receiver, o.waits.as_ref()?.feeder_bird.run)))
        .collect();
    if ran.is_empty() {
        return;
    }
    let list: Vec<String> = ran
        .iter()
        .map(|(receiver, run)| format!("{run:.2} s feeding {receiver}"))
        .collect();
    // The receivers behind a tunnel: all but BIRD 2 over its veth.
    let tunneled: Vec<f64> = ran
        .iter()
        .filter(|(receiver, _)| *receiver != "BIRD 2")
        .map(|(_, run)| *run)
        .collect();
    let least = tunneled.iter().copied().reduce(f64::min);
    let verdict = match least {
        Some(least) if least > t => format!(
            "behind a tunnel it ran at least {least:.2} s by itself, past BIRD 2's {t:.2} s: \
             no receiver behind a tunnel could have been in at 99% as soon in this run"
        ),
        Some(least) => format!(
            "behind a tunnel it ran at least {least:.2} s, within BIRD 2's {t:.2} s: \
             this bound does not decide the run"
        ),
        None => "no receiver ran behind a tunnel".to_string(),
    };
    println!(
        "\nThe feeder's BIRD (one thread) ran, until each receiver had 99%: {}; {verdict}.",
        list.join(", "),
    );
}
