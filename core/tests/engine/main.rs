//! The engine in process, through `codex_core`'s public API only: a conversation against a
//! mock provider on 127.0.0.1 (wiremock), driven by `Op`s and observed through its events.
//! The `codex` binary's suites cover the wire contract; these cover the engine loop, the
//! conversation manager, the tool router and the engine's side of approvals without it.
//!
//! Only the public API is used, so that these tests stay put while `core/src` is reorganised.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod approvals;
mod manager;
mod tools;
mod turn_loop;
mod unified_exec;

use codex_core::EventMsg;

/// Whether `msg` ends a turn, however it ends.
fn is_turn_end(msg: &EventMsg) -> bool {
    matches!(
        msg,
        EventMsg::TaskComplete(_) | EventMsg::TurnAborted(_) | EventMsg::Error(_)
    )
}

/// The answer of a completed turn; panics with the event otherwise.
fn answer(msg: &EventMsg) -> String {
    match msg {
        EventMsg::TaskComplete(done) => done.last_agent_message.clone().unwrap_or_default(),
        other => panic!("the turn did not complete: {other:?}"),
    }
}
