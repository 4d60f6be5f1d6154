//! Data shared by the slots (`sitelink:policy/types`): addresses, prefixes
//! and BGP routes.

pub use sitelink_plugin_world_bgp_filter::sitelink::policy::types::{
    IpAddress, LargeCommunity, Origin, Prefix, Route,
};
