//! The routes of the REST API, its authentication extractors and the
//! per-request middleware (request id, access log, timeout).
//!
//! Handlers only parse and hand over: credentials go to the login rule
//! ([`crate::auth::ApiLogin`]: local users, then the directory), tokens to
//! the snapshot's `verify`, bundles to the same `open_bundle`/`plan`/`apply`
//! as the CLI. A handler that takes [`Authed`]
//! or [`Admin`] is authenticated; every failure is an [`ApiError`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{ApiError, AppState, Live, now};
use crate::api::{ApplianceBody, NodeBody, PASSPHRASE_HEADER, TOKEN_HEADER, TokenBody};
use crate::auth::{ApiLogin, AuthError, Authenticator, Identity, LoginError, PooledUsers};
use crate::component::Role;
use crate::jwt::{Claims, Subject, VerifyError};
use crate::ops::{Issued, OpsError, Snapshot};

/// Largest login or refresh body, bytes.
pub const MAX_SMALL_BODY: usize = 16 * 1024;

type Shared = Arc<AppState>;

/// Every route, with the middleware.
pub fn router(state: Shared) -> Router {
    let import_timeout = state.options.request_timeout * 10;
    let api = Router::new()
        .route("/healthz", get(healthz))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/api/v1/auth/jwks", get(jwks))
        .route("/api/v1/auth/login/token", post(login))
        .route("/api/v1/auth/login/token/refresh", post(refresh))
        .route("/api/v1/appliance", get(appliance))
        .route("/api/v1/jwt", get(jwt_settings))
        .route("/api/v1/cluster/node", get(cluster_node))
        .route_layer(middleware::from_fn_with_state(
            state.options.request_timeout,
            timeout,
        ));
    let import = Router::new()
        .route("/api/v1/config/import", post(import))
        .route_layer(middleware::from_fn_with_state(import_timeout, timeout));
    api.merge(import)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

/// Every route the router serves, as `METHOD path`: the OpenAPI document
/// must describe exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/api/v1/auth/jwks"),
    ("post", "/api/v1/auth/login/token"),
    ("post", "/api/v1/auth/login/token/refresh"),
    ("get", "/api/v1/appliance"),
    ("get", "/api/v1/jwt"),
    ("get", "/api/v1/cluster/node"),
    ("post", "/api/v1/config/import"),
];

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(req.uri().path().to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::Unavailable(format!(
            "the request took longer than {} s and was abandoned; try again",
            limit.as_secs()
        ))
        .into_response(),
    }
}

/// Who the request authenticated as, filled in by the extractors and
/// the login handler, read by the access log.
#[derive(Clone, Default)]
struct LogUser(Arc<Mutex<Option<String>>>);

impl LogUser {
    fn set(&self, name: &str) {
        *self.0.lock().expect("log user lock") = Some(name.to_owned());
    }
}

fn log_user(parts: &Parts, name: &str) {
    if let Some(slot) = parts.extensions.get::<LogUser>() {
        slot.set(name);
    }
}

/// A request id unique for this process: a random prefix chosen at start
/// and a counter, so minting one costs no system call.
fn new_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    format!("{prefix}-{:08x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One log line per request: method, path (never the query), status,
/// latency, user and request id. Never a header or body.
async fn access_log(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let user = LogUser::default();
    req.extensions_mut().insert(user.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "-".into());
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let user = user.0.lock().expect("log user lock").clone();
    tracing::info!(
        target: "tacctl::access",
        request_id = %id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        user = user.as_deref().unwrap_or("-"),
        client = %client,
        "request"
    );
    response
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// How long a JWKS may be cached, at most: a verifier that caches it
/// learns of a new key within this, and never needs a retired key longer
/// than the grace the JWKS keeps serving it for.
const JWKS_MAX_AGE_SECONDS: u64 = 60;

/// `GET /.well-known/jwks.json` and `GET /api/v1/auth/jwks`: every public
/// key a token may still be verified with, unauthenticated (RFC 7517). An
/// HMAC secret never appears; with HMAC configured the set is empty.
async fn jwks(State(state): State<Shared>) -> Response {
    let live = state.live();
    let snap = live.snapshot();
    let body = snap.jwks(super::now());
    let max_age = JWKS_MAX_AGE_SECONDS.min(snap.policy.lifetime.max(1));
    (
        [
            (header::CACHE_CONTROL, format!("public, max-age={max_age}")),
            (header::CONTENT_TYPE, "application/jwk-set+json".to_owned()),
        ],
        serde_json::to_vec(&body).expect("a JWKS serialises"),
    )
        .into_response()
}

/// A request with a valid token.
#[derive(Debug)]
pub struct Authed {
    /// The token's claims.
    pub claims: Arc<Claims>,
    /// The configuration it was checked against.
    pub live: Arc<Live>,
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized(
            "no token: send `Authorization: Bearer <token>`; get one from POST /api/v1/auth/login/token".into(),
        )
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not ASCII".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::Unauthorized(
            "the Authorization header is not `Bearer <token>`".into(),
        )),
    }
}

fn token_error(e: VerifyError) -> ApiError {
    ApiError::TokenRefused(e)
}

impl FromRequestParts<Shared> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)?;
        let live = state.live();
        let claims = live.verify_cached(token, now()).map_err(token_error)?;
        log_user(parts, &claims.sub);
        Ok(Authed { claims, live })
    }
}

/// A request with a valid administrator's token.
#[derive(Debug)]
pub struct Admin(pub Authed);

impl FromRequestParts<Shared> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let authed = Authed::from_request_parts(parts, state).await?;
        if authed.claims.role != Role::Admin.as_str() {
            return Err(ApiError::Forbidden(format!(
                "user {:?} has role {}; this resource needs an administrator",
                authed.claims.sub, authed.claims.role
            )));
        }
        Ok(Admin(authed))
    }
}

fn token_response(issued: Issued, now: u64) -> Response {
    let token = issued.token.expose_secret();
    let body = TokenBody {
        token: token.to_owned(),
        token_type: "Bearer".into(),
        expires_in: issued.claims.exp.saturating_sub(now),
        expires_at: humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + Duration::from_secs(issued.claims.exp),
        )
        .to_string(),
    };
    let mut response = axum::Json(body).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(token) {
        headers.insert(TOKEN_HEADER, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
struct FormLogin {
    loginname: String,
    password: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLogin {
    username: String,
    password: SecretString,
}

/// The user name and password of a login request: form fields `loginname`
/// and `password`, a JSON `{"username","password"}`, or HTTP Basic.
fn credentials(headers: &HeaderMap, body: &[u8]) -> Result<(String, SecretString), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match content_type.as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let f: FormLogin = serde_urlencoded::from_bytes(body).map_err(|_| {
                ApiError::BadRequest(
                    "the form needs the fields `loginname` and `password`".into(),
                )
            })?;
            Ok((f.loginname, f.password))
        }
        Some("application/json") => {
            let j: JsonLogin = serde_json::from_slice(body).map_err(|_| {
                ApiError::BadRequest(
                    "the JSON body must be {\"username\": ..., \"password\": ...}".into(),
                )
            })?;
            Ok((j.username, j.password))
        }
        Some(other) if !body.is_empty() => Err(ApiError::UnsupportedMediaType(format!(
            "a login body must be application/x-www-form-urlencoded or application/json, not {other}"
        ))),
        _ if !body.is_empty() => Err(ApiError::UnsupportedMediaType(
            "a login body needs a Content-Type: application/x-www-form-urlencoded or application/json".into(),
        )),
        _ => basic(headers),
    }
}

fn basic(headers: &HeaderMap) -> Result<(String, SecretString), ApiError> {
    let missing = || {
        ApiError::BadRequest(
            "no credentials: send form fields `loginname` and `password`, a JSON {\"username\",\"password\"}, or HTTP Basic".into(),
        )
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let (scheme, b64) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(missing());
    }
    let decoded = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| ApiError::BadRequest("the Basic credentials are not base64".into()))?,
    );
    let text = std::str::from_utf8(&decoded)
        .map_err(|_| ApiError::BadRequest("the Basic credentials are not UTF-8".into()))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| ApiError::BadRequest("the Basic credentials have no `:`".into()))?;
    Ok((user.to_owned(), SecretString::from(password.to_owned())))
}

async fn small_body(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_SMALL_BODY)
        .await
        .map_err(|_| ApiError::TooLarge(MAX_SMALL_BODY as u64))
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::BadCredentials => {
            ApiError::Unauthorized("login failed: wrong user name or password".into())
        }
        AuthError::NoApiAccess(name) => ApiError::Forbidden(format!(
            "user {name:?} has no API access; an administrator can grant it"
        )),
        AuthError::NotAdmin(name) => {
            ApiError::Forbidden(format!("user {name:?} is not an administrator"))
        }
        other => ApiError::Internal(other.to_string()),
    }
}

/// The local users' check as the server runs it: on the blocking pool, at
/// most one hash per core at once, so a login flood cannot starve token
/// verification of CPU.
struct Hashing<'a> {
    state: &'a Shared,
    users: PooledUsers,
}

impl Authenticator for Hashing<'_> {
    async fn authenticate(
        &self,
        name: &str,
        password: &SecretString,
    ) -> Result<Identity, LoginError> {
        let _permit = tokio::time::timeout(Duration::from_secs(10), self.state.hashing.acquire())
            .await
            .map_err(|_| {
                LoginError::Unavailable(
                    "the appliance is busy checking passwords; try again".into(),
                )
            })?
            .map_err(|_| LoginError::Unavailable("the server is shutting down".into()))?;
        self.users.authenticate(name, password).await
    }
}

fn login_error(e: LoginError) -> ApiError {
    match e {
        LoginError::Local(e) => auth_error(e),
        LoginError::Directory(e) => super::ldap::api_error(e),
        e @ LoginError::DirectoryUnusable(_) => ApiError::Unavailable(e.to_string()),
        LoginError::Unavailable(why) => ApiError::Unavailable(why),
    }
}

/// The login rule ([`ApiLogin`]) over the configuration in force.
async fn authenticate(
    state: &Shared,
    live: &Arc<Live>,
    name: &str,
    password: &SecretString,
) -> Result<Identity, ApiError> {
    let login = ApiLogin {
        users: &live.users,
        local: Hashing {
            state,
            users: PooledUsers(Arc::new(live.users.clone())),
        },
        directory: live.directory.as_ref(),
    };
    login
        .authenticate(name, password)
        .await
        .map_err(login_error)
}

async fn login(State(state): State<Shared>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let body = small_body(body).await?;
    let (name, password) = credentials(&parts.headers, &body)?;
    log_user(&parts, &name);
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let t = now();
    if let Some(wait) = state.throttle.check(&name, client, t) {
        return Err(ApiError::TooManyRequests(wait));
    }
    let live = state.live();
    match authenticate(&state, &live, &name, &password).await {
        Ok(id) => {
            state.throttle.succeeded(&name);
            let issued = live
                .issue(&id, t)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(token_response(issued, t))
        }
        Err(e) => {
            if matches!(e, ApiError::Unauthorized(_)) {
                state.throttle.failed(&name, client, t);
            }
            Err(e)
        }
    }
}

async fn refresh(authed: Authed) -> Result<Response, ApiError> {
    let Authed { claims, live } = authed;
    let t = now();
    let directory = super::ldap::lookup(&live.directory, &claims.sub);
    let subject = match live.local_subject(&claims.sub) {
        Some(s) => s,
        None => match directory.await? {
            Some(id) if id.api_access => Subject::Active {
                role: id.role.as_str(),
            },
            Some(_) => Subject::NoApiAccess,
            None => Subject::Gone,
        },
    };
    match live.refresh(&claims, subject, t) {
        Ok(issued) => Ok(token_response(issued, t)),
        Err(OpsError::Refresh(e)) => Err(ApiError::Unauthorized(e.to_string())),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

async fn appliance(authed: Authed) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        authed.live.appliance_json.clone(),
    )
        .into_response()
}

async fn cluster_node(State(state): State<Shared>) -> axum::Json<NodeBody> {
    let live = state.live();
    let now = now();
    axum::Json(NodeBody {
        appliance: ApplianceBody::describe(&live.node, &live.settings, &live.trust, now),
        time: now,
        keys: crate::component::own_keys(&live.keys, live.policy.algorithm, now),
        recipient: live.recipient.clone(),
        signer: live.signer.clone(),
    })
}

/// The body of `GET /api/v1/appliance` for a configuration.
pub(super) fn appliance_json(live: &Snapshot) -> axum::body::Bytes {
    let body = ApplianceBody::describe(&live.node, &live.settings, &live.trust, now());
    serde_json::to_vec(&body)
        .expect("a struct of strings and numbers serialises")
        .into()
}

async fn jwt_settings(Admin(authed): Admin) -> axum::Json<serde_json::Value> {
    let s = &authed.live.settings;
    axum::Json(serde_json::json!({
        "algorithm": s.algorithm.as_str(),
        "expiry_value": s.expiry_value,
        "expiry_unit": s.expiry_unit,
        "expiry_seconds": authed.live.policy.lifetime,
        "max_session_seconds": s.max_session_seconds,
        "kid": s.active_key.kid,
        "previous_keys": s.previous_keys.iter().map(|k| serde_json::json!({
            "kid": k.key.kid,
            "accept_until": k.accept_until,
            "algorithm": s.signed_with(k).as_str(),
        })).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    components: Option<String>,
    #[serde(default)]
    include_node_local: bool,
}

async fn import(
    State(state): State<Shared>,
    Admin(authed): Admin,
    req: Request,
) -> Result<Response, ApiError> {
    use crate::component::Component;
    use crate::ops::bundle::{BundleInput, ImportChoice, Imported};
    let (parts, body) = req.into_parts();
    let query: ImportQuery = serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "bad query ({e}); it takes dry_run=true|false, components=jwt,users,... and include_node_local=true|false"
            ))
        })?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/octet-stream" {
        return Err(ApiError::UnsupportedMediaType(
            "send the bundle as Content-Type: application/octet-stream".into(),
        ));
    }
    // Without a passphrase, the bundle must be encrypted to this node's
    // member key (`GET /api/v1/cluster/node` serves it).
    let passphrase = parts
        .headers
        .get(PASSPHRASE_HEADER)
        .filter(|v| !v.is_empty())
        // As the command line takes it: any UTF-8, not only ASCII.
        .map(|v| {
            std::str::from_utf8(v.as_bytes())
                .map(|p| SecretString::from(p.to_owned()))
                .map_err(|_| {
                    ApiError::BadRequest(
                        "the X-Bundle-Passphrase header is not UTF-8; send the passphrase as UTF-8 bytes".into(),
                    )
                })
        })
        .transpose()?;
    let components = match &query.components {
        Some(list) => Some(
            list.split(',')
                .map(|s| {
                    Component::parse(s.trim()).map_err(|e| ApiError::BadRequest(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let choice = ImportChoice {
        components,
        include_node_local: query.include_node_local,
        dry_run: query.dry_run,
        confirm_unchanged: false,
    };
    // The body goes to a private file first: a bundle that puts its
    // manifest last is read twice, and it may be large.
    let spool = spool(body, &state).await?;
    let st = Arc::clone(&state);
    let user = authed.claims.sub.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ApiError> {
        let ops = st.ops();
        let identity = match &passphrase {
            Some(_) => None,
            None => Some(ops.member_identity(now()).map_err(import_error)?),
        };
        let unlock = match (&passphrase, &identity) {
            (Some(p), _) => crate::bundle::header::Unlock::Passphrase(p),
            (None, Some(i)) => crate::bundle::header::Unlock::Identity(i),
            (None, None) => unreachable!("an identity is read when no passphrase is given"),
        };
        let imported = ops
            .import(
                BundleInput::File(&spool.path().join(UPLOAD_FILE)),
                unlock,
                &choice,
                now(),
                &crate::ops::bundle::NoProgress,
                // The request is the confirmation.
                &mut |_| Ok(true),
            )
            .map_err(|e| match (&passphrase, e) {
                // No passphrase was sent, and the member key does not open
                // it: say where the passphrase goes.
                (
                    None,
                    OpsError::Bundle(crate::bundle::BundleError::Header(
                        h @ crate::bundle::header::HeaderError::NotARecipient { .. },
                    )),
                ) => ApiError::BadRequest(format!(
                    "bundle refused: {h}; or send its passphrase in the X-Bundle-Passphrase header"
                )),
                (_, e) => import_error(e),
            })?;
        drop(spool);
        match imported {
            Imported::Planned(plan) => Ok(serde_json::json!({"dry_run": true, "plan": plan})),
            Imported::Declined(_) => unreachable!("the API confirms every plan"),
            Imported::Applied(plan, mut outcome) => {
                tracing::info!(user = %user, outcome = %outcome.outcome, kid = %outcome.jwt_kid, "import through the API");
                // The change is in force before the answer leaves; applied
                // it is either way, so a reload that fails is a warning.
                if let Err(e) = st.reload(true) {
                    tracing::warn!(error = %e, "reloading after an import");
                    outcome.warnings.push(format!(
                        "the import is applied, but this server could not load it yet ({e}); it retries on its next check, or send SIGHUP"
                    ));
                }
                Ok(serde_json::json!({"dry_run": false, "plan": plan, "outcome": outcome}))
            }
        }
    })
    .await
    .map_err(|e| ApiError::Internal(format!("import task failed: {e}")))??;
    Ok(axum::Json(result).into_response())
}

fn import_error(e: OpsError) -> ApiError {
    use crate::appliance::ApplianceError;
    match e {
        OpsError::Appliance(ApplianceError::Locked { .. }) => ApiError::Unavailable(
            "another change to this appliance is in progress; try again".into(),
        ),
        OpsError::Bundle(b) => ApiError::BadRequest(format!("bundle refused: {b}")),
        OpsError::Invalid(m) => ApiError::BadRequest(m),
        OpsError::Appliance(ApplianceError::Component(c)) => {
            ApiError::BadRequest(format!("bundle refused: {c}"))
        }
        other => ApiError::Internal(other.to_string()),
    }
}

/// The spooled bundle's name in its scratch directory.
const UPLOAD_FILE: &str = "bundle";

/// Streams the request body into a private file (0600, in a scratch
/// directory of the appliance, which is removed when dropped and swept if
/// the server dies), refusing it past the size limit.
async fn spool(body: Body, state: &Shared) -> Result<crate::appliance::HeldDir, ApiError> {
    use http_body_util::BodyExt;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let limit = state.options.max_bundle_bytes;
    let dir = state
        .ops()
        .app
        .scratch("upload")
        .map_err(|e| ApiError::Internal(format!("creating the upload file: {e}")))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.path().join(UPLOAD_FILE))
        .map_err(|e| ApiError::Internal(format!("creating the upload file: {e}")))?;
    let mut body = body;
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > limit {
                return Err(ApiError::TooLarge(limit));
            }
            file.write_all(&data)
                .map_err(|e| ApiError::Internal(format!("writing the upload file: {e}")))?;
        }
    }
    file.flush()
        .map_err(|e| ApiError::Internal(format!("writing the upload file: {e}")))?;
    Ok(dir)
}
