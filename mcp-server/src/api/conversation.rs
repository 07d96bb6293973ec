//! The conversation API: JSON-RPC methods beside the tools, for hosts and orchestrators that
//! manage conversations themselves (create, send, listen, interrupt, list, resume, fork,
//! archive). See docs/conversation-api.md. It routes the account and settings methods too,
//! which `account.rs` and `settings.rs` serve.
//!
//! Over HTTP with tokens each principal sees only its own threads (`owners.rs`): another's
//! thread is answered exactly like one that does not exist, and listings leave it out.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use codex_core::CodexConversation;
use codex_core::CodexErr;
use codex_core::ConversationId;
use codex_core::ConversationManager;
use codex_core::EventMsg;
use codex_core::ForkSource;
use codex_core::NewConversation;
use codex_core::Op;
use codex_core::Subscription;
use codex_core::protocol;
use codex_core::protocol::Submission;
use codex_mcp_types::AddConversationListenerResponse;
use codex_mcp_types::ArchiveConversationResponse;
use codex_mcp_types::CompactConversationResponse;
use codex_mcp_types::ConversationEventNotificationParams;
use codex_mcp_types::ConversationRequest;
use codex_mcp_types::ConversationSummary;
use codex_mcp_types::InterruptConversationResponse;
use codex_mcp_types::ListConversationsResponse;
use codex_mcp_types::ListMcpServersResponse;
use codex_mcp_types::NewConversationResponse;
use codex_mcp_types::RemoveConversationListenerResponse;
use codex_mcp_types::ResumeConversationResponse;
use codex_mcp_types::SendUserMessageResponse;
use codex_mcp_types::TurnAbortReason;
use codex_mcp_types::conversation_event_method;
use rmcp::ErrorData as McpError;
use rmcp::Peer;
use rmcp::RoleServer;
use rmcp::model::CustomNotification;
use rmcp::model::CustomRequest;
use rmcp::model::CustomResult;
use rmcp::model::ErrorCode;
use rmcp::model::ServerNotification;
use rmcp::service::RequestContext;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::api::account::AccountApi;
use crate::api::error::ApiError;
use crate::api::error::to_json;
use crate::api::settings;
use crate::ask_host::HostChannel;
use crate::codex_tool_config::ServerConfigLayer;
use crate::codex_tool_config::tool_params;
use crate::codex_tool_runner::request_id;
use crate::owners;
use crate::owners::Access;
use crate::stdio_transport::ElicitationReplies;
use crate::tool_error::MAX_ECHOED_NAME;
use crate::tool_error::bounded;
use crate::turn_driver::ProgressTarget;
use crate::turn_driver::TurnReporter;
use crate::turn_driver::drive_turn;

/// How long `interruptConversation` waits for the turn to acknowledge.
const INTERRUPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the conversation API. Cheap to share: the server holds it in an `Arc`.
pub(crate) struct ConversationApi {
    conversations: Arc<ConversationManager>,
    config: Arc<ServerConfigLayer>,
    /// The account methods, with the login in progress.
    account: AccountApi,
    /// Listener tasks by subscription id, with the principal that added each (over HTTP with
    /// tokens). A std lock: never held across an `.await`.
    listeners: Mutex<HashMap<String, Listener>>,
    /// The host's answers to approvals, as it sent them.
    replies: Arc<ElicitationReplies>,
}

impl ConversationApi {
    pub(crate) fn new(
        conversations: Arc<ConversationManager>,
        config: Arc<ServerConfigLayer>,
        login_callback_port: u16,
        replies: Arc<ElicitationReplies>,
    ) -> Self {
        Self {
            account: AccountApi::new(
                Arc::clone(&conversations),
                Arc::clone(&config),
                login_callback_port,
            ),
            conversations,
            config,
            listeners: Mutex::new(HashMap::new()),
            replies,
        }
    }

    /// Answers a custom request: a result, or a JSON-RPC error that says why not.
    pub(crate) async fn handle(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        let parsed = ConversationRequest::parse(&request.method, request.params)
            .map_err(|err| McpError::invalid_params(err.to_string(), None))?;
        let Some(parsed) = parsed else {
            return Err(McpError::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "method not found: {}",
                    bounded(&request.method, MAX_ECHOED_NAME)
                ),
                None,
            ));
        };
        self.dispatch(parsed, context)
            .await
            .map(CustomResult::new)
            .map_err(ApiError::into_mcp)
    }

    async fn dispatch(
        &self,
        request: ConversationRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<serde_json::Value, ApiError> {
        let access = owners::access(&context).cloned();
        let access = access.as_ref();
        if self.config.store.get().shared().is_some() && request.is_conversation_method() {
            // Its threads live in one machine's files, and its turns take no lease: beside
            // replicas it would fork history silently.
            return Err(ApiError::InvalidRequest(format!(
                "{} is not served with a shared thread store (thread_store_url): the conversation API keeps threads on one machine; use the `codex` and `codex-reply` tools",
                request.method()
            )));
        }
        match request {
            ConversationRequest::NewConversation(params) => {
                let config = self.config.load_for_call(&tool_params(params)).await?;
                let new = self.conversations.new_conversation(config).await?;
                if let Some(access) = access {
                    access.record_thread(&new.conversation_id.to_string());
                }
                to_json(NewConversationResponse {
                    conversation_id: new.conversation_id.to_string(),
                    model: new.session_configured.model.clone(),
                    reasoning_effort: new.session_configured.reasoning_effort,
                    rollout_path: new.conversation.rollout_path().to_path_buf(),
                })
            }
            ConversationRequest::SendUserMessage(params) => {
                let conversation = self.conversation(access, &params.conversation_id).await?;
                let op = Op::UserInput {
                    items: params.items,
                };
                self.start_turn(conversation, op, context).await?;
                to_json(SendUserMessageResponse {})
            }
            ConversationRequest::SendUserTurn(params) => {
                let conversation = self.conversation(access, &params.conversation_id).await?;
                let op = Op::UserTurn {
                    items: params.items,
                    cwd: params.cwd,
                    approval_policy: params.approval_policy,
                    sandbox_policy: params.sandbox_policy.0,
                    model: params.model,
                    effort: params.effort,
                    summary: params.summary.unwrap_or_default(),
                };
                self.start_turn(conversation, op, context).await?;
                to_json(SendUserMessageResponse {})
            }
            ConversationRequest::ListMcpServers(params) => {
                let conversation = self.conversation(access, &params.conversation_id).await?;
                to_json(ListMcpServersResponse {
                    servers: conversation.mcp_servers(),
                })
            }
            ConversationRequest::InterruptConversation(params) => {
                let conversation = self.conversation(access, &params.conversation_id).await?;
                let abort_reason = interrupt(&conversation).await?;
                to_json(InterruptConversationResponse { abort_reason })
            }
            ConversationRequest::AddConversationListener(params) => {
                let conversation = self.conversation(access, &params.conversation_id).await?;
                let subscription_id = uuid::Uuid::new_v4().to_string();
                let task = tokio::spawn(forward_to_listener(
                    conversation.subscribe(),
                    conversation.conversation_id(),
                    subscription_id.clone(),
                    context.peer,
                ));
                lock(&self.listeners).insert(
                    subscription_id.clone(),
                    Listener {
                        task: task.abort_handle(),
                        principal: access.map(|access| access.principal.name.clone()),
                    },
                );
                to_json(AddConversationListenerResponse { subscription_id })
            }
            ConversationRequest::RemoveConversationListener(params) => {
                let removed = {
                    let mut listeners = lock(&self.listeners);
                    let theirs = listeners
                        .get(&params.subscription_id)
                        .is_some_and(|listener| {
                            listener.principal.as_deref()
                                == access.map(|access| access.principal.name.as_str())
                        });
                    theirs
                        .then(|| listeners.remove(&params.subscription_id))
                        .flatten()
                };
                let Some(listener) = removed else {
                    return Err(ApiError::InvalidRequest(format!(
                        "subscription not found: {}",
                        params.subscription_id
                    )));
                };
                listener.task.abort();
                to_json(RemoveConversationListenerResponse {})
            }
            ConversationRequest::ListConversations(params) => {
                let (size, cursor) = (params.page_size(), params.cursor.as_deref());
                let page = match access {
                    None => self.conversations.list_conversations(size, cursor).await?,
                    Some(access) => {
                        let access = access.clone();
                        self.conversations
                            .list_conversations_where(size, cursor, move |id| {
                                access.owns_thread(&id.to_string())
                            })
                            .await?
                    }
                };
                to_json(ListConversationsResponse {
                    items: page
                        .items
                        .into_iter()
                        .map(|item| ConversationSummary {
                            conversation_id: item.conversation_id.to_string(),
                            path: item.path,
                            preview: item.preview,
                            timestamp: item.timestamp,
                        })
                        .collect(),
                    next_cursor: page.next_cursor,
                })
            }
            ConversationRequest::ResumeConversation(params) => {
                let path = match (params.path, params.conversation_id) {
                    (Some(path), _) => path_allowed(access, path)?,
                    (None, Some(id)) => self.rollout_path_of(access, &id).await?,
                    (None, None) => {
                        return Err(ApiError::InvalidParams(
                            "resumeConversation needs `path` or `conversationId`".to_string(),
                        ));
                    }
                };
                let overrides = params.overrides.map(tool_params);
                let new = self
                    .conversations
                    .resume_conversation(&path, |saved| {
                        self.config.load_for_resume(overrides, saved)
                    })
                    .await?;
                loaded_response(new)
            }
            ConversationRequest::ForkConversation(params) => {
                let source = match (params.conversation_id, params.path) {
                    (Some(id), _) => ForkSource::Id(owned_id(access, &id)?),
                    (None, Some(path)) => ForkSource::Path(path_allowed(access, path)?),
                    (None, None) => {
                        return Err(ApiError::InvalidParams(
                            "forkConversation needs `conversationId` or `path`".to_string(),
                        ));
                    }
                };
                let overrides = params.overrides.map(tool_params);
                let new = self
                    .conversations
                    .fork_conversation(source, params.drop_last_messages, |saved| {
                        self.config.load_for_resume(overrides, saved)
                    })
                    .await?;
                if let Some(access) = access {
                    access.record_thread(&new.conversation_id.to_string());
                }
                loaded_response(new)
            }
            ConversationRequest::CompactConversation(params) => {
                let conversation = self.conversation(access, &params.conversation_id).await?;
                self.start_turn(conversation, Op::Compact, context).await?;
                to_json(CompactConversationResponse {})
            }
            ConversationRequest::ArchiveConversation(params) => {
                let id = owned_id(access, &params.conversation_id)?;
                self.conversations
                    .archive_conversation(id, &params.rollout_path)
                    .await?;
                to_json(ArchiveConversationResponse {})
            }
            ConversationRequest::Account(request) => {
                self.account.dispatch(request, context.peer).await
            }
            ConversationRequest::Settings(request) => {
                settings::dispatch(&self.config, request).await
            }
        }
    }

    /// The conversation with this id, loaded from its rollout if it is not in memory.
    async fn conversation(
        &self,
        access: Option<&Access>,
        id: &str,
    ) -> Result<Arc<CodexConversation>, ApiError> {
        let id = owned_id(access, id)?;
        Ok(self
            .conversations
            .get_or_resume(id, |saved| self.config.load_for_resume(None, saved))
            .await?)
    }

    async fn rollout_path_of(
        &self,
        access: Option<&Access>,
        id: &str,
    ) -> Result<PathBuf, ApiError> {
        let id = owned_id(access, id)?;
        codex_core::rollout::find_conversation_path(self.conversations.codex_home(), id)
            .await
            .map_err(CodexErr::from)?
            .ok_or_else(|| ApiError::InvalidRequest(format!("no conversation with id {id}")))
    }

    /// Starts a turn and drives it on a task of its own: the request is answered at once,
    /// listeners see the events, and approvals go to the host as elicitations.
    async fn start_turn(
        &self,
        conversation: Arc<CodexConversation>,
        op: Op,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ApiError> {
        let request_id = request_id(&context.id);
        let sub_id = request_id.to_string();
        let started = conversation
            .start_turn(Submission {
                id: sub_id.clone(),
                op,
            })
            .await;
        if let Err(CodexErr::ChangedElsewhere(_)) = &started {
            // Stale: the next request loads the thread again from its rollout.
            self.conversations.remove_stale(&conversation);
        }
        started?;
        // A 2026-07-28 client is not asked: this request's answer is already the turn's start.
        let host = HostChannel::for_request(&context, &self.replies, None);
        let reporter = TurnReporter {
            peer: context.peer,
            request_id,
            thread_id: conversation.conversation_id(),
            forward_events: false,
            progress: ProgressTarget::new(None),
            host,
            heartbeat_interval: self.config.heartbeat_interval,
        };
        tokio::spawn(async move {
            // The outcome reaches the host through its listeners.
            drive_turn(&conversation, &sub_id, &reporter, CancellationToken::new()).await;
        });
        Ok(())
    }
}

/// The answer to resume and fork.
fn loaded_response(new: NewConversation) -> Result<serde_json::Value, ApiError> {
    let initial_messages = new
        .session_configured
        .initial_messages
        .map(|messages| {
            messages
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|err| ApiError::Internal(err.to_string()))?;
    let mut response = to_json(ResumeConversationResponse {
        conversation_id: new.conversation_id.to_string(),
        model: new.session_configured.model,
        initial_messages: None,
        rollout_path: new.conversation.rollout_path().to_path_buf(),
    })?;
    // Moved in rather than serialized with the rest, which would copy every event's JSON
    // once more: a long conversation replays thousands.
    if let (Some(messages), Some(fields)) = (initial_messages, response.as_object_mut()) {
        fields.insert("initialMessages".to_string(), messages.into());
    }
    Ok(response)
}

/// Interrupts the running turn and waits for it to confirm.
async fn interrupt(conversation: &CodexConversation) -> Result<TurnAbortReason, ApiError> {
    if !conversation.is_busy() {
        return Err(ApiError::InvalidRequest(format!(
            "conversation {} has no running turn",
            conversation.conversation_id()
        )));
    }
    let mut events = conversation.subscribe();
    conversation.submit(Op::Interrupt).await?;
    let ended = tokio::time::timeout(INTERRUPT_TIMEOUT, async {
        while let Some(event) = events.recv().await {
            match event.msg {
                EventMsg::TurnAborted(aborted) => return Some(aborted.reason),
                EventMsg::TaskComplete(_) | EventMsg::Error(_) => return None,
                _ => {}
            }
        }
        None
    })
    .await;
    match ended {
        Ok(Some(reason)) => Ok(reason),
        Ok(None) => Err(ApiError::InvalidRequest(
            "the turn ended before it could be interrupted".to_string(),
        )),
        Err(_) => Err(ApiError::Internal(format!(
            "the turn did not stop within {} s",
            INTERRUPT_TIMEOUT.as_secs()
        ))),
    }
}

/// Sends every event of a conversation to the host as `codex/event/<type>` until the
/// conversation ends or the listener is removed.
/// Sent when a listener is dropped for falling behind.
const LISTENER_DROPPED_METHOD: &str = "codex/listenerDropped";

async fn forward_to_listener(
    mut events: Subscription,
    conversation_id: ConversationId,
    subscription_id: String,
    peer: Peer<RoleServer>,
) {
    let conversation_id = conversation_id.to_string();
    while let Some(event) = events.recv().await {
        let params = ConversationEventNotificationParams {
            id: &event.id,
            msg: &event.msg,
            conversation_id: &conversation_id,
        };
        let params = match serde_json::to_value(params) {
            Ok(params) => params,
            Err(err) => {
                tracing::error!("cannot serialize event: {err}");
                continue;
            }
        };
        let event_type = params["msg"]["type"].as_str().unwrap_or("unknown");
        let method = conversation_event_method(event_type);
        let notification =
            ServerNotification::CustomNotification(CustomNotification::new(method, Some(params)));
        if peer.send_notification(notification).await.is_err() {
            return; // The host is gone.
        }
    }
    if events.lagged() {
        // Not silently: the host learns the listener is gone and why, and can add another.
        let notification = ServerNotification::CustomNotification(CustomNotification::new(
            LISTENER_DROPPED_METHOD,
            Some(serde_json::json!({
                "subscriptionId": subscription_id,
                "conversationId": conversation_id,
                "reason": "the listener fell 4096 events behind the conversation; later events were not sent",
            })),
        ));
        if let Err(err) = peer.send_notification(notification).await {
            tracing::debug!("listener drop not delivered (host gone?): {err}");
        }
    }
}

/// A listener added with `addConversationListener`.
struct Listener {
    task: AbortHandle,
    /// Who added it, over HTTP with tokens: only they may remove it.
    principal: Option<String>,
}

/// The id, if the request may reach that conversation: always on stdio, and over HTTP with
/// tokens only when its principal created it. Another's is answered as the core answers an
/// id that exists nowhere, so the two cannot be told apart.
fn owned_id(access: Option<&Access>, id: &str) -> Result<ConversationId, ApiError> {
    let parsed = parse_id(id)?;
    match access {
        Some(access) if !access.owns_thread(&parsed.to_string()) => {
            Err(CodexErr::ConversationNotFound(parsed).into())
        }
        _ => Ok(parsed),
    }
}

/// A rollout named by its path: over HTTP with tokens a path could be anyone's file, so
/// conversations are named by id there.
fn path_allowed(access: Option<&Access>, path: PathBuf) -> Result<PathBuf, ApiError> {
    match access {
        None => Ok(path),
        Some(_) => Err(ApiError::InvalidParams(
            "over HTTP with tokens a conversation is named by `conversationId`, not by `path`"
                .to_string(),
        )),
    }
}

fn parse_id(id: &str) -> Result<ConversationId, ApiError> {
    id.parse()
        .map_err(|err: protocol::MalformedConversationId| ApiError::InvalidParams(err.to_string()))
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
