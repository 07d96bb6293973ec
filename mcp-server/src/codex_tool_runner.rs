//! Runs a `codex` or `codex-reply` call: starts or finds the conversation, submits the prompt,
//! forwards every event as a `codex/event` notification, and answers with the turn's outcome.
//! A legacy call does all of it inside its request; a 2026-07-28 call's turn is followed on a
//! task of its own (`running_turns.rs`), because it outlives the request that started it.

use std::sync::Arc;

use codex_core::CodexConversation;
use codex_core::CodexErr;
use codex_core::ConversationId;
use codex_core::ConversationManager;
use codex_core::Event;
use codex_core::EventMsg;
use codex_core::NewConversation;
use codex_core::Op;
use codex_core::protocol::InputItem;
use codex_core::protocol::Submission;
use codex_mcp_types::CODEX_REPLY_TOOL_NAME;
use codex_mcp_types::CODEX_TOOL_NAME;
use codex_mcp_types::CodexToolCallParam;
use codex_mcp_types::CodexToolCallReplyParam;
use codex_mcp_types::RequestId;
use rmcp::RoleServer;
use rmcp::model::CallToolResult;
use rmcp::model::JsonObject;
use rmcp::model::NumberOrString;
use rmcp::service::RequestContext;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::ask_host::HostChannel;
use crate::codex_tool_config::ServerConfigLayer;
use crate::mcp_settings::McpSettings;
use crate::owners;
use crate::thread_store::Claim;
use crate::thread_store::Lease;
use crate::thread_store::Owned;
use crate::tool_error::ToolCallError;
use crate::tool_error::name_thread_in_content;
use crate::tool_error::naming_the_field;
use crate::tool_error::success;
use crate::turn_driver::ProgressTarget;
use crate::turn_driver::TurnOutcome;
use crate::turn_driver::TurnReporter;
use crate::turn_driver::drive_turn;

/// A turn that has been submitted, with everything needed to follow it to its end.
pub(crate) struct StartedTurn {
    conversation: Arc<CodexConversation>,
    sub_id: String,
    reporter: TurnReporter,
    /// The thread's lease on the shared thread store, held until the turn is committed.
    lease: Option<Lease>,
}

impl StartedTurn {
    pub(crate) fn thread_id(&self) -> ConversationId {
        self.conversation.conversation_id()
    }

    /// Follows the turn to its end and answers with its outcome. `cancel` interrupts it.
    pub(crate) async fn finish(self, cancel: CancellationToken) -> CallToolResult {
        self.finish_telling_aborted(cancel).await.0
    }

    /// [`Self::finish`], also saying whether the turn ended aborted (interrupted) rather than
    /// completed or failed.
    pub(crate) async fn finish_telling_aborted(
        self,
        cancel: CancellationToken,
    ) -> (CallToolResult, bool) {
        let thread_id = self.thread_id();
        // A lease lost to another replica stops the turn: two replicas must never write one
        // thread.
        let lost = self.lease.as_ref().map(|lease| {
            let (lost, cancel) = (lease.lost(), cancel.clone());
            tokio::spawn(async move {
                lost.cancelled().await;
                cancel.cancel();
            })
        });
        let outcome = drive_turn(&self.conversation, &self.sub_id, &self.reporter, cancel).await;
        if let Some(lost) = lost {
            lost.abort();
        }
        let aborted = matches!(outcome, TurnOutcome::Aborted);
        let mut result = match outcome {
            TurnOutcome::Completed(content) => success(thread_id, content),
            TurnOutcome::Failed(message) => {
                ToolCallError::Turn(message).into_result(Some(thread_id))
            }
            TurnOutcome::Aborted => ToolCallError::Aborted.into_result(Some(thread_id)),
            TurnOutcome::Lost(err) => ToolCallError::Runtime(err).into_result(Some(thread_id)),
        };
        // The turn's history (its file already synced) goes to the shared store before the
        // host hears the turn ended: a replica that dies after this loses nothing answered.
        if let Some(lease) = self.lease {
            let config = self.conversation.config();
            if let Err(err) = lease
                .commit(&config.codex_home, self.conversation.rollout_path())
                .await
            {
                tracing::error!(%thread_id, "{err}");
                result = ToolCallError::Store(err).into_result(Some(thread_id));
            }
            lease.release().await;
        }
        if McpSettings::of(self.conversation.config()).thread_id_in_content() {
            name_thread_in_content(&mut result, thread_id);
        }
        (result, aborted)
    }
}

/// How a call's turn reaches its host.
pub(crate) struct TurnHost {
    pub(crate) channel: HostChannel,
    pub(crate) progress: Arc<ProgressTarget>,
}

/// Everything a `codex` or `codex-reply` call does before its turn runs: reads the
/// arguments, starts or finds the conversation and submits the prompt. A call that fails on
/// the way is answered with the returned result.
pub(crate) async fn start(
    conversations: &ConversationManager,
    server_config: &ServerConfigLayer,
    tool: &str,
    arguments: Option<JsonObject>,
    context: &RequestContext<RoleServer>,
    host: TurnHost,
) -> Result<StartedTurn, CallToolResult> {
    match tool {
        CODEX_TOOL_NAME => {
            let params: CodexToolCallParam =
                parse_arguments(CODEX_TOOL_NAME, arguments).map_err(|err| err.into_result(None))?;
            let config = server_config
                .load_for_call(&params)
                .await
                .map_err(|err| ToolCallError::Config(err).into_result(None))?;
            let NewConversation {
                conversation_id,
                conversation,
                session_configured,
            } = conversations
                .new_conversation(config)
                .await
                .map_err(|err| ToolCallError::StartSession(err).into_result(None))?;
            if let Some(access) = owners::access(context) {
                let id = conversation_id.to_string();
                access.record_thread(&id);
                server_config
                    .store
                    .get()
                    .record_owner(Owned::Thread, &id, &access.principal.name)
                    .await;
            }
            let lease = claim(server_config, conversation_id).await?;
            let first_event = Event {
                id: String::new(),
                msg: EventMsg::SessionConfigured(session_configured),
            };
            submit(
                conversation,
                server_config,
                user_items(params.prompt, params.images),
                Some(first_event),
                context,
                host,
            )
            .await
            .map(|started| started.holding(lease))
            .map_err(Refused::into_result)
        }
        CODEX_REPLY_TOOL_NAME => {
            let params: CodexToolCallReplyParam = parse_arguments(CODEX_REPLY_TOOL_NAME, arguments)
                .map_err(|err| err.into_result(None))?;
            let conversation_id = params
                .thread_id()
                .map_err(ToolCallError::from)
                .and_then(|id| id.parse::<ConversationId>().map_err(ToolCallError::from))
                .map_err(|err| err.into_result(None))?;
            // Over HTTP, another principal's thread is as unknown as one that never was. With
            // a shared store, the owner is the store's (the thread may have started elsewhere).
            if let Some(access) = owners::access(context) {
                let id = conversation_id.to_string();
                let owned = match server_config
                    .store
                    .get()
                    .owned_by(Owned::Thread, &id, &access.principal.name)
                    .await
                {
                    Ok(Some(owned)) => owned,
                    Ok(None) => access.owns_thread(&id),
                    Err(err) => {
                        return Err(ToolCallError::Store(err).into_result(Some(conversation_id)));
                    }
                };
                if !owned {
                    return Err(ToolCallError::UnknownThread(conversation_id).into_result(None));
                }
            }
            reply(
                conversations,
                server_config,
                conversation_id,
                user_items(params.prompt, params.images),
                context,
                host,
            )
            .await
        }
        other => Err(ToolCallError::UnknownTool(other.to_string()).into_result(None)),
    }
}

/// The prompt, then the images the host named (local paths, read by the engine relative to the
/// conversation's working directory).
fn user_items(prompt: String, images: Option<Vec<String>>) -> Vec<InputItem> {
    std::iter::once(InputItem::Text { text: prompt })
        .chain(
            images
                .into_iter()
                .flatten()
                .map(|path| InputItem::LocalImage { path: path.into() }),
        )
        .collect()
}

/// Starts a `codex-reply` turn. A thread not in memory (the server restarted, or it was idle)
/// is loaded from its rollout, under the settings it last ran with; one that another server
/// process continued since this one loaded it is stale, so it is dropped and loaded again,
/// once.
async fn reply(
    conversations: &ConversationManager,
    server_config: &ServerConfigLayer,
    conversation_id: ConversationId,
    items: Vec<InputItem>,
    context: &RequestContext<RoleServer>,
    host: TurnHost,
) -> Result<StartedTurn, CallToolResult> {
    let mut host = host;
    let store = server_config.store.get();
    let lease = claim(server_config, conversation_id).await?;
    // The store's history is the record: a local copy that differs (absent, behind, or ahead
    // with a turn never committed) is replaced, and a copy in memory dropped.
    match store
        .hydrate(&server_config.codex_home, &conversation_id.to_string())
        .await
    {
        Ok(true) => {
            if let Ok(live) = conversations.get_conversation(conversation_id)
                && !live.is_busy()
            {
                conversations.remove_stale(&live);
            }
        }
        Ok(false) => {}
        Err(err) => {
            return Err(ToolCallError::Store(err).into_result(Some(conversation_id)));
        }
    }
    let shared = store.shared().is_some();
    let mut lease = lease;
    for attempt in 0..2 {
        let conversation = match conversations
            .get_or_resume(conversation_id, |saved| async move {
                // Replicas share threads, not disks: a working directory missing here is an
                // error, not a reason to run somewhere else.
                if shared && !saved.cwd.is_dir() {
                    return Err(CodexErr::Io(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "the thread's working directory `{}` does not exist on this replica; replicas need the same paths (a shared volume or a checkout at that path; see docs/replicas.md)",
                            saved.cwd.display()
                        ),
                    )));
                }
                server_config.load_for_resume(None, saved).await
            })
            .await
        {
            Ok(conversation) => conversation,
            Err(CodexErr::ConversationNotFound(id)) => {
                return Err(ToolCallError::UnknownThread(id).into_result(None));
            }
            Err(err) => {
                return Err(ToolCallError::Resume(err).into_result(Some(conversation_id)));
            }
        };
        match submit(
            conversation,
            server_config,
            items.clone(),
            None,
            context,
            host,
        )
        .await
        {
            Ok(started) => return Ok(started.holding(lease.take())),
            Err(Refused::Stale(returned, stale)) if attempt == 0 => {
                tracing::info!(%conversation_id, "thread continued by another process; loading it again");
                // The stale copy was idle; dropping the last handle ends it.
                conversations.remove_stale(&stale);
                host = returned;
            }
            Err(refused) => return Err(refused.into_result()),
        }
    }
    Err(
        ToolCallError::Submit(CodexErr::ChangedElsewhere(conversation_id))
            .into_result(Some(conversation_id)),
    )
}

/// Takes the thread's lease on the shared store; another replica's running turn is the same
/// busy answer as another call's on this server.
async fn claim(
    server_config: &ServerConfigLayer,
    thread: ConversationId,
) -> Result<Option<Lease>, CallToolResult> {
    match server_config.store.get().claim(&thread.to_string()).await {
        Ok(Claim::Held(lease)) => Ok(lease),
        Ok(Claim::Busy) => {
            Err(ToolCallError::Busy(CodexErr::Busy(thread)).into_result(Some(thread)))
        }
        Err(err) => Err(ToolCallError::Store(err).into_result(Some(thread))),
    }
}

impl StartedTurn {
    fn holding(mut self, lease: Option<Lease>) -> Self {
        self.lease = lease;
        self
    }
}

/// Why a turn was not started.
enum Refused {
    /// The call is answered with this.
    Failed(CallToolResult),
    /// The conversation in memory is stale (another process continued the thread); the host
    /// is handed back for a fresh copy.
    Stale(TurnHost, Arc<CodexConversation>),
}

impl Refused {
    fn into_result(self) -> CallToolResult {
        match self {
            Refused::Failed(result) => result,
            Refused::Stale(_, stale) => {
                let id = stale.conversation_id();
                ToolCallError::Submit(CodexErr::ChangedElsewhere(id)).into_result(Some(id))
            }
        }
    }
}

/// Submits the user's `items` as a turn. `first_event` (the new conversation's
/// `session_configured`) is forwarded before the turn's own events.
async fn submit(
    conversation: Arc<CodexConversation>,
    server_config: &ServerConfigLayer,
    items: Vec<InputItem>,
    first_event: Option<Event>,
    context: &RequestContext<RoleServer>,
    host: TurnHost,
) -> Result<StartedTurn, Refused> {
    let thread_id = conversation.conversation_id();
    let reporter = TurnReporter {
        peer: context.peer.clone(),
        request_id: request_id(&context.id),
        thread_id,
        forward_events: server_config.codex_events
            && McpSettings::of(conversation.config()).codex_events(),
        progress: host.progress,
        host: host.channel,
        heartbeat_interval: server_config.heartbeat_interval,
    };
    if let Some(event) = first_event {
        reporter.forward(&event).await;
    }
    // The request id becomes the turn's submission id, so the host can match every event of
    // the turn to its call.
    let sub_id = reporter.request_id.to_string();
    // Cancelled while the conversation was starting: no turn. The host expects no answer.
    if context.ct.is_cancelled() {
        return Err(Refused::Failed(
            ToolCallError::Aborted.into_result(Some(thread_id)),
        ));
    }
    let submission = Submission {
        id: sub_id.clone(),
        op: Op::UserInput { items },
    };
    match conversation.start_turn(submission).await {
        Ok(()) => Ok(StartedTurn {
            conversation,
            sub_id,
            reporter,
            lease: None,
        }),
        Err(CodexErr::ChangedElsewhere(_)) => Err(Refused::Stale(
            TurnHost {
                channel: reporter.host,
                progress: reporter.progress,
            },
            conversation,
        )),
        Err(err @ (CodexErr::Busy(_) | CodexErr::BusyElsewhere { .. })) => Err(Refused::Failed(
            ToolCallError::Busy(err).into_result(Some(thread_id)),
        )),
        Err(err) => Err(Refused::Failed(
            ToolCallError::Submit(err).into_result(Some(thread_id)),
        )),
    }
}

/// Deserializes tool arguments, naming the offending field in the error.
fn parse_arguments<T: DeserializeOwned>(
    tool: &'static str,
    arguments: Option<JsonObject>,
) -> Result<T, ToolCallError> {
    let arguments = arguments.ok_or(ToolCallError::MissingArguments(tool))?;
    serde_path_to_error::deserialize(serde_json::Value::Object(arguments)).map_err(|err| {
        ToolCallError::InvalidArguments {
            tool,
            message: naming_the_field(err),
        }
    })
}

pub(crate) fn request_id(id: &NumberOrString) -> RequestId {
    match id {
        NumberOrString::Number(n) => RequestId::Number(*n),
        NumberOrString::String(s) => RequestId::String(s.to_string()),
    }
}
