//! BGP-4 for dynamic connections (RFC 4271, with RFC 6793, 4760, 2918, 1997,
//! 8092 and 7606): the messages as values (`message`), their wire format
//! (`codec`), the sans-IO session FSM (`fsm`), the RIBs (`rib`), and the thin
//! shell of threads that carries sessions over TCP (`transport`). One session
//! runs per tunnel of a dynamic connection, over the tunnel's inside
//! addresses, through sitelink's own data path. This module never touches
//! packets of the data path or the FIB: the control loop turns the Loc-RIB
//! into route-table candidates.

pub mod codec;
pub mod fsm;
pub mod message;
pub mod rib;
pub mod transport;
