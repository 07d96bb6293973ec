//! Finding rollouts on disk: newest-first pagination for listing conversations, and lookup of a
//! conversation's file by id. Both rely on the file layout (date directories, timestamped names)
//! so that they can stop early instead of reading every file.

use std::cmp::Reverse;
use std::fs::File;
use std::io;
use std::io::BufRead;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::path::Path;
use std::path::PathBuf;

use super::RolloutError;
use super::RolloutItem;
use super::RolloutLine;
use super::SESSIONS_SUBDIR;
use crate::protocol::ConversationId;
use crate::protocol::EventMsg;

/// How many lines of a file are read to find its metadata and preview.
const HEAD_LINE_LIMIT: usize = 10;
/// Bounds the work of one listing request however many old files lack a preview.
const MAX_SCAN_FILES: usize = 10_000;
/// Clients prepend IDE context to the prompt; the part after this marker is what the user typed.
const REQUEST_MARKER: &str = "## My request for Codex:";

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    pub conversation_id: ConversationId,
    pub path: PathBuf,
    pub preview: String,
    pub timestamp: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationsPage {
    pub items: Vec<ConversationSummary>,
    /// Pass back to get the next page; `None` when the page was not full.
    pub next_cursor: Option<String>,
    /// The scan stopped at its file budget; older conversations may exist.
    pub reached_scan_cap: bool,
}

/// Lists conversations, newest first, `page_size` at a time.
pub async fn list_conversations(
    codex_home: &Path,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<ConversationsPage, RolloutError> {
    list_conversations_where(codex_home, page_size, cursor, |_| true).await
}

/// Lists the conversations `keep` accepts, newest first, `page_size` at a time. The filter
/// runs inside the walk, so a page is full whenever enough accepted conversations exist and
/// the cursor points past the last one returned: filtering pages afterwards would return
/// short or empty pages with a cursor.
pub async fn list_conversations_where(
    codex_home: &Path,
    page_size: usize,
    cursor: Option<&str>,
    keep: impl Fn(ConversationId) -> bool + Send + 'static,
) -> Result<ConversationsPage, RolloutError> {
    let sessions = codex_home.join(SESSIONS_SUBDIR);
    let anchor = cursor.and_then(Anchor::parse);
    let page_size = page_size.max(1);
    tokio::task::spawn_blocking(move || list_blocking(&sessions, page_size, anchor.as_ref(), &keep))
        .await
        .unwrap_or_else(|join| {
            Err(RolloutError::Io {
                path: codex_home.join(SESSIONS_SUBDIR),
                source: io::Error::other(join),
            })
        })
}

/// The rollout of conversation `id`, if there is one under `sessions/`. An id made by this
/// server carries its creation time, so its file is looked for in that day's directory first
/// (and the days either side, as the directory is named in local time): one directory read
/// instead of a walk over every day. Other ids, and files not where their id says, are found
/// by the walk.
pub async fn find_conversation_path(
    codex_home: &Path,
    id: ConversationId,
) -> Result<Option<PathBuf>, RolloutError> {
    let sessions = codex_home.join(SESSIONS_SUBDIR);
    let suffix = format!("-{id}.jsonl");
    let likely_days = likely_days(&sessions, id);
    tokio::task::spawn_blocking(move || {
        for day in likely_days.iter().filter(|day| day.is_dir()) {
            let found = read_file_names(day)
                .into_iter()
                .find(|(name, _)| name.ends_with(&suffix));
            if let Some((_, path)) = found {
                return Ok(Some(path));
            }
        }
        let mut found = None;
        walk_days(&sessions, None, |day| {
            for (name, path) in read_file_names(day) {
                if name.ends_with(&suffix) {
                    found = Some(path);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        })?;
        Ok(found)
    })
    .await
    .unwrap_or_else(|join| {
        Err(RolloutError::Io {
            path: codex_home.join(SESSIONS_SUBDIR),
            source: io::Error::other(join),
        })
    })
}

/// The day directories a rollout of `id` is in if it was created when its id was: the local
/// date of the id's time, and the day before and after (the server may have run in another
/// time zone, or crossed midnight).
fn likely_days(sessions: &Path, id: ConversationId) -> Vec<PathBuf> {
    let Some(created) = id.created_at() else {
        return Vec::new();
    };
    let date = created.with_timezone(&chrono::Local).date_naive();
    [date.pred_opt(), Some(date), date.succ_opt()]
        .into_iter()
        .flatten()
        .map(|day| {
            sessions
                .join(day.format("%Y").to_string())
                .join(day.format("%m").to_string())
                .join(day.format("%d").to_string())
        })
        .collect()
}

/// Where the previous page ended: `<YYYY-MM-DDThh-mm-ss>|<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Anchor {
    timestamp: String,
    id: ConversationId,
}

impl Anchor {
    fn parse(cursor: &str) -> Option<Self> {
        let (timestamp, id) = cursor.split_once('|')?;
        if !is_file_timestamp(timestamp) {
            return None;
        }
        Some(Self {
            timestamp: timestamp.to_string(),
            id: id.parse().ok()?,
        })
    }

    fn token(timestamp: &str, id: ConversationId) -> String {
        format!("{timestamp}|{id}")
    }

    /// Whether a file sorts strictly after the anchor in newest-first order.
    fn is_before(&self, timestamp: &str, id: ConversationId) -> bool {
        (timestamp, id) < (self.timestamp.as_str(), self.id)
    }

    /// `(year, month, day)` of the anchor, to skip directories of newer days entirely.
    fn date(&self) -> Option<(u32, u32, u32)> {
        let year = self.timestamp.get(0..4)?.parse().ok()?;
        let month = self.timestamp.get(5..7)?.parse().ok()?;
        let day = self.timestamp.get(8..10)?.parse().ok()?;
        Some((year, month, day))
    }
}

fn list_blocking(
    sessions: &Path,
    page_size: usize,
    anchor: Option<&Anchor>,
    keep: &dyn Fn(ConversationId) -> bool,
) -> Result<ConversationsPage, RolloutError> {
    let mut items = Vec::new();
    let mut last_token = None;
    let mut scanned = 0usize;
    let mut reached_scan_cap = false;
    let newest_day = anchor.and_then(Anchor::date);
    walk_days(sessions, newest_day, |day| {
        let mut files: Vec<(String, ConversationId, PathBuf)> = read_file_names(day)
            .into_iter()
            .filter_map(|(name, path)| {
                let (timestamp, id) = parse_file_name(&name)?;
                Some((timestamp.to_string(), id, path))
            })
            .filter(|(timestamp, id, _)| anchor.is_none_or(|a| a.is_before(timestamp, *id)))
            .collect();
        files.sort_by(|a, b| (&b.0, b.1).cmp(&(&a.0, a.1)));
        for (timestamp, id, path) in files {
            if scanned >= MAX_SCAN_FILES {
                reached_scan_cap = true;
                return ControlFlow::Break(());
            }
            scanned += 1;
            // Counted as scanned even when refused: the filter reads too.
            if !keep(id) {
                continue;
            }
            let Some(summary) = summarize(&path) else {
                continue;
            };
            last_token = Some(Anchor::token(&timestamp, id));
            items.push(summary);
            if items.len() >= page_size {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    let next_cursor = if items.len() >= page_size {
        last_token
    } else {
        None
    };
    Ok(ConversationsPage {
        items,
        next_cursor,
        reached_scan_cap,
    })
}

/// Visits `sessions/YYYY/MM/DD` directories newest first, skipping days after `newest_day`.
/// A missing sessions directory is an empty walk; an unreadable date directory is skipped, as
/// one bad directory should not hide every other conversation.
fn walk_days(
    sessions: &Path,
    newest_day: Option<(u32, u32, u32)>,
    mut visit: impl FnMut(&Path) -> ControlFlow<()>,
) -> Result<(), RolloutError> {
    let years = match numeric_subdirs(sessions, 4) {
        Ok(years) => years,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(RolloutError::Io {
                path: sessions.to_path_buf(),
                source,
            });
        }
    };
    for (year, year_dir) in years {
        if newest_day.is_some_and(|(y, _, _)| year > y) {
            continue;
        }
        for (month, month_dir) in numeric_subdirs_or_warn(&year_dir) {
            if newest_day.is_some_and(|(y, m, _)| (year, month) > (y, m)) {
                continue;
            }
            for (day, day_dir) in numeric_subdirs_or_warn(&month_dir) {
                if newest_day.is_some_and(|newest| (year, month, day) > newest) {
                    continue;
                }
                if visit(&day_dir).is_break() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Subdirectories named by a `width`-digit number, largest first.
fn numeric_subdirs(dir: &Path, width: usize) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() != width || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if let Ok(number) = name.parse() {
            found.push((number, entry.path()));
        }
    }
    found.sort_by_key(|(number, _)| Reverse(*number));
    Ok(found)
}

fn numeric_subdirs_or_warn(dir: &Path) -> Vec<(u32, PathBuf)> {
    numeric_subdirs(dir, 2).unwrap_or_else(|err| {
        tracing::warn!(dir = %dir.display(), "skipping unreadable sessions directory: {err}");
        Vec::new()
    })
}

fn read_file_names(dir: &Path) -> Vec<(String, PathBuf)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            tracing::warn!(dir = %dir.display(), "skipping unreadable sessions directory: {err}");
            return Vec::new();
        }
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            Some((name, entry.path()))
        })
        .collect()
}

/// `rollout-<YYYY-MM-DDThh-mm-ss>-<uuid>.jsonl` → (timestamp, id).
fn parse_file_name(name: &str) -> Option<(&str, ConversationId)> {
    let core = name.strip_prefix("rollout-")?.strip_suffix(".jsonl")?;
    let timestamp = core.get(..19)?;
    if !is_file_timestamp(timestamp) {
        return None;
    }
    let id = core.get(19..)?.strip_prefix('-')?.parse().ok()?;
    Some((timestamp, id))
}

/// `YYYY-MM-DDThh-mm-ss`, digits checked so that string order is time order.
fn is_file_timestamp(text: &str) -> bool {
    const SHAPE: &[u8; 19] = b"dddd-dd-ddTdd-dd-dd";
    text.len() == SHAPE.len()
        && text.bytes().zip(SHAPE).all(|(b, &shape)| match shape {
            b'd' => b.is_ascii_digit(),
            other => b == other,
        })
}

/// The summary of one rollout from its first lines, or `None` if it has no metadata or nothing
/// the user said there (such files are not worth listing).
fn summarize(path: &Path) -> Option<ConversationSummary> {
    let file = File::open(path).ok()?;
    let mut reader = BufReader::new(file);
    let mut meta = None;
    let mut event_preview = None;
    let mut message_preview = None;
    let mut line = String::new();
    for _ in 0..HEAD_LINE_LIMIT {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(parsed) = serde_json::from_str::<RolloutLine>(&line) else {
            continue;
        };
        match parsed.item {
            RolloutItem::SessionMeta(found) => {
                meta.get_or_insert(found);
            }
            RolloutItem::EventMsg(EventMsg::UserMessage(event))
                if event_preview.is_none() && !event.message.trim().is_empty() =>
            {
                event_preview = Some(event.message);
            }
            RolloutItem::ResponseItem(item) if message_preview.is_none() => {
                message_preview = item.user_message_text().filter(|t| !t.trim().is_empty());
            }
            _ => {}
        }
    }
    let meta = meta?;
    let preview = preview_text(event_preview.or(message_preview)?);
    Some(ConversationSummary {
        conversation_id: meta.id,
        path: path.to_path_buf(),
        preview,
        timestamp: Some(meta.timestamp),
    })
}

fn preview_text(text: String) -> String {
    match text.split_once(REQUEST_MARKER) {
        Some((_, request)) => request.trim().to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;
    use crate::protocol::ResponseItem;
    use crate::protocol::UserMessageEvent;
    use crate::rollout::SessionMeta;
    use crate::rollout::SessionSource;

    fn id(n: u128) -> ConversationId {
        uuid::Uuid::from_u128(n).to_string().parse().unwrap()
    }

    fn meta(id: ConversationId) -> SessionMeta {
        SessionMeta {
            id,
            timestamp: format!("meta-{id}"),
            cwd: PathBuf::from("/work"),
            originator: "codex_mcp_server".to_string(),
            cli_version: "0.0.0".to_string(),
            instructions: None,
            base_instructions: None,
            source: SessionSource::Mcp,
            model_provider: None,
            git: None,
        }
    }

    fn write_rollout(
        home: &Path,
        stamp: &str,
        id: ConversationId,
        items: &[RolloutItem],
    ) -> PathBuf {
        let dir = home
            .join(SESSIONS_SUBDIR)
            .join(&stamp[0..4])
            .join(&stamp[5..7])
            .join(&stamp[8..10]);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("rollout-{stamp}-{id}.jsonl"));
        let mut file = File::create(&path).unwrap();
        for item in items {
            let line = RolloutLine {
                timestamp: "2025-01-01T00:00:00.000Z".to_string(),
                item: item.clone(),
            };
            writeln!(file, "{}", serde_json::to_string(&line).unwrap()).unwrap();
        }
        path
    }

    fn user_event(text: &str) -> RolloutItem {
        RolloutItem::EventMsg(EventMsg::UserMessage(UserMessageEvent {
            message: text.to_string(),
        }))
    }

    fn user(text: &str) -> RolloutItem {
        RolloutItem::ResponseItem(ResponseItem::text_message("user", text))
    }

    fn standard(home: &Path, stamp: &str, n: u128) -> PathBuf {
        let id = id(n);
        write_rollout(
            home,
            stamp,
            id,
            &[
                RolloutItem::SessionMeta(meta(id)),
                user_event(&format!("hi {n}")),
            ],
        )
    }

    fn previews(page: &ConversationsPage) -> Vec<&str> {
        page.items.iter().map(|s| s.preview.as_str()).collect()
    }

    #[tokio::test]
    async fn lists_newest_first_and_pages_with_cursor() {
        let home = TempDir::new().unwrap();
        let home = home.path();
        standard(home, "2024-12-31T23-59-59", 1);
        standard(home, "2025-01-02T10-00-00", 2);
        standard(home, "2025-01-02T10-00-00", 3);
        standard(home, "2025-01-02T09-00-00", 4);
        standard(home, "2025-11-05T08-00-00", 5);
        // Not rollouts: skipped without error.
        let day = home.join(SESSIONS_SUBDIR).join("2025/01/02");
        std::fs::write(day.join("notes.txt"), "x").unwrap();
        std::fs::write(day.join("rollout-garbage.jsonl"), "x").unwrap();
        std::fs::create_dir_all(home.join(SESSIONS_SUBDIR).join("misc")).unwrap();

        let first = list_conversations(home, 2, None).await.unwrap();
        assert_eq!(previews(&first), vec!["hi 5", "hi 3"]);
        assert_eq!(
            first.next_cursor,
            Some(format!("2025-01-02T10-00-00|{}", id(3)))
        );
        assert!(!first.reached_scan_cap);
        let newest = &first.items[0];
        assert_eq!(newest.conversation_id, id(5));
        assert_eq!(newest.timestamp, Some(format!("meta-{}", id(5))));
        assert!(newest.path.ends_with(format!(
            "2025/11/05/rollout-2025-11-05T08-00-00-{}.jsonl",
            id(5)
        )));

        let second = list_conversations(home, 2, first.next_cursor.as_deref())
            .await
            .unwrap();
        assert_eq!(previews(&second), vec!["hi 2", "hi 4"]);
        let third = list_conversations(home, 2, second.next_cursor.as_deref())
            .await
            .unwrap();
        assert_eq!(previews(&third), vec!["hi 1"]);
        assert_eq!(third.next_cursor, None);
    }

    #[tokio::test]
    async fn a_filtered_listing_fills_its_pages_and_pages_past_what_it_skips() {
        let home = TempDir::new().unwrap();
        let home = home.path();
        for (n, stamp) in (1..=6).zip([
            "2025-01-01T10-00-00",
            "2025-01-02T10-00-00",
            "2025-01-03T10-00-00",
            "2025-01-04T10-00-00",
            "2025-01-05T10-00-00",
            "2025-01-06T10-00-00",
        ]) {
            standard(home, stamp, n);
        }
        let odd = |candidate: ConversationId| [id(1), id(3), id(5)].contains(&candidate);
        let first = list_conversations_where(home, 2, None, odd).await.unwrap();
        assert_eq!(previews(&first), vec!["hi 5", "hi 3"]);
        let second = list_conversations_where(home, 2, first.next_cursor.as_deref(), odd)
            .await
            .unwrap();
        assert_eq!(previews(&second), vec!["hi 1"]);
        assert_eq!(second.next_cursor, None);
        let none = list_conversations_where(home, 2, None, |_| false)
            .await
            .unwrap();
        assert!(none.items.is_empty() && none.next_cursor.is_none());
    }

    #[tokio::test]
    async fn bad_cursor_means_first_page_and_zero_page_size_means_one() {
        let home = TempDir::new().unwrap();
        standard(home.path(), "2025-01-02T10-00-00", 1);
        standard(home.path(), "2025-01-03T10-00-00", 2);
        let page = list_conversations(home.path(), 0, Some("not a cursor"))
            .await
            .unwrap();
        assert_eq!(previews(&page), vec!["hi 2"]);
        assert!(page.next_cursor.is_some());
    }

    #[tokio::test]
    async fn missing_sessions_dir_is_an_empty_page() {
        let home = TempDir::new().unwrap();
        let page = list_conversations(home.path(), 10, None).await.unwrap();
        assert_eq!(
            page,
            ConversationsPage {
                items: Vec::new(),
                next_cursor: None,
                reached_scan_cap: false,
            }
        );
        assert_eq!(
            find_conversation_path(home.path(), id(1)).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn preview_rules() {
        let home = TempDir::new().unwrap();
        let home = home.path();
        // No session_meta: dropped.
        write_rollout(home, "2025-01-01T00-00-01", id(1), &[user_event("orphan")]);
        // No user message in the head: dropped.
        let (a, b) = (id(2), id(3));
        let mut late = vec![RolloutItem::SessionMeta(meta(a))];
        late.extend((0..10).map(|_| user("<environment_context>x</environment_context>")));
        late.push(user_event("too late"));
        write_rollout(home, "2025-01-01T00-00-02", a, &late);
        // Only a response item: its text, skipping injected context.
        write_rollout(
            home,
            "2025-01-01T00-00-03",
            b,
            &[
                RolloutItem::SessionMeta(meta(b)),
                user("<user_instructions>rules</user_instructions>"),
                user("from the item"),
            ],
        );
        // The event wins over the item and the marker is honoured.
        let c = id(4);
        write_rollout(
            home,
            "2025-01-01T00-00-04",
            c,
            &[
                RolloutItem::SessionMeta(meta(c)),
                user("item text"),
                user_event("# Context\nfiles...\n## My request for Codex:\n  fix the bug \n"),
            ],
        );
        let page = list_conversations(home, 10, None).await.unwrap();
        assert_eq!(previews(&page), vec!["fix the bug", "from the item"]);
        assert_eq!(page.next_cursor, None);
    }

    #[tokio::test]
    async fn scan_cap_stops_the_walk() {
        let home = TempDir::new().unwrap();
        let day = home.path().join(SESSIONS_SUBDIR).join("2025/01/01");
        std::fs::create_dir_all(&day).unwrap();
        // Files without metadata are scanned but never listed.
        for n in 0..=MAX_SCAN_FILES as u128 {
            std::fs::write(
                day.join(format!("rollout-2025-01-01T00-00-00-{}.jsonl", id(n + 10))),
                "",
            )
            .unwrap();
        }
        standard(home.path(), "2024-01-01T00-00-00", 1);
        let page = list_conversations(home.path(), 5, None).await.unwrap();
        assert!(page.reached_scan_cap);
        assert_eq!(page.items, Vec::new());
    }

    #[tokio::test]
    async fn finds_a_conversation_by_id() {
        let home = TempDir::new().unwrap();
        standard(home.path(), "2025-01-02T10-00-00", 1);
        let path = standard(home.path(), "2025-02-02T10-00-00", 2);
        assert_eq!(
            find_conversation_path(home.path(), id(2)).await.unwrap(),
            Some(path)
        );
        assert_eq!(
            find_conversation_path(home.path(), id(9)).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_new_id_is_looked_for_in_its_own_day_first_and_found_anywhere() {
        let home = TempDir::new().unwrap();
        let sessions = home.path().join(SESSIONS_SUBDIR);
        let fresh = ConversationId::new();
        let stamp = chrono::Local::now().format("%Y-%m-%dT%H-%M-%S").to_string();
        let path = write_rollout(
            home.path(),
            &stamp,
            fresh,
            &[RolloutItem::SessionMeta(meta(fresh))],
        );
        let day = path.parent().unwrap().to_path_buf();
        assert!(likely_days(&sessions, fresh).contains(&day), "{day:?}");
        assert_eq!(
            find_conversation_path(home.path(), fresh).await.unwrap(),
            Some(path)
        );

        // Made today, filed under another day: the walk still finds it.
        let moved = ConversationId::new();
        let elsewhere = write_rollout(
            home.path(),
            "2020-01-01T00-00-00",
            moved,
            &[RolloutItem::SessionMeta(meta(moved))],
        );
        assert_eq!(
            find_conversation_path(home.path(), moved).await.unwrap(),
            Some(elsewhere)
        );
        // Not time-ordered: no day to look in first.
        assert!(likely_days(&sessions, id(5)).is_empty());
    }

    #[test]
    fn file_names_and_cursors_parse_strictly() {
        let name = format!("rollout-2025-01-02T03-04-05-{}.jsonl", id(7));
        assert_eq!(parse_file_name(&name), Some(("2025-01-02T03-04-05", id(7))));
        assert_eq!(
            parse_file_name("rollout-2025-01-02T03-04-05-nope.jsonl"),
            None
        );
        assert_eq!(
            parse_file_name(&format!("rollout-2025-01-02T03:04:05-{}.jsonl", id(7))),
            None
        );
        assert_eq!(
            Anchor::parse(&format!("2025-01-02T03-04-05|{}", id(7))),
            Some(Anchor {
                timestamp: "2025-01-02T03-04-05".to_string(),
                id: id(7)
            })
        );
        assert_eq!(Anchor::parse("2025-01-02T03-04-05"), None);
        assert_eq!(Anchor::parse(&format!("yesterday|{}", id(7))), None);
    }
}
