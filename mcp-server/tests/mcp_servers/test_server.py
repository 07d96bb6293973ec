#!/usr/bin/env python3
"""An MCP server of our own for mcp-server/tests/suite/mcp_servers.rs: the agent's tools in tests.

Standard library only (newline-delimited JSON-RPC on stdio), so it runs wherever Python 3 does
and can misbehave on purpose: hang at `initialize`, crash in a call, never answer one.

    test_server.py [--hang-initialize] [MARKER...]

Extra arguments are ignored; tests pass a unique marker to find the process in /proc.
"""

import json
import os
import time
import sys

KNOWN_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]

TOOLS = [
    {
        "name": "echo",
        "description": "Echoes the text back.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
        "annotations": {"readOnlyHint": True},
    },
    {
        "name": "env",
        "description": "Tells whether an environment variable is set in this server, and its value.",
        "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
    },
    {
        "name": "slow",
        "description": "Reports progress twice, then answers.",
        "inputSchema": {"type": "object"},
    },
    {
        "name": "delete_everything",
        "description": "Pretends to delete everything.",
        "inputSchema": {"type": "object", "properties": {}},
        "annotations": {"destructiveHint": True},
    },
    {
        "name": "fail",
        "description": "Always reports an error.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    {"name": "crash", "description": "Exits the server.", "inputSchema": {"type": "object"}},
    {"name": "hang", "description": "Never answers.", "inputSchema": {"type": "object"}},
    {
        "name": "dotted.name",
        "description": "A name providers do not accept as it is.",
        "inputSchema": {"type": "object", "properties": {}},
    },
]


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def text_result(text, is_error=False):
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def call_tool(request_id, params):
    name = params.get("name")
    arguments = params.get("arguments") or {}
    token = (params.get("_meta") or {}).get("progressToken")
    if name == "echo":
        return text_result("echo: " + str(arguments.get("text", "")))
    if name == "env":
        value = os.environ.get(str(arguments.get("name", "")))
        return text_result("<unset>" if value is None else "set: " + value)
    if name == "slow":
        if token is not None:
            for step in (1, 2):
                send(
                    {
                        "jsonrpc": "2.0",
                        "method": "notifications/progress",
                        "params": {
                            "progressToken": token,
                            "progress": step,
                            "total": 2,
                            "message": "step %d of 2" % step,
                        },
                    }
                )
            # The result waits until the host has seen the last report (the test creates the
            # file `until` names then), so whether progress is passed through does not depend
            # on which of the client's tasks runs first.
            until = arguments.get("until")
            if until:
                for _ in range(2000):
                    if os.path.exists(until):
                        break
                    time.sleep(0.01)
        return text_result("slow done")
    if name == "delete_everything":
        return text_result("deleted everything")
    if name == "fail":
        return text_result("it went wrong", is_error=True)
    if name == "dotted.name":
        return text_result("dotted ok")
    if name == "crash":
        os._exit(3)
    if name == "hang":
        return None
    raise KeyError(name)


def main():
    hang_initialize = "--hang-initialize" in sys.argv[1:]
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        message = json.loads(line)
        method = message.get("method")
        request_id = message.get("id")
        if request_id is None:
            continue  # a notification
        if method == "initialize":
            if hang_initialize:
                continue
            wanted = message.get("params", {}).get("protocolVersion")
            send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "result": {
                        "protocolVersion": wanted if wanted in KNOWN_VERSIONS else "2025-06-18",
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": "codex-mcp-test-server", "version": "1.0.0"},
                    },
                }
            )
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": request_id, "result": {"tools": TOOLS}})
        elif method == "tools/call":
            try:
                result = call_tool(request_id, message.get("params", {}))
            except KeyError as unknown:
                send(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "error": {"code": -32602, "message": "unknown tool %s" % unknown},
                    }
                )
                continue
            if result is not None:
                send({"jsonrpc": "2.0", "id": request_id, "result": result})
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": request_id, "result": {}})
        else:
            send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "error": {"code": -32601, "message": "method not found: %s" % method},
                }
            )


if __name__ == "__main__":
    main()
