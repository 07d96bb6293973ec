//! Approval questions sent to the host as `elicitation/create`, and how its answers are read.
//!
//! The params keep the reference server's `codex_*` fields so existing hosts keep working, and
//! add a real `requestedSchema` so any form-capable host can offer every choice. Replies are
//! accepted in both the MCP standard shape (`{action, content}`) and the reference's legacy
//! shape (`{decision}`); anything else is a denial.

use std::collections::BTreeMap;
use std::path::PathBuf;

use codex_protocol::FileChange;
use codex_protocol::ParsedCommand;
use codex_protocol::RequestUserInputResponse;
use codex_protocol::ReviewDecision;
use codex_protocol::UserInputQuestion;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;
use serde_json::json;

pub const ELICITATION_CREATE_METHOD: &str = "elicitation/create";
/// `codex_elicitation` of a command approval.
pub const EXEC_APPROVAL_ELICITATION: &str = "exec-approval";
/// `codex_elicitation` of a patch approval.
pub const PATCH_APPROVAL_ELICITATION: &str = "patch-approval";
/// `codex_elicitation` of the model's questions to the user (`request_user_input`).
pub const USER_INPUT_ELICITATION: &str = "user-input";

/// What every approval `elicitation/create` carries, whatever it asks about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalElicitCommon {
    pub message: String,
    #[serde(rename = "requestedSchema")]
    pub requested_schema: Value,
    #[serde(rename = "threadId")]
    pub thread_id: String,
    /// [`EXEC_APPROVAL_ELICITATION`] or [`PATCH_APPROVAL_ELICITATION`].
    pub codex_elicitation: String,
    /// The id of the `tools/call` request whose turn asks, as a string.
    pub codex_mcp_tool_call_id: String,
    /// The id of the engine event (the turn's submission id).
    pub codex_event_id: String,
    /// The model's tool call id.
    pub codex_call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codex_reason: Option<String>,
}

/// Params of an exec-approval `elicitation/create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecApprovalElicitParams {
    #[serde(flatten)]
    pub common: ApprovalElicitCommon,
    pub codex_command: Vec<String>,
    pub codex_cwd: String,
    pub codex_parsed_cmd: Vec<ParsedCommand>,
}

/// Params of a patch-approval `elicitation/create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PatchApprovalElicitParams {
    #[serde(flatten)]
    pub common: ApprovalElicitCommon,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codex_grant_root: Option<String>,
    /// Absolute path → `{type: "add", content}` | `{type: "delete", content}` |
    /// `{type: "update", unified_diff, move_path}`.
    pub codex_changes: BTreeMap<PathBuf, FileChange>,
}

/// Params of a user-input `elicitation/create`: the model's questions, as a form with one
/// choice per question, keyed by question id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserInputElicitParams {
    #[serde(flatten)]
    pub common: ApprovalElicitCommon,
    pub codex_questions: Vec<UserInputQuestion>,
}

/// The form of a user-input elicitation: per question, a string property whose values are the
/// option labels, titled by the question's header.
pub fn user_input_requested_schema(questions: &[UserInputQuestion]) -> Value {
    let properties: serde_json::Map<String, Value> = questions
        .iter()
        .map(|question| {
            let labels: Vec<&str> = question.options.iter().map(|o| o.label.as_str()).collect();
            let names: Vec<String> = question
                .options
                .iter()
                .map(|o| match o.description.is_empty() {
                    true => o.label.clone(),
                    false => format!("{}: {}", o.label, o.description),
                })
                .collect();
            (
                question.id.clone(),
                json!({
                    "type": "string",
                    "title": question.header,
                    "description": question.question,
                    "enum": labels,
                    "enumNames": names,
                }),
            )
        })
        .collect();
    json!({"type": "object", "properties": properties})
}

/// Reads the host's reply to a user-input elicitation. Only answers that name one of a
/// question's options count; a decline, a cancel or an unreadable reply is no answer, with a
/// note saying which.
pub fn parse_user_input_reply(
    reply: &Value,
    questions: &[UserInputQuestion],
) -> RequestUserInputResponse {
    let unanswered = |note: &str| RequestUserInputResponse {
        answers: Default::default(),
        note: Some(note.to_string()),
    };
    match reply.get("action").and_then(Value::as_str) {
        Some("accept") => {}
        Some("decline") => return unanswered("the user declined to answer"),
        Some("cancel") => return unanswered("the user dismissed the questions"),
        _ => return unanswered("the host's reply could not be read"),
    }
    let Some(content) = reply.get("content").and_then(Value::as_object) else {
        return unanswered("the user gave no answers");
    };
    let answers = questions
        .iter()
        .filter_map(|question| {
            let chosen = content.get(&question.id)?.as_str()?;
            question
                .options
                .iter()
                .any(|option| option.label == chosen)
                .then(|| (question.id.clone(), chosen.to_string()))
        })
        .collect::<std::collections::BTreeMap<_, _>>();
    if answers.is_empty() {
        return unanswered("the user gave no answers");
    }
    RequestUserInputResponse {
        answers,
        note: None,
    }
}

/// The form offered with every approval: one optional choice, approving once by default.
pub fn approval_requested_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "decision": {
                "type": "string",
                "title": "Decision",
                "description": "Approve once, approve for the rest of this conversation, deny (the agent continues without it), or abort the agent's turn.",
                "enum": ["approved", "approved_for_session", "denied", "abort"],
                "enumNames": ["Approve once", "Approve for this conversation", "Deny", "Abort the turn"],
                "default": "approved"
            }
        }
    })
}

/// Reads an elicitation result in either accepted shape. Unknown or malformed answers deny, and
/// so does a reply that contradicts itself: every decision it states (in `content` and at the
/// top level) must agree with each other and with its `action`, and `content` must be an object.
pub fn parse_approval_reply(reply: &Value) -> ReviewDecision {
    let denied = ReviewDecision::Denied;
    let Some(fields) = reply.as_object() else {
        return denied;
    };
    let legacy = fields
        .get("decision")
        .filter(|decision| !decision.is_null());
    let Some(action) = fields.get("action") else {
        return legacy.and_then(parse_decision).unwrap_or(denied);
    };
    let in_content = match fields.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::Object(content)) => content.get("decision").filter(|d| !d.is_null()),
        Some(_) => return denied,
    };
    let Some(stated) = [in_content, legacy]
        .into_iter()
        .flatten()
        .map(parse_decision)
        .collect::<Option<Vec<_>>>()
    else {
        return denied;
    };
    if stated.windows(2).any(|pair| pair[0] != pair[1]) {
        return denied;
    }
    match (action.as_str(), stated.first()) {
        (Some("accept"), None) => ReviewDecision::Approved,
        (Some("accept"), Some(decision)) => decision.clone(),
        (Some("cancel"), None | Some(ReviewDecision::Abort)) => ReviewDecision::Abort,
        _ => denied,
    }
}

/// The reference's `ReviewDecision` spelling: a string, or `{"denied": {"rejection": ...}}`.
fn parse_decision(decision: &Value) -> Option<ReviewDecision> {
    match decision {
        Value::String(s) => match s.as_str() {
            "approved" => Some(ReviewDecision::Approved),
            "approved_for_session" => Some(ReviewDecision::ApprovedForSession),
            "denied" | "timed_out" => Some(ReviewDecision::Denied),
            "abort" => Some(ReviewDecision::Abort),
            _ => None,
        },
        Value::Object(map) => {
            let denied = map.get("denied")?;
            Some(match denied.get("rejection").and_then(Value::as_str) {
                Some(rejection) => ReviewDecision::DeniedWithReason(rejection.to_string()),
                None => ReviewDecision::Denied,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use codex_protocol::UserInputOption;
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn user_input_replies_count_only_offered_choices() {
        let questions = vec![UserInputQuestion {
            id: "db".into(),
            header: "Database".into(),
            question: "Which database?".into(),
            options: vec![
                UserInputOption {
                    label: "postgres".into(),
                    description: "the usual".into(),
                },
                UserInputOption {
                    label: "sqlite".into(),
                    description: String::new(),
                },
            ],
        }];
        assert_eq!(
            user_input_requested_schema(&questions)["properties"]["db"],
            json!({
                "type": "string", "title": "Database", "description": "Which database?",
                "enum": ["postgres", "sqlite"], "enumNames": ["postgres: the usual", "sqlite"]
            })
        );
        let answered = parse_user_input_reply(
            &json!({"action": "accept", "content": {"db": "sqlite"}}),
            &questions,
        );
        assert_eq!(
            answered.answers.get("db").map(String::as_str),
            Some("sqlite")
        );
        assert_eq!(answered.note, None);
        let made_up = parse_user_input_reply(
            &json!({"action": "accept", "content": {"db": "mysql"}}),
            &questions,
        );
        assert!(made_up.answers.is_empty());
        let declined = parse_user_input_reply(&json!({"action": "decline"}), &questions);
        assert_eq!(
            declined.note.as_deref(),
            Some("the user declined to answer")
        );
        assert!(
            parse_user_input_reply(&json!("?"), &questions)
                .note
                .is_some()
        );
    }

    #[test]
    fn standard_replies() {
        let cases = [
            (json!({"action": "accept"}), ReviewDecision::Approved),
            (
                json!({"action": "accept", "content": {}}),
                ReviewDecision::Approved,
            ),
            (
                json!({"action": "accept", "content": {"decision": "approved_for_session"}}),
                ReviewDecision::ApprovedForSession,
            ),
            (
                json!({"action": "accept", "content": {"decision": "abort"}}),
                ReviewDecision::Abort,
            ),
            (
                json!({"action": "accept", "content": {"decision": "maybe"}}),
                ReviewDecision::Denied,
            ),
            (json!({"action": "decline"}), ReviewDecision::Denied),
            (json!({"action": "cancel"}), ReviewDecision::Abort),
        ];
        for (reply, expected) in cases {
            assert_eq!(parse_approval_reply(&reply), expected, "{reply}");
        }
    }

    #[test]
    fn legacy_replies() {
        let cases = [
            (json!({"decision": "approved"}), ReviewDecision::Approved),
            (
                json!({"decision": "approved_for_session"}),
                ReviewDecision::ApprovedForSession,
            ),
            (json!({"decision": "denied"}), ReviewDecision::Denied),
            (json!({"decision": "abort"}), ReviewDecision::Abort),
            (
                json!({"decision": {"denied": {"rejection": "not on main"}}}),
                ReviewDecision::DeniedWithReason("not on main".into()),
            ),
        ];
        for (reply, expected) in cases {
            assert_eq!(parse_approval_reply(&reply), expected, "{reply}");
        }
    }

    #[test]
    fn replies_that_contradict_themselves_deny() {
        for reply in [
            json!({"action": "accept", "decision": "denied"}),
            json!({"action": "accept", "content": "approved"}),
            json!({"action": "accept", "content": ["approved"]}),
            json!({"action": "accept", "content": {"decision": "approved"}, "decision": "abort"}),
            json!({"action": "accept", "decision": 7}),
            json!({"action": "decline", "decision": "approved"}),
            json!({"action": "decline", "content": {"decision": "approved"}}),
            json!({"action": "cancel", "decision": "approved"}),
            json!({"action": "maybe", "decision": "approved"}),
        ] {
            assert_eq!(
                parse_approval_reply(&reply),
                ReviewDecision::Denied,
                "{reply}"
            );
        }
        // Agreeing twice is still agreeing.
        assert_eq!(
            parse_approval_reply(
                &json!({"action": "accept", "content": {"decision": "approved_for_session"}, "decision": "approved_for_session"})
            ),
            ReviewDecision::ApprovedForSession
        );
        assert_eq!(
            parse_approval_reply(&json!({"action": "cancel", "decision": "abort"})),
            ReviewDecision::Abort
        );
    }

    #[test]
    fn anything_else_denies() {
        for reply in [
            json!({}),
            json!(null),
            json!({"decision": 3}),
            json!("approved"),
        ] {
            assert_eq!(
                parse_approval_reply(&reply),
                ReviewDecision::Denied,
                "{reply}"
            );
        }
    }
}
