//! Repair of a history whose tool calls lost their outputs (an interrupted turn), so the next
//! request is one the provider accepts.

use std::collections::HashSet;

use crate::protocol::ResponseItem;

/// Output given to a call whose turn was interrupted before it produced one.
const ABORTED_CALL_OUTPUT: &str = "aborted: the turn was interrupted before this call finished";

/// Gives every call without an output a placeholder one, so the next request is valid.
pub(super) fn answer_orphaned_calls(history: &mut Vec<ResponseItem>) {
    let answered: HashSet<&str> = history
        .iter()
        .filter_map(|item| match item {
            ResponseItem::FunctionCallOutput { call_id, .. }
            | ResponseItem::CustomToolCallOutput { call_id, .. } => Some(call_id.as_str()),
            _ => None,
        })
        .collect();
    let orphans: Vec<ResponseItem> = history
        .iter()
        .filter_map(|item| match item {
            ResponseItem::FunctionCall { call_id, .. } if !answered.contains(call_id.as_str()) => {
                Some(ResponseItem::FunctionCallOutput {
                    call_id: call_id.clone(),
                    output: ABORTED_CALL_OUTPUT.to_string(),
                })
            }
            ResponseItem::CustomToolCall { call_id, .. }
                if !answered.contains(call_id.as_str()) =>
            {
                Some(ResponseItem::CustomToolCallOutput {
                    call_id: call_id.clone(),
                    output: ABORTED_CALL_OUTPUT.to_string(),
                })
            }
            _ => None,
        })
        .collect();
    history.extend(orphans);
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn orphaned_calls_get_an_output() {
        let call = |id: &str| ResponseItem::FunctionCall {
            name: "shell".into(),
            arguments: "{}".into(),
            call_id: id.into(),
        };
        let output = |id: &str, text: &str| ResponseItem::FunctionCallOutput {
            call_id: id.into(),
            output: text.into(),
        };
        let mut history = vec![call("a"), output("a", "done"), call("b")];
        answer_orphaned_calls(&mut history);
        assert_eq!(
            history,
            vec![
                call("a"),
                output("a", "done"),
                call("b"),
                output("b", ABORTED_CALL_OUTPUT)
            ]
        );
    }
}
