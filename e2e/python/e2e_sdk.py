#!/usr/bin/env python3
"""End-to-end test of `codex mcp` driven by the official MCP Python SDK (`mcp` on PyPI).

The SDK is a real third-party client: it spawns the server binary over stdio, negotiates,
lists the tools, calls `codex` and `codex-reply`, answers the approval elicitation, and
receives progress notifications through its own `progress_callback` plumbing. The model
provider is faked in-process: a small HTTP server on 127.0.0.1 answers
`POST /v1/responses` with scripted Responses API SSE bodies and records what it was sent.

Environment:
  CODEX_BIN            server binary (default: target/debug/codex)
  E2E_EXPECT_PROGRESS  "1": require at least one notifications/progress during `codex`
  E2E_TIMEOUT_SECS     overall timeout (default 60)
  E2E_WIRE_LOG         if set, a file to write every JSON-RPC message to (JSON lines, wire order)

Exit status 0 on success; 1 with a "FAIL:" line on any failed check.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client, types
from mcp.client.session import ClientRequestContext
from mcp.shared.message import SessionMessage

MOCK_API_KEY = "e2e-mock-key"
SHELL_ARGV = ["python3", "-c", "print(42)"]
SLOW_RESPONSE_SECS = 1.5
# After the last call returns, how long to keep listening for stray progress or model requests.
SETTLE_SECS = 0.5
# stdio_client gives the server this long to exit after stdin closes before it sends SIGTERM.
SDK_EXIT_GRACE_SECS = 2.0


class CheckFailed(Exception):
    pass


class Checks:
    def __init__(self) -> None:
        self.passed = 0

    def __call__(self, condition: bool, what: str, detail: Any = None) -> None:
        if not condition:
            message = what if detail is None else f"{what}\n  got: {detail}"
            raise CheckFailed(message)
        self.passed += 1
        print(f"ok {self.passed:2d} - {what}", flush=True)


check = Checks()


# --------------------------------------------------------------------------------------
# Mock model provider (Responses API over SSE)
# --------------------------------------------------------------------------------------


def sse(events: list[dict[str, Any]]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def ev_completed(response_id: str) -> dict[str, Any]:
    return {
        "type": "response.completed",
        "response": {
            "id": response_id,
            "usage": {
                "input_tokens": 10,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 5,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 15,
            },
        },
    }


def assistant_answer(text: str, response_id: str) -> bytes:
    return sse(
        [
            {"type": "response.created", "response": {"id": response_id}},
            {"type": "response.output_text.delta", "delta": text},
            {
                "type": "response.output_item.done",
                "item": {
                    "type": "message",
                    "role": "assistant",
                    "id": f"msg-{response_id}",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                },
            },
            ev_completed(response_id),
        ]
    )


def shell_call(call_id: str, argv: list[str], response_id: str) -> bytes:
    return sse(
        [
            {"type": "response.created", "response": {"id": response_id}},
            {
                "type": "response.output_item.done",
                "item": {
                    "type": "function_call",
                    "call_id": call_id,
                    "name": "shell",
                    "arguments": json.dumps({"command": argv}),
                },
            },
            ev_completed(response_id),
        ]
    )


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class MockProvider:
    """Serves a scripted queue of (delay, SSE body); anything beyond it is an error."""

    script: list[tuple[float, bytes]]
    requests: list[RecordedRequest] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
        for item in self.script:
            self._queue.put(item)
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _reject(self, status: int, why: str) -> None:
                with provider._lock:
                    provider.errors.append(f"{self.command} {self.path}: {why}")
                body = f"mock: {why}".encode()
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._record(None)
                self._reject(404, "unexpected GET")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError as err:
                    self._record(raw.decode(errors="replace"))
                    self._reject(400, f"body is not JSON ({err}); content-encoding={self.headers.get('content-encoding')}")
                    return
                self._record(body)
                if self.path != "/v1/responses":
                    self._reject(404, "unexpected path")
                    return
                try:
                    delay, sse_body = provider._queue.get_nowait()
                except queue.Empty:
                    self._reject(500, "unexpected extra request: the script is exhausted")
                    return
                time.sleep(delay)
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(sse_body)))
                self.end_headers()
                self.wfile.write(sse_body)

            def _record(self, body: Any) -> None:
                with provider._lock:
                    provider.requests.append(
                        RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="mock-provider", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def snapshot(self) -> tuple[list[RecordedRequest], list[str]]:
        with self._lock:
            return list(self.requests), list(self.errors)


def input_items(body: Any) -> list[dict[str, Any]]:
    items = body.get("input") if isinstance(body, dict) else None
    return items if isinstance(items, list) else []


def message_texts(body: Any) -> list[tuple[str, str]]:
    """(role, text) of every message item in a Responses request body, in order."""
    out = []
    for item in input_items(body):
        if item.get("type", "message") != "message" or "role" not in item:
            continue
        content = item.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            text = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        else:
            continue
        out.append((item["role"], text))
    return out


def function_call_output(body: Any, call_id: str) -> str | None:
    for item in input_items(body):
        if item.get("type") == "function_call_output" and item.get("call_id") == call_id:
            output = item.get("output")
            return output if isinstance(output, str) else json.dumps(output)
    return None


def has_function_call(body: Any, call_id: str) -> bool:
    return any(item.get("type") == "function_call" and item.get("call_id") == call_id for item in input_items(body))


# --------------------------------------------------------------------------------------
# Wire log: every JSON-RPC message in either direction, in wire order
# --------------------------------------------------------------------------------------


@dataclass
class WireEntry:
    seq: int
    direction: str  # "in" (server -> client) or "out"
    message: dict[str, Any]


class WireLog:
    def __init__(self) -> None:
        self.entries: list[WireEntry] = []
        self.stream_errors: list[str] = []

    def record(self, direction: str, item: SessionMessage | Exception) -> None:
        if isinstance(item, Exception):
            self.stream_errors.append(f"{direction}: {type(item).__name__}: {item}")
            return
        message = item.message.model_dump(by_alias=True, mode="json", exclude_none=True)
        self.entries.append(WireEntry(len(self.entries), direction, message))

    def incoming(self) -> list[WireEntry]:
        return [e for e in self.entries if e.direction == "in"]

    def outgoing_request(self, method: str, tool: str | None = None) -> list[WireEntry]:
        return [
            e
            for e in self.entries
            if e.direction == "out"
            and e.message.get("method") == method
            and (tool is None or (e.message.get("params") or {}).get("name") == tool)
        ]

    def response_to(self, request_id: Any) -> WireEntry | None:
        for e in self.entries:
            if e.direction == "in" and "method" not in e.message and e.message.get("id") == request_id:
                return e
        return None

    def notifications(self, method: str) -> list[WireEntry]:
        return [e for e in self.incoming() if e.message.get("method") == method]


async def pump(source: Any, sink: Any, log: WireLog, direction: str) -> None:
    async with sink:
        async for item in source:
            log.record(direction, item)
            await sink.send(item)


# --------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------


@dataclass
class ProgressSeen:
    progress: float
    total: float | None
    message: str | None


def progress_recorder(sink: list[ProgressSeen]) -> Any:
    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        sink.append(ProgressSeen(progress, total, message))

    return on_progress


def result_text(result: types.CallToolResult) -> str:
    """The answer: the first text block (a second one names the thread)."""
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    return texts[0] if texts else ""


def check_progress(log: WireLog, tool: str, seen: list[ProgressSeen], expect_some: bool, strict: bool) -> int:
    """Progress for the one `tool` call: values, and nothing after the response in wire order.

    The SDK hands progress to `progress_callback` only while the request is pending and runs
    the callback in a task of its own, so "after the call returned" is judged on the wire log:
    a notification for the call's token that the server wrote after the call's response.
    """
    requests = log.outgoing_request("tools/call", tool)
    check(len(requests) == 1, f"{tool}: the SDK sent one tools/call", len(requests))
    request = requests[0].message
    token = ((request.get("params") or {}).get("_meta") or {}).get("progressToken")
    check(token is not None, f"{tool}: the SDK put a _meta.progressToken on tools/call", request.get("params"))
    response = log.response_to(request["id"])
    check(response is not None, f"{tool}: the response is in the wire log")
    on_wire = [e for e in log.notifications("notifications/progress") if e.message["params"].get("progressToken") == token]
    values = [e.message["params"]["progress"] for e in on_wire]
    check(
        all(a < b for a, b in zip(values, values[1:])),
        f"{tool}: progress values on the wire strictly increase ({len(values)} notifications)",
        values,
    )
    late = [e.message for e in on_wire if e.seq > response.seq]
    check(not late, f"{tool}: no progress notification after the tool's response", late)
    callback_values = [p.progress for p in seen]
    check(
        all(a < b for a, b in zip(callback_values, callback_values[1:])),
        f"{tool}: progress_callback values strictly increase ({len(seen)} callbacks)",
        callback_values,
    )
    check(
        len(seen) == len(on_wire),
        f"{tool}: the SDK delivered every progress notification to progress_callback",
        (len(seen), len(on_wire)),
    )
    if expect_some:
        check(len(seen) >= 1, f"{tool}: at least one progress notification arrived (E2E_EXPECT_PROGRESS=1)")
    if strict and seen:
        no_message = [p for p in seen if not p.message]
        check(not no_message, f"{tool}: every progress notification carries a message", no_message)
    return len(seen)


async def run(codex_bin: str, work: Path, expect_progress: bool, timings: dict[str, float]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    provider = MockProvider(
        [
            (SLOW_RESPONSE_SECS, shell_call("call-1", SHELL_ARGV, "resp-1")),
            (SLOW_RESPONSE_SECS, assistant_answer("ran it", "resp-2")),
            (0.0, assistant_answer("second turn", "resp-3")),
        ]
    )
    provider.start()
    try:
        return await drive(codex_bin, work, provider, expect_progress, timings, summary)
    finally:
        provider.stop()


async def drive(
    codex_bin: str,
    work: Path,
    provider: MockProvider,
    expect_progress: bool,
    timings: dict[str, float],
    summary: dict[str, Any],
) -> dict[str, Any]:
    codex_home = work / "codex-home"
    cwd = work / "project"
    codex_home.mkdir()
    cwd.mkdir()
    (codex_home / "config.toml").write_text(
        f"""model = "mock-model"
model_provider = "mock"
approval_policy = "untrusted"

[model_providers.mock]
name = "Mock provider"
base_url = "{provider.base_url}"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0
"""
    )
    params = StdioServerParameters(
        command=codex_bin,
        args=["mcp"],
        env={"CODEX_HOME": str(codex_home), "MOCK_API_KEY": MOCK_API_KEY, "RUST_LOG": os.environ.get("RUST_LOG", "info")},
    )
    elicitations: list[dict[str, Any]] = []

    async def on_elicit(context: ClientRequestContext, params: Any) -> types.ElicitResult:
        elicitations.append(
            {"request_id": context.request_id, "params": params.model_dump(by_alias=True, mode="json", exclude_none=True)}
        )
        return types.ElicitResult(action="accept", content={})

    log = WireLog()
    stderr_path = work / "server-stderr.log"
    with stderr_path.open("w") as errlog:
        started = time.monotonic()
        async with stdio_client(params, errlog=errlog) as (server_read, server_write):
            to_session_send, to_session_recv = anyio.create_memory_object_stream[Any](16)
            from_session_send, from_session_recv = anyio.create_memory_object_stream[Any](16)
            async with anyio.create_task_group() as pumps:
                pumps.start_soon(pump, server_read, to_session_send, log, "in")
                pumps.start_soon(pump, from_session_recv, server_write, log, "out")
                async with ClientSession(to_session_recv, from_session_send, elicitation_callback=on_elicit) as session:
                    await steps(session, cwd, provider, log, elicitations, expect_progress, timings, summary)
                pumps.cancel_scope.cancel()
            closing = time.monotonic()
        timings["server shutdown"] = time.monotonic() - closing
        timings["session total"] = time.monotonic() - started
    summary["server_stderr"] = stderr_path
    dump = os.environ.get("E2E_WIRE_LOG")
    if dump:
        with open(dump, "w") as out:
            for e in log.entries:
                out.write(json.dumps({"seq": e.seq, "dir": e.direction, "msg": e.message}) + "\n")
    check(
        timings["server shutdown"] < SDK_EXIT_GRACE_SECS,
        f"the server exited within {SDK_EXIT_GRACE_SECS:.0f} s of stdin closing "
        f"({timings['server shutdown']:.2f} s, no SIGTERM needed)",
        timings["server shutdown"],
    )
    check(not log.stream_errors, "every line the server wrote parsed as JSON-RPC", log.stream_errors)
    return summary


async def steps(
    session: ClientSession,
    cwd: Path,
    provider: MockProvider,
    log: WireLog,
    elicitations: list[dict[str, Any]],
    expect_progress: bool,
    timings: dict[str, float],
    summary: dict[str, Any],
) -> None:
    t = time.monotonic()
    init = await session.initialize()
    timings["initialize"] = time.monotonic() - t
    check(init.server_info.name == "codex-mcp-server", "initialize: serverInfo.name is codex-mcp-server", init.server_info)
    summary["protocol"] = init.protocol_version
    summary["server"] = f"{init.server_info.name} {init.server_info.version}"

    tools = await session.list_tools()
    names = {tool.name for tool in tools.tools}
    check(names == {"codex", "codex-reply"}, "tools/list: exactly codex and codex-reply", sorted(names))

    # --- codex: shell call under approval, then an answer --------------------------------
    progress_1: list[ProgressSeen] = []
    t = time.monotonic()
    result = await session.call_tool(
        "codex", {"prompt": "run it", "cwd": str(cwd)}, progress_callback=progress_recorder(progress_1)
    )
    returned_1 = time.monotonic()
    timings["codex call"] = returned_1 - t
    check(not result.is_error, "codex: the result is not an error", (result, provider.snapshot()[1]))
    check(result_text(result) == "ran it", 'codex: the text is "ran it"', result.content)
    structured = result.structured_content or {}
    thread_id = structured.get("threadId")
    check(isinstance(thread_id, str) and thread_id != "", "codex: structuredContent.threadId is present", structured)
    check(structured.get("content") == "ran it", 'codex: structuredContent.content is "ran it"', structured)

    check(len(elicitations) == 1, "codex: the elicitation callback was called once", elicitations)
    typed = elicitations[0]["params"]
    check(
        typed.get("mode", "form") == "form" and "python3" in typed.get("message", ""),
        "elicitation: the SDK parsed a form elicitation whose message names the command",
        typed,
    )
    check(
        "decision" in (typed.get("requestedSchema") or {}).get("properties", {}),
        "elicitation: requestedSchema offers a decision field",
        typed,
    )
    # The SDK's typed params drop fields the MCP schema does not define (mcp 2.x models do
    # not keep extras), so the codex_* fields are read from the raw request on the wire
    # that this callback answered.
    raw = [
        e.message
        for e in log.incoming()
        if e.message.get("method") == "elicitation/create" and e.message.get("id") == elicitations[0]["request_id"]
    ]
    check(len(raw) == 1, "elicitation: the callback answered the one elicitation/create on the wire", raw)
    asked = raw[0].get("params") or {}
    check(asked.get("codex_elicitation") == "exec-approval", "elicitation: codex_elicitation is exec-approval", asked)
    check(asked.get("codex_command") == SHELL_ARGV, f"elicitation: codex_command is {SHELL_ARGV}", asked)
    check(asked.get("codex_call_id") == "call-1", "elicitation: codex_call_id is call-1", asked)

    requests, errors = provider.snapshot()
    check(not errors, "provider: no unexpected request so far", errors)
    check(len(requests) == 2, "provider: the codex call made two model requests", len(requests))
    first, second = requests[0].body, requests[1].body
    check(
        requests[0].headers.get("authorization") == f"Bearer {MOCK_API_KEY}",
        "provider: the request carries the key from env_key",
        requests[0].headers.get("authorization"),
    )
    check(first.get("model") == "mock-model", "provider: the request names mock-model", first.get("model"))
    check(("user", "run it") in message_texts(first), 'provider: the 1st request carries the prompt "run it"', message_texts(first))
    output = function_call_output(second, "call-1")
    check(output is not None and "42" in output, "provider: the 2nd request has call-1's output containing 42", output)
    try:
        parsed = json.loads(output)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "output" in parsed:
        check(str(parsed["output"]).strip() == "42", "provider: call-1's output is exactly 42", parsed)
        exit_code = (parsed.get("metadata") or {}).get("exit_code")
        check(exit_code == 0, "provider: call-1 exited 0", parsed)
    summary["call-1 output"] = output

    # --- codex-reply: a second turn on the same thread -----------------------------------
    progress_2: list[ProgressSeen] = []
    t = time.monotonic()
    reply = await session.call_tool(
        "codex-reply", {"threadId": thread_id, "prompt": "again"}, progress_callback=progress_recorder(progress_2)
    )
    returned_2 = time.monotonic()
    timings["codex-reply call"] = returned_2 - t
    check(not reply.is_error, "codex-reply: the result is not an error", (reply, provider.snapshot()[1]))
    check(result_text(reply) == "second turn", 'codex-reply: the text is "second turn"', reply.content)
    check(
        (reply.structured_content or {}).get("threadId") == thread_id,
        "codex-reply: structuredContent.threadId is the same thread",
        reply.structured_content,
    )
    check(len(elicitations) == 1, "codex-reply: no further elicitation", elicitations[1:])
    answers = [
        e.message
        for e in log.entries
        if e.direction == "out" and "method" not in e.message and e.message.get("id") == elicitations[0]["request_id"]
    ]
    check(
        len(answers) == 1 and answers[0].get("result") == {"action": "accept", "content": {}},
        'elicitation: the SDK answered {"action": "accept", "content": {}}',
        answers,
    )

    # Let stray progress notifications or model requests show up before judging.
    await anyio.sleep(SETTLE_SECS)
    requests, errors = provider.snapshot()
    check(not errors, "provider: no unexpected request", errors)
    check(len(requests) == 3, "provider: three model requests in all", len(requests))
    third = requests[2].body
    texts = message_texts(third)
    check(("user", "run it") in texts, 'provider: the 3rd request still has the first prompt "run it"', texts)
    check(("assistant", "ran it") in texts, 'provider: the 3rd request has the earlier answer "ran it"', texts)
    check(has_function_call(third, "call-1"), "provider: the 3rd request has the call-1 function_call", input_items(third))
    check(function_call_output(third, "call-1") is not None, "provider: the 3rd request has call-1's output")
    check(texts and texts[-1] == ("user", "again"), 'provider: the 3rd request ends with the user\'s "again"', texts[-3:])

    # --- progress ------------------------------------------------------------------------
    summary["progress codex"] = check_progress(log, "codex", progress_1, expect_progress, expect_progress)
    summary["progress codex-reply"] = check_progress(log, "codex-reply", progress_2, False, expect_progress)
    call_ids = {e.message["id"] for e in log.outgoing_request("tools/call")}
    stray = [
        e.message for e in log.notifications("notifications/progress") if e.message["params"].get("progressToken") not in call_ids
    ]
    check(not stray, "progress: no notification names a token the client never sent", stray)

    incoming = log.incoming()
    methods: dict[str, int] = {}
    for e in incoming:
        if "method" in e.message:
            methods[e.message["method"]] = methods.get(e.message["method"], 0) + 1
    summary["server messages"] = methods


def first_check_failure(err: BaseException) -> CheckFailed | None:
    """The CheckFailed inside `err`, which anyio's task groups wrap in ExceptionGroups."""
    if isinstance(err, CheckFailed):
        return err
    if isinstance(err, BaseExceptionGroup):
        for inner in err.exceptions:
            if (found := first_check_failure(inner)) is not None:
                return found
    return None


def main() -> int:
    codex_bin = os.environ.get("CODEX_BIN", "target/debug/codex")
    expect_progress = os.environ.get("E2E_EXPECT_PROGRESS") == "1"
    timeout = float(os.environ.get("E2E_TIMEOUT_SECS", "60"))
    resolved = shutil.which(codex_bin) if os.sep not in codex_bin else codex_bin
    if not resolved or not os.access(resolved, os.X_OK):
        print(f"FAIL: server binary {codex_bin!r} not found or not executable (set CODEX_BIN)")
        return 1
    codex_bin = os.path.abspath(resolved)
    print(
        f"e2e: mcp {importlib.metadata.version('mcp')} (Python {sys.version.split()[0]}) against {codex_bin}; "
        f"E2E_EXPECT_PROGRESS={'1' if expect_progress else 'unset'}",
        flush=True,
    )
    timings: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="codex-e2e-sdk-"))
    started = time.monotonic()
    failure: str | None = None
    summary: dict[str, Any] = {}
    try:
        summary = asyncio.run(asyncio.wait_for(run(codex_bin, work, expect_progress, timings), timeout))
    except BaseException as err:  # noqa: BLE001 - report anything, including anyio's ExceptionGroups
        failed = first_check_failure(err)
        if failed is not None:
            failure = str(failed)
        elif isinstance(err, (asyncio.TimeoutError, TimeoutError)):
            failure = f"timed out after {timeout:.0f} s (timings so far: {timings})"
        else:
            failure = f"{type(err).__name__}: {err}\n" + "".join(traceback.format_exception(err))
    elapsed = time.monotonic() - started
    if failure is not None:
        print(f"FAIL: {failure}", flush=True)
        stderr_log = work / "server-stderr.log"
        if stderr_log.exists():
            tail = stderr_log.read_text(errors="replace").splitlines()[-40:]
            print("--- server stderr (last 40 lines) ---")
            print("\n".join(tail))
        print(f"e2e-sdk: {check.passed} passed, 1 failed")
        print(f"(work dir kept: {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(
        "summary: "
        + f"protocol {summary.get('protocol')}, server {summary.get('server')}; "
        + f"progress notifications: codex {summary.get('progress codex')}, codex-reply {summary.get('progress codex-reply')}; "
        + f"server-initiated traffic: {summary.get('server messages')}"
    )
    print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()) + f", total {elapsed:.2f}s")
    print(f"e2e-sdk: {check.passed} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
