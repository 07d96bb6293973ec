//! Credentials: one [`AuthManager`] per server, shared by every conversation.
//!
//! It reads `$CODEX_HOME/auth.json` once and caches it, so every conversation sees the same
//! credentials and a change is made in one place.

use std::fmt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::RwLock;

use serde::Deserialize;

use crate::error::CodexErr;
use crate::error::Result;
use crate::model_provider::ModelProviderInfo;

pub const AUTH_JSON_FILE: &str = "auth.json";
const OPENAI_API_KEY_ENV_VAR: &str = "OPENAI_API_KEY";

/// A secret that never shows itself in `Debug` output (and so never in logs).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The secret itself, for the one place that needs it: the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The parts of auth.json this engine reads.
#[derive(Deserialize)]
struct AuthDotJson {
    #[serde(rename = "OPENAI_API_KEY", default)]
    openai_api_key: Option<String>,
}

/// The single source of OpenAI credentials for a server process.
#[derive(Debug)]
pub struct AuthManager {
    codex_home: PathBuf,
    /// Guarded by a std lock: reads are short and never cross an `.await`.
    cached: RwLock<Option<ApiKey>>,
}

impl AuthManager {
    /// Loads auth.json (or, without one, `OPENAI_API_KEY`) once and shares the result.
    pub fn shared(codex_home: &Path) -> Arc<Self> {
        let cached = load_openai_key(codex_home);
        Arc::new(Self {
            codex_home: codex_home.to_path_buf(),
            cached: RwLock::new(cached),
        })
    }

    /// The cached OpenAI API key, if any.
    pub fn openai_api_key(&self) -> Option<ApiKey> {
        self.cached
            .read()
            .map(|guard| guard.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Re-reads auth.json; returns whether the credentials changed.
    pub fn reload(&self) -> bool {
        let fresh = load_openai_key(&self.codex_home);
        let mut guard = self
            .cached
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = *guard != fresh;
        *guard = fresh;
        changed
    }

    /// The bearer token for a request to `provider`: its `env_key` variable when it has one,
    /// else the OpenAI credentials, but only for providers that take them; a provider that
    /// takes none gets no `Authorization` header (a local server, say).
    pub fn bearer_for(
        &self,
        provider_id: &str,
        provider: &ModelProviderInfo,
    ) -> Result<Option<ApiKey>> {
        if let Some(var) = &provider.env_key {
            return match std::env::var(var) {
                Ok(value) if !value.trim().is_empty() => Ok(Some(ApiKey::new(value))),
                _ => match self.openai_api_key() {
                    Some(key) if provider.requires_openai_auth => Ok(Some(key)),
                    _ => Err(CodexErr::EnvVarMissing {
                        var: var.clone(),
                        provider: provider_id.to_string(),
                    }),
                },
            };
        }
        if provider.requires_openai_auth {
            return Ok(self.openai_api_key());
        }
        Ok(None)
    }
}

fn load_openai_key(codex_home: &Path) -> Option<ApiKey> {
    let from_file = std::fs::read_to_string(codex_home.join(AUTH_JSON_FILE))
        .ok()
        .and_then(|text| match serde_json::from_str::<AuthDotJson>(&text) {
            Ok(auth) => auth.openai_api_key,
            Err(err) => {
                tracing::warn!("ignoring malformed {AUTH_JSON_FILE}: {err}");
                None
            }
        })
        .filter(|key| !key.trim().is_empty());
    from_file
        .or_else(|| {
            std::env::var(OPENAI_API_KEY_ENV_VAR)
                .ok()
                .filter(|key| !key.trim().is_empty())
        })
        .map(ApiKey::new)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    #[test]
    fn auth_json_key_is_used_for_openai_providers_only() {
        let home = TempDir::new().unwrap();
        std::fs::write(
            home.path().join(AUTH_JSON_FILE),
            r#"{"OPENAI_API_KEY": "sk-file"}"#,
        )
        .unwrap();
        let auth = AuthManager::shared(home.path());
        let openai = ModelProviderInfo {
            requires_openai_auth: true,
            ..Default::default()
        };
        assert_eq!(
            auth.bearer_for("openai", &openai).unwrap(),
            Some(ApiKey::new("sk-file"))
        );
        let local = ModelProviderInfo::default();
        assert_eq!(auth.bearer_for("local", &local).unwrap(), None);
    }

    #[test]
    fn missing_env_key_is_an_error_naming_the_variable() {
        let home = TempDir::new().unwrap();
        let auth = AuthManager::shared(home.path());
        let provider = ModelProviderInfo {
            env_key: Some("CODEX_TEST_SURELY_UNSET_VAR".into()),
            ..Default::default()
        };
        assert_eq!(
            auth.bearer_for("mock", &provider).unwrap_err().to_string(),
            "environment variable `CODEX_TEST_SURELY_UNSET_VAR` is not set; model provider `mock` reads its API key from it"
        );
    }

    #[test]
    fn keys_are_redacted_in_debug_output() {
        assert_eq!(
            format!("{:?}", ApiKey::new("sk-secret")),
            "ApiKey(<redacted>)"
        );
    }
}
