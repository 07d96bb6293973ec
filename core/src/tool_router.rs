//! The tools offered to the model and the dispatch of its calls.
//!
//! Calls the engine cannot serve are answered, never dropped: the Responses API rejects a
//! history with a call that has no output, and the model can correct itself from the answer.

use crate::response_item::ResponseItem;

pub(crate) struct ToolRouter {
    specs: Vec<serde_json::Value>,
}

impl ToolRouter {
    pub(crate) fn new() -> Self {
        Self { specs: Vec::new() }
    }

    /// Tool definitions for the request's `tools` field.
    pub(crate) fn specs(&self) -> &[serde_json::Value] {
        &self.specs
    }

    /// Runs one function call and returns its output item.
    pub(crate) async fn dispatch(
        &self,
        name: &str,
        _arguments: &str,
        call_id: &str,
    ) -> ResponseItem {
        ResponseItem::FunctionCallOutput {
            call_id: call_id.to_string(),
            output: format!("unsupported call: {name}"),
        }
    }
}
