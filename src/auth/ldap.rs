//! Logins through an external LDAP directory, with ldap3 on tokio.
//!
//! A [`Directory`] checks one login on one fresh connection: connect
//! (`ldap://`, `ldaps://` or StartTLS), bind as the service account (or stay
//! anonymous), find the user's entry with the configured filter, where the
//! name is escaped by RFC 4515 so that it can never widen the filter, bind as
//! that entry with the user's password, bind back as the service account and
//! read group membership. The admin group makes an administrator; the API
//! access group, or the admin group, grants API access; without an API access
//! group no directory user has API access (deny by default). Everyone else
//! from the directory is a viewer.
//!
//! A name that matches no entry still costs a bind, refused: one as a DN
//! that does not exist ([`NO_SUCH_USER_RDN`] under the base DN) with a fixed
//! password, never the user's. So an unknown name and a wrong password take
//! the same round trips, and names cannot be told apart by the time a login
//! takes (local logins check a dummy hash for the same reason).
//!
//! Every network step is bounded by the configured timeout twice over: by
//! ldap3's connect timeout and by a tokio timeout around each operation, so a
//! dead or hung directory becomes [`LdapError::Unreachable`] or
//! [`LdapError::Timeout`] instead of a hang. Passwords reach only ldap3's bind
//! requests: never an error, a log line or `Debug` output.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ldap3::asn1::StructureTag;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapResult, Scope, SearchOptions};
use secrecy::{ExposeSecret, SecretString};

use super::Identity;
use crate::component::{LdapCommon, Role};

/// Where the escaped user name goes in the configured user filter.
pub const USERNAME_PLACEHOLDER: &str = "{username}";

/// The entry, under the base DN, that a login for an unknown name binds as
/// (and is refused), so that it takes the round trips of a wrong password.
pub const NO_SUCH_USER_RDN: &str = "cn=tacctl-no-such-user";

/// LDAP result codes this module tells apart (RFC 4511, appendix A).
mod rc {
    pub const SUCCESS: u32 = 0;
    pub const SIZE_LIMIT_EXCEEDED: u32 = 4;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_DN_SYNTAX: u32 = 34;
    pub const INAPPROPRIATE_AUTHENTICATION: u32 = 48;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const INSUFFICIENT_ACCESS_RIGHTS: u32 = 50;
    pub const UNWILLING_TO_PERFORM: u32 = 53;
}

/// Why a directory login or lookup failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LdapError {
    /// Unknown user, wrong password or an empty one; deliberately not saying which.
    #[error("authentication failed: wrong user name or password")]
    BadCredentials,
    /// The password is right but the user may not use the REST API.
    #[error("{}", no_api_access(.user, .api_access_group.as_deref()))]
    NoApiAccess {
        /// The user name as given.
        user: String,
        /// The configured API access group, if any.
        api_access_group: Option<String>,
    },
    /// No connection could be made, or the directory closed it.
    #[error(
        "the LDAP directory {url} cannot be reached ({reason}); check that it runs and that the URL and port are right, then try `tacctl ldap test USER`"
    )]
    Unreachable {
        /// The configured URL.
        url: String,
        /// What the network said.
        reason: String,
    },
    /// The directory accepted the connection but did not answer in time.
    #[error(
        "the LDAP directory {url} did not answer the {operation} within {seconds} s; check that it is healthy, or allow more time with `tacctl ldap set --timeout`"
    )]
    Timeout {
        /// The configured URL.
        url: String,
        /// The operation that timed out.
        operation: &'static str,
        /// The configured timeout.
        seconds: u64,
    },
    /// The TLS handshake or StartTLS failed, or the certificate was not trusted.
    #[error(
        "TLS with the LDAP directory {url} failed ({reason}); check the server's certificate and the CA certificates given with `tacctl ldap set --ca-file`"
    )]
    Tls {
        /// The configured URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The settings do not fit the directory: base DN, filter, groups, service account.
    #[error("LDAP configuration: {0}")]
    Config(String),
    /// The directory answered with an error this module has no meaning for.
    #[error("the LDAP directory {url} answered the {operation} with an error: {reason}")]
    Protocol {
        /// The configured URL.
        url: String,
        /// The operation.
        operation: &'static str,
        /// The directory's result.
        reason: String,
    },
}

fn no_api_access(user: &str, group: Option<&str>) -> String {
    match group {
        None => format!(
            "directory user {user:?} has no API access: no API access group is configured, so no directory user has any; configure one with `tacctl ldap set ... --api-access-group DN`"
        ),
        Some(g) => format!(
            "directory user {user:?} has no API access: not a member of the API access group {g:?} nor of the admin group; the directory's administrator can add them"
        ),
    }
}

impl LdapError {
    /// Whether the directory itself is unavailable (unreachable or too slow),
    /// as opposed to refusing these credentials or being misconfigured: a
    /// server answers 503 for these.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            LdapError::Unreachable { .. } | LdapError::Timeout { .. }
        )
    }
}

/// One step of [`Directory::test`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// TCP connection, with TLS or StartTLS when configured.
    Connect,
    /// The service account's bind, or anonymous access.
    Bind,
    /// The search for the user's entry.
    Search,
    /// The bind as the user with the user's password.
    UserBind,
    /// Admin and API access group membership.
    Groups,
}

impl StepKind {
    /// A short lowercase label.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Connect => "connect",
            StepKind::Bind => "bind",
            StepKind::Search => "search",
            StepKind::UserBind => "user bind",
            StepKind::Groups => "groups",
        }
    }
}

/// What one step of [`Directory::test`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Which step.
    pub kind: StepKind,
    /// Whether it passed.
    pub passed: bool,
    /// What it found, or why it failed.
    pub detail: String,
}

/// Escapes a value for an LDAP search filter (RFC 4515, section 3): `*`,
/// `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`, `\5c` and `\00`, so the
/// value matches itself literally and cannot add wildcards or filter terms.
pub fn escape_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// The user search filter: `template` with every `{username}` replaced by
/// the escaped `name`.
pub fn user_filter(template: &str, name: &str) -> String {
    template.replace(USERNAME_PLACEHOLDER, &escape_filter_value(name))
}

/// The filter a group entry matches when the user is a member, whichever
/// of the usual membership attributes the group uses: `member`
/// (groupOfNames), `uniqueMember` (groupOfUniqueNames), `memberUid`
/// (posixGroup, which holds the name rather than the DN).
pub fn membership_filter(user_dn: &str, name: &str) -> String {
    let dn = escape_filter_value(user_dn);
    format!(
        "(|(member={dn})(uniqueMember={dn})(memberUid={}))",
        escape_filter_value(name)
    )
}

/// An LDAP directory that logins can be checked against.
pub struct Directory {
    settings: LdapCommon,
    bind_password: Option<SecretString>,
    /// A TLS configuration trusting the configured CA certificates; `None`
    /// leaves ldap3 to trust the system's roots.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("url", &self.settings.url)
            .field("base_dn", &self.settings.base_dn)
            .field("bind_dn", &self.settings.bind_dn)
            .field(
                "bind_password",
                &self.bind_password.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

/// A connection whose background driver stops when it is dropped, even when
/// the directory hangs.
struct Conn {
    ldap: Ldap,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Directory {
    /// A directory from its settings and the service account's password
    /// (given exactly when `settings.bind_dn` is). Checks the settings that
    /// can be checked without a network: the filter and the CA certificates.
    pub fn new(
        settings: LdapCommon,
        bind_password: Option<SecretString>,
    ) -> Result<Self, LdapError> {
        if settings.bind_dn.is_some() != bind_password.is_some() {
            return Err(LdapError::Config(
                "a bind DN and a bind password go together: give both or neither with `tacctl ldap set --bind-dn DN --bind-password-file F`".into(),
            ));
        }
        if !settings.user_filter.contains(USERNAME_PLACEHOLDER)
            || ldap3::parse_filter(user_filter(&settings.user_filter, "x")).is_err()
        {
            return Err(LdapError::Config(format!(
                "the user filter {:?} is not a valid LDAP filter with {USERNAME_PLACEHOLDER}; set one such as (uid={USERNAME_PLACEHOLDER}) with `tacctl ldap set --user-filter`",
                settings.user_filter
            )));
        }
        let tls = settings.ca_pem.as_deref().map(client_config).transpose()?;
        Ok(Self {
            settings,
            bind_password,
            tls,
        })
    }

    /// The settings this directory was built from.
    pub fn settings(&self) -> &LdapCommon {
        &self.settings
    }

    /// An API login: the user's entry, the password, then the groups. Only a
    /// user with API access gets an identity; one without gets
    /// [`LdapError::NoApiAccess`]. An empty password is refused before any
    /// bind, because an unauthenticated bind (a DN without password)
    /// succeeds on some directories.
    pub async fn authenticate(
        &self,
        name: &str,
        password: &SecretString,
    ) -> Result<Identity, LdapError> {
        let id = self.run(name, Some(password), true, |_| {}).await?;
        tracing::debug!(user = name, role = %id.role, "directory login accepted");
        Ok(id)
    }

    /// The user's current identity without the password, for refreshing a
    /// directory user's token: `None` when the user is no longer in the
    /// directory; `api_access` may be false.
    pub async fn lookup(&self, name: &str) -> Result<Option<Identity>, LdapError> {
        match self.run(name, None, false, |_| {}).await {
            Ok(id) => Ok(Some(id)),
            Err(LdapError::BadCredentials) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`authenticate`](Self::authenticate) step by step, reporting each
    /// step (connect, bind, search, user bind, groups) as it passes or
    /// fails. The steps after a failure are not run.
    pub async fn test(
        &self,
        name: &str,
        password: &SecretString,
        on_step: impl FnMut(Step),
    ) -> Result<Identity, LdapError> {
        self.run(name, Some(password), true, on_step).await
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_seconds.max(1))
    }

    async fn run<F: FnMut(Step)>(
        &self,
        name: &str,
        password: Option<&SecretString>,
        require_api_access: bool,
        mut on_step: F,
    ) -> Result<Identity, LdapError> {
        if name.is_empty() || password.is_some_and(|p| p.expose_secret().is_empty()) {
            return Err(LdapError::BadCredentials);
        }
        let mut conn = report(
            &mut on_step,
            StepKind::Connect,
            self.connect().await.map(|c| (c, self.transport())),
        )?;
        let bind = self.service_bind(&mut conn).await;
        report(&mut on_step, StepKind::Bind, bind.map(|d| ((), d)))?;

        let filter = user_filter(&self.settings.user_filter, name);
        let found = match self.find_user(&mut conn, &filter).await {
            Err(LdapError::BadCredentials) => {
                if password.is_some() {
                    self.refused_bind(&mut conn).await;
                }
                on_step(Step {
                    kind: StepKind::Search,
                    passed: false,
                    detail: format!(
                        "no entry under {:?} matches {filter}",
                        self.settings.base_dn
                    ),
                });
                return Err(LdapError::BadCredentials);
            }
            other => other.map(|dn| (dn.clone(), format!("found {dn}"))),
        };
        let dn = report(&mut on_step, StepKind::Search, found)?;

        if let Some(password) = password {
            match self.user_bind(&mut conn, &dn, password).await {
                Err(LdapError::BadCredentials) => {
                    on_step(Step {
                        kind: StepKind::UserBind,
                        passed: false,
                        detail: format!("the directory refused the password for {dn}"),
                    });
                    return Err(LdapError::BadCredentials);
                }
                other => report(
                    &mut on_step,
                    StepKind::UserBind,
                    other.map(|()| ((), "password accepted".to_owned())),
                )?,
            }
        }

        let groups = self.groups(&mut conn, &dn, name, password.is_some()).await;
        let (role, api_access) = match groups {
            Ok((_, false, detail)) if require_api_access => {
                let e = LdapError::NoApiAccess {
                    user: name.to_owned(),
                    api_access_group: self.settings.api_access_group.clone(),
                };
                on_step(Step {
                    kind: StepKind::Groups,
                    passed: false,
                    detail: format!("{detail}: {e}"),
                });
                return Err(e);
            }
            other => report(
                &mut on_step,
                StepKind::Groups,
                other.map(|(role, api_access, detail)| ((role, api_access), detail)),
            )?,
        };
        self.close(conn).await;
        Ok(Identity {
            name: name.to_owned(),
            role,
            api_access,
        })
    }

    fn uses_tls(&self) -> bool {
        self.settings.starttls || self.settings.url.starts_with("ldaps://")
    }

    fn transport(&self) -> String {
        let url = &self.settings.url;
        let cas = if self.settings.ca_pem.is_some() {
            "the configured CA certificates"
        } else {
            "the system's CA certificates"
        };
        if self.settings.starttls {
            format!("{url} with StartTLS, trusting {cas}")
        } else if url.starts_with("ldaps://") {
            format!("{url} over TLS, trusting {cas}")
        } else {
            format!("{url} without TLS")
        }
    }

    /// Runs one network operation within the timeout and sorts ldap3's errors.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        op: impl Future<Output = ldap3::result::Result<T>>,
    ) -> Result<T, LdapError> {
        match tokio::time::timeout(self.timeout(), op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.classify(operation, e)),
            Err(_) if operation == "connect" => Err(self.unreachable(format!(
                "no connection within {} s",
                self.settings.timeout_seconds
            ))),
            Err(_) => Err(LdapError::Timeout {
                url: self.settings.url.clone(),
                operation,
                seconds: self.settings.timeout_seconds,
            }),
        }
    }

    fn unreachable(&self, reason: String) -> LdapError {
        LdapError::Unreachable {
            url: self.settings.url.clone(),
            reason,
        }
    }

    fn classify(&self, operation: &'static str, e: ldap3::LdapError) -> LdapError {
        use ldap3::LdapError as E;
        let url = self.settings.url.clone();
        match e {
            E::Timeout { .. } if operation == "connect" => self.unreachable(format!(
                "no connection within {} s",
                self.settings.timeout_seconds
            )),
            E::Timeout { .. } => LdapError::Timeout {
                url,
                operation,
                seconds: self.settings.timeout_seconds,
            },
            E::Io { source } => match source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(tls) => LdapError::Tls {
                    url,
                    reason: tls.to_string(),
                },
                // Connected, then hung up on during the handshake: a server
                // that does not speak TLS on this port, typically.
                None if operation == "connect"
                    && self.uses_tls()
                    && matches!(
                        source.kind(),
                        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                    ) =>
                {
                    LdapError::Tls {
                        url,
                        reason: format!(
                            "the server closed the connection during the TLS handshake ({source}); check that the port speaks TLS"
                        ),
                    }
                }
                None if operation == "connect" => self.unreachable(source.to_string()),
                None => self.unreachable(format!("the connection broke: {source}")),
            },
            E::Rustls { source } => LdapError::Tls {
                url,
                reason: source.to_string(),
            },
            E::DNSName { source } => LdapError::Tls {
                url,
                reason: format!("the host is not a valid TLS server name: {source}"),
            },
            E::LdapResult { result } if operation == "connect" => LdapError::Tls {
                url,
                reason: format!("the directory refused StartTLS: {}", describe(&result)),
            },
            E::OpSend { .. } | E::ResultRecv { .. } | E::EndOfStream | E::IdScrubSend { .. } => {
                self.unreachable("the directory closed the connection".into())
            }
            E::UrlParsing { source } => LdapError::Config(format!(
                "the URL {url:?} is not valid ({source}); set ldap://HOST:PORT or ldaps://HOST:PORT with `tacctl ldap set --url`"
            )),
            E::UnknownScheme(s) => LdapError::Config(format!(
                "the URL {url:?} has the scheme {s:?}; use ldap:// or ldaps://"
            )),
            E::FilterParsing => LdapError::Config(format!(
                "the user filter {:?} is not a valid LDAP filter; fix it with `tacctl ldap set --user-filter`",
                self.settings.user_filter
            )),
            other => LdapError::Protocol {
                url,
                operation,
                reason: other.to_string(),
            },
        }
    }

    async fn connect(&self) -> Result<Conn, LdapError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout())
            .set_starttls(self.settings.starttls);
        if let Some(config) = &self.tls {
            settings = settings.set_config(config.clone());
        }
        let (conn, ldap) = self
            .bounded(
                "connect",
                LdapConnAsync::with_settings(settings, &self.settings.url),
            )
            .await?;
        let driver = tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        Ok(Conn { ldap, driver })
    }

    /// Binds as the service account; without one, the connection stays
    /// anonymous, which needs no bind in LDAPv3.
    async fn service_bind(&self, conn: &mut Conn) -> Result<String, LdapError> {
        let (Some(dn), Some(password)) = (&self.settings.bind_dn, &self.bind_password) else {
            return Ok("anonymous".into());
        };
        let result = self
            .bounded("bind", conn.ldap.simple_bind(dn, password.expose_secret()))
            .await?;
        match result.rc {
            rc::SUCCESS => Ok(format!("as {dn}")),
            rc::INVALID_CREDENTIALS => Err(LdapError::Config(format!(
                "the directory refused the service account {dn:?}: wrong DN or password; set them with `tacctl ldap set --bind-dn DN --bind-password-file F`"
            ))),
            _ => Err(LdapError::Config(format!(
                "the directory refused the service account {dn:?}: {}",
                describe(&result)
            ))),
        }
    }

    /// After the user's bind, returns the connection to the service
    /// account's rights (or anonymous ones) for the group searches.
    async fn rebind(&self, conn: &mut Conn) -> Result<(), LdapError> {
        let (dn, password) = match (&self.settings.bind_dn, &self.bind_password) {
            (Some(dn), Some(p)) => (dn.as_str(), p.expose_secret()),
            _ => ("", ""),
        };
        let result = self
            .bounded("bind", conn.ldap.simple_bind(dn, password))
            .await?;
        if result.rc != rc::SUCCESS {
            return Err(self.protocol("bind", &result));
        }
        Ok(())
    }

    fn protocol(&self, operation: &'static str, result: &LdapResult) -> LdapError {
        LdapError::Protocol {
            url: self.settings.url.clone(),
            operation,
            reason: describe(result),
        }
    }

    /// The DN of the one entry `filter` matches under the base DN.
    async fn find_user(&self, conn: &mut Conn, filter: &str) -> Result<String, LdapError> {
        let base = &self.settings.base_dn;
        let time_limit = i32::try_from(self.settings.timeout_seconds).unwrap_or(i32::MAX);
        // Two entries are enough to know the filter is ambiguous.
        conn.ldap
            .with_search_options(SearchOptions::new().sizelimit(2).timelimit(time_limit));
        let ldap3::SearchResult(entries, result) = self
            .bounded(
                "search",
                conn.ldap.search(base, Scope::Subtree, filter, vec!["1.1"]),
            )
            .await?;
        match result.rc {
            rc::SUCCESS | rc::SIZE_LIMIT_EXCEEDED => {}
            rc::NO_SUCH_OBJECT => {
                return Err(LdapError::Config(format!(
                    "the base DN {base:?} does not exist in the directory (or the bind may not see it); fix it with `tacctl ldap set --base-dn`"
                )));
            }
            rc::INVALID_DN_SYNTAX => {
                return Err(LdapError::Config(format!(
                    "the base DN {base:?} is not a valid DN; fix it with `tacctl ldap set --base-dn`"
                )));
            }
            rc::INSUFFICIENT_ACCESS_RIGHTS => {
                return Err(LdapError::Config(format!(
                    "the directory does not let this bind search {base:?}; give a service account with `tacctl ldap set --bind-dn`"
                )));
            }
            _ => return Err(self.protocol("search", &result)),
        }
        match entries.len() {
            0 => Err(LdapError::BadCredentials),
            1 => entry_dn(entries.into_iter().next().map(|e| e.0)).ok_or_else(|| {
                LdapError::Protocol {
                    url: self.settings.url.clone(),
                    operation: "search",
                    reason: "an entry without a readable DN".into(),
                }
            }),
            _ => Err(LdapError::Config(format!(
                "the user filter {:?} matches more than one entry under {base:?} for that name; make it match exactly one, such as (uid={USERNAME_PLACEHOLDER})",
                self.settings.user_filter
            ))),
        }
    }

    /// The bind a login for an unknown name makes in place of the user's
    /// own: as [`NO_SUCH_USER_RDN`] under the base DN, with a fixed password.
    /// Its answer (a refusal, or an error) changes nothing.
    async fn refused_bind(&self, conn: &mut Conn) {
        let dn = format!("{NO_SUCH_USER_RDN},{}", self.settings.base_dn);
        let _ = self
            .bounded(
                "user bind",
                conn.ldap.simple_bind(&dn, "tacctl: no such user"),
            )
            .await;
    }

    async fn user_bind(
        &self,
        conn: &mut Conn,
        dn: &str,
        password: &SecretString,
    ) -> Result<(), LdapError> {
        // Checked again here, next to the bind it protects.
        if password.expose_secret().is_empty() {
            return Err(LdapError::BadCredentials);
        }
        let result = self
            .bounded(
                "user bind",
                conn.ldap.simple_bind(dn, password.expose_secret()),
            )
            .await?;
        match result.rc {
            rc::SUCCESS => Ok(()),
            rc::INVALID_CREDENTIALS
            | rc::INAPPROPRIATE_AUTHENTICATION
            | rc::UNWILLING_TO_PERFORM => Err(LdapError::BadCredentials),
            _ => Err(self.protocol("user bind", &result)),
        }
    }

    /// Role, API access and a description of the memberships.
    async fn groups(
        &self,
        conn: &mut Conn,
        dn: &str,
        name: &str,
        after_user_bind: bool,
    ) -> Result<(Role, bool, String), LdapError> {
        if after_user_bind {
            self.rebind(conn).await?;
        }
        let s = &self.settings;
        let admin = match &s.admin_group {
            Some(g) => Some(self.is_member(conn, g, "--admin-group", dn, name).await?),
            None => None,
        };
        let api = match (&s.api_access_group, admin) {
            (Some(g), Some(false) | None) => Some(
                self.is_member(conn, g, "--api-access-group", dn, name)
                    .await?,
            ),
            // An administrator has API access; no need to ask.
            (Some(_), Some(true)) => Some(true),
            (None, _) => None,
        };
        let role = if admin == Some(true) {
            Role::Admin
        } else {
            Role::Viewer
        };
        let api_access = admin == Some(true) || api == Some(true);
        let says = |m: Option<bool>| match m {
            Some(true) => "member",
            Some(false) => "not a member",
            None => "not configured",
        };
        let detail = format!(
            "admin group: {}; API access group: {}; role {role}, API access {}",
            says(admin),
            says(api),
            if api_access { "yes" } else { "no" }
        );
        Ok((role, api_access, detail))
    }

    async fn is_member(
        &self,
        conn: &mut Conn,
        group: &str,
        flag: &str,
        dn: &str,
        name: &str,
    ) -> Result<bool, LdapError> {
        let filter = membership_filter(dn, name);
        let ldap3::SearchResult(entries, result) = self
            .bounded(
                "group search",
                conn.ldap.search(group, Scope::Base, &filter, vec!["1.1"]),
            )
            .await?;
        match result.rc {
            rc::SUCCESS => Ok(!entries.is_empty()),
            rc::NO_SUCH_OBJECT => Err(LdapError::Config(format!(
                "the group {group:?} given as {flag} does not exist in the directory (or the bind may not see it); fix it with `tacctl ldap set {flag}`"
            ))),
            rc::INVALID_DN_SYNTAX => Err(LdapError::Config(format!(
                "the group {group:?} given as {flag} is not a valid DN; fix it with `tacctl ldap set {flag}`"
            ))),
            rc::INSUFFICIENT_ACCESS_RIGHTS => Err(LdapError::Config(format!(
                "the directory does not let this bind read the group {group:?} given as {flag}; give a service account that may, with `tacctl ldap set --bind-dn`"
            ))),
            _ => Err(self.protocol("group search", &result)),
        }
    }

    /// Ends the session politely; the directory's answer does not matter.
    async fn close(&self, mut conn: Conn) {
        let _ = tokio::time::timeout(self.timeout(), conn.ldap.unbind()).await;
    }
}

/// Passes a step's outcome to `on_step` and returns its value.
/// The directory behind the one login rule ([`super::ApiLogin`]): an
/// API login as [`Directory::authenticate`] checks it.
impl super::Authenticator for Directory {
    async fn authenticate(
        &self,
        name: &str,
        password: &SecretString,
    ) -> Result<Identity, super::LoginError> {
        Ok(Directory::authenticate(self, name, password).await?)
    }
}

fn report<T>(
    on_step: &mut impl FnMut(Step),
    kind: StepKind,
    outcome: Result<(T, String), LdapError>,
) -> Result<T, LdapError> {
    match outcome {
        Ok((value, detail)) => {
            on_step(Step {
                kind,
                passed: true,
                detail,
            });
            Ok(value)
        }
        Err(e) => {
            on_step(Step {
                kind,
                passed: false,
                detail: e.to_string(),
            });
            Err(e)
        }
    }
}

/// The DN of a SearchResultEntry, without ldap3's panicking parser.
fn entry_dn(tag: Option<StructureTag>) -> Option<String> {
    let parts = tag?.match_id(4)?.expect_constructed()?;
    let dn = parts.into_iter().next()?.expect_primitive()?;
    String::from_utf8(dn).ok()
}

/// A directory result for a message: its code, name and text.
fn describe(result: &LdapResult) -> String {
    let text = result.text.trim();
    let name = result.to_string();
    // `LdapResult`'s Display is "rc=N (name), dn: ..., text: ..."; keep the
    // first part and the text.
    let head = name.split(", dn:").next().unwrap_or(&name);
    if text.is_empty() {
        head.to_owned()
    } else {
        format!("{head}: {text}")
    }
}

/// A TLS client configuration trusting exactly the given PEM CA certificates.
fn client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, LdapError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bad = |e: String| {
        LdapError::Config(format!(
            "the CA certificates (--ca-file) cannot be used: {e}; give PEM certificates with `tacctl ldap set --ca-file`"
        ))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate found".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LdapCommon {
        LdapCommon {
            enabled: true,
            url: "ldap://127.0.0.1:1".into(),
            base_dn: "dc=example,dc=org".into(),
            user_filter: "(uid={username})".into(),
            bind_dn: Some("cn=svc,dc=example,dc=org".into()),
            api_access_group: None,
            admin_group: None,
            starttls: false,
            ca_pem: None,
            timeout_seconds: 1,
        }
    }

    #[test]
    fn filter_values_are_escaped_by_rfc_4515() {
        assert_eq!(escape_filter_value("alice"), "alice");
        assert_eq!(
            escape_filter_value("a*b(c)d\\e\0f"),
            "a\\2ab\\28c\\29d\\5ce\\00f"
        );
        // Non-ASCII passes through as UTF-8 (RFC 4515 allows it).
        assert_eq!(escape_filter_value("jürgen"), "jürgen");
    }

    #[test]
    fn an_injected_name_cannot_widen_the_filter() {
        let f = user_filter("(uid={username})", "a*)(uid=*");
        assert_eq!(f, "(uid=a\\2a\\29\\28uid=\\2a)");
        // Still one equality match on one attribute.
        assert!(ldap3::parse_filter(&f).is_ok());
        assert_eq!(f.matches('(').count(), 1);
        assert_eq!(user_filter("(uid={username})", "*"), "(uid=\\2a)");
        assert_eq!(
            user_filter("(|(uid={username})(mail={username}))", "x)"),
            "(|(uid=x\\29)(mail=x\\29))"
        );
        // A name holding the placeholder is not substituted again.
        assert_eq!(
            user_filter("(uid={username})", "{username}"),
            "(uid={username})"
        );
    }

    #[test]
    fn membership_filter_escapes_the_dn_and_the_name() {
        assert_eq!(
            membership_filter("cn=Smith\\, J (x),dc=o", "j*"),
            "(|(member=cn=Smith\\5c, J \\28x\\29,dc=o)(uniqueMember=cn=Smith\\5c, J \\28x\\29,dc=o)(memberUid=j\\2a))"
        );
        assert!(ldap3::parse_filter(membership_filter("cn=a,dc=o", "a")).is_ok());
    }

    #[test]
    fn settings_are_checked_before_any_connection() {
        let pw = || Some(SecretString::from("svc-secret"));
        assert!(Directory::new(settings(), pw()).is_ok());
        let mut s = settings();
        s.user_filter = "(uid={username}".into();
        assert!(matches!(
            Directory::new(s, pw()),
            Err(LdapError::Config(m)) if m.contains("user filter")
        ));
        assert!(matches!(
            Directory::new(settings(), None),
            Err(LdapError::Config(_))
        ));
        let mut s = settings();
        s.ca_pem =
            Some("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".into());
        assert!(matches!(
            Directory::new(s, pw()),
            Err(LdapError::Config(m)) if m.contains("--ca-file")
        ));
    }

    #[test]
    fn debug_never_shows_the_bind_password() {
        let d = Directory::new(settings(), Some(SecretString::from("svc-secret-4711"))).unwrap();
        let shown = format!("{d:?}");
        assert!(!shown.contains("svc-secret-4711"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn logins_can_run_on_a_multithreaded_server() {
        fn is_send<T: Send>(_: &T) {}
        let d = Directory::new(settings(), Some(SecretString::from("x"))).unwrap();
        let pw = SecretString::from("pw");
        is_send(&d.authenticate("alice", &pw));
        is_send(&d.lookup("alice"));
    }

    #[tokio::test]
    async fn empty_names_and_passwords_are_refused_without_a_connection() {
        // The port is closed: reaching the network would be Unreachable.
        let d = Directory::new(settings(), Some(SecretString::from("x"))).unwrap();
        let empty = SecretString::from("");
        assert!(matches!(
            d.authenticate("alice", &empty).await,
            Err(LdapError::BadCredentials)
        ));
        assert!(matches!(
            d.authenticate("", &SecretString::from("pw")).await,
            Err(LdapError::BadCredentials)
        ));
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = LdapError::NoApiAccess {
            user: "bob".into(),
            api_access_group: None,
        };
        assert!(e.to_string().contains("--api-access-group"), "{e}");
        let e = LdapError::Unreachable {
            url: "ldap://h:1".into(),
            reason: "refused".into(),
        };
        assert!(e.is_unavailable() && e.to_string().contains("ldap://h:1"));
        assert!(!LdapError::BadCredentials.is_unavailable());
    }
}
