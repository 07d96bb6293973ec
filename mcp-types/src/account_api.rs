//! The account API: JSON-RPC methods beside the tools for signing in and out (API key or
//! ChatGPT browser login) and asking who is signed in, with the notifications that report
//! changes. Same routing and error codes as the conversation API.
//!
//! Method names and field spellings are those of the reference server's 2025 extension API
//! (`getAuthStatus`, `loginChatGpt`, `authStatusChange`, ...).

use codex_protocol::AuthMode;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use crate::params::ConversationParamsError;
use crate::params::decode;

pub const GET_AUTH_STATUS: &str = "getAuthStatus";
pub const LOGIN_API_KEY: &str = "loginApiKey";
pub const LOGIN_CHATGPT: &str = "loginChatGpt";
pub const CANCEL_LOGIN_CHATGPT: &str = "cancelLoginChatGpt";
pub const LOGOUT_CHATGPT: &str = "logoutChatGpt";
pub const GET_USER_AGENT: &str = "getUserAgent";
pub const USER_INFO: &str = "userInfo";

/// Notification: the credentials in effect changed (login, logout).
pub const AUTH_STATUS_CHANGE: &str = "authStatusChange";
/// Notification: a `loginChatGpt` ended (signed in, failed, cancelled or timed out).
pub const LOGIN_CHATGPT_COMPLETE: &str = "loginChatGptComplete";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetAuthStatusParams {
    /// Also return the bearer token (API key or ChatGPT access token).
    #[serde(default)]
    pub include_token: Option<bool>,
    /// Refresh the ChatGPT tokens first.
    #[serde(default)]
    pub refresh_token: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetAuthStatusResponse {
    /// Absent when nobody is signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<AuthMode>,
    /// Only when `includeToken` was true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// Whether the configured model provider takes OpenAI credentials at all.
    pub requires_openai_auth: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginApiKeyParams {
    pub api_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LoginApiKeyResponse {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LoginChatGptParams {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginChatGptResponse {
    pub login_id: String,
    /// The page the user opens in a browser to sign in.
    pub auth_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelLoginChatGptParams {
    pub login_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CancelLoginChatGptResponse {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogoutChatGptResponse {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetUserAgentResponse {
    pub user_agent: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserInfoResponse {
    /// The email in the ChatGPT id token, unverified ("alleged").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alleged_user_email: Option<String>,
}

/// Params of `authStatusChange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthStatusChangeNotification {
    /// Absent after a logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<AuthMode>,
}

/// Params of `loginChatGptComplete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginChatGptCompleteNotification {
    pub login_id: String,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A request of the account API, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountRequest {
    GetAuthStatus(GetAuthStatusParams),
    LoginApiKey(LoginApiKeyParams),
    LoginChatGpt(LoginChatGptParams),
    CancelLoginChatGpt(CancelLoginChatGptParams),
    LogoutChatGpt,
    GetUserAgent,
    UserInfo,
}

impl AccountRequest {
    /// Whether `method` belongs to this API (so its params go here, uncopied).
    pub fn is_account_method(method: &str) -> bool {
        [
            GET_AUTH_STATUS,
            LOGIN_API_KEY,
            LOGIN_CHATGPT,
            CANCEL_LOGIN_CHATGPT,
            LOGOUT_CHATGPT,
            GET_USER_AGENT,
            USER_INFO,
        ]
        .contains(&method)
    }

    /// The JSON-RPC method this request came as.
    pub fn method(&self) -> &'static str {
        match self {
            Self::GetAuthStatus(_) => GET_AUTH_STATUS,
            Self::LoginApiKey(_) => LOGIN_API_KEY,
            Self::LoginChatGpt(_) => LOGIN_CHATGPT,
            Self::CancelLoginChatGpt(_) => CANCEL_LOGIN_CHATGPT,
            Self::LogoutChatGpt => LOGOUT_CHATGPT,
            Self::GetUserAgent => GET_USER_AGENT,
            Self::UserInfo => USER_INFO,
        }
    }

    /// Decodes a request of this API; `Ok(None)` when the method is not one of ours.
    /// Absent params count as `{}`.
    pub fn parse(
        method: &str,
        params: Option<Value>,
    ) -> Result<Option<AccountRequest>, ConversationParamsError> {
        let params = match params {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(params) => params,
        };
        Ok(Some(match method {
            GET_AUTH_STATUS => Self::GetAuthStatus(decode(GET_AUTH_STATUS, params)?),
            LOGIN_API_KEY => Self::LoginApiKey(decode(LOGIN_API_KEY, params)?),
            LOGIN_CHATGPT => Self::LoginChatGpt(decode(LOGIN_CHATGPT, params)?),
            CANCEL_LOGIN_CHATGPT => Self::CancelLoginChatGpt(decode(CANCEL_LOGIN_CHATGPT, params)?),
            LOGOUT_CHATGPT => Self::LogoutChatGpt,
            GET_USER_AGENT => Self::GetUserAgent,
            USER_INFO => Self::UserInfo,
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn requests_decode_and_name_bad_fields() {
        assert_eq!(
            AccountRequest::parse(GET_AUTH_STATUS, None).unwrap(),
            Some(AccountRequest::GetAuthStatus(GetAuthStatusParams::default()))
        );
        assert_eq!(
            AccountRequest::parse(
                GET_AUTH_STATUS,
                Some(json!({"includeToken": true, "refreshToken": false}))
            )
            .unwrap(),
            Some(AccountRequest::GetAuthStatus(GetAuthStatusParams {
                include_token: Some(true),
                refresh_token: Some(false),
            }))
        );
        let err = AccountRequest::parse(LOGIN_API_KEY, Some(json!({}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid params for loginApiKey: missing field `apiKey`"
        );
        assert_eq!(AccountRequest::parse("tools/list", None).unwrap(), None);
        assert!(AccountRequest::is_account_method(USER_INFO));
        assert_eq!(
            crate::ConversationRequest::parse(USER_INFO, None).unwrap(),
            Some(crate::ConversationRequest::Account(
                AccountRequest::UserInfo
            ))
        );
        assert!(!AccountRequest::is_account_method("newConversation"));
    }

    #[test]
    fn responses_and_notifications_have_the_reference_spelling() {
        assert_eq!(
            serde_json::to_value(GetAuthStatusResponse {
                auth_method: Some(AuthMode::ApiKey),
                auth_token: None,
                requires_openai_auth: true,
            })
            .unwrap(),
            json!({"authMethod": "apikey", "requiresOpenaiAuth": true})
        );
        assert_eq!(
            serde_json::to_value(AuthStatusChangeNotification { auth_method: None }).unwrap(),
            json!({})
        );
        assert_eq!(
            serde_json::to_value(LoginChatGptCompleteNotification {
                login_id: "l1".into(),
                success: false,
                error: Some("login cancelled".into()),
            })
            .unwrap(),
            json!({"loginId": "l1", "success": false, "error": "login cancelled"})
        );
        assert_eq!(
            serde_json::to_value(UserInfoResponse {
                alleged_user_email: Some("a@b.c".into())
            })
            .unwrap(),
            json!({"allegedUserEmail": "a@b.c"})
        );
    }
}
