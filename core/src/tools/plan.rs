//! The `update_plan` tool: the model keeps a visible checklist of its steps; the host sees it
//! as `plan_update` events.

use serde_json::json;

use crate::protocol::EventMsg;
use crate::protocol::UpdatePlanArgs;
use crate::tools::context::ToolOutput;
use crate::tools::context::TurnContext;

pub(crate) const PLAN_TOOL_NAME: &str = "update_plan";

pub(crate) fn plan_tool_spec() -> serde_json::Value {
    json!({
        "type": "function",
        "name": PLAN_TOOL_NAME,
        "description": "Updates the task plan.\nProvide an optional explanation and a list of plan items, each with a step and status.\nAt most one step can be in_progress at a time.\n",
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {
                "explanation": {"type": "string"},
                "plan": {
                    "type": "array",
                    "description": "The list of steps",
                    "items": {
                        "type": "object",
                        "properties": {
                            "step": {"type": "string"},
                            "status": {"type": "string", "description": "One of: pending, in_progress, completed"}
                        },
                        "required": ["step", "status"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["plan"],
            "additionalProperties": false
        }
    })
}

pub(crate) fn handle_update_plan(turn: &TurnContext<'_>, arguments: &str) -> ToolOutput {
    match serde_json::from_str::<UpdatePlanArgs>(arguments) {
        Ok(args) => {
            turn.emit(EventMsg::PlanUpdate(args));
            ToolOutput::text("Plan updated".to_string())
        }
        Err(err) => ToolOutput::text(format!("failed to parse function arguments: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::protocol::PlanItem;
    use crate::protocol::StepStatus;

    #[test]
    fn arguments_parse_and_reject_unknown_statuses() {
        let args: UpdatePlanArgs = serde_json::from_str(
            r#"{"plan": [{"step": "read", "status": "completed"}, {"step": "fix", "status": "in_progress"}]}"#,
        )
        .unwrap();
        assert_eq!(
            args,
            UpdatePlanArgs {
                explanation: None,
                plan: vec![
                    PlanItem {
                        step: "read".into(),
                        status: StepStatus::Completed
                    },
                    PlanItem {
                        step: "fix".into(),
                        status: StepStatus::InProgress
                    },
                ],
            }
        );
        assert!(
            serde_json::from_str::<UpdatePlanArgs>(
                r#"{"plan": [{"step": "x", "status": "done"}]}"#
            )
            .is_err()
        );
    }
}
