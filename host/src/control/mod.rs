//! The control interfaces of a running gateway: the local admin socket (and,
//! later, metrics). They read the data path's state; they never forward.

pub mod admin;
pub mod client;
pub mod heap;
pub mod render;
pub mod status;
