//! The settings API through the real binary: `getUserSavedConfig` shows config.toml as saved,
//! and `setDefaultModel` edits it in place for the conversations that start afterwards.

use std::path::Path;
use std::time::Duration;

use codex_test_support::McpProcess;
use codex_test_support::MockModel;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::CODEX_BIN;

/// Every key `getUserSavedConfig` reports, two profiles, and keys it does not report.
const FULL_CONFIG: &str = r#"
model = "gpt-5.2-codex"
model_provider = "openai"
approval_policy = "on-request"
sandbox_mode = "workspace-write"
model_reasoning_effort = "high"
model_reasoning_summary = "detailed"
model_verbosity = "medium"
profile = "test"
project_doc_max_bytes = 1024

[sandbox_workspace_write]
writable_roots = ["/srv/shared", "/var/cache/builds"]
network_access = true
exclude_tmpdir_env_var = false
exclude_slash_tmp = true

[tools]
web_search = false
view_image = true

[profiles.test]
model = "gpt-4.1"
model_provider = "openai"
approval_policy = "on-request"
model_reasoning_effort = "high"
model_reasoning_summary = "detailed"
model_verbosity = "medium"
chatgpt_base_url = "https://api.chatgpt.example/"

[profiles.fast]
model = "o4-mini"
approval_policy = "never"
model_reasoning_effort = "minimal"
"#;

/// A server on `home`, initialized.
async fn start(home: &Path, args: &[&str]) -> anyhow::Result<McpProcess> {
    let mut mcp = McpProcess::spawn_with(CODEX_BIN, home, args, &[]).await?;
    mcp.initialize().await?;
    Ok(mcp)
}

fn config_toml(home: &TempDir) -> String {
    std::fs::read_to_string(home.path().join("config.toml")).unwrap_or_default()
}

#[tokio::test]
async fn get_user_saved_config_returns_the_file_as_saved() -> anyhow::Result<()> {
    let home = TempDir::new()?;
    std::fs::write(home.path().join("config.toml"), FULL_CONFIG)?;
    // The server's own flags are not part of what the user saved.
    let mut mcp = start(
        home.path(),
        &["-c", "model=flag-model", "--profile", "fast"],
    )
    .await?;
    let response = mcp.request("getUserSavedConfig", json!({})).await?;
    assert_eq!(
        response["result"],
        json!({"config": {
            "approvalPolicy": "on-request",
            "sandboxMode": "workspace-write",
            "sandboxSettings": {
                "writableRoots": ["/srv/shared", "/var/cache/builds"],
                "networkAccess": true,
                "excludeTmpdirEnvVar": false,
                "excludeSlashTmp": true
            },
            "model": "gpt-5.2-codex",
            "modelProvider": "openai",
            "modelReasoningEffort": "high",
            "modelReasoningSummary": "detailed",
            "modelVerbosity": "medium",
            "tools": {"webSearch": false, "viewImage": true},
            "profile": "test",
            "profiles": {
                "fast": {
                    "model": "o4-mini",
                    "approvalPolicy": "never",
                    "modelReasoningEffort": "minimal"
                },
                "test": {
                    "model": "gpt-4.1",
                    "modelProvider": "openai",
                    "approvalPolicy": "on-request",
                    "modelReasoningEffort": "high",
                    "modelReasoningSummary": "detailed",
                    "modelVerbosity": "medium",
                    "chatgptBaseUrl": "https://api.chatgpt.example/"
                }
            }
        }}),
        "{response}"
    );
    Ok(())
}

#[tokio::test]
async fn get_user_saved_config_on_an_empty_home_has_only_profiles() -> anyhow::Result<()> {
    let home = TempDir::new()?;
    let mut mcp = start(home.path(), &[]).await?;
    // No params at all is the same as `{}`.
    mcp.send_message(&json!({"jsonrpc": "2.0", "id": 100, "method": "getUserSavedConfig"}))
        .await?;
    let response = mcp.read_until_response(100).await?;
    assert_eq!(
        response,
        json!({"jsonrpc": "2.0", "id": 100, "result": {"config": {"profiles": {}}}})
    );
    Ok(())
}

#[tokio::test]
async fn a_config_toml_that_does_not_parse_is_refused_naming_the_file() -> anyhow::Result<()> {
    let home = TempDir::new()?;
    let mut mcp = start(home.path(), &[]).await?;
    // Broken after the start, as a user editing the file by hand might leave it.
    let path = home.path().join("config.toml");
    std::fs::write(&path, "model = \n")?;
    for (method, params) in [
        ("getUserSavedConfig", json!({})),
        ("setDefaultModel", json!({"model": "gpt-5.2"})),
    ] {
        let response = mcp.request(method, params).await?;
        assert_eq!(response["error"]["code"], json!(-32600), "{response}");
        let message = response["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&path.canonicalize()?.display().to_string())
                || message.contains(&path.display().to_string()),
            "{method}: {message}"
        );
    }
    assert_eq!(
        config_toml(&home),
        "model = \n",
        "a broken file is left alone"
    );
    Ok(())
}

/// config.toml for the mock provider, written as a person would: comments, blank lines,
/// odd spacing and quoting, a trailing comment on the model line.
fn hand_written_config(base_url: &str, model_lines: &str) -> String {
    format!(
        r#"# Codex settings -- edited by hand.

{model_lines}
approval_policy    = 'never'   # never ask

# The mock provider.
[model_providers.mock_provider]
name = "Mock provider"
base_url = "{base_url}"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0
"#
    )
}

#[tokio::test]
async fn set_default_model_keeps_the_file_as_written_and_new_calls_use_it() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model.mount_echo(Duration::ZERO).await;
    let base_url = model.base_url();
    let home = TempDir::new()?;
    let before = hand_written_config(
        &base_url,
        "model_provider = \"mock_provider\"\nmodel =   \"old-model\"  # what I use\n\n# thinking harder costs more\nmodel_reasoning_effort = \"low\"",
    );
    std::fs::write(home.path().join("config.toml"), &before)?;
    let mut mcp = start(home.path(), &[]).await?;

    let set = mcp
        .request(
            "setDefaultModel",
            json!({"model": "new-model", "reasoningEffort": "high"}),
        )
        .await?;
    assert_eq!(
        set,
        json!({"jsonrpc": "2.0", "id": set["id"], "result": {}})
    );
    assert_eq!(
        config_toml(&home),
        hand_written_config(
            &base_url,
            "model_provider = \"mock_provider\"\nmodel =   \"new-model\"  # what I use\n\n# thinking harder costs more\nmodel_reasoning_effort = \"high\"",
        )
    );

    // A conversation started afterwards reads the new settings.
    let id = mcp
        .call_tool("codex", json!({"prompt": "which model?"}))
        .await?;
    let result = mcp.read_until_response(id).await?;
    assert_eq!(result["result"]["isError"], json!(false), "{result}");
    let bodies = model.request_bodies().await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["model"], "new-model");
    assert_eq!(bodies[0]["reasoning"]["effort"], "high", "{}", bodies[0]);

    // A missing effort removes the key, and only its line.
    let set = mcp
        .request("setDefaultModel", json!({"model": "gpt-4.1"}))
        .await?;
    assert_eq!(set["result"], json!({}), "{set}");
    assert_eq!(
        config_toml(&home),
        hand_written_config(
            &base_url,
            "model_provider = \"mock_provider\"\nmodel =   \"gpt-4.1\"  # what I use\n\n# thinking harder costs more",
        )
    );

    // A bad value is refused by name, and the file stays as it was.
    let bad = mcp
        .request(
            "setDefaultModel",
            json!({"model": "x", "reasoningEffort": "extreme"}),
        )
        .await?;
    assert_eq!(bad["error"]["code"], json!(-32602), "{bad}");
    let message = bad["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(
            "invalid params for setDefaultModel: `reasoningEffort`: unknown variant `extreme`"
        ),
        "{message}"
    );
    assert!(config_toml(&home).contains("model =   \"gpt-4.1\"  # what I use\n"));
    Ok(())
}

/// The mock provider's table, and two profiles; `top` goes before them.
fn profiled_config(base_url: &str, top: &str) -> String {
    format!(
        r#"model_provider = "mock_provider"
model = "top-model"
{top}
[model_providers.mock_provider]
name = "Mock provider"
base_url = "{base_url}"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0

# For work.
[profiles.work]
model = "work-model"

[profiles.home]
model = "home-model"
"#
    )
}

#[tokio::test]
async fn set_default_model_writes_under_the_active_profile() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model.mount_echo(Duration::ZERO).await;
    let base_url = model.base_url();

    // Selected by config.toml's `profile` key.
    let home = TempDir::new()?;
    let top = "profile = \"work\"\n";
    std::fs::write(
        home.path().join("config.toml"),
        profiled_config(&base_url, top),
    )?;
    let mut mcp = start(home.path(), &[]).await?;
    let set = mcp
        .request(
            "setDefaultModel",
            json!({"model": "new-work-model", "reasoningEffort": "low"}),
        )
        .await?;
    assert_eq!(set["result"], json!({}), "{set}");
    let expected = profiled_config(&base_url, top).replace(
        "model = \"work-model\"",
        "model = \"new-work-model\"\nmodel_reasoning_effort = \"low\"",
    );
    assert_eq!(config_toml(&home), expected);
    let id = mcp.call_tool("codex", json!({"prompt": "hi"})).await?;
    let result = mcp.read_until_response(id).await?;
    assert_eq!(result["result"]["isError"], json!(false), "{result}");
    let models: Vec<Value> = model
        .request_bodies()
        .await
        .iter()
        .map(|body| body["model"].clone())
        .collect();
    assert_eq!(models, [json!("new-work-model")]);

    // Selected by the server's `--profile`, which beats the file's key.
    let home = TempDir::new()?;
    std::fs::write(
        home.path().join("config.toml"),
        profiled_config(&base_url, top),
    )?;
    let mut mcp = start(home.path(), &["--profile", "home"]).await?;
    let set = mcp
        .request("setDefaultModel", json!({"model": "new-home-model"}))
        .await?;
    assert_eq!(set["result"], json!({}), "{set}");
    let expected = profiled_config(&base_url, top)
        .replace("model = \"home-model\"", "model = \"new-home-model\"");
    assert_eq!(config_toml(&home), expected);
    Ok(())
}

#[tokio::test]
async fn set_default_model_creates_the_file() -> anyhow::Result<()> {
    let home = TempDir::new()?;
    let mut mcp = start(home.path(), &[]).await?;
    let set = mcp
        .request(
            "setDefaultModel",
            json!({"model": "gpt-5.2", "reasoningEffort": "xhigh"}),
        )
        .await?;
    assert_eq!(set["result"], json!({}), "{set}");
    assert_eq!(
        config_toml(&home),
        "model = \"gpt-5.2\"\nmodel_reasoning_effort = \"xhigh\"\n"
    );
    let saved = mcp.request("getUserSavedConfig", json!({})).await?;
    assert_eq!(
        saved["result"],
        json!({"config": {
            "model": "gpt-5.2",
            "modelReasoningEffort": "xhigh",
            "profiles": {}
        }})
    );
    Ok(())
}
