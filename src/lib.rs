//! tacctl: a Trusted Appliances Cluster controller.
//!
//! The library behind the `tacctl` binary. The core (`jwt`, `component`)
//! reads no clock, opens no file and touches no terminal; the adapters
//! (`appliance`, `auth`, `ops`, `cli`) wrap it. See docs/ARCHITECTURE in the
//! README for the layering.

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
