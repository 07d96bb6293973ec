//! Bearer tokens for `codex mcp --listen`: who may call, under which principal. Tokens are
//! kept only as SHA-256 digests and compared in constant time, so neither memory nor timing
//! gives one away, and none is ever logged (only principals' names are).

use std::path::Path;

use sha2::Digest as _;
use sha2::Sha256;

/// The environment variable holding the one token of the principal `default`.
pub(crate) const AUTH_TOKEN_ENV: &str = "CODEX_MCP_AUTH_TOKEN";
/// The principal of `CODEX_MCP_AUTH_TOKEN`.
pub(crate) const DEFAULT_PRINCIPAL: &str = "default";
/// Shorter tokens are refused at start: they could be guessed.
const MIN_TOKEN_LEN: usize = 16;
/// The marker after a tokens file's `principal:token` that makes the principal an admin.
const ADMIN_MARKER: &str = "admin";

/// Who sent a request, as its token says. Rides in the request's extensions to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub(crate) name: String,
    /// May use the account and login methods, which act for the whole server.
    pub(crate) admin: bool,
}

impl Principal {
    /// The one principal of a server without tokens (loopback only): its own user.
    pub(crate) fn local() -> Self {
        Self {
            name: DEFAULT_PRINCIPAL.to_string(),
            admin: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TokensError {
    #[error("reading the tokens file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}: expected `principal:token` or `principal:token admin` (the token is not shown)"
    )]
    Malformed { path: String, line: usize },
    #[error(
        "{origin}: the token of principal `{principal}` is shorter than {MIN_TOKEN_LEN} characters"
    )]
    TooShort { origin: String, principal: String },
    #[error("{path}: principal `{principal}` appears twice")]
    Duplicate { path: String, principal: String },
    #[error("{path}: no tokens in the file")]
    Empty { path: String },
}

struct Entry {
    digest: [u8; 32],
    principal: Principal,
}

/// The accepted tokens, as digests.
pub(crate) struct Tokens {
    entries: Vec<Entry>,
}

impl Tokens {
    /// The tokens of `--auth-tokens FILE`, else of `CODEX_MCP_AUTH_TOKEN`, else none.
    pub(crate) fn load(file: Option<&Path>) -> Result<Option<Self>, TokensError> {
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| TokensError::Read {
                path: path.display().to_string(),
                source,
            })?;
            return Self::parse(&path.display().to_string(), &text).map(Some);
        }
        match std::env::var(AUTH_TOKEN_ENV) {
            Ok(token) if !token.trim().is_empty() => {
                let token = token.trim();
                check_length(AUTH_TOKEN_ENV, DEFAULT_PRINCIPAL, token)?;
                Ok(Some(Self {
                    entries: vec![Entry {
                        digest: digest(token),
                        // The one operator's token: the server is theirs, login included.
                        principal: Principal::local(),
                    }],
                }))
            }
            _ => Ok(None),
        }
    }

    /// Lines `principal:token`, optionally followed by ` admin`; `#` comments and blank lines
    /// are skipped.
    pub(crate) fn parse(path: &str, text: &str) -> Result<Self, TokensError> {
        let mut entries: Vec<Entry> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = || TokensError::Malformed {
                path: path.to_string(),
                line: index + 1,
            };
            let mut words = line.split_whitespace();
            let pair = words.next().ok_or_else(malformed)?;
            let admin = match (words.next(), words.next()) {
                (None, _) => false,
                (Some(ADMIN_MARKER), None) => true,
                _ => return Err(malformed()),
            };
            let (name, token) = pair.split_once(':').ok_or_else(malformed)?;
            if name.is_empty() || token.is_empty() {
                return Err(malformed());
            }
            check_length(path, name, token)?;
            if entries.iter().any(|entry| entry.principal.name == name) {
                return Err(TokensError::Duplicate {
                    path: path.to_string(),
                    principal: name.to_string(),
                });
            }
            entries.push(Entry {
                digest: digest(token),
                principal: Principal {
                    name: name.to_string(),
                    admin,
                },
            });
        }
        if entries.is_empty() {
            return Err(TokensError::Empty {
                path: path.to_string(),
            });
        }
        Ok(Self { entries })
    }

    /// The principal whose token `presented` is. Every entry is compared, whichever matches,
    /// and each comparison takes the same time whatever the bytes.
    pub(crate) fn verify(&self, presented: &str) -> Option<Principal> {
        let presented = digest(presented);
        let mut found = None;
        for entry in &self.entries {
            if constant_time_eq(&entry.digest, &presented) {
                found = Some(&entry.principal);
            }
        }
        found.cloned()
    }

    pub(crate) fn principals(&self) -> impl Iterator<Item = &Principal> {
        self.entries.iter().map(|entry| &entry.principal)
    }
}

fn check_length(origin: &str, principal: &str, token: &str) -> Result<(), TokensError> {
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(TokensError::TooShort {
            origin: origin.to_string(),
            principal: principal.to_string(),
        });
    }
    Ok(())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tokens_file_names_principals_and_admins() {
        let tokens = Tokens::parse(
            "t",
            "# team\nalice:aaaaaaaaaaaaaaaa1 admin\n\nbob:bbbbbbbbbbbbbbbb2\n",
        )
        .unwrap();
        assert_eq!(
            tokens.verify("aaaaaaaaaaaaaaaa1"),
            Some(Principal {
                name: "alice".into(),
                admin: true
            })
        );
        assert_eq!(
            tokens.verify("bbbbbbbbbbbbbbbb2"),
            Some(Principal {
                name: "bob".into(),
                admin: false
            })
        );
        assert_eq!(tokens.verify("bbbbbbbbbbbbbbbb"), None);
        assert_eq!(tokens.verify(""), None);
    }

    #[test]
    fn bad_files_are_refused_without_showing_the_token() {
        for (text, expected) in [
            ("alice\n", "t:1: expected"),
            ("alice:short\n", "shorter than 16"),
            (
                "a:aaaaaaaaaaaaaaaa1\na:aaaaaaaaaaaaaaaa2\n",
                "appears twice",
            ),
            ("a:aaaaaaaaaaaaaaaa1 root\n", "t:1: expected"),
            ("# nothing\n", "no tokens"),
        ] {
            let err = Tokens::parse("t", text).err().unwrap().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(!err.contains("aaaaaaaa"), "{err}");
        }
    }
}
