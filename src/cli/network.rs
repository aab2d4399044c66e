//! `tacctl network ...`: DNS, NTP, syslog targets and the host name.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::Subcommand;

use super::{AdminCreds, UsageError, admin, open, print_json};
use crate::ops;

#[derive(Debug, Subcommand)]
pub(super) enum NetworkCommand {
    /// Show the network settings
    Show {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Change the network settings; lists given replace the current ones
    Set {
        /// DNS servers (IP addresses), comma-separated; an empty value clears them
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        dns: Option<Vec<String>>,
        /// NTP servers, comma-separated
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        ntp: Option<Vec<String>>,
        /// Syslog targets HOST[:PORT][/udp|/tcp], comma-separated (default port 514, udp)
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        syslog: Option<Vec<String>>,
        /// This appliance's host name (node-local)
        #[arg(long)]
        hostname: Option<String>,
        #[command(flatten)]
        creds: AdminCreds,
    },
}

pub(super) fn run(root: &Path, cmd: NetworkCommand, out: &mut impl Write) -> Result<()> {
    let n = match cmd {
        NetworkCommand::Show { json } => {
            let n = open(root)?.network()?;
            if json {
                return print_json(out, &n);
            }
            n
        }
        NetworkCommand::Set {
            dns,
            ntp,
            syslog,
            hostname,
            creds,
        } => {
            let nonempty = |v: Vec<String>| {
                v.into_iter()
                    .filter(|x| !x.trim().is_empty())
                    .collect::<Vec<_>>()
            };
            let syslog = syslog
                .map(|v| {
                    nonempty(v)
                        .iter()
                        .map(|t| t.parse::<crate::component::SyslogTarget>())
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
                .map_err(UsageError)?;
            let ops = admin(root, &creds)?;
            ops.set_network(ops::NetworkChange {
                dns_servers: dns.map(nonempty),
                ntp_servers: ntp.map(nonempty),
                syslog_targets: syslog,
                hostname,
            })?
        }
    };
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    writeln!(out, "DNS servers:     {}", list(&n.dns_servers))?;
    writeln!(out, "NTP servers:     {}", list(&n.ntp_servers))?;
    let targets: Vec<String> = n.syslog_targets.iter().map(|t| t.to_string()).collect();
    writeln!(out, "Syslog targets:  {}", list(&targets))?;
    writeln!(
        out,
        "Host name:       {}",
        n.hostname.as_deref().unwrap_or("not set")
    )?;
    Ok(())
}
