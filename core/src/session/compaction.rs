//! Compaction: when a conversation outgrows the model's context, the model summarises it and
//! the history restarts from that summary, keeping what the user asked.

use super::Session;
use super::SessionState;
use super::initial_context;
use super::retry::Retries;
use crate::client::Prompt;
use crate::client::ResponseEvent;
use crate::error::CodexErr;
use crate::error::Result;
// Opens the message that carries a summary, so it is never mistaken for something the user
// wrote (see `ResponseItem::user_message_text`).
use crate::protocol::ResponseItem;
use crate::protocol::items::SUMMARY_PREFIX;
use crate::rollout::CompactedItem;
use crate::rollout::RolloutItem;
use crate::tools::context::TurnContext;

/// Asked of the model when the caller gave no `compact_prompt` of its own.
pub(crate) const SUMMARIZATION_PROMPT: &str = "\
You are handing this task over to another engineer who will continue it with no other record \
of this conversation. Write a concise summary of it: the goal and the user's requirements, \
what has been done (commands run, files changed, results), decisions made and why, open \
problems, and the next steps. Quote exact file paths, names and error messages where they \
matter. Reply with the summary only.";

/// At most this much of the user's own messages survives a compaction (about 20k tokens): the
/// most recent first, because they matter most for what comes next.
const KEPT_USER_MESSAGES_MAX_BYTES: usize = 80_000;

/// The history that replaces `old` after a compaction: the conversation's opening context,
/// then the user's most recent messages, then the summary.
pub(crate) fn compacted_history(
    initial_context: Vec<ResponseItem>,
    old: &[ResponseItem],
    summary: &str,
) -> Vec<ResponseItem> {
    let mut kept = Vec::new();
    let mut budget = KEPT_USER_MESSAGES_MAX_BYTES;
    for text in old.iter().rev().filter_map(ResponseItem::user_message_text) {
        if budget == 0 {
            break;
        }
        if text.len() <= budget {
            budget -= text.len();
            kept.push(text);
        } else {
            kept.push(truncate_at_char_boundary(&text, budget).to_string());
            budget = 0;
        }
    }
    let mut history = initial_context;
    history.extend(
        kept.into_iter()
            .rev()
            .map(|text| ResponseItem::text_message("user", text)),
    );
    history.push(ResponseItem::text_message(
        "user",
        format!("{SUMMARY_PREFIX}\n{summary}\n</conversation_summary>"),
    ));
    history
}

fn truncate_at_char_boundary(text: &str, max_bytes: usize) -> &str {
    let mut end = max_bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Asks the model to summarise the conversation and restarts the history from the summary.
pub(super) async fn compact(
    session: &Session,
    turn: &TurnContext<'_>,
    state: &mut SessionState,
) -> Result<()> {
    let instruction = turn
        .config
        .compact_prompt
        .as_deref()
        .unwrap_or(SUMMARIZATION_PROMPT);
    let mut input = state.history.clone();
    input.push(ResponseItem::text_message("user", instruction));
    let mut retries = Retries::new(turn);
    let summary = loop {
        match summarise(session, turn, &input).await {
            Ok(summary) => break summary,
            Err(err) => retries.wait_or_fail(err).await?,
        }
    };
    let history = compacted_history(initial_context(&turn.config), &state.history, &summary);
    session.persist_history(state).await;
    // The state moves on before the line is queued: if the turn is cancelled while it waits,
    // the file simply holds the whole history without the compaction, and loses nothing.
    state.history = history.clone();
    state.persisted = state.history.len();
    state.context_tokens = None;
    session
        .rollout
        .record(vec![RolloutItem::Compacted(CompactedItem {
            message: summary,
            replacement_history: Some(history),
        })])
        .await;
    Ok(())
}

/// One summary request, without tools: the text of the model's answer.
async fn summarise(
    session: &Session,
    turn: &TurnContext<'_>,
    input: &[ResponseItem],
) -> Result<String> {
    let prompt = Prompt {
        instructions: &session.instructions,
        input,
        tools: &[],
    };
    session.record_turn_context(&turn.config).await;
    let mut stream = session.client.stream(&turn.config, &prompt).await?;
    let mut summary = String::new();
    while let Some(event) = stream.next().await {
        if let ResponseEvent::OutputItemDone(item @ ResponseItem::Message { .. }) = event?
            && let Some(text) = item.message_text()
        {
            summary.push_str(&text);
        }
    }
    if summary.trim().is_empty() {
        return Err(CodexErr::ResponseFailed(
            "the model returned an empty summary".to_string(),
        ));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn user(text: &str) -> ResponseItem {
        ResponseItem::text_message("user", text)
    }

    #[test]
    fn keeps_context_user_messages_and_the_summary_in_order() {
        let context = vec![user("<environment_context>\n</environment_context>")];
        let mut old = context.clone();
        old.extend([
            user("first question"),
            ResponseItem::text_message("assistant", "an answer that is dropped"),
            user("second question"),
        ]);
        let history = compacted_history(context.clone(), &old, "it went well");
        let mut expected = context;
        expected.extend([
            user("first question"),
            user("second question"),
            user("<conversation_summary>\nit went well\n</conversation_summary>"),
        ]);
        assert_eq!(history, expected);
    }

    #[test]
    fn an_earlier_summary_is_not_kept_as_a_user_message() {
        let old = vec![
            user("question"),
            user("<conversation_summary>\nold\n</conversation_summary>"),
        ];
        let history = compacted_history(Vec::new(), &old, "new");
        assert_eq!(
            history,
            vec![
                user("question"),
                user("<conversation_summary>\nnew\n</conversation_summary>")
            ]
        );
    }

    #[test]
    fn long_user_messages_are_cut_to_the_budget_keeping_the_newest() {
        let big = "é".repeat(KEPT_USER_MESSAGES_MAX_BYTES);
        let old = vec![user("oldest"), user(&big), user("newest")];
        let history = compacted_history(Vec::new(), &old, "s");
        let kept: Vec<String> = history
            .iter()
            .filter_map(ResponseItem::user_message_text)
            .collect();
        assert_eq!(kept.len(), 2, "the oldest message no longer fits");
        assert_eq!(kept[1], "newest");
        assert!(kept[0].len() <= KEPT_USER_MESSAGES_MAX_BYTES - "newest".len());
        assert!(kept[0].chars().all(|c| c == 'é'));
    }
}
