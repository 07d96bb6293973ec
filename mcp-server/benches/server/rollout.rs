//! A long recorded conversation for the resume figure: a rollout file of any number of items,
//! shaped like a real coding session, written with the engine's own record types so that
//! every line is one the server reads back.

use std::io::BufWriter;
use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;

use codex_core::ConversationId;
use codex_core::EventMsg;
use codex_core::protocol::AgentMessageEvent;
use codex_core::protocol::AgentReasoningEvent;
use codex_core::protocol::AskForApproval;
use codex_core::protocol::ReasoningSummary;
use codex_core::protocol::ReasoningSummaryPart;
use codex_core::protocol::ResponseItem;
use codex_core::protocol::SandboxPolicy;
use codex_core::protocol::TokenCountEvent;
use codex_core::protocol::TokenUsage;
use codex_core::protocol::TokenUsageInfo;
use codex_core::protocol::UserMessageEvent;
use codex_core::rollout::RolloutItem;
use codex_core::rollout::RolloutLine;
use codex_core::rollout::SESSIONS_SUBDIR;
use codex_core::rollout::SessionMeta;
use codex_core::rollout::SessionSource;
use codex_core::rollout::TurnContextItem;

/// Items in one recorded turn: its settings, the user's message, reasoning, one command and
/// its output, the answer, and the events a client replays.
const ITEMS_PER_TURN: usize = 10;
/// Of those, how many are `event_msg` lines (what `initialMessages` returns).
const EVENTS_PER_TURN: usize = 4;

/// A written rollout.
pub(crate) struct GeneratedRollout {
    pub(crate) id: ConversationId,
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    /// How many `event_msg` lines it holds.
    pub(crate) events: usize,
}

/// Writes a rollout of `items` items (after `session_meta`, rounded up to whole turns) into
/// `home/sessions/2025/01/02/`, recorded as run in `cwd`.
pub(crate) fn write_rollout(
    home: &Path,
    cwd: &Path,
    items: usize,
) -> anyhow::Result<GeneratedRollout> {
    let id = ConversationId::new();
    let dir = home.join(SESSIONS_SUBDIR).join("2025/01/02");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("rollout-2025-01-02T10-00-00-{id}.jsonl"));
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    let timestamp = "2025-01-02T09:00:00.000Z";
    let mut line = |item: RolloutItem| -> anyhow::Result<()> {
        serde_json::to_writer(
            &mut out,
            &RolloutLine {
                timestamp: timestamp.to_string(),
                item,
            },
        )?;
        out.write_all(b"\n")?;
        Ok(())
    };
    line(RolloutItem::SessionMeta(SessionMeta {
        id,
        timestamp: timestamp.to_string(),
        cwd: cwd.to_path_buf(),
        originator: codex_core::ORIGINATOR.to_string(),
        cli_version: "0.0.0".to_string(),
        instructions: None,
        base_instructions: None,
        source: SessionSource::Mcp,
        model_provider: Some("mock".to_string()),
        git: None,
    }))?;
    let turns = items.div_ceil(ITEMS_PER_TURN);
    let mut usage = TokenUsageInfo::default();
    for turn in 0..turns {
        let call_id = format!("call_{turn}");
        let user = format!(
            "Step {turn}: look at src/module_{turn}.rs, find why the parser rejects empty input, and fix it without changing the public API."
        );
        let answer = format!(
            "I changed `parse` in src/module_{turn}.rs so an empty input yields an empty document instead of an error, and added a test. {}",
            "The rest of the module is unchanged; the public API keeps its signatures. ".repeat(4)
        );
        let reasoning = format!(
            "Reading module {turn}: the parser checks the first token before looking at the length. {}",
            "An empty slice reaches the match with no token. ".repeat(3)
        );
        let output = format!(
            "{{\"output\":\"{}\",\"metadata\":{{\"exit_code\":0,\"duration_seconds\":0.1}}}}",
            format!(
                "src/module_{turn}.rs:{turn}: fn parse(input: &[Token]) -> Result<Document> {{\\n"
            )
            .repeat(10)
        );
        let last = TokenUsage {
            input_tokens: 1_000 + turn as u64,
            cached_input_tokens: 800,
            output_tokens: 200,
            reasoning_output_tokens: 64,
            total_tokens: 1_200 + turn as u64,
        };
        usage.record(last);
        line(RolloutItem::TurnContext(TurnContextItem {
            cwd: cwd.to_path_buf(),
            approval_policy: AskForApproval::Never,
            sandbox_policy: SandboxPolicy::ReadOnly,
            model: "mock-model".to_string(),
            effort: None,
            summary: ReasoningSummary::Auto,
        }))?;
        line(RolloutItem::ResponseItem(ResponseItem::text_message(
            "user",
            user.clone(),
        )))?;
        line(RolloutItem::EventMsg(EventMsg::UserMessage(
            UserMessageEvent { message: user },
        )))?;
        line(RolloutItem::ResponseItem(ResponseItem::Reasoning {
            summary: vec![ReasoningSummaryPart::SummaryText {
                text: reasoning.clone(),
            }],
            encrypted_content: None,
        }))?;
        line(RolloutItem::EventMsg(EventMsg::AgentReasoning(
            AgentReasoningEvent { text: reasoning },
        )))?;
        line(RolloutItem::ResponseItem(ResponseItem::FunctionCall {
            name: "shell".to_string(),
            arguments: format!(
                r#"{{"command":["rg","-n","fn parse","src/module_{turn}.rs"],"workdir":"."}}"#
            ),
            call_id: call_id.clone(),
        }))?;
        line(RolloutItem::ResponseItem(
            ResponseItem::FunctionCallOutput { call_id, output },
        ))?;
        line(RolloutItem::ResponseItem(ResponseItem::text_message(
            "assistant",
            answer.clone(),
        )))?;
        line(RolloutItem::EventMsg(EventMsg::AgentMessage(
            AgentMessageEvent { message: answer },
        )))?;
        line(RolloutItem::EventMsg(EventMsg::TokenCount(
            TokenCountEvent {
                info: Some(usage.clone()),
            },
        )))?;
    }
    out.flush()?;
    drop(out);
    Ok(GeneratedRollout {
        id,
        bytes: std::fs::metadata(&path)?.len(),
        path,
        events: turns * EVENTS_PER_TURN,
    })
}
