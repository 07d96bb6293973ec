//! Many calls at once on one connection: each gets its own answer, and they overlap.

use std::collections::HashMap;
use std::time::Duration;
use std::time::Instant;

use codex_test_support::Wire;
use pretty_assertions::assert_eq;
use serde_json::json;

use super::TestServer;

const CALLS: usize = 8;
const MODEL_DELAY: Duration = Duration::from_millis(300);

both_wires!(concurrent_calls_overlap_and_get_their_own_answers);
async fn concurrent_calls_overlap_and_get_their_own_answers(wire: Wire) -> anyhow::Result<()> {
    let mut server = TestServer::start_wire(wire, "", &[]).await?;
    server.model.mount_echo(MODEL_DELAY).await;

    let started = Instant::now();
    let mut ids = HashMap::new();
    for n in 0..CALLS {
        let id = server
            .mcp
            .call_tool("codex", json!({"prompt": format!("prompt {n}")}))
            .await?;
        ids.insert(id, n);
    }
    let mut threads = Vec::new();
    for (id, n) in &ids {
        let response = server.mcp.read_until_response(*id).await?;
        assert_eq!(
            response["result"]["structuredContent"]["content"],
            format!("echo: prompt {n}"),
            "call {n} got someone else's answer: {response}"
        );
        threads.push(response["result"]["structuredContent"]["threadId"].clone());
    }
    let elapsed = started.elapsed();

    threads.sort_by_key(ToString::to_string);
    threads.dedup();
    assert_eq!(threads.len(), CALLS, "every call has its own thread");
    // Run one after another, the calls could not finish in less than CALLS × MODEL_DELAY.
    assert!(
        elapsed < MODEL_DELAY * CALLS as u32,
        "calls did not overlap: {elapsed:?} for {CALLS} calls of {MODEL_DELAY:?}"
    );
    Ok(())
}

#[tokio::test]
async fn calls_beyond_the_model_request_limit_wait_instead_of_failing() -> anyhow::Result<()> {
    const LIMITED: usize = 3;
    let mut server = TestServer::start("max_concurrent_model_requests = 1", &[]).await?;
    server.model.mount_echo(MODEL_DELAY).await;

    let started = Instant::now();
    let mut ids = Vec::new();
    for n in 0..LIMITED {
        ids.push((
            server
                .mcp
                .call_tool("codex", json!({"prompt": format!("prompt {n}")}))
                .await?,
            n,
        ));
    }
    for (id, n) in ids {
        let response = server.mcp.read_until_response(id).await?;
        assert_eq!(
            response["result"]["structuredContent"]["content"],
            format!("echo: prompt {n}"),
            "{response}"
        );
    }
    // One request open at a time: the calls cannot have finished sooner than one after
    // another (the unlimited test above shows they overlap otherwise).
    let elapsed = started.elapsed();
    assert!(
        elapsed >= MODEL_DELAY * LIMITED as u32,
        "requests overlapped: {elapsed:?} for {LIMITED} calls of {MODEL_DELAY:?}"
    );
    Ok(())
}
