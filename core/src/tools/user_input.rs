//! `request_user_input`: the model asks the user one to three short questions, each with a
//! few choices, and waits for the answers. The host is asked the way approvals are; a host
//! that cannot be asked gives the model a clear answer that nobody is there, never a hang.

use serde::Deserialize;
use serde_json::json;

use crate::protocol::UserInputQuestion;
use crate::tools::context::ToolOutput;
use crate::tools::context::TurnContext;

pub(crate) const REQUEST_USER_INPUT_TOOL_NAME: &str = "request_user_input";

/// At most this many questions in one call, and this many choices per question.
const MAX_QUESTIONS: usize = 3;
const MAX_OPTIONS: usize = 3;
const MAX_HEADER_CHARS: usize = 12;

pub(crate) fn request_user_input_tool_spec() -> serde_json::Value {
    json!({
        "type": "function",
        "name": REQUEST_USER_INPUT_TOOL_NAME,
        "description": "Asks the user 1 to 3 short questions, each with 2 or 3 choices, and waits for the answers. Use it only when a decision is the user's to make.",
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {
                "questions": {
                    "type": "array",
                    "description": "The questions, 1 to 3",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "description": "A key for the answer, e.g. `db_engine`"},
                            "header": {"type": "string", "description": "A short label, at most 12 characters"},
                            "question": {"type": "string", "description": "The question, one sentence"},
                            "options": {
                                "type": "array",
                                "description": "2 or 3 choices",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "label": {"type": "string"},
                                        "description": {"type": "string"}
                                    },
                                    "required": ["label", "description"],
                                    "additionalProperties": false
                                }
                            }
                        },
                        "required": ["id", "header", "question", "options"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["questions"],
            "additionalProperties": false
        }
    })
}

#[derive(Debug, Deserialize)]
struct RequestUserInputArgs {
    questions: Vec<UserInputQuestion>,
}

pub(crate) async fn handle_request_user_input(
    turn: &TurnContext<'_>,
    call_id: &str,
    arguments: &str,
) -> ToolOutput {
    let args: RequestUserInputArgs = match serde_json::from_str(arguments) {
        Ok(args) => args,
        Err(err) => return ToolOutput::text(format!("failed to parse function arguments: {err}")),
    };
    if let Err(problem) = check(&args.questions) {
        return ToolOutput::text(format!("request_user_input not sent: {problem}"));
    }
    let response = turn.request_user_input(call_id, args.questions).await;
    if response.answers.is_empty() {
        let why = response
            .note
            .unwrap_or_else(|| "the question could not be put to the user".to_string());
        return ToolOutput::text(format!(
            "No answer: {why}. Nobody is available to answer now: decide yourself, and say in your final answer what you assumed."
        ));
    }
    ToolOutput::text(json!({"answers": response.answers}).to_string())
}

/// The limits the tool's description promises, so that hosts get forms they can show.
fn check(questions: &[UserInputQuestion]) -> Result<(), String> {
    if questions.is_empty() || questions.len() > MAX_QUESTIONS {
        return Err(format!(
            "ask 1 to {MAX_QUESTIONS} questions, not {}",
            questions.len()
        ));
    }
    for question in questions {
        if question.id.trim().is_empty() {
            return Err("every question needs an `id`".to_string());
        }
        if question.header.chars().count() > MAX_HEADER_CHARS {
            return Err(format!(
                "the header of `{}` is longer than {MAX_HEADER_CHARS} characters",
                question.id
            ));
        }
        if question.options.len() < 2 || question.options.len() > MAX_OPTIONS {
            return Err(format!(
                "`{}` needs 2 or 3 options, not {}",
                question.id,
                question.options.len()
            ));
        }
    }
    let mut ids: Vec<&str> = questions.iter().map(|q| q.id.as_str()).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err("question ids must differ".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::UserInputOption;

    fn question(id: &str, options: usize) -> UserInputQuestion {
        UserInputQuestion {
            id: id.into(),
            header: "Pick".into(),
            question: "Which?".into(),
            options: (0..options)
                .map(|n| UserInputOption {
                    label: format!("o{n}"),
                    description: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_limits_are_checked() {
        assert!(check(&[question("a", 2)]).is_ok());
        assert!(check(&[]).is_err());
        assert!(check(&[question("a", 1)]).is_err());
        assert!(check(&[question("a", 4)]).is_err());
        assert!(check(&[question("a", 2), question("a", 2)]).is_err());
        let mut long = question("a", 2);
        long.header = "much too long a header".into();
        assert!(check(&[long]).is_err());
    }
}
