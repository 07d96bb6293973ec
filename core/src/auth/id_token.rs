//! The ChatGPT id token: kept as the raw JWT, with the claims we show (email, plan, account)
//! decoded locally. The signature is not checked: the claims are only ever displayed or
//! echoed back to the issuer's own API, never trusted for access decisions.

use base64::Engine as _;
use serde::Deserialize;
use serde::Deserializer;
use serde::Serialize;
use serde::Serializer;

use super::Secret;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub email: Option<String>,
    /// `free`, `plus`, `pro`, `team`, `business`, `enterprise`, `edu`, ... as the issuer says.
    pub chatgpt_plan_type: Option<String>,
    pub chatgpt_account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IdToken {
    pub raw: Secret,
    pub claims: IdTokenClaims,
}

impl IdToken {
    /// Decodes what it can; a token whose payload cannot be read keeps empty claims (the
    /// raw token still works for the issuer).
    pub fn parse(raw: &str) -> Self {
        let claims = decode_claims(raw).unwrap_or_else(|| {
            tracing::warn!("the ChatGPT id token's claims could not be decoded");
            IdTokenClaims::default()
        });
        Self {
            raw: Secret::new(raw),
            claims,
        }
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    email: Option<String>,
    /// The claim namespace OpenAI's issuer puts account details under.
    #[serde(default, rename = "https://api.openai.com/auth")]
    auth: Option<AuthClaims>,
}

#[derive(Deserialize)]
struct AuthClaims {
    #[serde(default)]
    chatgpt_plan_type: Option<String>,
    #[serde(default)]
    chatgpt_account_id: Option<String>,
}

fn decode_claims(jwt: &str) -> Option<IdTokenClaims> {
    let mut parts = jwt.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let payload: Payload = serde_json::from_slice(&bytes).ok()?;
    let auth = payload.auth;
    Some(IdTokenClaims {
        email: payload.email,
        chatgpt_plan_type: auth.as_ref().and_then(|a| a.chatgpt_plan_type.clone()),
        chatgpt_account_id: auth.and_then(|a| a.chatgpt_account_id),
    })
}

impl Serialize for IdToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.raw.expose())
    }
}

impl<'de> Deserialize<'de> for IdToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Ok(Self::parse(&raw))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    /// An unsigned JWT carrying the claims the issuer sets.
    pub(crate) fn fake_jwt(email: &str, plan: &str, account_id: &str) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = engine.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = engine.encode(
            json!({
                "email": email,
                "https://api.openai.com/auth": {"chatgpt_plan_type": plan, "chatgpt_account_id": account_id},
            })
            .to_string(),
        );
        format!("{header}.{payload}.sig")
    }

    #[test]
    fn claims_are_decoded_without_network() {
        let token = IdToken::parse(&fake_jwt("dev@example.com", "plus", "acct-9"));
        assert_eq!(
            token.claims,
            IdTokenClaims {
                email: Some("dev@example.com".into()),
                chatgpt_plan_type: Some("plus".into()),
                chatgpt_account_id: Some("acct-9".into()),
            }
        );
    }

    #[test]
    fn an_unreadable_token_keeps_its_raw_form() {
        let token = IdToken::parse("not-a-jwt");
        assert_eq!(token.claims, IdTokenClaims::default());
        assert_eq!(token.raw.expose(), "not-a-jwt");
        assert_eq!(
            serde_json::to_value(&token).unwrap(),
            serde_json::Value::String("not-a-jwt".into())
        );
    }
}
