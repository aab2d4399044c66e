//! A real `tacctl serve` child process on a free loopback port, its log
//! captured, and an HTTPS client pinned to the appliance's certificate.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running server.
pub struct Served {
    child: Child,
    /// `https://127.0.0.1:PORT` (or `http://`).
    pub url: String,
    /// The certificate fingerprint it announced (HTTPS only).
    pub fingerprint: Option<String>,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Served {
    /// Starts `tacctl --root ROOT serve --listen 127.0.0.1:0 EXTRA...` and
    /// waits for its "listening on" line.
    pub fn start(root: &Path, extra: &[&str]) -> Served {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("tacctl"))
            .arg("--root")
            .arg(root)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("TACCTL_ADMIN_PASSWORD")
            .env_remove("TACCTL_PASSWORD")
            .env_remove("TACCTL_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tacctl serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("listening on "),
            "the server did not start: {line:?}\n{}",
            String::from_utf8_lossy(&log.lock().unwrap())
        );
        let url = line
            .split_whitespace()
            .nth(2)
            .expect("a URL after `listening on`")
            .to_owned();
        let fingerprint = line
            .split("certificate ")
            .nth(1)
            .map(|s| s.trim_end().trim_end_matches(')').to_owned());
        Served {
            child,
            url,
            fingerprint,
            log,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// A client that trusts only the announced certificate.
    pub fn client(&self) -> reqwest::Client {
        match &self.fingerprint {
            Some(fp) => pinned_client(fp),
            // Plain HTTP: the TLS settings are never used.
            None => pinned_client("SHA256:plain-http"),
        }
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Waits up to `limit` for the process to exit; its status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reqwest client that trusts exactly the certificate `fingerprint` names.
pub fn pinned_client(fingerprint: &str) -> reqwest::Client {
    let config = tacctl::tls::pinned_client_config(fingerprint).unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}
