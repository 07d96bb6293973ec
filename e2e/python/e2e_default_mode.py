#!/usr/bin/env python3
"""`codex mcp` driven by the official MCP Python SDK in its default mode.

`mcp.Client` with no `mode` argument probes `server/discover` and, against this server,
speaks MCP 2026-07-28: no `initialize`, capabilities in every request's `_meta`, and no
requests from the server. So an approval arrives as an `input_required` result, the SDK
hands it to the `elicitation_callback`, and retries the call with the answer. This script
proves that path end to end: the command is asked about, accepted, run, and its output
reaches the model; `codex-reply` then continues the thread named in the result.

The mock provider and helpers come from `e2e_sdk.py` (the legacy-mode run).

Environment: CODEX_BIN (default target/debug/codex), E2E_TIMEOUT_SECS (default 60).
Exit status 0 on success; 1 with a "FAIL:" line on any failed check.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters, types
from mcp.client.session import ClientRequestContext

from e2e_sdk import (
    MOCK_API_KEY,
    SHELL_ARGV,
    MockProvider,
    assistant_answer,
    check,
    first_check_failure,
    function_call_output,
    message_texts,
    result_text,
    shell_call,
)


def config_toml(base_url: str) -> str:
    return f"""model = "mock-model"
model_provider = "mock"
approval_policy = "untrusted"

[model_providers.mock]
name = "Mock provider"
base_url = "{base_url}"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0
"""


async def run(codex_bin: str, work: Path) -> str:
    provider = MockProvider(
        [
            (0.0, shell_call("call-1", SHELL_ARGV, "resp-1")),
            (0.0, assistant_answer("ran it", "resp-2")),
            (0.0, assistant_answer("second turn", "resp-3")),
        ]
    )
    provider.start()
    try:
        return await drive(codex_bin, work, provider)
    finally:
        provider.stop()


async def drive(codex_bin: str, work: Path, provider: MockProvider) -> str:
    codex_home = work / "codex-home"
    cwd = work / "project"
    codex_home.mkdir()
    cwd.mkdir()
    (codex_home / "config.toml").write_text(config_toml(provider.base_url))
    params = StdioServerParameters(
        command=codex_bin,
        args=["mcp"],
        env={"CODEX_HOME": str(codex_home), "MOCK_API_KEY": MOCK_API_KEY, "RUST_LOG": os.environ.get("RUST_LOG", "info")},
    )
    asked: list[tuple[Any, Any]] = []

    async def on_elicit(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append((context, params))
        return types.ElicitResult(action="accept", content={})

    async with Client(params, elicitation_callback=on_elicit) as client:
        check(client.protocol_version == "2026-07-28", "default mode negotiated 2026-07-28", client.protocol_version)
        tools = await client.list_tools()
        names = {tool.name for tool in tools.tools}
        check(names == {"codex", "codex-reply"}, "tools/list: exactly codex and codex-reply", sorted(names))

        result = await client.call_tool("codex", {"prompt": "run it", "cwd": str(cwd)})
        check(not result.is_error, "codex: the result is not an error", (result, provider.snapshot()[1]))
        check(result_text(result) == "ran it", 'codex: the answer "ran it" comes first', result.content)
        check(len(asked) == 1, "the approval reached the elicitation callback once", asked)
        context, elicit = asked[0]
        message = getattr(elicit, "message", "")
        check("python3" in message, "the question names the command", message)
        # The SDK hands the callback only message, requestedSchema and _meta: the codex_*
        # fields are in _meta too, for exactly this.
        meta = context.meta if isinstance(context.meta, dict) else {}
        check(meta.get("codex_command") == SHELL_ARGV, f"_meta.codex_command is {SHELL_ARGV}", meta)
        check(meta.get("codex_elicitation") == "exec-approval", "_meta.codex_elicitation is exec-approval", meta)

        structured = result.structured_content or {}
        thread_id = structured.get("threadId")
        check(isinstance(thread_id, str) and thread_id, "codex: structuredContent.threadId is present", structured)
        texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
        check(
            len(texts) == 2 and thread_id in texts[1],
            "codex: a second text block names the thread, for hosts that read only content",
            texts,
        )
        requests, errors = provider.snapshot()
        check(not errors, "provider: no unexpected request", errors)
        output = function_call_output(requests[1].body, "call-1") if len(requests) > 1 else None
        check(output is not None and "42" in output, "the approved command ran: the model saw 42", output)

        reply = await client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "again"})
        check(result_text(reply) == "second turn", "codex-reply continues the thread", reply.content)
        requests, _ = provider.snapshot()
        check(
            ("assistant", "ran it") in message_texts(requests[-1].body),
            "codex-reply: the model sees the earlier answer",
            message_texts(requests[-1].body),
        )
        return client.protocol_version


def main() -> int:
    codex_bin = os.path.abspath(os.environ.get("CODEX_BIN", "target/debug/codex"))
    timeout = float(os.environ.get("E2E_TIMEOUT_SECS", "60"))
    if not os.access(codex_bin, os.X_OK):
        print(f"FAIL: server binary {codex_bin!r} not found or not executable (set CODEX_BIN)")
        return 1
    print(f"e2e default mode: mcp {importlib.metadata.version('mcp')} against {codex_bin}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="codex-e2e-default-"))
    started = time.monotonic()
    try:
        protocol = asyncio.run(asyncio.wait_for(run(codex_bin, work), timeout))
    except BaseException as err:  # noqa: BLE001 - report anything, including anyio's ExceptionGroups
        failed = first_check_failure(err)
        if failed is not None:
            print(f"FAIL: {failed}", flush=True)
        else:
            print("FAIL: " + "".join(traceback.format_exception(err)), flush=True)
        print(f"e2e-default-mode: {check.passed} passed, 1 failed (work dir kept: {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"e2e-default-mode: protocol {protocol}, {check.passed} passed, 0 failed, {time.monotonic() - started:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
