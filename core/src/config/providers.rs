//! Model providers: where requests go, which wire API they speak, and how they authenticate.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde::Serialize;

/// The id of the built-in OpenAI provider.
pub const OPENAI_PROVIDER_ID: &str = "openai";
/// The id of the built-in local open-weights provider (Ollama's OpenAI-compatible API).
pub const OSS_PROVIDER_ID: &str = "oss";

const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
const DEFAULT_OSS_PORT: u16 = 11434;
const DEFAULT_REQUEST_MAX_RETRIES: u64 = 4;
const DEFAULT_STREAM_MAX_RETRIES: u64 = 5;
const DEFAULT_STREAM_IDLE_TIMEOUT_MS: u64 = 300_000;
/// Retries are capped so that a typo in config.toml cannot make a turn retry for hours.
const MAX_RETRIES_CAP: u64 = 100;

/// Which HTTP API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireApi {
    /// `POST /responses` (OpenAI Responses API).
    Responses,
    /// `POST /chat/completions`. The default for providers defined in config.toml, as in the
    /// config format we are compatible with.
    #[default]
    Chat,
}

/// A `[model_providers.<id>]` table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelProviderInfo {
    /// Display name.
    pub name: String,
    /// Base URL, e.g. `https://api.openai.com/v1`; the API path is appended to it.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Environment variable holding the API key.
    #[serde(default)]
    pub env_key: Option<String>,
    /// Hint shown when `env_key` is missing.
    #[serde(default)]
    pub env_key_instructions: Option<String>,
    #[serde(default)]
    pub wire_api: WireApi,
    /// Query parameters appended to every request URL (e.g. Azure's `api-version`).
    #[serde(default)]
    pub query_params: Option<BTreeMap<String, String>>,
    /// Headers sent with every request.
    #[serde(default)]
    pub http_headers: Option<BTreeMap<String, String>>,
    /// Headers whose values come from environment variables, sent only when the variable is set.
    #[serde(default)]
    pub env_http_headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub request_max_retries: Option<u64>,
    #[serde(default)]
    pub stream_max_retries: Option<u64>,
    #[serde(default)]
    pub stream_idle_timeout_ms: Option<u64>,
    /// Whether the provider takes the user's OpenAI credentials (auth.json / `OPENAI_API_KEY`).
    /// Only then are those credentials sent to it.
    #[serde(default)]
    pub requires_openai_auth: bool,
}

impl ModelProviderInfo {
    /// The URL of `path` (e.g. `/responses`) on this provider, with its query parameters.
    pub fn url_for_path(&self, path: &str) -> String {
        let base = self
            .base_url
            .as_deref()
            .unwrap_or(DEFAULT_OPENAI_BASE_URL)
            .trim_end_matches('/');
        let mut url = format!("{base}{path}");
        if let Some(params) = &self.query_params
            && !params.is_empty()
        {
            let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            url.push('?');
            url.push_str(&query.join("&"));
        }
        url
    }

    /// Static headers plus the env-backed ones whose variable is set and non-blank.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = self
            .http_headers
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (header, var) in self.env_http_headers.iter().flatten() {
            if let Ok(value) = std::env::var(var)
                && !value.trim().is_empty()
            {
                headers.push((header.clone(), value));
            }
        }
        headers
    }

    pub fn request_max_retries(&self) -> u64 {
        self.request_max_retries
            .unwrap_or(DEFAULT_REQUEST_MAX_RETRIES)
            .min(MAX_RETRIES_CAP)
    }

    pub fn stream_max_retries(&self) -> u64 {
        self.stream_max_retries
            .unwrap_or(DEFAULT_STREAM_MAX_RETRIES)
            .min(MAX_RETRIES_CAP)
    }

    pub fn stream_idle_timeout(&self) -> Duration {
        Duration::from_millis(
            self.stream_idle_timeout_ms
                .unwrap_or(DEFAULT_STREAM_IDLE_TIMEOUT_MS),
        )
    }
}

/// The built-in providers. Entries of the same id in config.toml replace them.
pub fn built_in_model_providers() -> HashMap<String, ModelProviderInfo> {
    let openai = ModelProviderInfo {
        name: "OpenAI".into(),
        base_url: std::env::var("OPENAI_BASE_URL")
            .ok()
            .filter(|v| !v.trim().is_empty()),
        wire_api: WireApi::Responses,
        http_headers: Some(BTreeMap::from([(
            "version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )])),
        env_http_headers: Some(BTreeMap::from([
            (
                "OpenAI-Organization".to_string(),
                "OPENAI_ORGANIZATION".to_string(),
            ),
            ("OpenAI-Project".to_string(), "OPENAI_PROJECT".to_string()),
        ])),
        requires_openai_auth: true,
        ..Default::default()
    };
    let oss_base_url = std::env::var("CODEX_OSS_BASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| {
            let port = std::env::var("CODEX_OSS_PORT")
                .ok()
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(DEFAULT_OSS_PORT);
            format!("http://localhost:{port}/v1")
        });
    let oss = ModelProviderInfo {
        name: "gpt-oss".into(),
        base_url: Some(oss_base_url),
        wire_api: WireApi::Chat,
        ..Default::default()
    };
    HashMap::from([
        (OPENAI_PROVIDER_ID.to_string(), openai),
        (OSS_PROVIDER_ID.to_string(), oss),
    ])
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn url_joins_base_path_and_query() {
        let provider = ModelProviderInfo {
            base_url: Some("http://127.0.0.1:9/v1/".into()),
            query_params: Some(BTreeMap::from([(
                "api-version".to_string(),
                "2025-04-01".to_string(),
            )])),
            ..Default::default()
        };
        assert_eq!(
            provider.url_for_path("/responses"),
            "http://127.0.0.1:9/v1/responses?api-version=2025-04-01"
        );
    }

    #[test]
    fn retry_settings_default_and_cap() {
        let provider = ModelProviderInfo {
            stream_max_retries: Some(1_000),
            ..Default::default()
        };
        assert_eq!(provider.request_max_retries(), 4);
        assert_eq!(provider.stream_max_retries(), 100);
        assert_eq!(provider.stream_idle_timeout(), Duration::from_secs(300));
    }
}
