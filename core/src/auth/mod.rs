//! Credentials: one [`AuthManager`] per server, shared by every conversation.
//!
//! It reads `$CODEX_HOME/auth.json` once and caches it, so every conversation sees the same
//! credentials, a login, logout or token refresh made in one place is seen by all, and a file
//! rewritten by another process (another server logging into another account) changes
//! nothing here until [`AuthManager::reload`].

mod chatgpt_login;
mod id_token;
mod storage;
mod token_endpoint;

use std::fmt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::RwLock;

use chrono::DateTime;
use chrono::Utc;
use serde::Deserialize;
use serde::Serialize;

pub use crate::auth::chatgpt_login::ChatGptLogin;
pub use crate::auth::id_token::IdToken;
pub use crate::auth::id_token::IdTokenClaims;
pub use crate::auth::storage::AUTH_JSON_FILE;
pub use crate::auth::storage::AuthDotJson;
pub use crate::auth::storage::TokenData;
use crate::protocol::AuthMode;

const OPENAI_API_KEY_ENV_VAR: &str = "OPENAI_API_KEY";
/// OpenAI's issuer; config.toml's `auth_issuer` points elsewhere (a test server, say).
pub const DEFAULT_AUTH_ISSUER: &str = "https://auth.openai.com";
/// The OAuth client id the server we replace registered; the issuer knows it.
pub const DEFAULT_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
/// Tokens older than this are refreshed before use, as the original did.
const PROACTIVE_REFRESH_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(28);

/// A secret (API key or token) that never shows itself in `Debug` output, and so never in logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the places that must send it: a request header, the token
    /// endpoint, auth.json, and `getAuthStatus` when the host asks for the token.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The credentials in effect.
#[derive(Debug, Clone, PartialEq)]
pub enum CodexAuth {
    ApiKey(Secret),
    ChatGpt {
        tokens: TokenData,
        last_refresh: Option<DateTime<Utc>>,
    },
}

impl CodexAuth {
    pub fn mode(&self) -> AuthMode {
        match self {
            CodexAuth::ApiKey(_) => AuthMode::ApiKey,
            CodexAuth::ChatGpt { .. } => AuthMode::ChatGpt,
        }
    }

    /// The bearer token: the API key, or the ChatGPT access token.
    pub fn token(&self) -> &Secret {
        match self {
            CodexAuth::ApiKey(key) => key,
            CodexAuth::ChatGpt { tokens, .. } => &tokens.access_token,
        }
    }

    /// The email in the id token: unverified, for display only.
    pub fn email(&self) -> Option<&str> {
        match self {
            CodexAuth::ApiKey(_) => None,
            CodexAuth::ChatGpt { tokens, .. } => tokens.id_token.claims.email.as_deref(),
        }
    }
}

/// Server-wide auth settings, from config.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// Which credentials win when auth.json holds both an API key and ChatGPT tokens.
    pub preferred_auth_method: AuthMode,
    /// Base URL of the OAuth issuer (login and token refresh).
    pub issuer: String,
    pub client_id: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            preferred_auth_method: AuthMode::ChatGpt,
            issuer: DEFAULT_AUTH_ISSUER.to_string(),
            client_id: DEFAULT_CLIENT_ID.to_string(),
        }
    }
}

/// Why an auth operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The provider's `env_key` names a variable that is not set.
    #[error(
        "environment variable `{var}` is not set; model provider `{provider}` reads its API key from it"
    )]
    EnvVarMissing { var: String, provider: String },
    /// The refresh token is dead (expired, reused or revoked): only a new login helps.
    #[error(
        "your ChatGPT login is no longer valid ({0}); please log in again (loginChatGpt) or use an API key"
    )]
    LoginRequired(String),
    /// The refresh failed for a reason that may pass (network, issuer trouble).
    #[error("could not refresh the ChatGPT token: {0}")]
    Refresh(String),
    /// A refresh was asked for, but the credentials are not ChatGPT tokens.
    #[error("not signed in with ChatGPT, so there is no token to refresh")]
    NotChatGpt,
    #[error("cannot access {path}: {source}")]
    Storage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid auth.json: {message}")]
    Malformed { path: PathBuf, message: String },
    /// The browser login could not start or did not finish.
    #[error("ChatGPT login failed: {0}")]
    Login(String),
    /// A provider that takes OpenAI credentials, and none are set: said before any request,
    /// instead of the provider's bare 401.
    #[error(
        "not signed in: model provider `{0}` needs OpenAI credentials. Set OPENAI_API_KEY in the server's environment (the `env` of the host's entry for it), or sign in once with `codex login` (ChatGPT) or `codex login --api-key` (reads the key from stdin)"
    )]
    NotSignedIn(String),
}

/// What [`AuthManager::request_auth`] needs to know of a model provider.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProviderAuth<'a> {
    /// The provider's id in config.toml, for error messages.
    pub(crate) id: &'a str,
    /// The variable its API key is read from, if it names one.
    pub(crate) env_key: Option<&'a str>,
    /// Whether it takes this manager's OpenAI credentials.
    pub(crate) requires_openai_auth: bool,
}

/// What one model request authenticates with.
#[derive(Debug, Clone)]
pub(crate) struct RequestAuth {
    pub(crate) token: Secret,
    /// Sent as `chatgpt-account-id` in ChatGPT mode.
    pub(crate) account_id: Option<String>,
    /// ChatGPT tokens from this manager: a 401 is worth one refresh and a retry.
    pub(crate) chatgpt: bool,
}

/// What the cache holds: the file as read (rewritten on refresh) and what it resolves to.
#[derive(Debug, Default)]
struct Cached {
    stored: Option<AuthDotJson>,
    auth: Option<CodexAuth>,
}

/// The single source of credentials for a server process.
#[derive(Debug)]
pub struct AuthManager {
    codex_home: PathBuf,
    settings: AuthSettings,
    http: reqwest::Client,
    /// Guarded by a std lock: reads and swaps are short and never cross an `.await`.
    cached: RwLock<Cached>,
    /// Held for the whole of a refresh, so that concurrent refreshes coalesce into one.
    refresh_lock: tokio::sync::Mutex<()>,
}

impl AuthManager {
    /// Loads auth.json (or, without one, `OPENAI_API_KEY`) once and shares the result.
    pub fn shared(codex_home: &Path, settings: AuthSettings) -> Arc<Self> {
        let http = reqwest::Client::builder()
            .user_agent(crate::client::user_agent::base_user_agent())
            .build()
            .unwrap_or_else(|err| {
                tracing::warn!("default HTTP client settings for auth requests: {err}");
                reqwest::Client::new()
            });
        Arc::new(Self {
            codex_home: codex_home.to_path_buf(),
            cached: RwLock::new(load(codex_home, settings.preferred_auth_method)),
            settings,
            http,
            refresh_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    pub fn codex_home(&self) -> &Path {
        &self.codex_home
    }

    /// The credentials in effect, as cached.
    pub fn auth(&self) -> Option<CodexAuth> {
        self.read().auth.clone()
    }

    pub fn mode(&self) -> Option<AuthMode> {
        self.read().auth.as_ref().map(CodexAuth::mode)
    }

    /// Re-reads auth.json; returns whether the credentials changed.
    pub fn reload(&self) -> bool {
        let fresh = load(&self.codex_home, self.settings.preferred_auth_method);
        let mut cached = self.write();
        let changed = cached.auth != fresh.auth;
        *cached = fresh;
        changed
    }

    /// Saves `api_key` as the only credential (`{"OPENAI_API_KEY": ...}`) and uses it from
    /// now on, in every conversation.
    pub async fn login_with_api_key(&self, api_key: &str) -> Result<(), AuthError> {
        let stored = AuthDotJson {
            openai_api_key: Some(Secret::new(api_key)),
            tokens: None,
            last_refresh: None,
        };
        self.save(stored).await
    }

    /// Deletes auth.json and forgets the cached credentials; `Ok(false)` if there was none.
    pub async fn logout(&self) -> Result<bool, AuthError> {
        let home = self.codex_home.clone();
        let removed = blocking(move || storage::delete_auth_json(&home)).await?;
        self.reload();
        Ok(removed)
    }

    /// Refreshes the ChatGPT tokens now, whatever their age.
    pub async fn refresh_token(&self) -> Result<(), AuthError> {
        self.refresh_if(|_| true).await
    }

    /// The credentials for a request to `provider`: its `env_key` variable when it has one,
    /// else this manager's, but only for providers that take them; a provider that takes
    /// none gets no `Authorization` header (a local server, say).
    pub(crate) async fn request_auth(
        &self,
        provider: ProviderAuth<'_>,
    ) -> Result<Option<RequestAuth>, AuthError> {
        if let Some(var) = provider.env_key {
            if let Ok(value) = std::env::var(var)
                && !value.trim().is_empty()
            {
                return Ok(Some(RequestAuth {
                    token: Secret::new(value),
                    account_id: None,
                    chatgpt: false,
                }));
            }
            if !provider.requires_openai_auth || self.auth().is_none() {
                return Err(AuthError::EnvVarMissing {
                    var: var.to_string(),
                    provider: provider.id.to_string(),
                });
            }
        }
        if !provider.requires_openai_auth {
            return Ok(None);
        }
        let mut auth = self.auth();
        if auth.is_none() {
            // Signed out, so there is no account to switch away from: a `codex login` run in
            // a terminal since start-up is taken up here, without a restart. A small file,
            // read only on this path, so it is read in place.
            self.reload();
            auth = self.auth();
        }
        if auth.is_none() {
            return Err(AuthError::NotSignedIn(provider.id.to_string()));
        }
        if let Some(CodexAuth::ChatGpt { last_refresh, .. }) = &auth
            && is_stale(*last_refresh)
        {
            match self
                .refresh_if(|stored| is_stale(stored.last_refresh))
                .await
            {
                Ok(()) => auth = self.auth(),
                Err(err @ AuthError::LoginRequired(_)) => return Err(err),
                // The old token may still work; a 401 would bring us back here.
                Err(err) => tracing::warn!("proactive token refresh failed: {err}"),
            }
        }
        Ok(auth.map(|auth| RequestAuth {
            chatgpt: auth.mode() == AuthMode::ChatGpt,
            account_id: match &auth {
                CodexAuth::ChatGpt { tokens, .. } => tokens.account_id().map(str::to_string),
                CodexAuth::ApiKey(_) => None,
            },
            token: auth.token().clone(),
        }))
    }

    /// After a 401 for a request sent with `rejected`: refreshes, unless another request
    /// already did while this one waited (then the new token is simply used).
    pub(crate) async fn refresh_after_unauthorized(
        &self,
        rejected: &Secret,
    ) -> Result<(), AuthError> {
        self.refresh_if(|stored| {
            stored
                .tokens
                .as_ref()
                .is_some_and(|tokens| tokens.access_token == *rejected)
        })
        .await
    }

    /// Refreshes the ChatGPT tokens if `needed` still holds once the refresh lock is held:
    /// whoever waited for another refresh finds it done and sends no request of its own.
    async fn refresh_if(&self, needed: impl Fn(&AuthDotJson) -> bool) -> Result<(), AuthError> {
        let _refreshing = self.refresh_lock.lock().await;
        let stored = {
            let cached = self.read();
            match (&cached.auth, &cached.stored) {
                (Some(CodexAuth::ChatGpt { .. }), Some(stored)) => stored.clone(),
                _ => return Err(AuthError::NotChatGpt),
            }
        };
        if !needed(&stored) {
            return Ok(());
        }
        let Some(tokens) = stored.tokens.clone() else {
            return Err(AuthError::NotChatGpt);
        };
        tracing::info!("refreshing the ChatGPT token");
        let response = token_endpoint::refresh(
            &self.http,
            &self.settings.issuer,
            &self.settings.client_id,
            &tokens.refresh_token,
        )
        .await?;
        let refreshed = TokenData {
            id_token: response
                .id_token
                .map_or(tokens.id_token, |raw| IdToken::parse(raw.expose())),
            access_token: response.access_token.unwrap_or(tokens.access_token),
            refresh_token: response.refresh_token.unwrap_or(tokens.refresh_token),
            account_id: tokens.account_id,
        };
        self.save(AuthDotJson {
            tokens: Some(refreshed),
            last_refresh: Some(Utc::now()),
            ..stored
        })
        .await
    }

    /// Writes auth.json and makes it the cached state.
    async fn save(&self, stored: AuthDotJson) -> Result<(), AuthError> {
        let home = self.codex_home.clone();
        let to_write = stored.clone();
        blocking(move || storage::write_auth_json(&home, &to_write)).await?;
        let auth = resolve(Some(&stored), self.settings.preferred_auth_method);
        *self.write() = Cached {
            stored: Some(stored),
            auth,
        };
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        self.cached
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cached> {
        self.cached
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn is_stale(last_refresh: Option<DateTime<Utc>>) -> bool {
    last_refresh.is_none_or(|at| Utc::now() - at > PROACTIVE_REFRESH_AFTER)
}

/// File work off the async workers: auth.json is small, but a slow disk should not stall
/// every conversation's events.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| AuthError::Storage {
            path: PathBuf::from(AUTH_JSON_FILE),
            source: std::io::Error::other(err),
        })?
}

/// auth.json, else `OPENAI_API_KEY` from the environment. A damaged auth.json is reported
/// and counts as signed out (the environment is not consulted: the user meant the file).
fn load(codex_home: &Path, preferred: AuthMode) -> Cached {
    match storage::read_auth_json(codex_home) {
        Ok(Some(stored)) => {
            if let Some(auth) = resolve(Some(&stored), preferred) {
                return Cached {
                    auth: Some(auth),
                    stored: Some(stored),
                };
            }
        }
        Ok(None) => {}
        Err(err) => {
            tracing::warn!("ignoring {err}");
            return Cached::default();
        }
    }
    Cached {
        stored: None,
        auth: std::env::var(OPENAI_API_KEY_ENV_VAR)
            .ok()
            .filter(|key| !key.trim().is_empty())
            .map(|key| CodexAuth::ApiKey(Secret::new(key))),
    }
}

/// With both an API key and ChatGPT tokens, `preferred` decides.
fn resolve(stored: Option<&AuthDotJson>, preferred: AuthMode) -> Option<CodexAuth> {
    let stored = stored?;
    let key = stored
        .openai_api_key
        .as_ref()
        .filter(|key| !key.expose().trim().is_empty());
    let chatgpt = stored.tokens.as_ref().map(|tokens| CodexAuth::ChatGpt {
        tokens: tokens.clone(),
        last_refresh: stored.last_refresh,
    });
    match (key, chatgpt) {
        (Some(key), Some(_)) if preferred == AuthMode::ApiKey => {
            Some(CodexAuth::ApiKey(key.clone()))
        }
        (_, Some(chatgpt)) => Some(chatgpt),
        (Some(key), None) => Some(CodexAuth::ApiKey(key.clone())),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests;
