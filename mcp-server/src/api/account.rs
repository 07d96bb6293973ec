//! The account API: signing in and out and asking who is signed in, over the same JSON-RPC
//! routing as the conversation API. Every change of credentials is announced to the host
//! with `authStatusChange`. See docs/account-api.md.

use std::sync::Arc;
use std::time::Duration;

use codex_core::AuthManager;
use codex_core::AuthMode;
use codex_core::ConversationManager;
use codex_core::auth::ChatGptLogin;
use codex_core::auth::CodexAuth;
use codex_mcp_types::AccountRequest;
use codex_mcp_types::CodexToolCallParam;
use codex_mcp_types::account_api;
use codex_mcp_types::account_api::AuthStatusChangeNotification;
use codex_mcp_types::account_api::CancelLoginChatGptResponse;
use codex_mcp_types::account_api::GetAuthStatusResponse;
use codex_mcp_types::account_api::GetUserAgentResponse;
use codex_mcp_types::account_api::LoginApiKeyResponse;
use codex_mcp_types::account_api::LoginChatGptCompleteNotification;
use codex_mcp_types::account_api::LoginChatGptResponse;
use codex_mcp_types::account_api::LogoutChatGptResponse;
use codex_mcp_types::account_api::UserInfoResponse;
use rmcp::Peer;
use rmcp::RoleServer;
use rmcp::model::CustomNotification;
use rmcp::model::ServerNotification;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::error::ApiError;
use crate::api::error::to_json;
use crate::codex_tool_config::ServerConfigLayer;

/// A browser login nobody finishes gives its port back after this long.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long a new login waits for the one it replaces to free the callback port.
const REPLACED_LOGIN_STOP: Duration = Duration::from_secs(5);

/// The login in progress; a new `loginChatGpt` replaces it.
struct ActiveLogin {
    login_id: String,
    cancel: CancellationToken,
    /// Ends once the login has ended and the host has been told.
    watcher: JoinHandle<()>,
}

pub(crate) struct AccountApi {
    conversations: Arc<ConversationManager>,
    config: Arc<ServerConfigLayer>,
    /// The callback port from config.toml as the server started.
    login_port: u16,
    /// A tokio lock: replacing a login waits for the old one to free the port.
    login: tokio::sync::Mutex<Option<ActiveLogin>>,
}

impl AccountApi {
    pub(crate) fn new(
        conversations: Arc<ConversationManager>,
        config: Arc<ServerConfigLayer>,
        login_port: u16,
    ) -> Self {
        Self {
            conversations,
            config,
            login_port,
            login: tokio::sync::Mutex::new(None),
        }
    }

    fn auth(&self) -> &Arc<AuthManager> {
        self.conversations.auth_manager()
    }

    pub(crate) async fn dispatch(
        &self,
        request: AccountRequest,
        peer: Peer<RoleServer>,
    ) -> Result<serde_json::Value, ApiError> {
        match request {
            AccountRequest::GetAuthStatus(params) => {
                let auth = self.auth();
                if params.refresh_token == Some(true) && auth.mode() == Some(AuthMode::ChatGpt) {
                    auth.refresh_token().await?;
                }
                let config = self
                    .config
                    .load_for_call(&CodexToolCallParam::default())
                    .await?;
                if !config.model_provider.requires_openai_auth {
                    return to_json(GetAuthStatusResponse {
                        auth_method: None,
                        auth_token: None,
                        requires_openai_auth: false,
                    });
                }
                let current = auth.auth();
                to_json(GetAuthStatusResponse {
                    auth_method: current.as_ref().map(CodexAuth::mode),
                    auth_token: current
                        .filter(|_| params.include_token == Some(true))
                        .map(|auth| auth.token().expose().to_string()),
                    requires_openai_auth: true,
                })
            }
            AccountRequest::LoginApiKey(params) => {
                if params.api_key.trim().is_empty() {
                    return Err(ApiError::InvalidParams(
                        "invalid params for loginApiKey: `apiKey` must not be empty".into(),
                    ));
                }
                self.auth()
                    .login_with_api_key(params.api_key.trim())
                    .await?;
                self.announce_auth_status(&peer).await;
                to_json(LoginApiKeyResponse {})
            }
            AccountRequest::LoginChatGpt(_) => self.login_chatgpt(peer).await,
            AccountRequest::CancelLoginChatGpt(params) => {
                let login = self.login.lock().await;
                match login.as_ref() {
                    Some(active)
                        if active.login_id == params.login_id && !active.watcher.is_finished() =>
                    {
                        active.cancel.cancel();
                        to_json(CancelLoginChatGptResponse {})
                    }
                    _ => Err(ApiError::InvalidRequest(format!(
                        "login id not found: {}",
                        params.login_id
                    ))),
                }
            }
            AccountRequest::LogoutChatGpt => {
                self.auth().logout().await?;
                self.announce_auth_status(&peer).await;
                to_json(LogoutChatGptResponse {})
            }
            AccountRequest::GetUserAgent => to_json(GetUserAgentResponse {
                user_agent: self.conversations.user_agent().get().to_string(),
            }),
            AccountRequest::UserInfo => to_json(UserInfoResponse {
                alleged_user_email: self
                    .auth()
                    .auth()
                    .and_then(|auth| auth.email().map(str::to_string)),
            }),
        }
    }

    /// Starts the callback server and answers with the URL to open; the outcome arrives
    /// later as `loginChatGptComplete` (and, on success, `authStatusChange`).
    async fn login_chatgpt(&self, peer: Peer<RoleServer>) -> Result<serde_json::Value, ApiError> {
        let mut slot = self.login.lock().await;
        if let Some(previous) = slot.take() {
            previous.cancel.cancel();
            if tokio::time::timeout(REPLACED_LOGIN_STOP, previous.watcher)
                .await
                .is_err()
            {
                tracing::warn!("the previous login did not stop in time");
            }
        }
        let login =
            ChatGptLogin::start(Arc::clone(self.auth()), self.login_port, LOGIN_TIMEOUT).await?;
        let login_id = uuid::Uuid::new_v4().to_string();
        let response = LoginChatGptResponse {
            login_id: login_id.clone(),
            auth_url: login.auth_url.clone(),
        };
        let cancel = login.canceller();
        let auth = Arc::clone(self.auth());
        let id = login_id.clone();
        let watcher = tokio::spawn(async move {
            let result = login.finished().await;
            if let Err(err) = &result {
                tracing::info!("ChatGPT login {id} ended: {err}");
            }
            let success = result.is_ok();
            let complete = LoginChatGptCompleteNotification {
                login_id: id,
                success,
                error: result.err().map(|err| err.to_string()),
            };
            notify(&peer, account_api::LOGIN_CHATGPT_COMPLETE, complete).await;
            if success {
                send_auth_status(&peer, &auth).await;
            }
        });
        *slot = Some(ActiveLogin {
            login_id,
            cancel,
            watcher,
        });
        to_json(response)
    }

    async fn announce_auth_status(&self, peer: &Peer<RoleServer>) {
        send_auth_status(peer, self.auth()).await;
    }
}

async fn send_auth_status(peer: &Peer<RoleServer>, auth: &AuthManager) {
    let params = AuthStatusChangeNotification {
        auth_method: auth.mode(),
    };
    notify(peer, account_api::AUTH_STATUS_CHANGE, params).await;
}

async fn notify(peer: &Peer<RoleServer>, method: &str, params: impl Serialize) {
    let params = match serde_json::to_value(params) {
        Ok(params) => params,
        Err(err) => {
            tracing::warn!("cannot encode {method}: {err}");
            return;
        }
    };
    let notification =
        ServerNotification::CustomNotification(CustomNotification::new(method, Some(params)));
    if let Err(err) = peer.send_notification(notification).await {
        tracing::debug!("{method} not delivered: {err}");
    }
}
