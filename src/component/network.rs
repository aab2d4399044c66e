//! `config/network.yaml`: DNS servers, NTP servers and syslog targets
//! (cluster scope) and the appliance's hostname (node scope: it travels only
//! in full backups or with `--include-node-local`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Invalid, Stored};

/// How log lines reach a syslog target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    /// RFC 5426.
    Udp,
    /// RFC 6587.
    Tcp,
}

/// One syslog target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyslogTarget {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Transport.
    pub protocol: SyslogProtocol,
}

impl std::fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = match self.protocol {
            SyslogProtocol::Udp => "udp",
            SyslogProtocol::Tcp => "tcp",
        };
        write!(f, "{}:{}/{proto}", self.host, self.port)
    }
}

impl std::str::FromStr for SyslogTarget {
    type Err = String;
    /// `HOST[:PORT][/udp|/tcp]`, default port 514 over UDP.
    fn from_str(s: &str) -> Result<Self, String> {
        let (rest, protocol) = match s.rsplit_once('/') {
            Some((r, "udp")) => (r, SyslogProtocol::Udp),
            Some((r, "tcp")) => (r, SyslogProtocol::Tcp),
            Some(_) => {
                return Err(format!(
                    "syslog target {s:?}: the protocol after / must be udp or tcp"
                ));
            }
            None => (s, SyslogProtocol::Udp),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                let port = p
                    .parse()
                    .map_err(|_| format!("syslog target {s:?}: {p:?} is not a port"))?;
                (h.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (rest, 514),
        };
        let t = SyslogTarget {
            host: host.to_owned(),
            port,
            protocol,
        };
        check_host("syslog_targets", &t.host).map_err(|e| e.problem)?;
        Ok(t)
    }
}

/// Network settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Format version of this file.
    pub version: u32,
    /// DNS servers, as IP addresses.
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// NTP servers, host names or addresses.
    #[serde(default)]
    pub ntp_servers: Vec<String>,
    /// Syslog targets.
    #[serde(default)]
    pub syslog_targets: Vec<SyslogTarget>,
    /// The appliance's host name (node scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// A host name (RFC 1123 labels) or an IP address.
pub fn check_host(field: &str, host: &str) -> Result<(), Invalid> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if host.len() <= 253 && host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            format!("{host:?} is neither a host name nor an IP address"),
        ))
    }
}

impl Stored for Network {
    const FILE: &'static str = "config/network.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        for (i, d) in self.dns_servers.iter().enumerate() {
            if d.parse::<std::net::IpAddr>().is_err() {
                return Err(Invalid::new(
                    format!("dns_servers[{i}]"),
                    format!("{d:?} is not an IP address"),
                ));
            }
        }
        for (i, n) in self.ntp_servers.iter().enumerate() {
            check_host(&format!("ntp_servers[{i}]"), n)?;
        }
        for (i, t) in self.syslog_targets.iter().enumerate() {
            check_host(&format!("syslog_targets[{i}].host"), &t.host)?;
            if t.port == 0 {
                return Err(Invalid::new(
                    format!("syslog_targets[{i}].port"),
                    "must be 1 to 65535",
                ));
            }
        }
        if let Some(h) = &self.hostname {
            check_host("hostname", h)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn syslog_targets_parse() {
        let t: SyslogTarget = "logs.example.net:6514/tcp".parse().unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.protocol),
            ("logs.example.net", 6514, SyslogProtocol::Tcp)
        );
        let t: SyslogTarget = "10.0.0.9".parse().unwrap();
        assert_eq!((t.port, t.protocol), (514, SyslogProtocol::Udp));
        assert!("bad host!:514".parse::<SyslogTarget>().is_err());
        assert!("h:notaport".parse::<SyslogTarget>().is_err());
        assert!("h:514/quic".parse::<SyslogTarget>().is_err());
    }

    #[test]
    fn bad_values_name_the_field() {
        let text = "version: 1\ndns_servers: [10.0.0.1, dns.example]\n";
        let err = parse::<Network>(text, "config/network.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("dns_servers[1]"), "{err}");
        assert!(parse::<Network>("version: 1\nproxy: x\n", "n").is_err());
    }
}
