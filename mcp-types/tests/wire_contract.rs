//! A snapshot of the whole wire contract as JSON Schema, so that no field changes by accident.
//!
//! Every type a host sends or reads is listed here, its schema inlined (no `$defs`), so the
//! snapshot describes the JSON on the wire rather than the Rust names behind it. When a change
//! is meant, regenerate the file with `UPDATE_WIRE_CONTRACT=1 cargo test -p codex-mcp-types
//! --test wire_contract` and review the diff like any other change to the contract.

use std::collections::BTreeMap;
use std::path::Path;

use codex_mcp_types::account_api::*;
use codex_mcp_types::conversation_api::*;
use codex_mcp_types::settings_api::*;
use codex_mcp_types::*;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

fn inlined<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

macro_rules! contract {
    ($($name:literal => $ty:ty),* $(,)?) => {{
        let mut contract = BTreeMap::new();
        $(contract.insert($name, inlined::<$ty>());)*
        contract
    }};
}

fn wire_contract() -> BTreeMap<&'static str, Value> {
    let mut contract = contract! {
        // The two tools.
        "tools/codex.arguments" => CodexToolCallParam,
        "tools/codex-reply.arguments" => CodexToolCallReplyParam,
        "tools/structuredContent" => CodexToolCallResult,
        // The conversation API.
        "newConversation.params" => NewConversationParams,
        "newConversation.result" => NewConversationResponse,
        "sendUserMessage.params" => SendUserMessageParams,
        "sendUserMessage.result" => SendUserMessageResponse,
        "sendUserTurn.params" => SendUserTurnParams,
        "sendUserTurn.result" => SendUserTurnResponse,
        "interruptConversation.params" => InterruptConversationParams,
        "interruptConversation.result" => InterruptConversationResponse,
        "addConversationListener.params" => AddConversationListenerParams,
        "addConversationListener.result" => AddConversationListenerResponse,
        "removeConversationListener.params" => RemoveConversationListenerParams,
        "removeConversationListener.result" => RemoveConversationListenerResponse,
        "listConversations.params" => ListConversationsParams,
        "listConversations.result" => ListConversationsResponse,
        "resumeConversation.params" => ResumeConversationParams,
        "resumeConversation.result" => ResumeConversationResponse,
        "forkConversation.params" => ForkConversationParams,
        "forkConversation.result" => ForkConversationResponse,
        "archiveConversation.params" => ArchiveConversationParams,
        "archiveConversation.result" => ArchiveConversationResponse,
        "compactConversation.params" => CompactConversationParams,
        "compactConversation.result" => CompactConversationResponse,
        "listMcpServers.params" => ListMcpServersParams,
        "listMcpServers.result" => ListMcpServersResponse,
        // The account API.
        "getAuthStatus.params" => GetAuthStatusParams,
        "getAuthStatus.result" => GetAuthStatusResponse,
        "loginApiKey.params" => LoginApiKeyParams,
        "loginApiKey.result" => LoginApiKeyResponse,
        "loginChatGpt.params" => LoginChatGptParams,
        "loginChatGpt.result" => LoginChatGptResponse,
        "cancelLoginChatGpt.params" => CancelLoginChatGptParams,
        "cancelLoginChatGpt.result" => CancelLoginChatGptResponse,
        "logoutChatGpt.result" => LogoutChatGptResponse,
        "getUserAgent.result" => GetUserAgentResponse,
        "userInfo.result" => UserInfoResponse,
        "authStatusChange" => AuthStatusChangeNotification,
        "loginChatGptComplete" => LoginChatGptCompleteNotification,
        // The settings API.
        "getUserSavedConfig.params" => GetUserSavedConfigParams,
        "getUserSavedConfig.result" => GetUserSavedConfigResponse,
        "setDefaultModel.params" => SetDefaultModelParams,
        "setDefaultModel.result" => SetDefaultModelResponse,
    };
    contract.extend(typed_payloads());
    contract
}

/// Payloads that became typed when the engine's types moved into the protocol crate.
fn typed_payloads() -> BTreeMap<&'static str, Value> {
    contract! {
        "elicitation/create.exec-approval" => ExecApprovalElicitParams,
        "elicitation/create.patch-approval" => PatchApprovalElicitParams,
        "elicitation/create.user-input" => UserInputElicitParams,
        "codex/event" => CodexEventNotificationParams<'static>,
        "codex/event/<type>" => ConversationEventNotificationParams<'static>,
    }
}

#[test]
fn the_wire_contract_matches_its_snapshot() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wire_contract.schema.json");
    let mut actual = serde_json::to_string_pretty(&wire_contract()).unwrap();
    actual.push('\n');
    if std::env::var_os("UPDATE_WIRE_CONTRACT").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, &actual)
            .unified_diff()
            .context_radius(3)
            .to_string();
        panic!(
            "the wire contract changed (if on purpose, rerun with UPDATE_WIRE_CONTRACT=1 and \
             review the diff of {}):\n{diff}",
            path.display()
        );
    }
}
