//! tacctl: a Trusted Appliances Cluster controller.
//!
//! The library behind the `tacctl` binary. The core (`jwt`, `component`
//! and the format in `bundle`) reads no clock, opens no socket and touches
//! no terminal; the adapters (`appliance`, `auth`, `ops`, `server`,
//! `cluster`, `wizard`, `cli`) wrap it. The README's "Architecture" section
//! has the module map and the direction of every dependency.

pub mod api;
pub mod appliance;
pub mod argon;
pub mod auth;
pub mod bundle;
pub mod cli;
pub mod cluster;
pub mod component;
pub mod jwt;
pub mod ops;
pub mod server;
pub mod tls;
pub mod wizard;
