//! The PostgreSQL store against a real server: `CODEX_TEST_POSTGRES_URL`, or else a local
//! server at the default port. With none reachable each test says so and passes, unless
//! `CODEX_TEST_POSTGRES_REQUIRED=1` (set by `e2e/replicas/replicas.py`, which CI runs with a
//! server it started), which makes an unreachable server a failure.

use std::time::Duration;

use pretty_assertions::assert_eq;
use uuid::Uuid;

use super::Claim;
use super::PgStore;
use super::ThreadStore;

const LOCAL_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const TIMEOUT: Duration = Duration::from_secs(30);

/// The server to test against, or `None` (with a message) when there is none to reach.
async fn server() -> Option<String> {
    let url =
        std::env::var("CODEX_TEST_POSTGRES_URL").unwrap_or_else(|_| LOCAL_DEFAULT.to_string());
    let reachable = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_postgres::connect(&url, tokio_postgres::NoTls),
    )
    .await;
    match reachable {
        Ok(Ok(_)) => Some(url),
        other => {
            let why = match other {
                Ok(Err(err)) => super::chain(&err),
                Err(_) => "no answer within 5 s".to_string(),
                Ok(Ok(_)) => unreachable!(),
            };
            assert!(
                std::env::var("CODEX_TEST_POSTGRES_REQUIRED").as_deref() != Ok("1"),
                "CODEX_TEST_POSTGRES_REQUIRED=1 but no PostgreSQL is reachable: {why}"
            );
            eprintln!(
                "skipped: no PostgreSQL reachable ({why}); set CODEX_TEST_POSTGRES_URL, or run e2e/replicas/replicas.py"
            );
            None
        }
    }
}

async fn timed<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("no answer from PostgreSQL within {TIMEOUT:?}"))
}

#[tokio::test]
async fn thread_store_migrations_are_idempotent_and_the_secret_is_shared() {
    let Some(url) = server().await else { return };
    let first = timed(PgStore::open(&url)).await.unwrap();
    // A second replica starting against the same database migrates nothing again.
    let second = timed(PgStore::open(&url)).await.unwrap();
    let a = timed(first.shared_secret("request_state")).await.unwrap();
    let b = timed(second.shared_secret("request_state")).await.unwrap();
    assert_eq!(a.len(), 32);
    assert_eq!(a, b);
}

#[tokio::test]
async fn thread_store_leases_exclude_and_expire() {
    let Some(url) = server().await else { return };
    let store = timed(ThreadStore::postgres(&url, Duration::from_secs(1)))
        .await
        .unwrap();
    let other = timed(ThreadStore::postgres(&url, Duration::from_secs(60)))
        .await
        .unwrap();
    let thread = Uuid::new_v4().to_string();

    let Claim::Held(Some(lease)) = timed(store.claim(&thread)).await.unwrap() else {
        panic!("the first claim holds the lease");
    };
    assert!(matches!(
        timed(other.claim(&thread)).await.unwrap(),
        Claim::Busy
    ));
    timed(lease.release()).await;
    let Claim::Held(Some(taken)) = timed(other.claim(&thread)).await.unwrap() else {
        panic!("a released lease is free at once");
    };
    drop(taken);

    // A lease nobody extends expires, and another replica takes it; the holder that lost it
    // can no longer commit.
    let shared = store.shared().unwrap();
    let holder = format!("{}:dead", shared.replica);
    let pg = &shared.pg;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !timed(pg.acquire_lease(
        &thread,
        &holder,
        "a-dead-replica",
        Duration::from_millis(200),
    ))
    .await
    .unwrap()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dropped lease was never released"
        );
        tokio::task::yield_now().await;
    }
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let lease = loop {
        if let Claim::Held(Some(lease)) = timed(other.claim(&thread)).await.unwrap() {
            break lease;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let refused = timed(pg.commit(&thread, &holder, "sessions/x.jsonl", b"{}\n")).await;
    assert!(
        matches!(refused, Err(super::StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    drop(lease);
}

#[tokio::test]
async fn thread_store_commits_once_and_hydrates_a_fresh_home() {
    let Some(url) = server().await else { return };
    let store = timed(ThreadStore::postgres(&url, Duration::from_secs(60)))
        .await
        .unwrap();
    let thread = Uuid::new_v4().to_string();
    let home = tempfile::TempDir::new().unwrap();
    let relative = format!("sessions/2026/12/04/rollout-{thread}.jsonl");
    let rollout = home.path().join(&relative);
    std::fs::create_dir_all(rollout.parent().unwrap()).unwrap();

    let Claim::Held(Some(lease)) = timed(store.claim(&thread)).await.unwrap() else {
        panic!("claim");
    };
    std::fs::write(&rollout, "{\"a\":1}\n{\"b\":2}\n{\"partial\"").unwrap();
    timed(lease.commit(home.path(), &rollout)).await.unwrap();
    // Committing the same file again adds nothing; a line completed later is added once.
    timed(lease.commit(home.path(), &rollout)).await.unwrap();
    std::fs::write(&rollout, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n").unwrap();
    timed(lease.commit(home.path(), &rollout)).await.unwrap();
    timed(lease.release()).await;

    let pg = &store.shared().unwrap().pg;
    assert_eq!(
        timed(pg.lines(&thread)).await.unwrap(),
        vec!["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]
    );

    // The local copy matches: nothing to do.
    assert!(!timed(store.hydrate(home.path(), &thread)).await.unwrap());
    // Another replica's empty home gets the file, at the same relative path.
    let fresh = tempfile::TempDir::new().unwrap();
    assert!(timed(store.hydrate(fresh.path(), &thread)).await.unwrap());
    assert_eq!(
        std::fs::read_to_string(fresh.path().join(&relative)).unwrap(),
        "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"
    );
    // A local copy ahead of the store (a turn never committed) is put back.
    std::fs::write(
        fresh.path().join(&relative),
        "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n{\"uncommitted\":4}\n",
    )
    .unwrap();
    assert!(timed(store.hydrate(fresh.path(), &thread)).await.unwrap());
    assert_eq!(
        std::fs::read_to_string(fresh.path().join(&relative)).unwrap(),
        "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"
    );
    // A thread the store has never seen is left to the files.
    let unknown = Uuid::new_v4().to_string();
    assert!(!timed(store.hydrate(fresh.path(), &unknown)).await.unwrap());
}

#[tokio::test]
async fn thread_store_owners_are_the_first_recorded() {
    let Some(url) = server().await else { return };
    let store = timed(ThreadStore::postgres(&url, Duration::from_secs(60)))
        .await
        .unwrap();
    let thread = Uuid::new_v4().to_string();
    assert_eq!(
        timed(store.owned_by(super::Owned::Thread, &thread, "alice"))
            .await
            .unwrap(),
        Some(false)
    );
    timed(store.record_owner(super::Owned::Thread, &thread, "alice")).await;
    timed(store.record_owner(super::Owned::Thread, &thread, "bob")).await;
    assert_eq!(
        timed(store.owned_by(super::Owned::Thread, &thread, "alice"))
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        timed(store.owned_by(super::Owned::Thread, &thread, "bob"))
            .await
            .unwrap(),
        Some(false)
    );
    // A task with the same id is another record.
    assert_eq!(
        timed(store.owned_by(super::Owned::Task, &thread, "alice"))
            .await
            .unwrap(),
        Some(false)
    );
    assert_eq!(
        ThreadStore::Files
            .owned_by(super::Owned::Thread, &thread, "alice")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn thread_store_an_ended_task_stays_ended() {
    let Some(url) = server().await else { return };
    let pg = timed(PgStore::open(&url)).await.unwrap();
    let key = Uuid::new_v4();
    let working = serde_json::json!({"status": "working"});
    let completed = serde_json::json!({"status": "completed"});
    timed(pg.put_turn(key, "thread", "replica", Some(&working)))
        .await
        .unwrap();
    timed(pg.put_turn(key, "thread", "replica", Some(&completed)))
        .await
        .unwrap();
    // A late write of the questions' state, as a publisher aborted mid-write could leave.
    timed(pg.put_turn(key, "thread", "replica", Some(&working)))
        .await
        .unwrap();
    let turn = timed(pg.turn(key, Duration::from_secs(60)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.task, Some(completed));
    assert_eq!(turn.thread_id, "thread");
}
