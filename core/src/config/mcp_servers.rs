//! `[mcp_servers.<name>]`: the MCP servers whose tools the agent gets, with the keys Codex
//! documents, so a config.toml written for Codex loads here unchanged.
//!
//! A table is a stdio server (`command`) or a Streamable HTTP server (`url`), never both and
//! never neither; a key of the other kind is an error rather than silently ignored, because a
//! server that starts without the header or variable its user configured fails in ways that
//! are hard to trace back to config.toml.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::CodexErr;

/// How long a server has to start (spawn or connect, `initialize`, `tools/list`).
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one tool call may take.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// One server's table.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawMcpServerConfig")]
pub struct McpServerConfig {
    pub transport: McpServerTransport,
    /// `false` keeps the table but starts nothing.
    pub enabled: bool,
    pub startup_timeout: Duration,
    pub tool_timeout: Duration,
    /// Only these tools are offered, when set.
    pub enabled_tools: Option<Vec<String>>,
    /// These tools are never offered (applied after `enabled_tools`).
    pub disabled_tools: Vec<String>,
}

/// How a server is reached. The values of `env` and of the headers may be secrets: they go to
/// the server and nowhere else (the `Debug` output shows their names only).
#[derive(Clone, PartialEq)]
pub enum McpServerTransport {
    Stdio {
        command: String,
        args: Vec<String>,
        /// Set in the server's environment, over the safe base (see `mcp::stdio`).
        env: BTreeMap<String, String>,
        /// Variables passed through from our own environment when set there.
        env_vars: Vec<String>,
        /// The server's working directory; the conversation's cwd when unset.
        cwd: Option<PathBuf>,
    },
    StreamableHttp {
        url: String,
        /// The variable holding the token sent as `Authorization: Bearer <token>`.
        bearer_token_env_var: Option<String>,
        http_headers: BTreeMap<String, String>,
        /// Header name to the variable holding its value.
        env_http_headers: BTreeMap<String, String>,
    },
}

impl McpServerConfig {
    /// Whether the model is offered the server's tool `name`.
    pub fn offers_tool(&self, name: &str) -> bool {
        self.enabled_tools
            .as_ref()
            .is_none_or(|enabled| enabled.iter().any(|tool| tool == name))
            && !self.disabled_tools.iter().any(|tool| tool == name)
    }
}

impl std::fmt::Debug for McpServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServerConfig")
            .field("transport", &self.transport)
            .field("enabled", &self.enabled)
            .field("startup_timeout", &self.startup_timeout)
            .field("tool_timeout", &self.tool_timeout)
            .field("enabled_tools", &self.enabled_tools)
            .field("disabled_tools", &self.disabled_tools)
            .finish()
    }
}

impl std::fmt::Debug for McpServerTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stdio {
                command,
                args,
                env,
                env_vars,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &env.keys().collect::<Vec<_>>())
                .field("env_vars", env_vars)
                .field("cwd", cwd)
                .finish(),
            Self::StreamableHttp {
                url,
                bearer_token_env_var,
                http_headers,
                env_http_headers,
            } => f
                .debug_struct("StreamableHttp")
                .field("url", url)
                .field("bearer_token_env_var", bearer_token_env_var)
                .field("http_headers", &http_headers.keys().collect::<Vec<_>>())
                .field("env_http_headers", env_http_headers)
                .finish(),
        }
    }
}

/// The table as written; [`McpServerConfig`] is what it means.
#[derive(Deserialize)]
struct RawMcpServerConfig {
    command: Option<String>,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    env_vars: Option<Vec<String>>,
    cwd: Option<PathBuf>,
    url: Option<String>,
    bearer_token_env_var: Option<String>,
    http_headers: Option<BTreeMap<String, String>>,
    env_http_headers: Option<BTreeMap<String, String>>,
    enabled: Option<bool>,
    startup_timeout_sec: Option<f64>,
    /// The older spelling Codex still reads.
    startup_timeout_ms: Option<u64>,
    tool_timeout_sec: Option<f64>,
    enabled_tools: Option<Vec<String>>,
    disabled_tools: Option<Vec<String>>,
}

impl TryFrom<RawMcpServerConfig> for McpServerConfig {
    type Error = String;

    fn try_from(raw: RawMcpServerConfig) -> Result<Self, String> {
        let present = |keys: &[(&str, bool)]| -> Vec<String> {
            keys.iter()
                .filter(|(_, set)| *set)
                .map(|(key, _)| format!("`{key}`"))
                .collect()
        };
        let stdio_keys = present(&[
            ("args", raw.args.is_some()),
            ("env", raw.env.is_some()),
            ("env_vars", raw.env_vars.is_some()),
            ("cwd", raw.cwd.is_some()),
        ]);
        let http_keys = present(&[
            ("bearer_token_env_var", raw.bearer_token_env_var.is_some()),
            ("http_headers", raw.http_headers.is_some()),
            ("env_http_headers", raw.env_http_headers.is_some()),
        ]);
        let transport = match (raw.command, raw.url) {
            (Some(_), Some(_)) => {
                return Err(
                    "has both `command` (a stdio server) and `url` (a Streamable HTTP \
                            server); keep one"
                        .to_string(),
                );
            }
            (None, None) => {
                return Err(
                    "needs `command` (a stdio server) or `url` (a Streamable HTTP server)"
                        .to_string(),
                );
            }
            (Some(command), None) => {
                if !http_keys.is_empty() {
                    return Err(format!(
                        "{} only apply to Streamable HTTP servers (with `url`), and this one has \
                         `command`",
                        http_keys.join(", ")
                    ));
                }
                if command.trim().is_empty() {
                    return Err("`command` is empty".to_string());
                }
                McpServerTransport::Stdio {
                    command,
                    args: raw.args.unwrap_or_default(),
                    env: raw.env.unwrap_or_default(),
                    env_vars: raw.env_vars.unwrap_or_default(),
                    cwd: raw.cwd,
                }
            }
            (None, Some(url)) => {
                if !stdio_keys.is_empty() {
                    return Err(format!(
                        "{} only apply to stdio servers (with `command`), and this one has `url`",
                        stdio_keys.join(", ")
                    ));
                }
                match url::Url::parse(&url) {
                    Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                    Ok(parsed) => {
                        return Err(format!(
                            "`url` must be http or https, not `{}`",
                            parsed.scheme()
                        ));
                    }
                    Err(err) => return Err(format!("`url` is not a URL: {err}")),
                }
                McpServerTransport::StreamableHttp {
                    url,
                    bearer_token_env_var: raw.bearer_token_env_var,
                    http_headers: raw.http_headers.unwrap_or_default(),
                    env_http_headers: raw.env_http_headers.unwrap_or_default(),
                }
            }
        };
        let startup_timeout = match (raw.startup_timeout_sec, raw.startup_timeout_ms) {
            (Some(secs), _) => seconds("startup_timeout_sec", secs)?,
            (None, Some(ms)) => Duration::from_millis(ms),
            (None, None) => DEFAULT_STARTUP_TIMEOUT,
        };
        let tool_timeout = match raw.tool_timeout_sec {
            Some(secs) => seconds("tool_timeout_sec", secs)?,
            None => DEFAULT_TOOL_TIMEOUT,
        };
        Ok(Self {
            transport,
            enabled: raw.enabled.unwrap_or(true),
            startup_timeout,
            tool_timeout,
            enabled_tools: raw.enabled_tools,
            disabled_tools: raw.disabled_tools.unwrap_or_default(),
        })
    }
}

/// A timeout in seconds (fractions allowed): positive, finite, at most a day.
fn seconds(key: &str, secs: f64) -> Result<Duration, String> {
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!(
            "`{key}` must be a number of seconds above 0 and at most 86400, not {secs}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Server names become part of tool names, so they keep to the characters every provider
/// accepts in a tool name (as Codex requires too).
pub(crate) fn check_server_names(
    servers: &BTreeMap<String, McpServerConfig>,
) -> Result<(), CodexErr> {
    for name in servers.keys() {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(CodexErr::ConfigValue {
                key: format!("mcp_servers.{name}"),
                message: "a server name may use only ASCII letters, digits, `_` and `-`"
                    .to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn parse(text: &str) -> Result<BTreeMap<String, McpServerConfig>, String> {
        #[derive(Deserialize)]
        struct File {
            mcp_servers: BTreeMap<String, McpServerConfig>,
        }
        let tree: toml::Value = text.parse::<toml::Table>().map(toml::Value::Table).unwrap();
        serde_path_to_error::deserialize::<_, File>(tree)
            .map(|file| file.mcp_servers)
            .map_err(|err| {
                let path = err.path().to_string();
                format!("{path}: {}", err.into_inner().message())
            })
    }

    #[test]
    fn reads_codex_stdio_and_http_tables_with_defaults() {
        let servers = parse(
            r#"
[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-server"]
env = { DOCS_TOKEN = "s3cret" }
env_vars = ["DOCS_HOME"]
tool_timeout_sec = 2.5
disabled_tools = ["delete"]

[mcp_servers.tracker]
url = "https://tracker.example/mcp"
bearer_token_env_var = "TRACKER_TOKEN"
http_headers = { "X-Team" = "core" }
env_http_headers = { "X-Key" = "TRACKER_KEY" }
startup_timeout_ms = 1500
enabled = false
enabled_tools = ["search"]
"#,
        )
        .unwrap();
        let docs = &servers["docs"];
        assert_eq!(
            docs.transport,
            McpServerTransport::Stdio {
                command: "npx".into(),
                args: vec!["-y".into(), "docs-server".into()],
                env: BTreeMap::from([("DOCS_TOKEN".into(), "s3cret".into())]),
                env_vars: vec!["DOCS_HOME".into()],
                cwd: None,
            }
        );
        assert!(docs.enabled);
        assert_eq!(docs.startup_timeout, DEFAULT_STARTUP_TIMEOUT);
        assert_eq!(docs.tool_timeout, Duration::from_millis(2500));
        assert!(docs.offers_tool("search") && !docs.offers_tool("delete"));
        let tracker = &servers["tracker"];
        assert!(!tracker.enabled);
        assert_eq!(tracker.startup_timeout, Duration::from_millis(1500));
        assert_eq!(tracker.tool_timeout, DEFAULT_TOOL_TIMEOUT);
        assert!(tracker.offers_tool("search") && !tracker.offers_tool("create"));
        assert!(matches!(
            &tracker.transport,
            McpServerTransport::StreamableHttp { url, .. } if url == "https://tracker.example/mcp"
        ));
    }

    #[test]
    fn debug_output_names_secrets_but_never_shows_them() {
        let servers = parse(
            r#"
[mcp_servers.a]
command = "x"
env = { TOKEN = "s3cret-env" }
[mcp_servers.b]
url = "http://127.0.0.1:1/mcp"
http_headers = { Authorization = "Bearer s3cret-header" }
"#,
        )
        .unwrap();
        let shown = format!("{servers:?}");
        assert!(
            shown.contains("TOKEN") && shown.contains("Authorization"),
            "{shown}"
        );
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn a_table_that_is_not_exactly_one_kind_is_an_error_naming_it() {
        let cases = [
            (
                "enabled = true",
                "needs `command` (a stdio server) or `url`",
            ),
            (
                "command = \"x\"\nurl = \"http://h/mcp\"",
                "has both `command` (a stdio server) and `url`",
            ),
            (
                "command = \"x\"\nbearer_token_env_var = \"T\"",
                "`bearer_token_env_var` only apply to Streamable HTTP servers",
            ),
            (
                "url = \"http://h/mcp\"\nargs = []\ncwd = \"/\"",
                "`args`, `cwd` only apply to stdio servers",
            ),
            ("url = \"file:///tmp/x\"", "`url` must be http or https"),
            ("command = \" \"", "`command` is empty"),
            (
                "command = \"x\"\ntool_timeout_sec = 0",
                "`tool_timeout_sec` must be a number of seconds above 0",
            ),
        ];
        for (table, expected) in cases {
            let err = parse(&format!("[mcp_servers.bad]\n{table}")).unwrap_err();
            assert!(
                err.starts_with(&format!("mcp_servers.bad: {expected}")),
                "{table}: {err}"
            );
        }
    }

    #[test]
    fn server_names_keep_to_tool_name_characters() {
        let ok = parse("[mcp_servers.my-server_2]\ncommand = \"x\"").unwrap();
        assert!(check_server_names(&ok).is_ok());
        let bad = parse("[mcp_servers.\"my server\"]\ncommand = \"x\"").unwrap();
        let err = check_server_names(&bad).unwrap_err().to_string();
        assert!(err.contains("`mcp_servers.my server`"), "{err}");
    }
}
