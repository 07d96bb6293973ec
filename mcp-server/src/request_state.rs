//! The `requestState` of an `input_required` result: which turn and which round it belongs
//! to, sealed so that a client can echo it but not forge or change it.
//!
//! The state is HMAC-sealed with a key this process draws at start (so a restart invalidates
//! every state, as it ends every turn), or, with the PostgreSQL thread store, with a key the
//! replicas share (drawn by the first and kept in the store, so any replica opens any state), bound to the tool call (its name and arguments, so it
//! cannot be replayed against another call) and given a TTL. Single use is the registry's job:
//! a state names its round, and only the latest round issued can be redeemed, once.

use std::time::Duration;

use rmcp::model::JsonObject;
use rmcp::model::RequestStateCodec;
use rmcp::model::RequestStateError;
use rmcp::model::SealOptions;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;
use sha2::Digest as _;
use sha2::Sha256;
use uuid::Uuid;

/// What a sealed state says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TurnState {
    /// The running turn.
    #[serde(rename = "t")]
    pub(crate) turn: Uuid,
    /// Which `input_required` answer of that turn issued it, from 1.
    #[serde(rename = "r")]
    pub(crate) round: u64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    #[error(
        "it has expired (a state is good for an hour); questions not answered in time were denied, and the thread can be continued with `codex-reply`"
    )]
    Expired,
    #[error(
        "it was not issued by this server for this tool call (forged, altered, sent with other arguments, or issued before a restart)"
    )]
    Invalid,
}

pub(crate) struct StateSealer {
    codec: RequestStateCodec,
    ttl: Duration,
}

impl StateSealer {
    /// A sealer with a fresh random key.
    pub(crate) fn new(ttl: Duration) -> Result<Self, RequestStateError> {
        let key: [u8; 32] = rand::random();
        Self::with_key(key.to_vec(), ttl)
    }

    /// A sealer with a key every replica shares (drawn once and kept in the thread store),
    /// so a state issued by one replica opens on any other.
    pub(crate) fn with_key(key: Vec<u8>, ttl: Duration) -> Result<Self, RequestStateError> {
        Ok(Self {
            codec: RequestStateCodec::try_new(key)?,
            ttl,
        })
    }

    pub(crate) fn seal(&self, state: TurnState, call: &CallBinding) -> String {
        let payload = serde_json::to_vec(&state).unwrap_or_default();
        self.codec.seal_with(
            &payload,
            &SealOptions::new().associated_data(&call.0).ttl(self.ttl),
        )
    }

    pub(crate) fn open(&self, sealed: &str, call: &CallBinding) -> Result<TurnState, StateError> {
        match self.codec.open_json_with::<TurnState>(sealed, &call.0) {
            Ok(state) => Ok(state),
            Err(RequestStateError::Expired) => Err(StateError::Expired),
            Err(err) => {
                tracing::debug!("requestState rejected: {err}");
                Err(StateError::Invalid)
            }
        }
    }
}

/// A digest of a tool call (its name and arguments, whatever the key order), which a state
/// is bound to.
pub(crate) struct CallBinding([u8; 32]);

impl CallBinding {
    pub(crate) fn of(tool: &str, arguments: Option<&JsonObject>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(tool.as_bytes());
        hasher.update([0]);
        if let Some(arguments) = arguments {
            hash_canonical(&mut hasher, &Value::Object(arguments.clone()));
        }
        Self(hasher.finalize().into())
    }
}

/// Feeds `value` to `hasher` with object keys in sorted order, so that a client that echoes
/// the arguments with its keys reordered still makes the same call.
fn hash_canonical(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hash_canonical(hasher, &Value::String(key.clone()));
                hasher.update(b":");
                hash_canonical(hasher, &fields[key]);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                hash_canonical(hasher, item);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn arguments(value: Value) -> JsonObject {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn a_state_opens_only_for_its_own_call() {
        let sealer = StateSealer::new(Duration::from_secs(60)).unwrap();
        let call = CallBinding::of(
            "codex",
            Some(&arguments(json!({"prompt": "a", "cwd": "/x"}))),
        );
        let state = TurnState {
            turn: Uuid::new_v4(),
            round: 1,
        };
        let sealed = sealer.seal(state, &call);
        assert_eq!(sealer.open(&sealed, &call).unwrap(), state);

        let reordered = CallBinding::of(
            "codex",
            Some(&arguments(json!({"cwd": "/x", "prompt": "a"}))),
        );
        assert_eq!(sealer.open(&sealed, &reordered).unwrap(), state);

        let other_prompt = CallBinding::of("codex", Some(&arguments(json!({"prompt": "b"}))));
        assert!(matches!(
            sealer.open(&sealed, &other_prompt),
            Err(StateError::Invalid)
        ));
        let other_tool = CallBinding::of(
            "codex-reply",
            Some(&arguments(json!({"prompt": "a", "cwd": "/x"}))),
        );
        assert!(matches!(
            sealer.open(&sealed, &other_tool),
            Err(StateError::Invalid)
        ));

        let mut altered = sealed.clone();
        altered.insert(altered.len() / 2, 'A');
        assert!(matches!(
            sealer.open(&altered, &call),
            Err(StateError::Invalid)
        ));
        assert!(matches!(
            sealer.open("forged", &call),
            Err(StateError::Invalid)
        ));

        let restarted = StateSealer::new(Duration::from_secs(60)).unwrap();
        assert!(matches!(
            restarted.open(&sealed, &call),
            Err(StateError::Invalid)
        ));
    }

    #[test]
    fn an_expired_state_says_so() {
        let sealer = StateSealer::new(Duration::ZERO).unwrap();
        let call = CallBinding::of("codex", None);
        let sealed = sealer.seal(
            TurnState {
                turn: Uuid::new_v4(),
                round: 1,
            },
            &call,
        );
        // The TTL counts in milliseconds: let one pass.
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(
            sealer.open(&sealed, &call),
            Err(StateError::Expired)
        ));
    }
}
