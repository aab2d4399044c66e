//! The Trusted Appliances Cluster, from this node's side: the HTTPS client
//! that talks to peers with pinned certificates ([`client`]) and the push of
//! one bundle to many of them ([`push`]).
//!
//! Members, status and the cross-node verifier build on the client.

pub mod client;
pub mod push;
