//! Many calls at once on one connection: each gets its own answer, and they overlap.
//!
//! Overlap is proven by what the provider saw at once (`GatedModel`), never by elapsed time.

use std::collections::HashMap;
use std::time::Duration;

use codex_test_support::GatedModel;
use codex_test_support::Wire;
use pretty_assertions::assert_eq;
use serde_json::json;

use super::TestServer;

const CALLS: usize = 8;
/// How long the provider takes over each answer in the limited test: a chance for requests to
/// overlap if the limit did not hold (part of the scenario, not a wait).
const MODEL_DELAY: Duration = Duration::from_millis(100);

both_wires!(concurrent_calls_overlap_and_get_their_own_answers);
async fn concurrent_calls_overlap_and_get_their_own_answers(wire: Wire) -> anyhow::Result<()> {
    // No call is answered until all of them are at the provider at once: the calls finish
    // only if they overlap.
    let model = GatedModel::start(wire, CALLS, Duration::ZERO).await?;
    let mut server = TestServer::start_gated(&model, "", &[]).await?;

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

    threads.sort_by_key(ToString::to_string);
    threads.dedup();
    assert_eq!(threads.len(), CALLS, "every call has its own thread");
    assert_eq!(model.most_open(), CALLS, "the calls overlapped");
    Ok(())
}

#[tokio::test]
async fn calls_beyond_the_model_request_limit_wait_instead_of_failing() -> anyhow::Result<()> {
    const LIMITED: usize = 3;
    // Every request is answered as it comes (the gate opens with the first), after a while.
    let model = GatedModel::start(Wire::Responses, 1, MODEL_DELAY).await?;
    let mut server =
        TestServer::start_gated(&model, "max_concurrent_model_requests = 1", &[]).await?;

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
    // One request open at a time (the unlimited test above shows they overlap otherwise).
    assert_eq!(model.most_open(), 1, "requests overlapped");
    Ok(())
}
