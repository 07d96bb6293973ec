#!/usr/bin/env python3
"""`codex mcp --listen` driven by the official MCP Python SDK over Streamable HTTP.

The server runs as a remote host would reach it: `--listen 127.0.0.1:0` with a bearer token
(`CODEX_MCP_AUTH_TOKEN`). The SDK connects with the token in its HTTP client, first in legacy
mode (`initialize`, a session, the approval as an `elicitation/create` on the call's stream),
then in its default mode (2026-07-28, stateless: the approval as an `input_required` result
that the SDK answers by retrying the call). Both times the command is asked about, accepted
and run, and the model sees its output. Without the token the SDK cannot connect at all.

The mock provider and helpers come from `e2e_sdk.py` (the stdio run).

Environment: CODEX_BIN (default target/debug/codex), E2E_TIMEOUT_SECS (default 60).
Exit status 0 on success; 1 with a "FAIL:" line on any failed check.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from mcp import Client, types
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from e2e_default_mode import config_toml
from e2e_sdk import (
    MOCK_API_KEY,
    SHELL_ARGV,
    MockProvider,
    assistant_answer,
    check,
    first_check_failure,
    function_call_output,
    result_text,
    shell_call,
)

TOKEN = "e2e-http-token-0123456789"


async def start_server(codex_bin: str, codex_home: Path) -> tuple[asyncio.subprocess.Process, str]:
    """Starts the server and reads its URL from the line it logs once it listens."""
    server = await asyncio.create_subprocess_exec(
        codex_bin,
        "mcp",
        "--listen",
        "127.0.0.1:0",
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CODEX_HOME": str(codex_home),
            "MOCK_API_KEY": MOCK_API_KEY,
            "CODEX_MCP_AUTH_TOKEN": TOKEN,
            "RUST_LOG": "info",
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert server.stderr is not None
    while True:
        line = (await server.stderr.readline()).decode()
        if not line:
            raise RuntimeError("the server ended before it listened")
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            # Keep reading stderr so the server never blocks on a full pipe.
            asyncio.get_running_loop().create_task(drain(server.stderr))
            return server, found.group(1)


async def drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


def transport(url: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))


async def one_call(url: str, mode: str, cwd: Path, provider: MockProvider, answer: str) -> None:
    asked: list[Any] = []

    async def on_elicit(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept", content={})

    kwargs: dict[str, Any] = {"elicitation_callback": on_elicit}
    if mode == "legacy":
        kwargs["mode"] = "legacy"
    async with Client(transport(url, TOKEN), **kwargs) as client:
        expected = "2026-07-28" if mode == "default" else None
        if expected:
            check(client.protocol_version == expected, f"{mode}: negotiated {expected}", client.protocol_version)
        else:
            check(client.protocol_version < "2026-07-28", f"{mode}: a session-era version", client.protocol_version)
        tools = await client.list_tools()
        names = {tool.name for tool in tools.tools}
        check(names == {"codex", "codex-reply"}, f"{mode}: tools/list over HTTP", sorted(names))
        before = len(provider.snapshot()[0])
        result = await client.call_tool("codex", {"prompt": "run it", "cwd": str(cwd)})
        check(not result.is_error, f"{mode}: codex over HTTP is not an error", result)
        check(result_text(result) == answer, f"{mode}: the answer is {answer!r}", result.content)
        check(len(asked) == 1, f"{mode}: the approval reached the elicitation callback", asked)
        check("python3" in getattr(asked[0], "message", ""), f"{mode}: the question names the command", asked[0])
        requests, errors = provider.snapshot()
        check(not errors, f"{mode}: provider saw no unexpected request", errors)
        output = function_call_output(requests[before + 1].body, "call-1") if len(requests) > before + 1 else None
        check(output is not None and "42" in output, f"{mode}: the approved command ran (the model saw 42)", output)


async def refused_without_token(url: str) -> None:
    try:
        async with Client(transport(url, None), mode="legacy") as client:
            await client.list_tools()
    except BaseException as err:  # noqa: BLE001 - the SDK wraps the 401 in an ExceptionGroup
        # The SDK reports the 401 as an error answer to its `initialize`.
        told = "".join(traceback.format_exception(err))
        check("initialize" in told and "MCPError" in told, "no token: the SDK is refused at initialize", told[-1500:])
        return
    check(False, "no token: the SDK is refused")


async def run(codex_bin: str, work: Path) -> None:
    provider = MockProvider(
        [
            (0.0, shell_call("call-1", SHELL_ARGV, "resp-1")),
            (0.0, assistant_answer("ran it", "resp-2")),
            (0.0, shell_call("call-1", SHELL_ARGV, "resp-3")),
            (0.0, assistant_answer("ran it again", "resp-4")),
        ]
    )
    provider.start()
    codex_home = work / "codex-home"
    cwd = work / "project"
    codex_home.mkdir()
    cwd.mkdir()
    (codex_home / "config.toml").write_text(config_toml(provider.base_url))
    server, url = await start_server(codex_bin, codex_home)
    try:
        await refused_without_token(url)
        await one_call(url, "legacy", cwd, provider, "ran it")
        await one_call(url, "default", cwd, provider, "ran it again")
    finally:
        provider.stop()
        server.terminate()
        code = await asyncio.wait_for(server.wait(), 10)
    check(code == 0, "SIGTERM: the server exits 0", code)


def main() -> int:
    codex_bin = os.path.abspath(os.environ.get("CODEX_BIN", "target/debug/codex"))
    timeout = float(os.environ.get("E2E_TIMEOUT_SECS", "60"))
    if not os.access(codex_bin, os.X_OK):
        print(f"FAIL: server binary {codex_bin!r} not found or not executable (set CODEX_BIN)")
        return 1
    print(f"e2e http: mcp {importlib.metadata.version('mcp')} against {codex_bin} --listen", flush=True)
    work = Path(tempfile.mkdtemp(prefix="codex-e2e-http-"))
    started = time.monotonic()
    try:
        asyncio.run(asyncio.wait_for(run(codex_bin, work), timeout))
    except BaseException as err:  # noqa: BLE001 - report anything, including anyio's ExceptionGroups
        failed = first_check_failure(err)
        if failed is not None:
            print(f"FAIL: {failed}", flush=True)
        else:
            print("FAIL: " + "".join(traceback.format_exception(err)), flush=True)
        print(f"e2e-http: {check.passed} passed, 1 failed (work dir kept: {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"e2e-http: {check.passed} passed, 0 failed, {time.monotonic() - started:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
