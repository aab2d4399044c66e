//! The etcd client: etcd v3's JSON gateway (`/v3/kv/*`, `/v3/lease/*`,
//! `/v3/watch`) over HTTPS with the cluster's own certificate authority and
//! a client certificate. Keys and values are bytes (base64 in the JSON, as
//! the gateway wants); revisions are etcd's. Each call tries the endpoints
//! in turn, starting with the last one that answered, so one etcd node down
//! costs one failed connection; when none answers, the error names every
//! endpoint and what each said. No secret is sent here but in request
//! bodies, and none is ever put in an error.
//!
//! The gateway is used rather than gRPC so that building tacctl needs no
//! protobuf compiler: etcd 3.4 (Debian's etcd-server) serves it on its
//! client port by default.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::SecretSlice;
use serde::Deserialize;
use serde_json::{Value, json};

/// How long one call to one etcd endpoint may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// gRPC status codes (as the gateway reports them) after which another
/// endpoint may well answer: unavailable, deadline exceeded, and unknown
/// (which is what a member without a leader says in etcd 3.4).
const RETRY_CODES: [i64; 3] = [14, 4, 2];

/// Why a call to etcd failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered, or none had a quorum behind it.
    #[error(
        "the etcd cluster is unreachable or has lost its quorum ({}): start the etcd nodes that are down, or check `--endpoints`; every appliance keeps serving its last configuration meanwhile",
        .0.join("; ")
    )]
    Unavailable(Vec<String>),
    /// etcd refused the request.
    #[error("etcd at {endpoint} refused: {message} (code {code})")]
    Refused {
        /// The endpoint that answered.
        endpoint: String,
        /// The gRPC status code.
        code: i64,
        /// etcd's message.
        message: String,
    },
    /// The answer was not what etcd's API documents.
    #[error("etcd at {endpoint} answered something unexpected: {reason}")]
    Protocol {
        /// The endpoint that answered.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// The TLS material or an endpoint is not usable.
    #[error("the etcd connection settings are not usable: {0}")]
    Settings(String),
    /// A lease ran out before it was kept alive: the key it held is gone.
    #[error("etcd lease {0:x} has expired")]
    LeaseExpired(i64),
}

/// Where etcd is and how to prove who we are to it.
#[derive(Clone)]
pub struct Settings {
    /// `https://host:port` of each etcd node's client port.
    pub endpoints: Vec<String>,
    /// The certificate authority etcd's certificates chain to (PEM).
    pub ca_pem: String,
    /// This client's certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PEM).
    pub key_pem: SecretSlice<u8>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("endpoints", &self.endpoints)
            .field("key_pem", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// One key and its value, as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// The revision that created it.
    pub create_revision: i64,
    /// The revision that last wrote it.
    pub mod_revision: i64,
    /// Its lease, 0 for none.
    pub lease: i64,
}

/// A condition of a transaction on one key's last-written revision (0 for
/// a key that does not exist).
#[derive(Debug, Clone)]
pub struct ModRevisionIs {
    /// The key.
    pub key: Vec<u8>,
    /// The revision it must have been last written at.
    pub revision: i64,
}

/// A write inside a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Put a value, under a lease when not 0.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The lease, 0 for none.
        lease: i64,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

/// What a transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOutcome {
    /// Whether every condition held (and so the writes were made).
    pub succeeded: bool,
    /// The store's revision after it.
    pub revision: i64,
}

/// Something a watch saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A key was written.
    Put(Kv),
    /// A key was deleted (at `mod_revision`).
    Delete {
        /// The key.
        key: Vec<u8>,
        /// The revision of the delete.
        mod_revision: i64,
    },
}

/// What the next message of a watch held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMessage {
    /// Events, in revision order.
    Events(Vec<Event>),
    /// The revision asked for has been compacted away: read the current
    /// state, then watch from `compact_revision`.
    Compacted {
        /// The oldest revision still held.
        compact_revision: i64,
    },
}

/// A client of one etcd cluster.
#[derive(Clone)]
pub struct Etcd {
    http: reqwest::Client,
    endpoints: Arc<Vec<String>>,
    preferred: Arc<AtomicUsize>,
    timeout: Duration,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// The key after every key that starts with `prefix`: a range over
/// `[prefix, prefix_end(prefix))` is the prefix's keys.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

// The gateway writes proto3 JSON: 64-bit numbers as strings, fields with
// their default value left out.
#[derive(Deserialize)]
struct RawKv {
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    create_revision: Num,
    #[serde(default)]
    mod_revision: Num,
    #[serde(default)]
    lease: Num,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(untagged)]
enum NumRepr {
    Text(#[serde(deserialize_with = "text_i64")] i64),
    Int(i64),
    #[default]
    Zero,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(from = "NumRepr")]
struct Num(i64);

impl From<NumRepr> for Num {
    fn from(r: NumRepr) -> Self {
        Num(match r {
            NumRepr::Text(n) | NumRepr::Int(n) => n,
            NumRepr::Zero => 0,
        })
    }
}

fn text_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

#[derive(Deserialize, Default)]
struct RawHeader {
    #[serde(default)]
    revision: Num,
}

impl RawKv {
    fn decode(self) -> Result<Kv, String> {
        let d = |s: &str| B64.decode(s).map_err(|e| format!("bad base64: {e}"));
        Ok(Kv {
            key: d(&self.key)?,
            value: d(&self.value)?,
            create_revision: self.create_revision.0,
            mod_revision: self.mod_revision.0,
            lease: self.lease.0,
        })
    }
}

#[derive(Deserialize)]
struct RangeResponse {
    #[serde(default)]
    header: RawHeader,
    #[serde(default)]
    kvs: Vec<RawKv>,
}

#[derive(Deserialize)]
struct HeaderOnly {
    #[serde(default)]
    header: RawHeader,
}

#[derive(Deserialize)]
struct TxnResponse {
    #[serde(default)]
    header: RawHeader,
    #[serde(default)]
    succeeded: bool,
}

#[derive(Deserialize)]
struct LeaseResponse {
    #[serde(rename = "ID", default)]
    id: Num,
    #[serde(rename = "TTL", default)]
    ttl: Num,
}

#[derive(Deserialize)]
struct StreamItem<T> {
    result: Option<T>,
    error: Option<GatewayError>,
}

#[derive(Deserialize)]
struct GatewayError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type", default)]
    kind: String,
    kv: RawKv,
}

#[derive(Deserialize)]
struct WatchResponse {
    #[serde(default)]
    created: bool,
    #[serde(default)]
    canceled: bool,
    #[serde(default)]
    compact_revision: Num,
    #[serde(default)]
    cancel_reason: String,
    #[serde(default)]
    events: Vec<RawEvent>,
}

/// The answer of one endpoint: a body, or why not.
enum Attempt {
    Answer(reqwest::Response),
    /// Another endpoint may answer.
    Next(String),
    /// No point trying another.
    Final(EtcdError),
}

impl Etcd {
    /// A client for `settings` whose calls each take at most `timeout` per
    /// endpoint.
    pub fn new(settings: &Settings, timeout: Duration) -> Result<Self, EtcdError> {
        if settings.endpoints.is_empty() {
            return Err(EtcdError::Settings("no endpoint is given".into()));
        }
        let mut endpoints = Vec::with_capacity(settings.endpoints.len());
        for e in &settings.endpoints {
            let url = reqwest::Url::parse(e.trim())
                .map_err(|err| EtcdError::Settings(format!("endpoint {e:?}: {err}")))?;
            if url.scheme() != "https" || url.host_str().is_none() {
                return Err(EtcdError::Settings(format!(
                    "endpoint {e:?} is not an https://host:port URL (tacctl talks to etcd over TLS only)"
                )));
            }
            endpoints.push(url.as_str().trim_end_matches('/').to_string());
        }
        let tls =
            crate::tls::ca_client_config(&settings.ca_pem, &settings.cert_pem, &settings.key_pem)
                .map_err(|e| EtcdError::Settings(e.to_string()))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .build()
            .map_err(|e| EtcdError::Settings(e.to_string()))?;
        Ok(Self {
            http,
            endpoints: Arc::new(endpoints),
            preferred: Arc::new(AtomicUsize::new(0)),
            timeout,
        })
    }

    /// The endpoints, in the order given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    async fn attempt(&self, endpoint: &str, path: &str, body: &Value, stream: bool) -> Attempt {
        let mut request = self.http.post(format!("{endpoint}{path}")).json(body);
        if !stream {
            request = request.timeout(self.timeout);
        }
        let sent = tokio::time::timeout(self.timeout, request.send()).await;
        let response = match sent {
            Err(_) => return Attempt::Next(format!("{endpoint}: no answer in {:?}", self.timeout)),
            Ok(Err(e)) => return Attempt::Next(format!("{endpoint}: {}", reason(&e))),
            Ok(Ok(r)) => r,
        };
        if response.status().is_success() {
            return Attempt::Answer(response);
        }
        let status = response.status();
        let text = match tokio::time::timeout(self.timeout, response.text()).await {
            Ok(Ok(t)) => t,
            _ => return Attempt::Next(format!("{endpoint}: HTTP {status} without a body")),
        };
        match serde_json::from_str::<GatewayError>(&text) {
            Ok(e) if RETRY_CODES.contains(&e.code) || status.is_server_error() && e.code == 0 => {
                Attempt::Next(format!("{endpoint}: {}", e.message))
            }
            Ok(e) => Attempt::Final(EtcdError::Refused {
                endpoint: endpoint.to_string(),
                code: e.code,
                message: e.message,
            }),
            Err(_) => Attempt::Next(format!("{endpoint}: HTTP {status}")),
        }
    }

    /// Sends `body` to `path` on the first endpoint that answers.
    async fn send(
        &self,
        path: &str,
        body: &Value,
        stream: bool,
    ) -> Result<(String, reqwest::Response), EtcdError> {
        let n = self.endpoints.len();
        let start = self.preferred.load(Ordering::Relaxed) % n;
        let mut reasons = Vec::new();
        for i in 0..n {
            let at = (start + i) % n;
            let endpoint = &self.endpoints[at];
            match self.attempt(endpoint, path, body, stream).await {
                Attempt::Answer(r) => {
                    self.preferred.store(at, Ordering::Relaxed);
                    return Ok((endpoint.clone(), r));
                }
                Attempt::Next(why) => reasons.push(why),
                Attempt::Final(e) => return Err(e),
            }
        }
        Err(EtcdError::Unavailable(reasons))
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
    ) -> Result<T, EtcdError> {
        let (endpoint, response) = self.send(path, &body, false).await?;
        let text = response
            .text()
            .await
            .map_err(|e| EtcdError::Unavailable(vec![format!("{endpoint}: {}", reason(&e))]))?;
        serde_json::from_str(&text).map_err(|e| EtcdError::Protocol {
            endpoint,
            reason: e.to_string(),
        })
    }

    /// The key `key`, when it exists.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Kv>, EtcdError> {
        let r: RangeResponse = self
            .call("/v3/kv/range", json!({ "key": b64(key) }))
            .await?;
        r.kvs
            .into_iter()
            .next()
            .map(|kv| kv.decode().map_err(|reason| self.protocol(reason)))
            .transpose()
    }

    /// Every key under `prefix`, in key order, and the store's revision
    /// they were read at.
    pub async fn list(&self, prefix: &[u8]) -> Result<(Vec<Kv>, i64), EtcdError> {
        let r: RangeResponse = self
            .call(
                "/v3/kv/range",
                json!({ "key": b64(prefix), "range_end": b64(&prefix_end(prefix)) }),
            )
            .await?;
        let kvs = r
            .kvs
            .into_iter()
            .map(|kv| kv.decode().map_err(|reason| self.protocol(reason)))
            .collect::<Result<_, _>>()?;
        Ok((kvs, r.header.revision.0))
    }

    /// Writes `value` at `key` (under `lease` when not 0); returns the
    /// revision of the write.
    pub async fn put(&self, key: &[u8], value: &[u8], lease: i64) -> Result<i64, EtcdError> {
        let mut body = json!({ "key": b64(key), "value": b64(value) });
        if lease != 0 {
            body["lease"] = json!(lease.to_string());
        }
        let r: HeaderOnly = self.call("/v3/kv/put", body).await?;
        Ok(r.header.revision.0)
    }

    /// Deletes `key`; returns the store's revision after.
    pub async fn delete(&self, key: &[u8]) -> Result<i64, EtcdError> {
        let r: HeaderOnly = self
            .call("/v3/kv/deleterange", json!({ "key": b64(key) }))
            .await?;
        Ok(r.header.revision.0)
    }

    /// Makes the writes `ops` in one step when every condition holds, and
    /// nothing otherwise.
    pub async fn txn(&self, when: &[ModRevisionIs], ops: &[Op]) -> Result<TxnOutcome, EtcdError> {
        let compare: Vec<Value> = when
            .iter()
            .map(|c| {
                json!({
                    "target": "MOD",
                    "key": b64(&c.key),
                    "result": "EQUAL",
                    "mod_revision": c.revision.to_string(),
                })
            })
            .collect();
        let success: Vec<Value> = ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value, lease } => {
                    let mut put = json!({ "key": b64(key), "value": b64(value) });
                    if *lease != 0 {
                        put["lease"] = json!(lease.to_string());
                    }
                    json!({ "request_put": put })
                }
                Op::Delete { key } => json!({ "request_delete_range": { "key": b64(key) } }),
            })
            .collect();
        let r: TxnResponse = self
            .call(
                "/v3/kv/txn",
                json!({ "compare": compare, "success": success, "failure": [] }),
            )
            .await?;
        Ok(TxnOutcome {
            succeeded: r.succeeded,
            revision: r.header.revision.0,
        })
    }

    /// A new lease of `ttl` seconds; returns its id.
    pub async fn grant(&self, ttl: Duration) -> Result<i64, EtcdError> {
        let r: LeaseResponse = self
            .call(
                "/v3/lease/grant",
                json!({ "TTL": ttl.as_secs().max(1).to_string() }),
            )
            .await?;
        if r.id.0 == 0 {
            return Err(self.protocol("a lease grant without an ID".into()));
        }
        Ok(r.id.0)
    }

    /// Renews lease `id`; returns the seconds it now has, or
    /// [`EtcdError::LeaseExpired`] when it is gone.
    pub async fn keep_alive(&self, id: i64) -> Result<i64, EtcdError> {
        let (endpoint, mut response) = self
            .send(
                "/v3/lease/keepalive",
                &json!({ "ID": id.to_string() }),
                true,
            )
            .await?;
        let line = tokio::time::timeout(self.timeout, next_line(&mut response, &mut Vec::new()))
            .await
            .map_err(|_| {
                EtcdError::Unavailable(vec![format!("{endpoint}: no answer in {:?}", self.timeout)])
            })?
            .map_err(|reason| EtcdError::Unavailable(vec![format!("{endpoint}: {reason}")]))?
            .ok_or_else(|| {
                EtcdError::Unavailable(vec![format!("{endpoint}: the keep-alive stream ended")])
            })?;
        let item: StreamItem<LeaseResponse> =
            serde_json::from_slice(&line).map_err(|e| EtcdError::Protocol {
                endpoint: endpoint.clone(),
                reason: e.to_string(),
            })?;
        if let Some(e) = item.error {
            return Err(EtcdError::Refused {
                endpoint,
                code: e.code,
                message: e.message,
            });
        }
        let ttl = item.result.map_or(0, |r| r.ttl.0);
        if ttl <= 0 {
            return Err(EtcdError::LeaseExpired(id));
        }
        Ok(ttl)
    }

    /// Ends lease `id` and deletes the keys it holds.
    pub async fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        match self
            .call::<HeaderOnly>("/v3/lease/revoke", json!({ "ID": id.to_string() }))
            .await
        {
            Ok(_) => Ok(()),
            // Already gone is what revoking wanted.
            Err(EtcdError::Refused { code: 5, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Watches every key under `prefix` from revision `from` on.
    pub async fn watch(&self, prefix: &[u8], from: i64) -> Result<Watch, EtcdError> {
        let body = json!({
            "create_request": {
                "key": b64(prefix),
                "range_end": b64(&prefix_end(prefix)),
                "start_revision": from.to_string(),
            }
        });
        let (endpoint, response) = self.send("/v3/watch", &body, true).await?;
        let mut watch = Watch {
            endpoint,
            response,
            buffer: Vec::new(),
            pending: None,
        };
        // The first message confirms the watch, or says why not.
        let first = tokio::time::timeout(self.timeout, watch.raw())
            .await
            .map_err(|_| {
                EtcdError::Unavailable(vec![format!(
                    "{}: the watch was not confirmed in {:?}",
                    watch.endpoint, self.timeout
                )])
            })??;
        match first {
            None => Err(EtcdError::Unavailable(vec![format!(
                "{}: the watch stream ended at once",
                watch.endpoint
            )])),
            Some(first) => {
                if !first.created || first.canceled || !first.events.is_empty() {
                    watch.pending = Some(watch.convert(first)?);
                }
                Ok(watch)
            }
        }
    }

    fn protocol(&self, reason: String) -> EtcdError {
        EtcdError::Protocol {
            endpoint: self.endpoints[self.preferred.load(Ordering::Relaxed) % self.endpoints.len()]
                .clone(),
            reason,
        }
    }
}

fn reason(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Reads the next newline-terminated message of a gateway stream; `None`
/// at its end.
async fn next_line(
    response: &mut reqwest::Response,
    buffer: &mut Vec<u8>,
) -> Result<Option<Vec<u8>>, String> {
    loop {
        if let Some(at) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=at).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(line));
        }
        match response.chunk().await {
            Ok(Some(chunk)) => {
                buffer.extend_from_slice(&chunk);
                if buffer.len() > 16 << 20 {
                    return Err("a stream message longer than 16 MiB".into());
                }
            }
            Ok(None) if buffer.iter().all(u8::is_ascii_whitespace) => return Ok(None),
            Ok(None) => return Ok(Some(std::mem::take(buffer))),
            Err(e) => return Err(reason(&e)),
        }
    }
}

/// A running watch.
pub struct Watch {
    endpoint: String,
    response: reqwest::Response,
    buffer: Vec<u8>,
    pending: Option<WatchMessage>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// The endpoint this watch reads from.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn raw(&mut self) -> Result<Option<WatchResponse>, EtcdError> {
        let gone =
            |reason: String| EtcdError::Unavailable(vec![format!("{}: {reason}", self.endpoint)]);
        let Some(line) = next_line(&mut self.response, &mut self.buffer)
            .await
            .map_err(gone)?
        else {
            return Ok(None);
        };
        let item: StreamItem<WatchResponse> =
            serde_json::from_slice(&line).map_err(|e| EtcdError::Protocol {
                endpoint: self.endpoint.clone(),
                reason: e.to_string(),
            })?;
        if let Some(e) = item.error {
            return Err(if RETRY_CODES.contains(&e.code) {
                EtcdError::Unavailable(vec![format!("{}: {}", self.endpoint, e.message)])
            } else {
                EtcdError::Refused {
                    endpoint: self.endpoint.clone(),
                    code: e.code,
                    message: e.message,
                }
            });
        }
        Ok(item.result)
    }

    fn convert(&self, r: WatchResponse) -> Result<WatchMessage, EtcdError> {
        let protocol = |reason: String| EtcdError::Protocol {
            endpoint: self.endpoint.clone(),
            reason,
        };
        if r.canceled {
            if r.compact_revision.0 > 0 {
                return Ok(WatchMessage::Compacted {
                    compact_revision: r.compact_revision.0,
                });
            }
            return Err(EtcdError::Unavailable(vec![format!(
                "{}: the watch was cancelled ({})",
                self.endpoint, r.cancel_reason
            )]));
        }
        let mut events = Vec::with_capacity(r.events.len());
        for e in r.events {
            let kv = e.kv.decode().map_err(protocol)?;
            events.push(match e.kind.as_str() {
                "" | "PUT" => Event::Put(kv),
                "DELETE" => Event::Delete {
                    key: kv.key,
                    mod_revision: kv.mod_revision,
                },
                other => return Err(protocol(format!("an event of type {other:?}"))),
            });
        }
        Ok(WatchMessage::Events(events))
    }

    /// The next message; `None` when the stream ended (etcd went away:
    /// watch again, from the revision after the last event seen).
    pub async fn next(&mut self) -> Result<Option<WatchMessage>, EtcdError> {
        if let Some(m) = self.pending.take() {
            return Ok(Some(m));
        }
        loop {
            let Some(raw) = self.raw().await? else {
                return Ok(None);
            };
            // Progress notifications and empty confirmations carry nothing.
            if !raw.canceled && raw.events.is_empty() {
                continue;
            }
            return self.convert(raw).map(Some);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end(b"/tacctl/a/"), b"/tacctl/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn proto3_json_numbers_and_defaults_are_read() {
        let r: RangeResponse = serde_json::from_str(
            r#"{"header":{"revision":"7"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"7","version":"3","value":"YmFy"}],"count":"1"}"#,
        )
        .unwrap();
        assert_eq!(r.header.revision.0, 7);
        let kv = r.kvs.into_iter().next().unwrap().decode().unwrap();
        assert_eq!(kv.key, b"foo");
        assert_eq!(kv.value, b"bar");
        assert_eq!((kv.create_revision, kv.mod_revision, kv.lease), (2, 7, 0));
        // A failed transaction leaves `succeeded` out.
        let t: TxnResponse = serde_json::from_str(r#"{"header":{"revision":"4"}}"#).unwrap();
        assert!(!t.succeeded);
        // An empty value is left out too.
        let kv: RawKv = serde_json::from_str(r#"{"key":"Zm9v","mod_revision":"3"}"#).unwrap();
        assert!(kv.decode().unwrap().value.is_empty());
    }

    #[test]
    fn settings_debug_hides_the_key() {
        let s = Settings {
            endpoints: vec!["https://127.0.0.1:2379".into()],
            ca_pem: String::new(),
            cert_pem: String::new(),
            key_pem: SecretSlice::from(b"-----BEGIN PRIVATE KEY-----secret".to_vec()),
        };
        assert!(!format!("{s:?}").contains("secret"));
    }
}
