//! What `codex mcp` does at start for people and host entries that knew OpenAI's
//! `codex mcp-server` (0.153.4): its `--enable`/`--disable FEATURE` and `--strict-config`
//! flags are accepted, so an old entry starts instead of exiting with status 2; and a user who
//! runs the server in a terminal is told that it waits for a host.

use std::collections::BTreeSet;
use std::io::IsTerminal as _;

use anyhow::Context as _;
use codex_core::ConfigOverride;
use codex_core::config::CONFIG_TOML_FILE;
use codex_core::config::ConfigToml;
use codex_core::config::find_codex_home;

use crate::mcp_settings::McpSettings;

/// Features of OpenAI's CLI that name what this server always does: turning one on changes
/// nothing, and it cannot be turned off.
const ALWAYS_ON_FEATURES: &[(&str, &str)] = &[
    ("shell_tool", "the model always has the `shell` tool"),
    (
        "apply_patch_freeform",
        "a freeform `apply_patch` call is always served",
    ),
];

/// Top-level config.toml keys that OpenAI's CLI reads and this server ignores; keys of our
/// own come from [`ConfigToml`] itself (see [`is_our_key`]). `--strict-config` refuses only
/// keys in neither set, so a config.toml shared with that CLI still loads.
const OPENAI_CLI_KEYS: &[&str] = &[
    "review_model",
    "model_context_window",
    "model_max_output_tokens",
    "model_verbosity",
    "model_supports_reasoning_summaries",
    "model_reasoning_summary_format",
    "instructions",
    "experimental_instructions_file",
    "experimental_resume",
    "experimental_compact_prompt_file",
    "project_doc_fallback_filenames",
    "notify",
    "history",
    "mcp_servers",
    "mcp_oauth_credentials_store",
    "projects",
    "tools",
    "features",
    "file_opener",
    "tui",
    "disable_paste_burst",
    "hide_agent_reasoning",
    "show_raw_agent_reasoning",
    "forced_login_method",
    "forced_chatgpt_workspace_id",
    "cli_auth_credentials_store",
    "otel",
    "notice",
    "windows_wsl_setup_acknowledged",
    "experimental_use_exec_command_tool",
    "experimental_use_unified_exec_tool",
    "experimental_use_rmcp_client",
    "experimental_use_freeform_apply_patch",
    "experimental_sandbox_command_assessment",
    "include_apply_patch_tool",
    "include_plan_tool",
    "tools_web_search_request",
    "use_experimental_streamable_shell_tool",
];

/// Logs what each `--enable`/`--disable` means here.
pub(crate) fn report_features(enable: &[String], disable: &[String]) {
    let flags = enable
        .iter()
        .map(|feature| (feature, true))
        .chain(disable.iter().map(|feature| (feature, false)));
    for (feature, on) in flags {
        match ALWAYS_ON_FEATURES.iter().find(|(name, _)| name == feature) {
            Some((_, what)) if on => tracing::info!("--enable {feature}: {what}"),
            Some((_, what)) => {
                tracing::warn!("--disable {feature} is ignored: {what} in this server")
            }
            None => tracing::warn!(
                "{} {feature} is ignored: this server has no such feature",
                if on { "--enable" } else { "--disable" }
            ),
        }
    }
}

/// `--strict-config`: every top-level key of config.toml and of the `-c` flags must be one
/// this server or OpenAI's CLI reads.
pub(crate) fn check_strict_config(overrides: &[ConfigOverride]) -> anyhow::Result<()> {
    let path = find_codex_home()?.join(CONFIG_TOML_FILE);
    let file = match std::fs::read_to_string(&path) {
        Ok(text) => text
            .parse::<toml::Table>()
            .with_context(|| format!("cannot load {}", path.display()))?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let unknown_in_file: BTreeSet<&str> = file
        .keys()
        .map(String::as_str)
        .filter(|key| !is_known(key))
        .collect();
    if !unknown_in_file.is_empty() {
        anyhow::bail!(
            "{} has keys that neither this server nor OpenAI's CLI knows (--strict-config): {}",
            path.display(),
            quoted(&unknown_in_file)
        );
    }
    let unknown_in_flags: BTreeSet<&str> = overrides
        .iter()
        .map(|o| o.key.split('.').next().unwrap_or_default())
        .filter(|key| !is_known(key))
        .collect();
    if !unknown_in_flags.is_empty() {
        anyhow::bail!(
            "-c sets keys that neither this server nor OpenAI's CLI knows (--strict-config): {}",
            quoted(&unknown_in_flags)
        );
    }
    Ok(())
}

fn is_known(key: &str) -> bool {
    OPENAI_CLI_KEYS.contains(&key) || is_our_key(key)
}

/// Whether the engine's [`ConfigToml`] or the server's [`McpSettings`] reads `key`. Their
/// deserializers ignore unknown keys, so the key is given values of two types in turn, `true`
/// and `0`: each field refuses at least one of them, and only a field of that name can refuse.
/// This keeps the list of our own keys where they are defined.
fn is_our_key(key: &str) -> bool {
    [toml::Value::Boolean(true), toml::Value::Integer(0)]
        .into_iter()
        .any(|value| {
            let probe = toml::Value::Table(toml::Table::from_iter([(key.to_string(), value)]));
            probe.clone().try_into::<ConfigToml>().is_err()
                || probe.try_into::<McpSettings>().is_err()
        })
}

fn quoted(keys: &BTreeSet<&str>) -> String {
    keys.iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A server started by hand in a terminal would otherwise sit silent, and look hung.
pub(crate) fn say_so_on_a_terminal() {
    if std::io::stdin().is_terminal() {
        eprintln!(
            "codex mcp: waiting for an MCP host on stdin: this is a server for hosts such as Claude Code, not an interactive program (Ctrl-C quits; `codex --help` shows set-up and sign-in)."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_keys_are_found_in_config_toml_itself() {
        for key in [
            "model",
            "model_provider",
            "model_providers",
            "approval_policy",
            "sandbox_workspace_write",
            "profiles",
            "approvals",
            "shell_environment_policy",
            "preferred_auth_method",
            "max_concurrent_model_requests",
            "codex_events",
            "developer_instructions",
        ] {
            assert!(is_our_key(key), "{key}");
        }
        for key in ["modle", "approvl_policy", ""] {
            assert!(!is_our_key(key), "{key}");
        }
    }

    #[test]
    fn openai_cli_keys_and_ours_are_known_and_a_typo_is_not() {
        assert!(is_known("mcp_servers"));
        assert!(is_known("model"));
        assert!(!is_known("approvl_policy"));
    }
}
