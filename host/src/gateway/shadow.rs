//! The core's shadow-mode requests: run a candidate beside a slot's plugin
//! (`policy::shadow` compares their answers on every live call), report
//! where they differed, promote the candidate through the same install as
//! a swap, or end shadow mode.

use std::time::Instant;

use tracing::info;

use super::admin::Head;
use super::{Action, Gateway, RequestId};
use crate::api::{Response, ShadowReport};
use crate::policy::shadow::Shadow;
use crate::policy::{Plugin, Slot};

fn report(slot: Slot, shadow: &Shadow) -> ShadowReport {
    let info = shadow.plugin().info();
    let s = shadow.stats();
    ShadowReport {
        slot: slot.world().to_string(),
        plugin: format!("{} {}", info.name, info.version),
        calls: s.calls,
        compared: s.compared,
        differed: s.differed,
        faults: s.faults,
        last_fault: s.last_fault.clone(),
        examples: s.examples.clone(),
    }
}

fn none_in(slot: Slot) -> Response {
    Response::error(format!(
        "no plugin runs in shadow mode in slot {0}\n  fix: start one with `sitelink plugin \
         shadow {0} FILE`",
        slot.world()
    ))
}

impl Gateway {
    fn shadow_of(&self, slot: Slot) -> Option<&Shadow> {
        match slot {
            Slot::Failover => self.slots.failover.shadow(),
            Slot::RouteSelection => self.slots.selection.shadow(),
            Slot::BgpFilter => self.slots.filter.shadow(),
        }
    }

    fn take_shadow(&mut self, slot: Slot) -> Option<Shadow> {
        match slot {
            Slot::Failover => self.slots.failover.take_shadow(),
            Slot::RouteSelection => self.slots.selection.take_shadow(),
            Slot::BgpFilter => self.slots.filter.take_shadow(),
        }
    }

    /// Starts shadow mode (replacing a shadow already running).
    pub(super) fn on_shadow(&mut self, mut plugin: Plugin) -> Response {
        let slot = plugin.slot();
        if let Err(fault) = plugin.try_empty() {
            return Response::error(format!(
                "shadow refused: the plugin faulted on an empty call (its parameters?): {fault}"
            ));
        }
        let set = match slot {
            Slot::Failover => self.slots.failover.set_shadow(plugin),
            Slot::RouteSelection => self.slots.selection.set_shadow(plugin),
            Slot::BgpFilter => self.slots.filter.set_shadow(plugin),
        };
        if let Err(e) = set {
            return Response::error(e);
        }
        match self.shadow_of(slot) {
            Some(shadow) => {
                info!(slot = %slot.world(), plugin = %shadow.plugin().info().name,
                    "plugin in shadow mode: run beside the slot's, never acted on");
                Response::from(report(slot, shadow))
            }
            None => none_in(slot),
        }
    }

    /// Where the shadow differed so far.
    pub(super) fn on_diff(&self, slot: Slot) -> Response {
        match self.shadow_of(slot) {
            Some(shadow) => Response::from(report(slot, shadow)),
            None => none_in(slot),
        }
    }

    /// Ends shadow mode: the last report.
    pub(super) fn on_unshadow(&mut self, slot: Slot) -> Response {
        match self.take_shadow(slot) {
            Some(shadow) => Response::from(report(slot, &shadow)),
            None => none_in(slot),
        }
    }

    /// Installs the shadow as the slot's plugin, as a swap does (its re-run
    /// over the stored state answers); refused if it faulted meanwhile.
    pub(super) fn on_promote(
        &mut self,
        id: RequestId,
        slot: Slot,
        now: Instant,
    ) -> Option<Response> {
        let faults = self.shadow_of(slot).map(|s| s.stats().faults);
        match faults {
            None => return Some(none_in(slot)),
            Some(n) if n > 0 => {
                return Some(Response::error(format!(
                    "promote refused, nothing changed: the shadow faulted {n} time(s) \
                     (`sitelink plugin diff {0}` shows the last fault)\n  fix: fix it and shadow \
                     it again, or install it anyway with `sitelink plugin swap --force {0} FILE`",
                    slot.world()
                )))
            }
            Some(_) => {}
        }
        let shadow = self.take_shadow(slot)?;
        let plugin = Box::new(shadow.into_plugin());
        let head = Head::Swap {
            slot,
            plugin: format!("{} {}", plugin.info().name, plugin.info().version),
            dry_run: false,
            received: Some(now),
        };
        info!(slot = %slot.world(), "shadow promoted");
        self.install(
            id,
            plugin,
            head,
            super::admin::Changes::default(),
            None,
            now,
        )
    }
}

impl Gateway {
    /// Answers a shadow-mode request (some later, through a swap's job).
    pub(super) fn on_shadow_command(
        &mut self,
        id: RequestId,
        command: super::AdminCommand,
        now: Instant,
    ) {
        use super::AdminCommand as C;
        let reply = match command {
            C::PluginShadow { plugin } => Some(self.on_shadow(*plugin)),
            C::PluginDiff { slot } => Some(self.on_diff(slot)),
            C::PluginUnshadow { slot } => Some(self.on_unshadow(slot)),
            C::PluginPromote { slot } => self.on_promote(id, slot, now),
            _ => None,
        };
        if let Some(reply) = reply {
            self.actions.push_back(Action::Reply { id, reply });
        }
    }
}
