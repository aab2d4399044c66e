//! `tacctl serve`: the appliance's REST API on axum and tokio.
//!
//! The server keeps one [`Snapshot`] of the configuration in memory behind an
//! `ArcSwap`, so a request never touches the disk to verify a token. A
//! watcher compares the configuration files' stamp four times a second (and
//! on SIGHUP, and right after an import through the API) and swaps in a new
//! snapshot, read with the same consistency rules as the CLI; a snapshot that
//! fails to load (a hand-edited file, say) is logged and the last good one
//! stays in force. HTTPS is rustls with the appliance's certificate, which is
//! reloaded with the rest. Routes live in [`routes`], the error table in
//! [`error`], login throttling in [`throttle`].

pub mod cache;
pub mod error;
mod ldap;
mod member;
pub mod routes;
pub mod throttle;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use crate::ops::{Ops, OpsError, Snapshot, Stamp};

pub use error::ApiError;
pub use routes::router;

/// How often the watcher looks at the configuration files.
pub const RELOAD_INTERVAL: Duration = Duration::from_millis(250);

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration could not be read.
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// Plain HTTP on an address other than loopback.
    #[error(
        "--insecure-http is allowed only on a loopback address, not {0}; serve HTTPS (the default) on other addresses"
    )]
    InsecureNotLoopback(SocketAddr),
    /// No certificate is installed.
    #[error(
        "this appliance has no TLS certificate; install one with `tacctl tls set --cert F --key F`, or `tacctl tls generate` for a self-signed one"
    )]
    NoCertificate,
    /// The certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// Binding or serving failed.
    #[error("cannot listen on {addr}: {source}; choose another --listen address")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The runtime failed.
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// How `tacctl serve` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Serve plain HTTP (loopback only).
    pub insecure_http: bool,
    /// Failed-login limits.
    pub throttle: throttle::Limits,
    /// Largest bundle `POST /api/v1/config/import` accepts, bytes.
    pub max_bundle_bytes: u64,
    /// How long a request may take (imports get ten times this).
    pub request_timeout: Duration,
    /// Password hashes that may run at once; defaults to the number of cores.
    pub hash_concurrency: usize,
    /// How often to look for configuration changes; `None`: only on SIGHUP.
    pub watch_interval: Option<Duration>,
}

impl Options {
    /// The defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            insecure_http: false,
            throttle: throttle::Limits::default(),
            max_bundle_bytes: 1 << 30,
            request_timeout: Duration::from_secs(30),
            hash_concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            watch_interval: Some(RELOAD_INTERVAL),
        }
    }
}

/// The configuration in force, with what the hot routes answer from it
/// rendered once per reload rather than once per request.
#[derive(Debug)]
pub struct Live {
    snapshot: Snapshot,
    /// `GET /api/v1/appliance`'s body.
    pub appliance_json: axum::body::Bytes,
    /// The directory client, when LDAP is configured.
    pub directory: ldap::Prepared,
    /// Tokens this configuration verified already.
    pub tokens: cache::TokenCache,
}

impl Live {
    /// The configuration it was built from.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    fn new(snapshot: Snapshot) -> Self {
        let appliance_json = routes::appliance_json(&snapshot);
        let directory = snapshot.directory();
        let tokens = cache::TokenCache::new(
            snapshot.policy.algorithm.as_str(),
            &snapshot.settings.active_key.kid,
            snapshot.policy.leeway,
        );
        Self {
            snapshot,
            appliance_json,
            directory,
            tokens,
        }
    }

    /// Verifies a token, from the cache when this exact token passed before.
    pub fn verify_cached(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Arc<crate::jwt::Claims>, crate::jwt::VerifyError> {
        let token = token.trim();
        if let Some(claims) = self.tokens.get(token, now) {
            return Ok(claims);
        }
        let claims = Arc::new(self.snapshot.verify(token, now)?);
        self.tokens.put(token, Arc::clone(&claims));
        Ok(claims)
    }
}

impl std::ops::Deref for Live {
    type Target = Snapshot;
    fn deref(&self) -> &Snapshot {
        &self.snapshot
    }
}

/// What every request shares.
pub struct AppState {
    ops: Ops,
    live: ArcSwap<Live>,
    stamp: Mutex<Stamp>,
    /// Failed-login counts.
    pub throttle: throttle::Throttle,
    /// At most this many password hashes at once, so a login flood cannot
    /// starve token verification of CPU.
    pub hashing: Semaphore,
    /// The options.
    pub options: Options,
    tls: Mutex<Option<(axum_server::tls_rustls::RustlsConfig, String)>>,
    /// Becomes true when the server begins to shut down.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("root", &self.ops.app.root())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens the appliance at `root` and reads its configuration.
    pub fn new(root: &Path, options: Options) -> Result<Arc<Self>, ServerError> {
        let ops = Ops::open(root, Duration::from_secs(10))?;
        for n in &ops.notices {
            tracing::warn!(notice = %n, "opening the appliance");
        }
        let stamp = Stamp::read(root);
        let snapshot = ops.snapshot()?;
        Ok(Arc::new(Self {
            ops,
            live: ArcSwap::from_pointee(Live::new(snapshot)),
            stamp: Mutex::new(stamp),
            throttle: throttle::Throttle::new(options.throttle),
            hashing: Semaphore::new(options.hash_concurrency.max(1)),
            options,
            tls: Mutex::new(None),
            stopping: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// The configuration in force.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The appliance operations (imports).
    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    /// The appliance directory.
    pub fn root(&self) -> PathBuf {
        self.ops.app.root().to_path_buf()
    }

    /// Reloads when the files changed, or always with `force`. Returns
    /// whether a new snapshot is in force. Blocking: call off the runtime.
    pub fn reload(&self, force: bool) -> Result<bool, OpsError> {
        let root = self.ops.app.root();
        let stamp = Stamp::read(root);
        if !force && *self.stamp.lock().expect("stamp lock") == stamp {
            return Ok(false);
        }
        let snapshot = self.ops.snapshot()?;
        let old = self.live.load();
        let changed_key = old.settings.active_key.kid != snapshot.settings.active_key.kid;
        if let Some(t) = &snapshot.tls {
            let mut tls = self.tls.lock().expect("tls lock");
            if let Some((config, fingerprint)) = tls.as_mut()
                && *fingerprint != t.fingerprint
            {
                match crate::tls::server_config(&t.cert_pem, &t.key_pem) {
                    Ok(c) => {
                        config.reload_from_config(Arc::new(c));
                        *fingerprint = t.fingerprint.clone();
                        tracing::info!(fingerprint = %t.fingerprint, "TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "new TLS certificate refused; keeping the old one")
                    }
                }
            }
        }
        tracing::info!(
            kid = %snapshot.settings.active_key.kid,
            algorithm = %snapshot.settings.algorithm,
            key_changed = changed_key,
            "configuration reloaded"
        );
        self.live.store(Arc::new(Live::new(snapshot)));
        // The stamp read before the snapshot: a change made while reading
        // makes the next tick reload again.
        *self.stamp.lock().expect("stamp lock") = stamp;
        Ok(true)
    }

    async fn reload_async(self: &Arc<Self>, force: bool) {
        let state = Arc::clone(self);
        match tokio::task::spawn_blocking(move || state.reload(force)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(
                error = %e,
                "the configuration on disk could not be loaded; still serving the last good one"
            ),
            Err(e) => tracing::error!(error = %e, "reload task failed"),
        }
    }
}

/// The current time, Unix seconds.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
        || matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()))
}

/// Runs the server until SIGTERM, Ctrl-C or `shutdown` completes. `ready`
/// is told the bound address, the scheme and the certificate's fingerprint
/// once the socket listens.
pub async fn serve(
    root: &Path,
    options: Options,
    ready: impl FnOnce(SocketAddr, &str, Option<&str>),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if options.insecure_http && !is_loopback(options.listen.ip()) {
        return Err(ServerError::InsecureNotLoopback(options.listen));
    }
    let root = root.to_path_buf();
    let opts = options.clone();
    let state = tokio::task::spawn_blocking(move || {
        crate::auth::warm_up();
        AppState::new(&root, opts)
    })
    .await
    .map_err(|e| ServerError::Io(std::io::Error::other(e)))??;
    let listener =
        std::net::TcpListener::bind(options.listen).map_err(|source| ServerError::Listen {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let handle = axum_server::Handle::<SocketAddr>::new();
    tokio::spawn(watch(Arc::clone(&state), handle.clone(), shutdown));
    let member = tokio::spawn(member::run(Arc::clone(&state), state.stopping.subscribe()));
    let app = router(Arc::clone(&state)).into_make_service_with_connect_info::<SocketAddr>();

    if options.insecure_http {
        let mut server = axum_server::from_tcp(listener)?.handle(handle);
        limit_http(server.http_builder());
        ready(addr, "http", None);
        server.serve(app).await?;
    } else {
        let live = state.live();
        let tls = live.tls.as_ref().ok_or(ServerError::NoCertificate)?;
        let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(
            crate::tls::server_config(&tls.cert_pem, &tls.key_pem)?,
        ));
        *state.tls.lock().expect("tls lock") = Some((config.clone(), tls.fingerprint.clone()));
        let mut server = axum_server::from_tcp_rustls(listener, config)?.handle(handle);
        limit_http(server.http_builder());
        ready(addr, "https", Some(&tls.fingerprint));
        server.serve(app).await?;
    }
    // The member side says goodbye to the cluster store (its live key goes
    // at once rather than when its lease runs out), briefly.
    state.stopping.send_replace(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), member).await;
    tracing::info!("server stopped");
    Ok(())
}

/// Header size limits and a header read timeout (slow clients).
fn limit_http(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
) {
    builder
        .http1()
        .max_buf_size(64 * 1024)
        .header_read_timeout(Some(Duration::from_secs(10)));
    builder
        .http2()
        .max_header_list_size(32 * 1024)
        .max_concurrent_streams(Some(256));
}

/// Reloads on change and on SIGHUP; shuts down gracefully on SIGTERM and
/// Ctrl-C.
async fn watch(
    state: Arc<AppState>,
    handle: axum_server::Handle<SocketAddr>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
        return;
    };
    let watching = state.options.watch_interval.is_some();
    let mut tick = tokio::time::interval(state.options.watch_interval.unwrap_or(RELOAD_INTERVAL));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick(), if watching => state.reload_async(false).await,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                state.reload_async(true).await;
            }
            _ = term.recv() => break,
            _ = &mut shutdown => break,
            _ = int.recv() => break,
        }
    }
    state.stopping.send_replace(true);
    tracing::info!("shutting down: finishing requests in flight (at most 10 s)");
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
}
