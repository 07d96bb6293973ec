//! One turn of a conversation: the user's input, then model requests until the model stops
//! calling tools, then the turn's end, recorded before it is announced.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use super::Session;
use super::SessionState;
use super::Task;
use super::TurnSettings;
use super::catching_panics;
use super::compaction::compact;
use super::environment_message;
use super::orphans::answer_orphaned_calls;
use super::permissions::permissions_message;
use super::retry::Retries;
use crate::client::Prompt;
use crate::client::ResponseEvent;
use crate::error::CodexErr;
use crate::error::Result;
use crate::lock::lock;
use crate::protocol::AgentMessageDeltaEvent;
use crate::protocol::AgentMessageEvent;
use crate::protocol::AgentReasoningDeltaEvent;
use crate::protocol::AgentReasoningEvent;
use crate::protocol::BackgroundEventEvent;
use crate::protocol::ContentItem;
use crate::protocol::ErrorEvent;
use crate::protocol::EventMsg;
use crate::protocol::ExecCommandEndEvent;
use crate::protocol::InputItem;
use crate::protocol::ReasoningSummaryPart;
use crate::protocol::ResponseItem;
use crate::protocol::TaskCompleteEvent;
use crate::protocol::TaskStartedEvent;
use crate::protocol::TokenCountEvent;
use crate::protocol::TokenUsageInfo;
use crate::protocol::TurnAbortReason;
use crate::protocol::TurnAbortedEvent;
use crate::protocol::TurnDiffEvent;
use crate::protocol::UserMessageEvent;
use crate::protocol::WebSearchBeginEvent;
use crate::protocol::WebSearchEndEvent;
use crate::rollout::RolloutItem;
use crate::rollout::is_persisted_event;
use crate::tools::context::ToolOutput;
use crate::tools::context::TurnContext;
use crate::tools::turn_diff::TurnDiffTracker;
use crate::tools::view_image::read_image;

/// Runs one queued task to its end and hands the state back.
pub(super) async fn run_task(
    session: Arc<Session>,
    mut state: SessionState,
    sub_id: String,
    task: Task,
    cancel: CancellationToken,
) -> SessionState {
    if let Task::Turn {
        settings: Some(settings),
        ..
    } = &task
    {
        apply_turn_settings(&mut state, settings);
    }
    session.emit(
        &sub_id,
        EventMsg::TaskStarted(TaskStartedEvent {
            model_context_window: state.config.model_family().context_window,
        }),
    );
    let compact_only = matches!(task, Task::Compact);
    let turn = TurnContext {
        events: &session.events,
        approvals: &session.approvals,
        exec_sessions: &session.exec_sessions,
        config: Arc::clone(&state.config),
        sub_id: &sub_id,
        cancel: &cancel,
        diff: Mutex::new(TurnDiffTracker::default()),
        mcp: &session.mcp,
    };
    // Dropping the work future on cancel also drops any running command, whose process group
    // is killed with it. A panic in the work ends this turn with an error instead of taking
    // the state (and with it the conversation) down.
    let outcome = tokio::select! {
        biased;
        () = cancel.cancelled() => Err(CodexErr::Interrupted),
        outcome = catching_panics(async {
            match task {
                Task::Turn { items, .. } => run_turn(&session, &turn, &mut state, items).await,
                Task::Compact => compact(&session, &turn, &mut state).await.map(|()| None),
            }
        }) => outcome,
    };
    let terminal = match outcome {
        Ok(last_agent_message) => {
            let tracker = lock(&turn.diff).clone();
            let diff = tokio::task::spawn_blocking(move || tracker.unified_diff())
                .await
                .unwrap_or_default();
            if let Some(unified_diff) = diff {
                session.emit(&sub_id, EventMsg::TurnDiff(TurnDiffEvent { unified_diff }));
            }
            if compact_only {
                session.emit(
                    &sub_id,
                    EventMsg::BackgroundEvent(BackgroundEventEvent {
                        message: "conversation compacted".to_string(),
                    }),
                );
            }
            EventMsg::TaskComplete(TaskCompleteEvent { last_agent_message })
        }
        Err(CodexErr::Interrupted) => {
            // The processes the turn left running die with it.
            for ended in session.exec_sessions.kill_all() {
                session.emit(
                    &sub_id,
                    EventMsg::ExecCommandEnd(ExecCommandEndEvent {
                        call_id: ended.call_id,
                        stdout: String::new(),
                        stderr: String::new(),
                        aggregated_output: String::new(),
                        exit_code: -1,
                        duration: ended.duration,
                        formatted_output: "killed: the turn was interrupted".to_string(),
                    }),
                );
            }
            EventMsg::TurnAborted(TurnAbortedEvent {
                reason: TurnAbortReason::Interrupted,
            })
        }
        Err(err) => {
            tracing::warn!(conversation_id = %session.conversation_id, "turn failed: {err}");
            EventMsg::Error(ErrorEvent {
                message: err.to_string(),
            })
        }
    };
    answer_orphaned_calls(&mut state.history);
    session.persist_history(&mut state).await;
    if is_persisted_event(&terminal) {
        session
            .rollout
            .record(vec![RolloutItem::EventMsg(terminal.clone())])
            .await;
    }
    // Durable before announced: a client that saw the result may rely on the file, so a turn
    // that could not be saved is not reported as done.
    let terminal = match (session.flush_rollout().await, terminal) {
        (Err(err), EventMsg::TaskComplete(done)) => EventMsg::Error(ErrorEvent {
            message: format!(
                "the turn finished but the conversation could not be saved ({err}), so a restart would lose it{}",
                done.last_agent_message
                    .map(|text| format!("; its answer was:\n\n{text}"))
                    .unwrap_or_default()
            ),
        }),
        (_, terminal) => terminal,
    };
    let rollout_len =
        crate::conversation::turn_lock::rollout_len(session.rollout.path().to_path_buf()).await;
    session.shared.finish_turn(rollout_len);
    session.emit(&sub_id, terminal);
    state
}

/// Makes an `Op::UserTurn`'s settings the conversation's own, telling the model when the
/// environment it acts in changed.
fn apply_turn_settings(state: &mut SessionState, settings: &TurnSettings) {
    let mut config = (*state.config).clone();
    let environment_changed = config.cwd != settings.cwd
        || config.approval_policy != settings.approval_policy
        || config.sandbox_policy != settings.sandbox_policy;
    config.cwd = settings.cwd.clone();
    config.approval_policy = settings.approval_policy;
    config.sandbox_policy = settings.sandbox_policy.clone();
    config.model = settings.model.clone();
    config.model_reasoning_effort = settings.effort;
    config.model_reasoning_summary = settings.summary;
    if environment_changed {
        state.history.push(permissions_message(&config));
        state.history.push(environment_message(&config));
    }
    state.config = Arc::new(config);
}

/// One user turn: the input, then model requests until the model stops calling tools.
async fn run_turn(
    session: &Session,
    turn: &TurnContext<'_>,
    state: &mut SessionState,
    items: Vec<InputItem>,
) -> Result<Option<String>> {
    // A conversation already past its limit is compacted before the new input, so the input
    // follows the summary.
    if needs_compaction(state) {
        compact(session, turn, state).await?;
    }
    let (message, text) = user_message(items, &turn.config.cwd).await;
    state.history.push(message);
    // The message goes to the rollout before its event, so a fork that cuts at the message
    // also drops the event.
    session.persist_history(state).await;
    session
        .emit_persisted(
            turn.sub_id,
            EventMsg::UserMessage(UserMessageEvent { message: text }),
        )
        .await;
    run_model_requests(session, turn, state).await
}

pub(super) fn needs_compaction(state: &SessionState) -> bool {
    match (
        state.config.auto_compact_token_limit(),
        state.context_tokens,
    ) {
        (Some(limit), Some(used)) => used >= limit,
        _ => false,
    }
}

/// Model requests until the model stops calling tools; returns its last message.
async fn run_model_requests(
    session: &Session,
    turn: &TurnContext<'_>,
    state: &mut SessionState,
) -> Result<Option<String>> {
    let mut last_agent_message = None;
    let mut retries = Retries::new(turn);
    loop {
        session.persist_history(state).await;
        let checkpoint = state.history.len();
        match run_one_request(session, turn, state, &mut last_agent_message).await {
            Ok(true) => {
                retries.reset();
                if needs_compaction(state) {
                    session.persist_history(state).await;
                    compact(session, turn, state).await?;
                }
            }
            Ok(false) => return Ok(last_agent_message),
            Err(err) => {
                // What the failed attempt added is dropped: the retry asks the same question.
                state.history.truncate(checkpoint);
                retries.wait_or_fail(err).await?;
            }
        }
    }
}

/// One model request. Returns whether tools ran (so another request must follow).
async fn run_one_request(
    session: &Session,
    turn: &TurnContext<'_>,
    state: &mut SessionState,
    last_agent_message: &mut Option<String>,
) -> Result<bool> {
    let sub_id = turn.sub_id;
    // The first request waits for the MCP servers to start (each at most its
    // `startup_timeout_sec`); the tools it offers are then the ones calls are routed by.
    session
        .mcp
        .wait_for_startup(&|msg| session.emit(sub_id, msg))
        .await;
    let mcp_tools = session.mcp.offer();
    let instructions = match &mcp_tools.unavailable_note {
        Some(note) => Cow::Owned(format!("{}\n\n{note}", session.instructions)),
        None => Cow::Borrowed(session.instructions.as_str()),
    };
    let tools = session.tools.specs(&turn.config, &mcp_tools.specs);
    let prompt = Prompt {
        instructions: &instructions,
        input: &state.history,
        tools: &tools,
    };
    session.record_turn_context(&turn.config).await;
    let mut stream = session.client.stream(&turn.config, &prompt).await?;
    let mut called_tools = false;
    while let Some(event) = stream.next().await {
        match event? {
            ResponseEvent::Created => {}
            ResponseEvent::OutputTextDelta(delta) => {
                session
                    .emit_streamed(
                        sub_id,
                        EventMsg::AgentMessageDelta(AgentMessageDeltaEvent { delta }),
                    )
                    .await;
            }
            ResponseEvent::ReasoningSummaryDelta(delta) => {
                session
                    .emit_streamed(
                        sub_id,
                        EventMsg::AgentReasoningDelta(AgentReasoningDeltaEvent { delta }),
                    )
                    .await;
            }
            ResponseEvent::WebSearchBegin(call_id) => {
                session.emit(
                    sub_id,
                    EventMsg::WebSearchBegin(WebSearchBeginEvent { call_id }),
                );
            }
            ResponseEvent::OutputItemDone(item) => {
                match handle_output_item(session, turn, state, item).await {
                    ItemOutcome::AgentMessage(text) => *last_agent_message = Some(text),
                    ItemOutcome::ToolCalled => called_tools = true,
                    ItemOutcome::AbortTurn => return Err(CodexErr::Interrupted),
                    ItemOutcome::Recorded => {}
                }
            }
            ResponseEvent::Completed { token_usage, .. } => {
                if let Some(usage) = token_usage {
                    state.context_tokens = Some(usage.total_tokens);
                    let info = state.token_info.get_or_insert_with(TokenUsageInfo::default);
                    info.model_context_window = turn.config.model_family().context_window;
                    info.record(usage);
                    let info = Some(info.clone());
                    session
                        .emit_persisted(sub_id, EventMsg::TokenCount(TokenCountEvent { info }))
                        .await;
                }
            }
        }
    }
    Ok(called_tools)
}

enum ItemOutcome {
    AgentMessage(String),
    /// A tool ran; its output must go back to the model in another request.
    ToolCalled,
    /// The user aborted the turn from an approval.
    AbortTurn,
    Recorded,
}

/// Records a finished output item and runs it if it is a tool call.
async fn handle_output_item(
    session: &Session,
    turn: &TurnContext<'_>,
    state: &mut SessionState,
    item: ResponseItem,
) -> ItemOutcome {
    let sub_id = turn.sub_id;
    match &item {
        ResponseItem::Message { role, .. } if role == "assistant" => {
            let text = item.message_text().unwrap_or_default();
            state.history.push(item);
            session
                .emit_persisted(
                    sub_id,
                    EventMsg::AgentMessage(AgentMessageEvent {
                        message: text.clone(),
                    }),
                )
                .await;
            ItemOutcome::AgentMessage(text)
        }
        ResponseItem::Reasoning { summary, .. } => {
            for ReasoningSummaryPart::SummaryText { text } in summary {
                session
                    .emit_persisted(
                        sub_id,
                        EventMsg::AgentReasoning(AgentReasoningEvent { text: text.clone() }),
                    )
                    .await;
            }
            state.history.push(item);
            ItemOutcome::Recorded
        }
        ResponseItem::FunctionCall {
            name,
            arguments,
            call_id,
        } => {
            // Recorded before it runs: an interrupted call stays visible to the model, and
            // `answer_orphaned_calls` gives it an output.
            let (name, arguments, call_id) = (name.clone(), arguments.clone(), call_id.clone());
            state.history.push(item);
            let output = session
                .tools
                .dispatch(turn, &name, &arguments, &call_id)
                .await;
            record_tool_output(state, output, |output| ResponseItem::FunctionCallOutput {
                call_id,
                output,
            })
        }
        ResponseItem::CustomToolCall {
            call_id,
            name,
            input,
        } => {
            let (call_id, name, input) = (call_id.clone(), name.clone(), input.clone());
            state.history.push(item);
            let output = session
                .tools
                .dispatch_custom(turn, &name, &input, &call_id)
                .await;
            record_tool_output(state, output, |output| ResponseItem::CustomToolCallOutput {
                call_id,
                output,
            })
        }
        ResponseItem::Message { .. }
        | ResponseItem::FunctionCallOutput { .. }
        | ResponseItem::CustomToolCallOutput { .. } => {
            state.history.push(item);
            ItemOutcome::Recorded
        }
        ResponseItem::WebSearchCall { id, .. } => {
            let end = WebSearchEndEvent {
                call_id: id.clone().unwrap_or_default(),
                query: item.web_search_query().unwrap_or_default().to_string(),
            };
            state.history.push(item);
            session.emit(sub_id, EventMsg::WebSearchEnd(end));
            ItemOutcome::Recorded
        }
        ResponseItem::Other => ItemOutcome::Recorded,
    }
}

/// Records a tool's output in the history item shape of its call.
fn record_tool_output(
    state: &mut SessionState,
    output: ToolOutput,
    item: impl FnOnce(String) -> ResponseItem,
) -> ItemOutcome {
    state.history.push(item(output.output));
    if !output.images.is_empty() {
        // A function's output is text: what it shows the model follows as a user message.
        let content = output
            .images
            .into_iter()
            .map(|image_url| ContentItem::InputImage { image_url })
            .collect();
        state.history.push(ResponseItem::Message {
            role: "user".to_string(),
            content,
            phase: None,
        });
    }
    if output.abort_turn {
        ItemOutcome::AbortTurn
    } else {
        ItemOutcome::ToolCalled
    }
}

/// The user's message: its text, and its images as `input_image` parts (a local image read into
/// a `data:` URL; one that cannot be read becomes a note the model sees). Returns the text too,
/// for the `user_message` event.
async fn user_message(items: Vec<InputItem>, cwd: &Path) -> (ResponseItem, String) {
    let mut content = Vec::with_capacity(items.len());
    let mut texts = Vec::new();
    for item in items {
        match item {
            InputItem::Text { text } => {
                texts.push(text.clone());
                content.push(ContentItem::InputText { text });
            }
            InputItem::Image { image_url } => content.push(ContentItem::InputImage { image_url }),
            InputItem::LocalImage { path } => match read_image(&cwd.join(&path)).await {
                Ok(image_url) => content.push(ContentItem::InputImage { image_url }),
                Err(err) => content.push(ContentItem::InputText {
                    text: format!("[an image was given but not attached: {err}]"),
                }),
            },
        }
    }
    // One text part, as before images: providers and rollouts see the same history for a
    // text-only message.
    let text = texts.join("\n");
    let only_text = content
        .iter()
        .all(|part| matches!(part, ContentItem::InputText { .. }));
    let message = if only_text {
        let all: Vec<String> = content
            .into_iter()
            .filter_map(|part| match part {
                ContentItem::InputText { text } => Some(text),
                _ => None,
            })
            .collect();
        ResponseItem::text_message("user", all.join("\n"))
    } else {
        ResponseItem::Message {
            role: "user".to_string(),
            content,
            phase: None,
        }
    };
    (message, text)
}
