//! Config layers: typed arguments > the call's `config` map > `-c` > profile > config.toml.

use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use std::time::Duration;

use super::TestServer;

const PROFILE: &str = r#"
[profiles.p]
model = "profile-model"
"#;

/// Runs each call and returns the `model` each one sent to the provider.
async fn models_sent(server: &mut TestServer, calls: &[Value]) -> anyhow::Result<Vec<String>> {
    server.model.mount_echo(Duration::ZERO).await;
    for arguments in calls {
        let result = server.call("codex", arguments.clone()).await?;
        assert_eq!(result["isError"], false, "{result}");
    }
    Ok(server
        .model
        .request_bodies()
        .await
        .iter()
        .map(|body| body["model"].as_str().unwrap_or_default().to_string())
        .collect())
}

#[tokio::test]
async fn server_flags_beat_the_file_and_the_call_beats_the_flags() -> anyhow::Result<()> {
    let mut server = TestServer::start(PROFILE, &["-c", "model=cli-model"]).await?;
    let models = models_sent(
        &mut server,
        &[
            json!({"prompt": "-c beats config.toml"}),
            json!({"prompt": "-c beats a profile", "profile": "p"}),
            json!({"prompt": "the config map beats -c", "config": {"model": "map-model"}}),
            json!({"prompt": "typed beats -c", "model": "tool-model"}),
            json!({"prompt": "typed beats the map", "model": "tool-model", "config": {"model": "map-model"}}),
        ],
    )
    .await?;
    assert_eq!(
        models,
        [
            "cli-model",
            "cli-model",
            "map-model",
            "tool-model",
            "tool-model"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn profiles_beat_the_file() -> anyhow::Result<()> {
    let mut server = TestServer::start(PROFILE, &[]).await?;
    let models = models_sent(
        &mut server,
        &[
            json!({"prompt": "config.toml beats the default"}),
            json!({"prompt": "a profile beats config.toml", "profile": "p"}),
        ],
    )
    .await?;
    assert_eq!(models, ["mock-model", "profile-model"]);

    let mut server = TestServer::start(PROFILE, &["--profile", "p"]).await?;
    let models = models_sent(&mut server, &[json!({"prompt": "--profile selects it"})]).await?;
    assert_eq!(models, ["profile-model"]);
    Ok(())
}

#[tokio::test]
async fn server_flags_reach_nested_keys() -> anyhow::Result<()> {
    // A -c flag can redirect the provider itself: every session uses it.
    let other = codex_test_support::MockModel::start().await;
    let flag = format!(
        "model_providers.mock_provider.base_url={}",
        other.base_url()
    );
    let mut server = TestServer::start("", &["-c", &flag]).await?;
    other.mount_echo(Duration::ZERO).await;
    let result = server
        .call("codex", json!({"prompt": "where do I go?"}))
        .await?;
    assert_eq!(
        result["structuredContent"]["content"],
        "echo: where do I go?"
    );
    assert_eq!(other.requests().await.len(), 1);
    assert!(server.model.requests().await.is_empty());
    Ok(())
}
