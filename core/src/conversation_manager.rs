//! The registry of live conversations, shared by everything that serves them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::RwLock;

use crate::auth::AuthManager;
use crate::config::Config;
use crate::conversation::CodexConversation;
use crate::error::CodexErr;
use crate::error::Result;
use crate::protocol::ConversationId;
use crate::protocol::EventMsg;
use crate::protocol::SessionConfiguredEvent;
use crate::session;

/// A conversation that has just started, with the event that describes it.
pub struct NewConversation {
    pub conversation_id: ConversationId,
    pub conversation: Arc<CodexConversation>,
    pub session_configured: SessionConfiguredEvent,
}

/// Creates and holds conversations. One per server; cheap to share behind an `Arc`.
pub struct ConversationManager {
    /// A std lock: lookups and inserts are short and never cross an `.await`.
    conversations: RwLock<HashMap<ConversationId, Arc<CodexConversation>>>,
    auth_manager: Arc<AuthManager>,
    /// One HTTP client (and connection pool) for every conversation's model requests.
    http: reqwest::Client,
}

impl ConversationManager {
    pub fn new(auth_manager: Arc<AuthManager>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(crate::user_agent())
            .build()?;
        Ok(Self {
            conversations: RwLock::new(HashMap::new()),
            auth_manager,
            http,
        })
    }

    pub fn auth_manager(&self) -> &Arc<AuthManager> {
        &self.auth_manager
    }

    /// Starts a conversation and waits for its `session_configured` event.
    pub async fn new_conversation(&self, config: Config) -> Result<NewConversation> {
        let conversation_id = ConversationId::new();
        let config = Arc::new(config);
        let (tx_sub, rx_event) = session::spawn(
            Arc::clone(&config),
            Arc::clone(&self.auth_manager),
            self.http.clone(),
            conversation_id,
        );
        let conversation = Arc::new(CodexConversation::new(
            conversation_id,
            config,
            tx_sub,
            rx_event,
        ));
        let first = conversation.next_event().await?;
        let EventMsg::SessionConfigured(session_configured) = first.msg else {
            return Err(CodexErr::SessionStart(format!(
                "expected session_configured first, got {:?}",
                first.msg
            )));
        };
        self.write_conversations()
            .insert(conversation_id, Arc::clone(&conversation));
        Ok(NewConversation {
            conversation_id,
            conversation,
            session_configured,
        })
    }

    pub fn get_conversation(&self, id: ConversationId) -> Result<Arc<CodexConversation>> {
        self.conversations
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
            .ok_or(CodexErr::ConversationNotFound(id))
    }

    /// Forgets a conversation; it ends once the last handle to it is dropped.
    pub fn remove_conversation(&self, id: ConversationId) -> Option<Arc<CodexConversation>> {
        self.write_conversations().remove(&id)
    }

    fn write_conversations(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<ConversationId, Arc<CodexConversation>>> {
        self.conversations
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
