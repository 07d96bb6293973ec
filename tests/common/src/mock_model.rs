//! A model provider on 127.0.0.1: wiremock answering `POST /v1/responses` with SSE.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use wiremock::Mock;
use wiremock::MockServer;
use wiremock::Request;
use wiremock::Respond;
use wiremock::ResponseTemplate;
use wiremock::matchers::method;
use wiremock::matchers::path;

use crate::responses::assistant_answer;
use crate::responses::last_user_text;

/// Which API the mock provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Responses,
    Chat,
}

impl Wire {
    fn path(self) -> &'static str {
        match self {
            Wire::Responses => "/v1/responses",
            Wire::Chat => "/v1/chat/completions",
        }
    }

    /// `wire_api` in config.toml.
    pub fn config_name(self) -> &'static str {
        match self {
            Wire::Responses => "responses",
            Wire::Chat => "chat",
        }
    }

    /// A response that answers `text` and stops.
    pub fn answer(self, text: &str) -> String {
        match self {
            Wire::Responses => assistant_answer(text),
            Wire::Chat => crate::chat::chat_answer(text),
        }
    }

    /// A response that calls `shell` with `argv` (plus `extra` arguments).
    pub fn shell_call(self, call_id: &str, argv: &[&str], extra: Value) -> String {
        match self {
            Wire::Responses => crate::responses::shell_call(call_id, argv, extra),
            Wire::Chat => {
                let mut arguments = serde_json::json!({"command": argv});
                if let (Some(arguments), Value::Object(extra)) = (arguments.as_object_mut(), extra)
                {
                    arguments.extend(extra);
                }
                crate::chat::chat_tool_call(call_id, "shell", &arguments.to_string())
            }
        }
    }
}

pub struct MockModel {
    server: MockServer,
    wire: Wire,
}

impl MockModel {
    /// A provider speaking the Responses API.
    pub async fn start() -> Self {
        Self::start_wire(Wire::Responses).await
    }

    pub async fn start_wire(wire: Wire) -> Self {
        Self {
            server: MockServer::start().await,
            wire,
        }
    }

    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// Writes config.toml for this provider; `top_level` as in [`write_mock_config`].
    pub fn write_config(&self, codex_home: &Path, top_level: &str) -> std::io::Result<()> {
        write_config(codex_home, &self.base_url(), self.wire, top_level)
    }

    /// Like [`Self::write_config`], for a server in the test's own process: the provider takes
    /// no key, since the process's environment is shared by every test.
    pub fn write_in_process_config(
        &self,
        codex_home: &Path,
        top_level: &str,
    ) -> std::io::Result<()> {
        write_config_without_key(codex_home, &self.base_url(), self.wire, top_level)
    }

    /// The provider `base_url` to put in config.toml.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    /// Serves `bodies` (SSE) in order, one per request, and expects exactly that many.
    pub async fn mount_sse_sequence(&self, bodies: Vec<String>) {
        let count = bodies.len() as u64;
        let responses = bodies.into_iter().map(sse_response).collect();
        self.mount_sequence(responses, count).await;
    }

    /// Serves `responses` in order and expects exactly `expected` requests.
    pub async fn mount_sequence(&self, responses: Vec<ResponseTemplate>, expected: u64) {
        Mock::given(method("POST"))
            .and(path(self.wire.path()))
            .respond_with(SequenceResponder {
                responses: Mutex::new(responses.into()),
            })
            .expect(expected)
            .mount(&self.server)
            .await;
    }

    /// Answers every request with "echo: <last user message>" after `delay`.
    pub async fn mount_echo(&self, delay: Duration) {
        Mock::given(method("POST"))
            .and(path(self.wire.path()))
            .respond_with(EchoResponder {
                delay,
                wire: self.wire,
            })
            .mount(&self.server)
            .await;
    }

    /// Answers every request with the SSE body `script` computes from the request's JSON body,
    /// for conversations whose requests arrive in no fixed order.
    pub async fn mount_script(&self, script: impl Fn(&Value) -> String + Send + Sync + 'static) {
        Mock::given(method("POST"))
            .and(path(self.wire.path()))
            .respond_with(ScriptResponder {
                script: Box::new(script),
            })
            .mount(&self.server)
            .await;
    }

    /// The requests the provider received, oldest first.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// The JSON bodies of the requests received, oldest first.
    pub async fn request_bodies(&self) -> Vec<Value> {
        self.requests()
            .await
            .iter()
            .filter_map(|request| serde_json::from_slice(&request.body).ok())
            .collect()
    }
}

/// An SSE response as a provider sends it.
pub fn sse_response(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream")
        .set_body_raw(body, "text/event-stream")
}

struct SequenceResponder {
    responses: Mutex<VecDeque<ResponseTemplate>>,
}

impl Respond for SequenceResponder {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.responses
            .lock()
            .ok()
            .and_then(|mut queue| queue.pop_front())
            .unwrap_or_else(|| {
                ResponseTemplate::new(500).set_body_string("mock: no more responses")
            })
    }
}

type Script = Box<dyn Fn(&Value) -> String + Send + Sync>;

struct ScriptResponder {
    script: Script,
}

impl Respond for ScriptResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match serde_json::from_slice::<Value>(&request.body) {
            Ok(body) => sse_response((self.script)(&body)),
            Err(err) => {
                ResponseTemplate::new(400).set_body_string(format!("mock: bad JSON: {err}"))
            }
        }
    }
}

struct EchoResponder {
    delay: Duration,
    wire: Wire,
}

impl Respond for EchoResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let text = serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|body| last_user_text(&body))
            .unwrap_or_default();
        sse_response(self.wire.answer(&format!("echo: {text}"))).set_delay(self.delay)
    }
}

/// Writes a config.toml pointing the `mock_provider` at `base_url`. `top_level` is inserted
/// before the tables (top-level keys such as `approval_policy = "never"`).
pub fn write_mock_config(
    codex_home: &Path,
    base_url: &str,
    top_level: &str,
) -> std::io::Result<()> {
    write_config(codex_home, base_url, Wire::Responses, top_level)
}

pub(crate) fn write_config(
    codex_home: &Path,
    base_url: &str,
    wire: Wire,
    top_level: &str,
) -> std::io::Result<()> {
    write_config_with(
        codex_home,
        base_url,
        wire,
        top_level,
        "env_key = \"MOCK_API_KEY\"\n",
    )
}

/// Like [`write_config`], for a provider that takes no key: an engine in the test process
/// cannot be given `MOCK_API_KEY` without changing the environment every test shares.
pub(crate) fn write_config_without_key(
    codex_home: &Path,
    base_url: &str,
    wire: Wire,
    top_level: &str,
) -> std::io::Result<()> {
    write_config_with(codex_home, base_url, wire, top_level, "")
}

fn write_config_with(
    codex_home: &Path,
    base_url: &str,
    wire: Wire,
    top_level: &str,
    key: &str,
) -> std::io::Result<()> {
    let wire_api = wire.config_name();
    let config = format!(
        r#"model = "mock-model"
model_provider = "mock_provider"
{top_level}

[model_providers.mock_provider]
name = "Mock provider"
base_url = "{base_url}"
wire_api = "{wire_api}"
{key}request_max_retries = 0
stream_max_retries = 0
"#
    );
    std::fs::write(codex_home.join("config.toml"), config)
}
