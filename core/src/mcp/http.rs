//! A Streamable HTTP MCP server's transport: rmcp's client over reqwest, with the bearer token
//! and headers its table names, read from our environment when it says so.
//!
//! rmcp's client is built on reqwest 0.13 without a TLS crypto provider of its own; the
//! process-wide default is set here to ring, which our reqwest 0.12 already builds, rather
//! than compiling a second provider.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Once;

use reqwest::header::HeaderName;
use reqwest::header::HeaderValue;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

/// The table's HTTP keys.
pub(crate) struct HttpSpec<'a> {
    pub(crate) url: &'a str,
    pub(crate) bearer_token_env_var: Option<&'a str>,
    pub(crate) http_headers: &'a BTreeMap<String, String>,
    pub(crate) env_http_headers: &'a BTreeMap<String, String>,
}

/// The transport for `spec`, or why it cannot be made (a variable that is not set, a header
/// that is not valid). Errors name the key and the variable, never a value.
pub(crate) fn transport(
    spec: &HttpSpec<'_>,
) -> Result<
    StreamableHttpClientTransport<
        impl rmcp::transport::streamable_http_client::StreamableHttpClient,
    >,
    String,
> {
    install_crypto_provider();
    let auth_header = match spec.bearer_token_env_var {
        Some(variable) => Some(read_variable("bearer_token_env_var", variable)?),
        None => None,
    };
    let mut headers = HashMap::new();
    for (name, value) in spec.http_headers {
        headers.insert(header_name(name)?, header_value(name, value)?);
    }
    for (name, variable) in spec.env_http_headers {
        let value = read_variable(&format!("env_http_headers.{name}"), variable)?;
        headers.insert(header_name(name)?, header_value(name, &value)?);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(spec.url);
    config.auth_header = auth_header;
    config.custom_headers = headers;
    Ok(StreamableHttpClientTransport::from_config(config))
}

fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Another part of the process may have installed one already; that one serves too.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn read_variable(key: &str, variable: &str) -> Result<String, String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(format!(
            "`{key}` names the environment variable `{variable}`, which is not set"
        )),
    }
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid HTTP header name"))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| format!("the value of header `{name}` is not a valid HTTP header value"))?;
    value.set_sensitive(true);
    Ok(value)
}
