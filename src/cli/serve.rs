//! `tacctl serve`: logging set-up and the runtime around [`crate::server::serve`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use crate::server;

/// How log lines look.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum LogFormat {
    /// One human-readable line per event
    Text,
    /// One JSON object per line, for machines
    Json,
}

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address and port to listen on
    #[arg(long, default_value = "0.0.0.0:8443", value_name = "ADDR")]
    listen: SocketAddr,
    /// Serve plain HTTP instead of HTTPS; allowed only on a loopback address
    #[arg(long)]
    insecure_http: bool,
    /// Log line format (logs go to standard error)
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// How often to look for configuration changes, in milliseconds; 0: only on SIGHUP
    #[arg(long, default_value_t = 250, value_name = "MS")]
    watch_interval_ms: u64,
    /// Largest bundle the import endpoint accepts, in MiB
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    max_bundle_mib: u64,
}

pub(super) fn run(root: &Path, a: ServeArgs, out: &mut impl Write) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TACCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match a.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    }
    .map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))?;

    // An appliance made before member keys gets one now, so that members
    // can encrypt bundles to it (`GET /api/v1/cluster/node` serves it).
    super::open(root)?.member_identity(super::now())?;
    let mut options = server::Options::new(a.listen);
    options.insecure_http = a.insecure_http;
    options.max_bundle_bytes = a.max_bundle_mib.saturating_mul(1 << 20);
    options.watch_interval =
        (a.watch_interval_ms > 0).then(|| std::time::Duration::from_millis(a.watch_interval_ms));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(server::serve(
        root,
        options,
        |addr, scheme, fingerprint| {
            let _ = match fingerprint {
                Some(fp) => writeln!(out, "listening on {scheme}://{addr} (certificate {fp})"),
                None => writeln!(
                    out,
                    "listening on {scheme}://{addr} (plain HTTP, loopback only)"
                ),
            };
            let _ = out.flush();
        },
        std::future::pending(),
    ))?;
    Ok(())
}
