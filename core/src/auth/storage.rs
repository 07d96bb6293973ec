//! `$CODEX_HOME/auth.json` on disk: read whole, written whole (mode 0600, temp file + rename,
//! so a crash or a concurrent reader never sees half a file), deleted on logout.

use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;

use chrono::DateTime;
use chrono::Utc;
use serde::Deserialize;
use serde::Serialize;

use super::AuthError;
use super::Secret;
use super::id_token::IdToken;

pub const AUTH_JSON_FILE: &str = "auth.json";

/// auth.json as the server we replace wrote it; unknown fields are ignored on read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthDotJson {
    /// Written as `null` when absent, as the original did.
    #[serde(rename = "OPENAI_API_KEY", default)]
    pub openai_api_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<DateTime<Utc>>,
}

/// The ChatGPT tokens. The id token stays the raw JWT on disk; its claims are decoded on read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenData {
    pub id_token: IdToken,
    pub access_token: Secret,
    pub refresh_token: Secret,
    #[serde(default)]
    pub account_id: Option<String>,
}

impl TokenData {
    /// The account requests are billed to: the stored one, else the id token's.
    pub fn account_id(&self) -> Option<&str> {
        self.account_id
            .as_deref()
            .or(self.id_token.claims.chatgpt_account_id.as_deref())
    }
}

pub(crate) fn auth_json_path(codex_home: &Path) -> PathBuf {
    codex_home.join(AUTH_JSON_FILE)
}

/// `Ok(None)` when there is no auth.json; a file that does not parse is an error, so that a
/// damaged file is reported rather than silently treated as "logged out".
pub(crate) fn read_auth_json(codex_home: &Path) -> Result<Option<AuthDotJson>, AuthError> {
    let path = auth_json_path(codex_home);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AuthError::Storage { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|err| AuthError::Malformed {
            path,
            message: err.to_string(),
        })
}

/// Replaces auth.json with `auth`: a temp file in the same directory (created 0600), synced,
/// then renamed over the old one.
pub(crate) fn write_auth_json(codex_home: &Path, auth: &AuthDotJson) -> Result<(), AuthError> {
    let path = auth_json_path(codex_home);
    let storage = |source| AuthError::Storage {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(codex_home).map_err(storage)?;
    let json = serde_json::to_vec_pretty(auth).map_err(|err| storage(err.into()))?;
    // tempfile creates its files with mode 0600 on Unix: the secret is never readable by
    // others, not even for the moment before the rename.
    let mut file = tempfile::Builder::new()
        .prefix(".auth.json.")
        .tempfile_in(codex_home)
        .map_err(storage)?;
    file.write_all(&json).map_err(storage)?;
    file.as_file().sync_all().map_err(storage)?;
    file.persist(&path).map_err(|err| storage(err.error))?;
    Ok(())
}

/// Deletes auth.json; `Ok(false)` if there was none.
pub(crate) fn delete_auth_json(codex_home: &Path) -> Result<bool, AuthError> {
    let path = auth_json_path(codex_home);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(AuthError::Storage { path, source }),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt as _;

    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;
    use crate::auth::id_token::tests::fake_jwt;

    #[test]
    fn writes_are_private_whole_and_round_trip() {
        let home = TempDir::new().unwrap();
        let auth = AuthDotJson {
            openai_api_key: None,
            tokens: Some(TokenData {
                id_token: IdToken::parse(&fake_jwt("a@example.com", "pro", "acct-1")),
                access_token: Secret::new("access-1"),
                refresh_token: Secret::new("refresh-1"),
                account_id: Some("acct-1".into()),
            }),
            last_refresh: Some("2026-11-01T10:00:00Z".parse().unwrap()),
        };
        write_auth_json(home.path(), &auth).unwrap();
        let path = auth_json_path(home.path());
        // Windows has no mode bits: the file is as private as the user's profile directory.
        #[cfg(unix)]
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read_auth_json(home.path()).unwrap(), Some(auth));
        let on_disk: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(on_disk["OPENAI_API_KEY"], serde_json::Value::Null);
        assert_eq!(on_disk["tokens"]["access_token"], "access-1");
        assert_eq!(on_disk["last_refresh"], "2026-11-01T10:00:00Z");
        // Nothing but auth.json is left behind.
        let names: Vec<_> = std::fs::read_dir(home.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(AUTH_JSON_FILE)]);
        assert!(delete_auth_json(home.path()).unwrap());
        assert!(!delete_auth_json(home.path()).unwrap());
        assert_eq!(read_auth_json(home.path()).unwrap(), None);
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_logout() {
        let home = TempDir::new().unwrap();
        std::fs::write(auth_json_path(home.path()), "{not json").unwrap();
        assert!(matches!(
            read_auth_json(home.path()),
            Err(AuthError::Malformed { .. })
        ));
    }
}
