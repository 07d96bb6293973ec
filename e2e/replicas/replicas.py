#!/usr/bin/env python3
"""Replicas behind a load balancer, sharing threads in PostgreSQL, checked for real on one
machine: PostgreSQL (Debian's binaries, a temporary cluster on a loopback port), three
`codex mcp --listen` replicas with separate CODEX_HOMEs and one `thread_store_url`, nginx
round-robin in front, and a mock Responses API on 127.0.0.1. Everything goes through nginx,
as stateless 2026-07-28 JSON-RPC over plain HTTP; nginx's `X-Codex-Upstream` header says which
replica answered.

Checked: a thread whose calls hop replicas keeps its whole history; an approval
(`input_required`) answered on another replica, and two in one turn answered on two others; a task polled and answered anywhere; a busy
refusal across replicas; `kill -9` of a replica mid-turn, after which its task reads `failed`
and the thread continues elsewhere with every completed turn; routing on
`Mcp-Param-Thread-Id`; an answer relayed to a replica that then dies; a replica stalled (SIGSTOP) past its lease losing the thread without
committing; `tasks/cancel` on another replica; ownership across replicas (two principals, `--auth-tokens`); a missing
working directory; and in the store, no item lost or
duplicated.

Then, with CODEX_TEST_POSTGRES_URL pointing at the same server, it runs the Rust tests of the
PostgreSQL store (`cargo test --workspace --locked --lib thread_store`), which skip only when no
server is reachable (here one is, so they run).

Environment: CODEX_BIN (default target/debug/codex), REPLICAS_SKIP_RUST=1 to skip the cargo step.
Exit status 0 on success; 1 with a "FAIL:" line.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import CAPS_ELICIT, CAPS_TASKS, Cluster, Failed, Mcp, result_text, thread_of, wait_for  # noqa: E402

passed = 0


def check(condition: bool, what: str, detail: Any = None) -> None:
    global passed
    if not condition:
        raise Failed(f"{what}: {detail!r}"[:3000])
    passed += 1
    print(f"ok - {what}", flush=True)


def get_task(cluster: Cluster, task_id: str) -> tuple[dict[str, Any], str]:
    message, upstream = cluster.mcp.request("tasks/get", {"taskId": task_id}, CAPS_TASKS)
    if "result" not in message:
        raise Failed(f"tasks/get: {message}")
    return message["result"], upstream


def poll_task(cluster: Cluster, task_id: str, statuses: set[str], served: set[str], timeout: float = 60) -> dict[str, Any]:
    def state() -> dict[str, Any] | None:
        task, upstream = get_task(cluster, task_id)
        served.add(upstream)
        return task if task["status"] in statuses else None

    return wait_for(f"task {task_id} to be {statuses}", state, timeout=timeout, every=0.1)


def reply_until_not_busy(
    cluster: Cluster, thread: str, prompt: str, timeout: float, via: Mcp | None = None
) -> tuple[dict[str, Any], str, int]:
    """`codex-reply`, repeated while the thread is busy (a dead replica's lease not yet
    expired); returns the result, the replica and how many busy refusals came first."""
    busy = 0
    deadline = time.monotonic() + timeout
    while True:
        result, upstream = (via or cluster.mcp).call("codex-reply", {"threadId": thread, "prompt": prompt})
        if not (result.get("isError") and "is busy with another turn" in result_text(result)):
            return result, upstream, busy
        busy += 1
        if time.monotonic() > deadline:
            raise Failed(f"thread {thread} still busy after {timeout}s")
        time.sleep(0.2)


def avoid_next(cluster: Cluster, avoid: str) -> None:
    """Moves nginx's round-robin on until the next request will not go to `avoid`."""
    order = [replica.address for replica in cluster.replicas]
    for _ in range(len(order)):
        _, upstream = cluster.mcp.request("tools/list", {}, CAPS_ELICIT)
        if order[(order.index(upstream) + 1) % len(order)] != avoid:
            return
    raise Failed(f"nginx's round-robin never moved past {avoid}")


def expect_seen(result: dict[str, Any], prompts: list[str], what: str) -> None:
    check(not result.get("isError"), f"{what}: not an error", result)
    check(result_text(result) == "seen: " + " | ".join(prompts), f"{what}: the model saw exactly the thread's prompts", result_text(result))


def run(cluster: Cluster) -> None:
    mcp = cluster.mcp
    pg = cluster.pg
    assert pg is not None

    # 1. Calls and replies that hop replicas: each reply sees the whole history.
    prompts = ["ECHO 1"]
    result, first = mcp.call("codex", {"prompt": "ECHO 1"})
    thread = thread_of(result)
    expect_seen(result, prompts, "codex")
    served = {first}
    for n in range(2, 7):
        prompts.append(f"ECHO {n}")
        result, upstream = mcp.call("codex-reply", {"threadId": thread, "prompt": prompts[-1]})
        served.add(upstream)
        expect_seen(result, prompts, f"codex-reply {n} on {upstream}")
    check(len(served) == 3, "the thread's turns ran on all three replicas", served)

    # 2. An approval asked on one replica and answered on another.
    result, asked_on = mcp.call("codex", {"prompt": "RUN approval"})
    check(result.get("resultType") == "input_required", "RUN: input_required", result)
    requests = result.get("inputRequests") or {}
    check(len(requests) == 1, "RUN: one question", requests)
    key = next(iter(requests))
    retry = {"inputResponses": {key: {"action": "accept", "content": {"decision": "approved"}}}, "requestState": result["requestState"]}
    result, answered_on = mcp.call("codex", {"prompt": "RUN approval"}, extra=retry)
    check(answered_on != asked_on, "the approval was answered on another replica", (asked_on, answered_on))
    check(not result.get("isError") and result_text(result) == "ran: 42", "the approved command ran, and the answering request got the result", result)
    # The same state again, anywhere: refused (single use across replicas).
    message, _ = mcp.request("tools/call", {"name": "codex", "arguments": {"prompt": "RUN approval"}, **retry}, CAPS_ELICIT)
    check("error" in message, "a used requestState is refused on any replica", message)

    # 2b. Two questions in one turn, each answered on another replica than the one before: the
    # second question's state, issued by the running replica, travels back through the first
    # answering replica and opens on the next.
    arguments = {"prompt": "TWICE approvals"}
    result, on = mcp.call("codex", arguments)
    hops = [on]
    for round_ in (1, 2):
        check(result.get("resultType") == "input_required", f"TWICE: question {round_}", result)
        key = next(iter(result.get("inputRequests") or {}))
        retry = {"inputResponses": {key: {"action": "accept", "content": {"decision": "approved"}}}, "requestState": result["requestState"]}
        result, on = mcp.call("codex", arguments, extra=retry)
        hops.append(on)
    check(not result.get("isError") and result_text(result) == "ran twice: 42 42", "both commands ran, and the last answering request got the result", result)
    check(len(set(hops)) == 3, "the call, its first answer and its second answer were served by three replicas", hops)

    # 3. A task, polled anywhere and answered on another replica than the one running it.
    created, created_on = mcp.call("codex", {"prompt": "RUN task"}, caps=CAPS_TASKS)
    check(created.get("resultType") == "task", "RUN as a task: a task at once", created)
    task_id = created["taskId"]
    polled: set[str] = set()
    task = poll_task(cluster, task_id, {"input_required"}, polled)
    questions = task.get("inputRequests") or {}
    check(len(questions) == 1, "the task asks one question, seen from any replica", task)
    qkey = next(iter(questions))
    update = {"taskId": task_id, "inputResponses": {qkey: {"action": "accept", "content": {"decision": "approved"}}}}
    # nginx's round-robin is a fixed cycle (one nginx process, no other traffic): a cheap request
    # shows where the cycle is, so that the answer goes to a replica other than the task's.
    avoid_next(cluster, created_on)
    message, updated_on = mcp.request("tasks/update", update, CAPS_TASKS)
    check(updated_on != created_on, "tasks/update reached a replica other than the task's", (created_on, updated_on))
    check("result" in message, "tasks/update accepted there", message)
    task = poll_task(cluster, task_id, {"completed", "failed"}, polled)
    check(task["status"] == "completed" and result_text(task["result"]) == "ran: 42", "the task completed with the command's output", task)
    check(len(polled) >= 2, "tasks/get was served by several replicas", polled)

    # 4. A busy refusal across replicas.
    created, slow_on = mcp.call("codex-reply", {"threadId": thread, "prompt": "SLOW busy"}, caps=CAPS_TASKS)
    slow_task = created["taskId"]
    wait_for("the slow turn to reach the model", lambda: cluster.model.is_holding("busy"))
    result, busy_on = mcp.call("codex-reply", {"threadId": thread, "prompt": "ECHO refused"})
    check(busy_on != slow_on, "the second reply reached another replica", (slow_on, busy_on))
    check(
        result.get("isError") and "is busy with another turn" in result_text(result) and thread_of(result) == thread,
        "another replica refuses with the same busy answer as one machine",
        result,
    )
    cluster.model.release("busy")
    task = poll_task(cluster, slow_task, {"completed", "failed"}, set())
    prompts.append("SLOW busy")
    check(task["status"] == "completed", "the slow turn completed", task)
    expect_seen(task["result"], prompts, "the slow turn")

    # 5. kill -9 of the replica running a turn: its task fails with a reason, the thread goes on.
    created, doomed_on = mcp.call("codex-reply", {"threadId": thread, "prompt": "SLOW doomed"}, caps=CAPS_TASKS)
    doomed_task = created["taskId"]
    wait_for("the doomed turn to reach the model", lambda: cluster.model.is_holding("doomed"))
    doomed = cluster.replica_at(doomed_on)
    os.kill(doomed.process.pid, signal.SIGKILL)
    doomed.process.wait(10)
    task = poll_task(cluster, doomed_task, {"failed", "completed"}, set(), timeout=30)
    message = (task.get("error") or {}).get("message", "")
    check(task["status"] == "failed" and "replica" in message and thread in message, "the dead replica's task reads failed, with the reason and the thread", task)
    prompts.append("ECHO after the crash")
    result, survivor, busy = reply_until_not_busy(cluster, thread, prompts[-1], timeout=30)
    check(survivor != doomed_on, "the thread continued on a live replica", (doomed_on, survivor))
    # Every completed turn is there; the cut-off one ("SLOW doomed") never committed.
    expect_seen(result, prompts, f"the thread after the crash (after {busy} busy answers while the lease expired)")
    cluster.model.release("doomed")

    # 5b. A replica that stalls past its lease (SIGSTOP) loses the thread: another replica takes
    # it, and the stalled turn, when its replica wakes, is stopped and commits nothing.
    created, paused_on = mcp.call("codex-reply", {"threadId": thread, "prompt": "SLOW paused"}, caps=CAPS_TASKS)
    paused_task = created["taskId"]
    wait_for("the paused turn to reach the model", lambda: cluster.model.is_holding("paused"))
    paused = cluster.replica_at(paused_on)
    os.kill(paused.process.pid, signal.SIGSTOP)
    try:
        # Straight to a live replica: nginx would hand some requests to the stalled one, which
        # accepts connections (the kernel does) and answers none.
        taker = next(r for r in cluster.replicas if r.alive() and r.address != paused_on).address
        direct = Mcp(int(taker.rsplit(":", 1)[1]))
        prompts.append("ECHO while paused")
        result, _, busy = reply_until_not_busy(cluster, thread, prompts[-1], timeout=30, via=direct)
        check(busy > 0, "the stalled replica's thread was busy until its lease expired", busy)
        expect_seen(result, prompts, "the turn that took over")
        # The model now answers the stalled turn; its replica wakes to find its lease gone.
        cluster.model.release("paused")
    finally:
        os.kill(paused.process.pid, signal.SIGCONT)
    task = poll_task(cluster, paused_task, {"completed", "cancelled", "failed"}, set())
    outcome = task["status"] if task["status"] != "completed" else ("error" if task["result"].get("isError") else "success")
    check(outcome != "success", "the stalled turn did not succeed after losing its lease", task)

    # 5c. tasks/cancel on another replica than the one running the task.
    created, cancel_on = mcp.call("codex-reply", {"threadId": thread, "prompt": "SLOW cancelled"}, caps=CAPS_TASKS)
    cancelled_task = created["taskId"]
    wait_for("the turn to cancel to reach the model", lambda: cluster.model.is_holding("cancelled"))
    # Straight to another live replica: with one replica dead, nginx's cycle is not a fixed one.
    elsewhere_address = next(r for r in cluster.replicas if r.alive() and r.address != cancel_on).address
    message, _ = Mcp(int(elsewhere_address.rsplit(":", 1)[1])).request("tasks/cancel", {"taskId": cancelled_task}, CAPS_TASKS)
    check("result" in message, "tasks/cancel accepted on another replica than the task's", (message, cancel_on, elsewhere_address))
    task = poll_task(cluster, cancelled_task, {"cancelled", "completed", "failed"}, set())
    check(task["status"] == "cancelled", "the task was cancelled where it ran", task)
    cluster.model.release("cancelled")
    # An interrupted turn is committed as such (its prompt, then `turn_aborted`), as on one machine.
    prompts.append("SLOW cancelled")

    # 6. Routing: `codex-reply`'s threadId is offered as a header, and a load balancer that
    # hashes on it keeps a thread's replies on one replica.
    message, _ = mcp.request("tools/list", {}, CAPS_ELICIT)
    reply_tool = next(t for t in message["result"]["tools"] if t["name"] == "codex-reply")
    check(
        reply_tool["inputSchema"]["properties"]["threadId"].get("x-mcp-header") == "Thread-Id",
        "tools/list offers threadId as the Mcp-Param-Thread-Id header",
        reply_tool["inputSchema"],
    )
    hashed_on = set()
    for n in range(3):
        prompts.append(f"ECHO routed {n}")
        result, upstream = cluster.hashed.call("codex-reply", {"threadId": thread, "prompt": prompts[-1]})
        expect_seen(result, prompts, f"routed reply {n}")
        hashed_on.add(upstream)
        last_on = upstream
    check(len(hashed_on) == 1, "hashing on Mcp-Param-Thread-Id keeps the thread on one replica", hashed_on)

    # 7. Ownership holds across replicas: another principal's calls find nothing, wherever
    # they land; the owner's land anywhere (everything above).
    for _ in range(3):
        result, upstream = cluster.bob.call("codex-reply", {"threadId": thread, "prompt": "ECHO not yours"})
        check(
            result.get("isError") and f"no conversation with id {thread}" in result_text(result),
            f"another principal's reply on {upstream} finds no such thread",
            result,
        )
        message, upstream = cluster.bob.request("tasks/get", {"taskId": task_id}, CAPS_TASKS)
        check("error" in message and "unknown task" in message["error"]["message"], f"another principal's tasks/get on {upstream} finds no such task", message)

    # 7b. The conversation API keeps threads in one machine's files: beside replicas it is
    # refused by name, rather than answering from one replica's files.
    for method in ("listConversations", "sendUserMessage"):
        message, upstream = mcp.request(method, {"conversationId": thread, "items": []}, CAPS_TASKS)
        check(
            "error" in message and "thread_store_url" in message["error"]["message"] and method in message["error"]["message"],
            f"{method} on {upstream} is refused, naming the shared store",
            message,
        )

    # 8. A working directory missing on the replica that gets the reply: a clear error, nothing runs.
    workspace = cluster.work / "workspace"
    workspace.mkdir()
    result, _ = mcp.call("codex", {"prompt": "ECHO in a workspace", "cwd": str(workspace)})
    elsewhere = thread_of(result)
    workspace.rmdir()
    before = len(cluster.model.requests)
    result, _ = mcp.call("codex-reply", {"threadId": elsewhere, "prompt": "ECHO without it"})
    check(
        result.get("isError") and "does not exist on this replica" in result_text(result) and str(workspace) in result_text(result),
        "a reply whose working directory is missing here is a clear error",
        result,
    )
    check(len(cluster.model.requests) == before, "and nothing ran", len(cluster.model.requests) - before)

    # 9. The store: every turn once, nothing lost, nothing duplicated.
    def store_rows(sql: str) -> list[str]:
        out = pg.psql(sql)
        return out.splitlines() if out else []

    user_messages = store_rows(
        f"SELECT line::jsonb #>> '{{payload,message}}' FROM codex_rollout_items WHERE thread_id = '{thread}' "
        "AND line::jsonb ->> 'type' = 'event_msg' AND line::jsonb #>> '{payload,type}' = 'user_message' ORDER BY seq"
    )
    check(user_messages == prompts, "the store holds each committed prompt once, in order", user_messages)
    dupes = pg.psql(f"SELECT count(*) - count(DISTINCT line) FROM codex_rollout_items WHERE thread_id = '{thread}'")
    check(dupes == "0", "no rollout line is stored twice", dupes)
    gaps = pg.psql(f"SELECT max(seq) + 1 - count(*) FROM codex_rollout_items WHERE thread_id = '{thread}'")
    check(gaps == "0", "rollout items are numbered without gaps", gaps)
    items = pg.psql(f"SELECT items FROM codex_threads WHERE id = '{thread}'")
    count = pg.psql(f"SELECT count(*) FROM codex_rollout_items WHERE thread_id = '{thread}'")
    check(items == count, "the thread's item count matches its items", (items, count))
    # The local working copy of the replica that ran the last turn is the store's, line for line.
    path = pg.psql(f"SELECT rollout_path FROM codex_threads WHERE id = '{thread}'")
    local = (cluster.replica_at(last_on).home / path).read_text().splitlines()
    stored = pg.psql(f"SELECT line FROM codex_rollout_items WHERE thread_id = '{thread}' ORDER BY seq").splitlines()
    check(local == stored, "the last replica's rollout file is the stored lines, in order", (len(local), len(stored)))
    errors = cluster.model.errors
    check(not errors, "the mock model saw no unexpected request", errors)

    # 10. A relayed answer whose running replica dies while the answering request waits: that
    # request answers that the replica stopped, once its heartbeat is overdue. (Last: it kills a
    # second replica.) Straight to two live replicas, so which runs and which answers is known.
    runner, answerer = [r for r in cluster.replicas if r.alive()][:2]
    to_runner, to_answerer = (Mcp(int(r.address.rsplit(":", 1)[1])) for r in (runner, answerer))
    arguments = {"prompt": "RUNSLOW orphaned"}
    result, _ = to_runner.call("codex", arguments)
    check(result.get("resultType") == "input_required", "RUNSLOW: a question", result)
    key = next(iter(result.get("inputRequests") or {}))
    retry = {"inputResponses": {key: {"action": "accept", "content": {"decision": "approved"}}}, "requestState": result["requestState"]}
    answered: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: answered.update(result=to_answerer.call("codex", arguments, extra=retry)[0]))
    waiter.start()
    wait_for("the approved command's answer to be held", lambda: cluster.model.is_holding("orphaned"))
    os.kill(runner.process.pid, signal.SIGKILL)
    runner.process.wait(10)
    waiter.join(60)
    check(not waiter.is_alive(), "the answering request ended after the running replica died", answered)
    result = answered.get("result") or {}
    check(
        result.get("isError") and "replica running this turn stopped" in result_text(result),
        "it answers that the replica running the turn stopped",
        result,
    )
    cluster.model.release("orphaned")

    # 11. PostgreSQL stops and comes back: meanwhile a reply is refused with the store's error
    # (nothing runs), and afterwards the replicas reconnect and the thread goes on.
    survivor = next(r for r in cluster.replicas if r.alive())
    direct = Mcp(int(survivor.address.rsplit(":", 1)[1]))
    pg.stop()
    before = len(cluster.model.requests)
    result, _ = direct.call("codex-reply", {"threadId": thread, "prompt": "ECHO without a store"})
    check(result.get("isError") and "thread store" in result_text(result), "with the store down, a reply is refused with the store's error", result)
    check(len(cluster.model.requests) == before, "and nothing ran", len(cluster.model.requests) - before)
    pg.serve()
    prompts.append("ECHO the store is back")
    result, _, _ = reply_until_not_busy(cluster, thread, prompts[-1], timeout=30, via=direct)
    expect_seen(result, prompts, "the thread once the store is back")


def rust_store_tests(url: str) -> None:
    if os.environ.get("REPLICAS_SKIP_RUST") == "1":
        print("skipping the Rust store tests (REPLICAS_SKIP_RUST=1)")
        return
    env = dict(os.environ, CODEX_TEST_POSTGRES_URL=url, CODEX_TEST_POSTGRES_REQUIRED="1")
    out = subprocess.run(
        # --workspace, as .ci/run's `cargo test` before it: the same features, so nothing rebuilds.
        ["cargo", "test", "--workspace", "--locked", "--lib", "thread_store", "--", "--nocapture"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    sys.stdout.write(out.stdout[-3000:])
    check(out.returncode == 0, "the Rust tests of the PostgreSQL store pass against the real server", out.stderr[-3000:])
    check("skipped:" not in out.stdout + out.stderr, "the Rust store tests ran (not skipped)", out.stderr[-1000:])


def main() -> int:
    codex_bin = os.path.abspath(os.environ.get("CODEX_BIN", "target/debug/codex"))
    if not os.access(codex_bin, os.X_OK):
        print(f"FAIL: server binary {codex_bin!r} not found (set CODEX_BIN)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="codex-replicas-"))
    started = time.monotonic()
    cluster = None
    try:
        cluster = Cluster(codex_bin, work, replicas=3)
        print(f"cluster up in {time.monotonic() - started:.1f}s: nginx on 127.0.0.1:{cluster.port}, replicas {[r.address for r in cluster.replicas]}", flush=True)
        run(cluster)
        assert cluster.pg is not None
        rust_store_tests(cluster.pg.url)
    except BaseException as err:  # noqa: BLE001 - report anything
        print(f"FAIL: {err}" if isinstance(err, Failed) else "FAIL: " + "".join(traceback.format_exception(err)), flush=True)
        if cluster:
            cluster.stop()
        for log in sorted(work.glob("*.log")):
            print(f"--- {log.name} (last lines)")
            print("\n".join(log.read_text(errors="replace").splitlines()[-25:]))
        print(f"replicas: {passed} passed, 1 failed (work dir kept: {work})")
        return 1
    cluster.stop()
    shutil.rmtree(work, ignore_errors=True)
    print(f"replicas: {passed} passed, 0 failed, {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
