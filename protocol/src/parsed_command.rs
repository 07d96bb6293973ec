//! A command as the host is shown it: what it reads, lists or searches, as far as its argv
//! tells. The engine's `parse_command` fills it; approval prompts and events carry it.

use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;

/// What one command does, as far as can be told from its argv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParsedCommand {
    Read {
        cmd: String,
        name: String,
        path: String,
    },
    ListFiles {
        cmd: String,
        path: Option<String>,
    },
    Search {
        cmd: String,
        query: Option<String>,
        path: Option<String>,
    },
    Unknown {
        cmd: String,
    },
}
