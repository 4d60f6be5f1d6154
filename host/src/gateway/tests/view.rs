//! `sitelink routes` through the core: what a connection filter lists.

use super::*;
use crate::routing::view::RoutesQuery;

fn routes(h: &mut Harness, id: u64, connection: Option<&str>) -> serde_json::Value {
    h.event(Event::Admin {
        id: RequestId(id),
        command: AdminCommand::Routes(RoutesQuery {
            prefix: None,
            connection: connection.map(str::to_string),
            limit: None,
        }),
    });
    h.reply(RequestId(id))
}

#[test]
fn a_connection_filter_lists_that_connections_routes_and_no_others() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 3, Budget::DEFAULT);
    let all = routes(&mut h, 1, None);
    let listed = |doc: &serde_json::Value| doc["routes"].as_array().map_or(0, Vec::len);
    assert_eq!(listed(&all), 3, "{all}");
    let office = routes(&mut h, 2, Some("office"));
    assert_eq!(listed(&office), 3, "{office}");
    assert!(
        office["routes"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["connection"] == "office")),
        "{office}"
    );
    // A name that is no live connection (one a reload removed, say) has
    // no routes: none listed, and no count of another's.
    let other = routes(&mut h, 3, Some("branch"));
    assert_eq!(listed(&other), 0, "{other}");
    assert!(other["total"].is_null(), "{other}");
}
