//! The Trusted Appliances Cluster, from this node's side: the HTTPS client
//! that talks to peers with pinned certificates ([`client`]).
//!
//! Members, status, the push of the Cluster Export Wizard and the
//! cross-node verifier build on the client.

pub mod client;
