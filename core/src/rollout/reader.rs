//! The read side of a rollout: loads a file back into items for resuming and forking, tolerating
//! the torn last line a crash leaves behind and lines written by newer or other tools.

use std::path::Path;
use std::path::PathBuf;

use super::RolloutError;
use super::RolloutItem;
use super::RolloutLine;
use super::SessionMeta;
use super::TurnContextItem;
use crate::protocol::ConversationId;
use crate::protocol::EventMsg;

/// A rollout file, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRollout {
    pub path: PathBuf,
    pub meta: SessionMeta,
    /// Every item after the first `session_meta`, in file order.
    pub items: Vec<RolloutItem>,
    /// How many bytes of the file were read: the length it had when these items were its
    /// whole content.
    pub len: u64,
}

impl LoadedRollout {
    pub fn conversation_id(&self) -> ConversationId {
        self.meta.id
    }

    pub fn last_turn_context(&self) -> Option<&TurnContextItem> {
        self.items.iter().rev().find_map(|item| match item {
            RolloutItem::TurnContext(context) => Some(context),
            _ => None,
        })
    }

    /// The events a client replays to show the conversation so far.
    pub fn persisted_events(&self) -> Vec<EventMsg> {
        self.items
            .iter()
            .filter_map(|item| match item {
                RolloutItem::EventMsg(event) => Some(event.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Reads and parses a whole rollout. Unparseable lines are skipped: after a crash the last line
/// may be torn, and files written by other versions may hold record types we do not know.
/// Reading and parsing both run on the blocking pool: a long rollout takes milliseconds of
/// CPU to parse, which would otherwise stall every conversation on that runtime worker.
pub async fn load_rollout(path: &Path) -> Result<LoadedRollout, RolloutError> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&owned).map_err(|source| RolloutError::Io {
            path: owned.clone(),
            source,
        })?;
        parse_rollout(&owned, &bytes)
    })
    .await
    .unwrap_or_else(|join| {
        Err(RolloutError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(join),
        })
    })
}

fn parse_rollout(path: &Path, bytes: &[u8]) -> Result<LoadedRollout, RolloutError> {
    let mut meta = None;
    let mut items = Vec::new();
    let mut skipped = 0usize;
    let mut first_error = None;
    let mut saw_line = false;
    for line in bytes.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        saw_line = true;
        match serde_json::from_slice::<RolloutLine>(line).map(|line| line.item) {
            Ok(RolloutItem::SessionMeta(found)) => {
                // Later session_meta lines (e.g. from a fork's source) do not restart the file.
                if meta.is_none() {
                    meta = Some(found);
                }
            }
            Ok(item) => {
                if meta.is_some() {
                    items.push(item);
                }
            }
            Err(err) => {
                skipped += 1;
                first_error.get_or_insert(err);
            }
        }
    }
    if let Some(err) = first_error {
        // One warning per file: a file from a newer version could otherwise log thousands.
        tracing::warn!(
            path = %path.display(),
            skipped,
            "skipping rollout lines that do not parse; first error: {err}"
        );
    }
    if !saw_line {
        return Err(RolloutError::Empty {
            path: path.to_path_buf(),
        });
    }
    let Some(meta) = meta else {
        return Err(RolloutError::MissingSessionMeta {
            path: path.to_path_buf(),
        });
    };
    Ok(LoadedRollout {
        path: path.to_path_buf(),
        meta,
        items,
        len: bytes.len() as u64,
    })
}

/// For forking: drops the last `n` user turns, i.e. cuts just before the `n`-th real user
/// message from the end. When there are fewer than `n`, cuts before the first one, so what the
/// conversation started with (instructions, context) survives.
pub fn truncate_before_last_user_messages(
    mut items: Vec<RolloutItem>,
    n: usize,
) -> Vec<RolloutItem> {
    if n == 0 {
        return items;
    }
    let user_positions: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| {
            matches!(item, RolloutItem::ResponseItem(response)
                if response.user_message_text().is_some())
        })
        .map(|(index, _)| index)
        .collect();
    let cut = if n >= user_positions.len() {
        user_positions.first().copied()
    } else {
        Some(user_positions[user_positions.len() - n])
    };
    if let Some(cut) = cut {
        items.truncate(cut);
    }
    items
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use crate::protocol::ResponseItem;

    use super::*;
    use crate::protocol::AgentMessageEvent;
    use crate::protocol::AskForApproval;
    use crate::protocol::ContentItem;
    use crate::protocol::SandboxPolicy;
    use crate::protocol::UserMessageEvent;
    use crate::rollout::CompactedItem;
    use crate::rollout::SessionSource;
    use crate::rollout::recorder::utc_timestamp;

    fn meta() -> SessionMeta {
        SessionMeta {
            id: ConversationId::new(),
            timestamp: utc_timestamp(),
            cwd: PathBuf::from("/work"),
            originator: "codex_mcp_server".to_string(),
            cli_version: "0.0.0".to_string(),
            instructions: Some("be nice".to_string()),
            base_instructions: None,
            source: SessionSource::Mcp,
            model_provider: Some("openai".to_string()),
            git: None,
        }
    }

    fn line(item: &RolloutItem) -> String {
        serde_json::to_string(&RolloutLine {
            timestamp: utc_timestamp(),
            item: item.clone(),
        })
        .unwrap()
    }

    fn write_file(dir: &TempDir, lines: &[String]) -> PathBuf {
        let path = dir.path().join("rollout.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        for line in lines {
            writeln!(file, "{line}").unwrap();
        }
        path
    }

    fn user(text: &str) -> RolloutItem {
        RolloutItem::ResponseItem(ResponseItem::text_message("user", text))
    }

    fn assistant(text: &str) -> RolloutItem {
        RolloutItem::ResponseItem(ResponseItem::text_message("assistant", text))
    }

    fn user_event(text: &str) -> RolloutItem {
        RolloutItem::EventMsg(EventMsg::UserMessage(UserMessageEvent {
            message: text.to_string(),
        }))
    }

    fn turn_context(model: &str) -> RolloutItem {
        RolloutItem::TurnContext(TurnContextItem {
            cwd: PathBuf::from("/work"),
            approval_policy: AskForApproval::Never,
            sandbox_policy: SandboxPolicy::DangerFullAccess,
            model: model.to_string(),
            effort: None,
            summary: Default::default(),
        })
    }

    #[tokio::test]
    async fn loads_items_after_meta_and_skips_torn_lines() {
        let dir = TempDir::new().unwrap();
        let meta = meta();
        let items = vec![
            user_event("hi"),
            user("hi"),
            turn_context("gpt-a"),
            assistant("hello"),
            RolloutItem::EventMsg(EventMsg::AgentMessage(AgentMessageEvent {
                message: "hello".to_string(),
            })),
            RolloutItem::Compacted(CompactedItem {
                message: "summary".to_string(),
                replacement_history: None,
            }),
            turn_context("gpt-b"),
        ];
        let mut lines = vec![line(&RolloutItem::SessionMeta(meta.clone()))];
        lines.extend(items[..3].iter().map(line));
        lines.push(String::new());
        lines.push(r#"{"timestamp":"x","type":"from_the_future","payload":{}}"#.to_string());
        lines.push(line(&RolloutItem::SessionMeta(SessionMeta {
            id: ConversationId::new(),
            ..meta.clone()
        })));
        lines.extend(items[3..].iter().map(line));
        lines.push(r#"{"timestamp":"2025-01-01T00:00:00.000Z","type":"respo"#.to_string());
        let path = write_file(&dir, &lines);

        let loaded = load_rollout(&path).await.unwrap();
        assert_eq!(
            loaded,
            LoadedRollout {
                path: path.clone(),
                meta: meta.clone(),
                items: items.clone(),
                len: std::fs::metadata(&path).unwrap().len(),
            }
        );
        assert_eq!(loaded.conversation_id(), meta.id);
        assert_eq!(
            loaded.last_turn_context().map(|c| c.model.as_str()),
            Some("gpt-b")
        );
        assert_eq!(
            loaded.persisted_events(),
            vec![
                EventMsg::UserMessage(UserMessageEvent {
                    message: "hi".to_string()
                }),
                EventMsg::AgentMessage(AgentMessageEvent {
                    message: "hello".to_string()
                }),
            ]
        );
    }

    #[tokio::test]
    async fn empty_missing_and_metaless_files_are_errors() {
        let dir = TempDir::new().unwrap();
        let empty = write_file(&dir, &["  ".to_string()]);
        assert!(matches!(
            load_rollout(&empty).await,
            Err(RolloutError::Empty { path }) if path == empty
        ));

        let metaless = write_file(&dir, &[line(&user("hi"))]);
        assert!(matches!(
            load_rollout(&metaless).await,
            Err(RolloutError::MissingSessionMeta { path }) if path == metaless
        ));

        let missing = dir.path().join("nope.jsonl");
        assert!(matches!(
            load_rollout(&missing).await,
            Err(RolloutError::Io { path, .. }) if path == missing
        ));
    }

    #[tokio::test]
    async fn loads_ten_thousand_items() {
        let dir = TempDir::new().unwrap();
        let mut lines = vec![line(&RolloutItem::SessionMeta(meta()))];
        for i in 0..10_000 {
            lines.push(line(&if i % 2 == 0 {
                user(&format!("message number {i} with some text in it"))
            } else {
                user_event(&format!("event number {i}"))
            }));
        }
        let path = write_file(&dir, &lines);
        // Speed is measured by the benchmark; this checks that nothing is lost at scale.
        let loaded = load_rollout(&path).await.unwrap();
        assert_eq!(loaded.items.len(), 10_000);
        assert_eq!(loaded.items[9_999], user_event("event number 9999"));
    }

    fn texts(items: &[RolloutItem]) -> Vec<String> {
        items
            .iter()
            .map(|item| match item {
                RolloutItem::ResponseItem(response) => response.message_text().unwrap_or_default(),
                RolloutItem::EventMsg(EventMsg::UserMessage(event)) => {
                    format!("event:{}", event.message)
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn conversation() -> Vec<RolloutItem> {
        vec![
            user("<user_instructions>rules</user_instructions>"),
            user("  <environment_context>cwd</environment_context>"),
            user_event("one"),
            user("one"),
            assistant("a1"),
            user_event("two"),
            user("two"),
            assistant("a2"),
            user_event("three"),
            user("three"),
            assistant("a3"),
        ]
    }

    #[test]
    fn truncation_cuts_before_the_nth_last_real_user_message() {
        assert_eq!(
            truncate_before_last_user_messages(conversation(), 0),
            conversation()
        );
        assert_eq!(
            texts(&truncate_before_last_user_messages(conversation(), 1)),
            vec![
                "<user_instructions>rules</user_instructions>",
                "  <environment_context>cwd</environment_context>",
                "event:one",
                "one",
                "a1",
                "event:two",
                "two",
                "a2",
                "event:three",
            ]
        );
        assert_eq!(
            texts(&truncate_before_last_user_messages(conversation(), 2)),
            vec![
                "<user_instructions>rules</user_instructions>",
                "  <environment_context>cwd</environment_context>",
                "event:one",
                "one",
                "a1",
                "event:two",
            ]
        );
        let expected_first = vec![
            "<user_instructions>rules</user_instructions>",
            "  <environment_context>cwd</environment_context>",
            "event:one",
        ];
        assert_eq!(
            texts(&truncate_before_last_user_messages(conversation(), 3)),
            expected_first
        );
        assert_eq!(
            texts(&truncate_before_last_user_messages(conversation(), 99)),
            expected_first
        );
    }

    #[test]
    fn truncation_without_user_messages_keeps_everything() {
        let items = vec![
            user("<user_instructions>x</user_instructions>"),
            assistant("a"),
        ];
        assert_eq!(truncate_before_last_user_messages(items.clone(), 1), items);
    }

    #[test]
    fn real_user_text_joins_input_text_and_ignores_images() {
        let item = ResponseItem::Message {
            role: "user".to_string(),
            content: vec![
                ContentItem::InputText {
                    text: "look ".to_string(),
                },
                ContentItem::InputImage {
                    image_url: "data:".to_string(),
                },
                ContentItem::InputText {
                    text: "here".to_string(),
                },
            ],
            phase: None,
        };
        assert_eq!(item.user_message_text(), Some("look here".to_string()));
        assert_eq!(
            ResponseItem::text_message("assistant", "no").user_message_text(),
            None
        );
        assert_eq!(
            ResponseItem::text_message("user", "\n<environment_context>x</environment_context>")
                .user_message_text(),
            None
        );
    }
}
