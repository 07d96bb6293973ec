//! The conversation manager: live conversations by id, reloading, forking, listing and
//! archiving recorded ones, and unloading idle ones.

use std::sync::Arc;
use std::time::Duration;

use codex_core::CodexConversation;
use codex_core::CodexErr;
use codex_core::ForkSource;
use codex_test_support::MockModel;
use codex_test_support::TestCodex;
use codex_test_support::responses::conversation_texts;
use codex_test_support::rollout_files;
use codex_test_support::start_turn;
use codex_test_support::test_codex;
use codex_test_support::wait_for_event;
use codex_test_support::wait_until;
use codex_test_support::within;
use pretty_assertions::assert_eq;

use crate::answer;
use crate::is_turn_end;

/// Runs one turn of `conversation` with `text` and returns its answer.
async fn turn(conversation: &CodexConversation, text: &str) -> anyhow::Result<String> {
    start_turn(conversation, text).await?;
    Ok(answer(&wait_for_event(conversation, is_turn_end).await?))
}

/// The user messages of the model's last request, without the engine's own context.
async fn last_request_user_texts(model: &MockModel) -> Vec<String> {
    let bodies = model.request_bodies().await;
    conversation_texts(bodies.last().expect("a request"))
        .into_iter()
        .filter(|(role, text)| role == "user" && !text.starts_with('<'))
        .map(|(_, text)| text)
        .collect()
}

async fn echo_codex() -> anyhow::Result<(MockModel, TestCodex)> {
    let model = MockModel::start().await;
    model.mount_echo(Duration::ZERO).await;
    let codex = test_codex().build(&model).await?;
    Ok((model, codex))
}

#[tokio::test]
async fn conversations_are_held_by_id_until_removed() -> anyhow::Result<()> {
    let (_model, codex) = echo_codex().await?;
    let second = codex.new_conversation().await?;
    assert_ne!(
        second.conversation_id,
        codex.conversation().conversation_id()
    );
    assert_eq!(codex.manager.loaded_conversations(), 2);
    let found = codex.manager.get_conversation(second.conversation_id)?;
    assert!(Arc::ptr_eq(&found, &second.conversation));

    let removed = codex.manager.remove_conversation(second.conversation_id);
    assert!(removed.is_some());
    assert!(matches!(
        codex.manager.get_conversation(second.conversation_id),
        Err(CodexErr::ConversationNotFound(_))
    ));
    assert_eq!(codex.manager.loaded_conversations(), 1);
    Ok(())
}

#[tokio::test]
async fn a_removed_conversation_is_resumed_from_its_rollout_with_its_history() -> anyhow::Result<()>
{
    let (model, codex) = echo_codex().await?;
    let id = codex.conversation().conversation_id();
    assert_eq!(
        turn(codex.conversation(), "remember me").await?,
        "echo: remember me"
    );
    let old = codex.manager.remove_conversation(id).expect("held");
    drop(old);

    let config = codex.config()?;
    let resumed = within(
        "get_or_resume",
        codex.manager.get_or_resume(id, |saved| async move {
            assert_eq!(saved.conversation_id, id);
            assert_eq!(saved.model.as_deref(), Some("mock-model"));
            Ok(config)
        }),
    )
    .await??;
    assert_eq!(resumed.conversation_id(), id);
    assert_eq!(turn(&resumed, "and now?").await?, "echo: and now?");
    assert_eq!(
        last_request_user_texts(&model).await,
        ["remember me", "and now?"]
    );
    // Live again: the same handle comes back without touching the disk.
    let again = codex
        .manager
        .get_or_resume(id, |_| async { panic!("not loaded twice") })
        .await?;
    assert!(Arc::ptr_eq(&again, &resumed));
    Ok(())
}

#[tokio::test]
async fn resuming_a_conversation_that_is_live_is_refused() -> anyhow::Result<()> {
    let (_model, codex) = echo_codex().await?;
    turn(codex.conversation(), "hello").await?;
    let path = codex.conversation().rollout_path().to_path_buf();
    let config = codex.config()?;
    let refused = codex
        .manager
        .resume_conversation(&path, |_| async move { Ok(config) })
        .await;
    assert!(
        matches!(refused, Err(CodexErr::AlreadyLoaded(id)) if id == codex.conversation().conversation_id())
    );
    Ok(())
}

#[tokio::test]
async fn a_fork_drops_the_last_user_message_and_gets_its_own_id_and_file() -> anyhow::Result<()> {
    let (model, codex) = echo_codex().await?;
    turn(codex.conversation(), "keep this").await?;
    turn(codex.conversation(), "drop this").await?;
    let source = codex.conversation().conversation_id();
    let config = codex.config()?;
    let fork = within(
        "fork_conversation",
        codex
            .manager
            .fork_conversation(ForkSource::Id(source), 1, |_| async move { Ok(config) }),
    )
    .await??;
    assert_ne!(fork.conversation_id, source);
    assert_ne!(
        fork.conversation.rollout_path(),
        codex.conversation().rollout_path()
    );
    turn(&fork.conversation, "instead").await?;
    assert_eq!(
        last_request_user_texts(&model).await,
        ["keep this", "instead"]
    );
    Ok(())
}

#[tokio::test]
async fn recorded_conversations_are_listed_and_archived() -> anyhow::Result<()> {
    let (_model, codex) = echo_codex().await?;
    turn(codex.conversation(), "first of all").await?;
    let id = codex.conversation().conversation_id();
    let page = codex.manager.list_conversations(10, None).await?;
    let listed: Vec<_> = page.items.iter().map(|item| item.conversation_id).collect();
    assert_eq!(listed, [id]);
    assert!(
        page.items[0].preview.contains("first of all"),
        "{:?}",
        page.items[0].preview
    );

    let path = page.items[0].path.clone();
    let archived = within(
        "archive_conversation",
        codex.manager.archive_conversation(id, &path),
    )
    .await??;
    assert!(archived.starts_with(codex.home_path().join("archived_sessions")));
    assert!(archived.exists() && !path.exists());
    assert_eq!(rollout_files(&codex.home_path().join("sessions")).len(), 0);
    assert!(codex.manager.get_conversation(id).is_err(), "shut down");
    assert!(
        codex
            .manager
            .list_conversations(10, None)
            .await?
            .items
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn an_idle_unused_conversation_is_unloaded_and_comes_back_on_demand() -> anyhow::Result<()> {
    let (model, codex) = echo_codex().await?;
    // The idle timeout is a field of the conversation's config: a test sets it directly.
    let mut config = codex.config()?;
    config.conversation_idle_timeout = Duration::from_millis(1);
    let idle = within("new_conversation", codex.manager.new_conversation(config)).await??;
    let id = idle.conversation_id;
    turn(&idle.conversation, "before the nap").await?;
    // While this test holds a handle the conversation is in use and stays.
    assert!(codex.manager.get_conversation(id).is_ok());
    drop(idle);

    // Eviction announces nothing: the manager's state is what there is to wait on.
    wait_until("the idle conversation to be unloaded", || {
        codex.manager.get_conversation(id).is_err()
    })
    .await?;
    // The test's own conversation has the default timeout and stays.
    assert!(
        codex
            .manager
            .get_conversation(codex.conversation().conversation_id())
            .is_ok()
    );

    let config = codex.config()?;
    let back = codex
        .manager
        .get_or_resume(id, |_| async move { Ok(config) })
        .await?;
    turn(&back, "after the nap").await?;
    assert_eq!(
        last_request_user_texts(&model).await,
        ["before the nap", "after the nap"]
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_all_unloads_everything() -> anyhow::Result<()> {
    let (_model, codex) = echo_codex().await?;
    codex.new_conversation().await?;
    within(
        "shutdown_all",
        codex.manager.shutdown_all(Duration::from_secs(10)),
    )
    .await?;
    assert_eq!(codex.manager.loaded_conversations(), 0);
    Ok(())
}
