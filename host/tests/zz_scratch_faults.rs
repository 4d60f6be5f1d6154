use sitelink::policy::*;
use std::collections::BTreeMap;
#[test]
fn scratch() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/target/wasm32-wasip2/release");
    let engine = PolicyEngine::new(EngineSettings::default()).unwrap();
    let input = gen::connections(&mut gen::XorShift::new(3), 3);
    for f in [
        "fault_alloc",
        "fault_env",
        "fault_read_file",
        "fault_socket",
        "fault_spin",
        "fault_start_spin",
        "fault_trap",
        "fault_wrong_answer",
        "prefer_zone",
        "bogon_filter",
        "community_local_pref",
    ] {
        for slot in [Slot::Failover, Slot::BgpFilter, Slot::RouteSelection] {
            let t = std::time::Instant::now();
            match engine.load(slot, &dir.join(format!("{f}.wasm")), BTreeMap::new()) {
                Err(e) => {
                    let s = e.to_string();
                    if !s.contains("does not fit") {
                        println!("{f} {slot}: LOAD ERR {s} ({:?})", t.elapsed());
                    }
                }
                Ok(mut p) => {
                    let r = match slot {
                        Slot::Failover => p.decide(&input).map(|w| format!("{w:?}")),
                        Slot::RouteSelection => p
                            .select(&gen::prefix_candidates(&mut gen::XorShift::new(1), 3))
                            .map(|w| format!("{w:?}")),
                        Slot::BgpFilter => p
                            .filter(
                                Direction::Import,
                                &gen::peer(&mut gen::XorShift::new(1)),
                                &gen::routes(&mut gen::XorShift::new(1), 3),
                            )
                            .map(|w| format!("{} verdicts", w.len())),
                    };
                    println!(
                        "{f} {slot}: {} {} -> {r:?} ({:?})",
                        p.info().name,
                        p.info().version,
                        t.elapsed()
                    );
                }
            }
        }
    }
}
