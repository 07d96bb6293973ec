"""A cluster on one machine: PostgreSQL, N `codex mcp --listen` replicas sharing it, nginx
round-robin in front, and a mock Responses API on 127.0.0.1. Standard library only.

Used by `replicas.py` (the checks) and `bench.py` (the figures).
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MOCK_API_KEY = "replicas-mock-key"
# Two principals, as `--auth-tokens` reads them: ownership must hold across replicas.
TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef"}


class Failed(Exception):
    pass


def wait_for(what: str, predicate: Any, timeout: float = 30.0, every: float = 0.05) -> Any:
    """Polls `predicate` until it returns something truthy, or fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- the mock model provider


def sse(events: list[dict[str, Any]]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def completed(response_id: str) -> dict[str, Any]:
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 15,
    }
    return {"type": "response.completed", "response": {"id": response_id, "usage": usage}}


def answer(text: str, response_id: str) -> bytes:
    item = {
        "type": "message",
        "role": "assistant",
        "id": f"msg-{response_id}",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    return sse(
        [
            {"type": "response.created", "response": {"id": response_id}},
            {"type": "response.output_item.done", "item": item},
            completed(response_id),
        ]
    )


def shell_call(call_id: str, argv: list[str], response_id: str) -> bytes:
    item = {"type": "function_call", "call_id": call_id, "name": "shell", "arguments": json.dumps({"command": argv})}
    return sse(
        [
            {"type": "response.created", "response": {"id": response_id}},
            {"type": "response.output_item.done", "item": item},
            completed(response_id),
        ]
    )


def user_prompts(body: Any) -> list[str]:
    """The user's prompts in a request's input, in order (environment context left out)."""
    prompts = []
    for item in body.get("input", []) if isinstance(body, dict) else []:
        if item.get("type") == "message" and item.get("role") == "user":
            for part in item.get("content", []):
                text = part.get("text", "")
                if part.get("type") == "input_text" and not text.startswith("<"):
                    prompts.append(text)
    return prompts


def call_outputs(body: Any) -> list[str]:
    outputs = []
    for item in body.get("input", []) if isinstance(body, dict) else []:
        if item.get("type") == "function_call_output":
            output = item.get("output")
            outputs.append(output if isinstance(output, str) else json.dumps(output))
    return outputs


class MockModel:
    """Answers by the last prompt, whichever replica asks:

    - `ECHO x`: "seen: <every prompt in the history, joined by ' | '>";
    - `RUN x`: first a shell call of `python3 -c print(42)` (asked about: approval policy
      untrusted), then "ran: <its output>";
    - `TWICE x`: two such calls, one after the other (two questions), then "ran twice: 42 42";
    - `SLOW x`: held until `release("x")`, then like ECHO;
    - `RUNSLOW x`: like RUN, but the answer after the command is held until `release("x")`.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Any] = []
        self.errors: list[str] = []
        self.gates: dict[str, threading.Event] = {}
        self.holding: set[str] = set()
        self.counter = 0
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK add ~40 ms to every answer on a kept-alive connection.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                reply = model.respond(self.path, body)
                if reply is None:
                    self.send_response(500)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                try:
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("content-length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    # The replica that asked was killed meanwhile (the kill -9 check).
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        for gate in list(self.gates.values()):
            gate.set()
        self.server.shutdown()
        self.server.server_close()

    def gate(self, name: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(name, threading.Event())

    def release(self, name: str) -> None:
        self.gate(name).set()

    def is_holding(self, name: str) -> bool:
        with self.lock:
            return name in self.holding

    def respond(self, path: str, body: Any) -> bytes | None:
        with self.lock:
            self.requests.append(body)
            self.counter += 1
            rid = f"resp-{self.counter}"
        prompts = user_prompts(body)
        if path != "/v1/responses" or not prompts:
            with self.lock:
                self.errors.append(f"unexpected request to {path}")
            return None
        last = prompts[-1]
        seen = "seen: " + " | ".join(prompts)
        outputs = call_outputs(body)
        if last.startswith("RUNSLOW") and outputs:
            last = "SLOW " + last.split(" ", 1)[1]
        if last.startswith("RUN"):
            if not outputs:
                return shell_call(f"call-{rid}", ["python3", "-c", "print(42)"], rid)
            return answer(f"ran: {'42' if '42' in outputs[0] else outputs[0]}", rid)
        if last.startswith("TWICE"):
            if len(outputs) < 2:
                return shell_call(f"call-{rid}", ["python3", "-c", "print(42)"], rid)
            return answer("ran twice: " + " ".join("42" if "42" in o else o for o in outputs), rid)
        if last.startswith("SLOW"):
            name = last.split(" ", 1)[1]
            gate = self.gate(name)
            with self.lock:
                self.holding.add(name)
            released = gate.wait(120)
            with self.lock:
                self.holding.discard(name)
            if not released:
                return None
        return answer(seen, rid)


# ---------------------------------------------------------------- PostgreSQL


def pg_bin_dir() -> Path:
    if os.environ.get("PG_BIN_DIR"):
        return Path(os.environ["PG_BIN_DIR"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise Failed("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
    return found[-1].parent


@dataclass
class Postgres:
    work: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def _owner(self) -> dict[str, Any]:
        """PostgreSQL refuses to run as root: as root, it runs as the `postgres` user (set on
        the process itself, so that signals reach the server, not a wrapper)."""
        if os.geteuid() != 0:
            return {}
        owner = pwd.getpwnam("postgres")
        return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": [], "cwd": "/"}

    @property
    def url(self) -> str:
        return f"postgres://codex@127.0.0.1:{self.port}/codex"

    def start(self) -> None:
        bin_dir = pg_bin_dir()
        data = self.work / "pgdata"
        data.mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(data, owner.pw_uid, owner.pw_gid)
            os.chmod(self.work, 0o755)
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "codex", "-A", "trust", "--no-sync", "-E", "UTF8"],
            check=True,
            **self._owner(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.serve()
        self.psql("CREATE DATABASE codex", database="postgres")

    def serve(self) -> None:
        """Starts the server on the cluster `start` made (again, after `stop`)."""
        bin_dir = pg_bin_dir()
        data = self.work / "pgdata"
        log = open(self.work / "postgres.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={data}",
                "-c",
                "max_connections=100",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            **self._owner(),
        )
        ready = bin_dir / "pg_isready"
        wait_for(
            "PostgreSQL to accept connections",
            lambda: subprocess.run([str(ready), "-h", "127.0.0.1", "-p", str(self.port), "-U", "codex"], capture_output=True).returncode == 0,
            timeout=30,
            every=0.1,
        )

    def psql(self, sql: str, database: str = "codex") -> str:
        psql = pg_bin_dir() / "psql"
        if not psql.exists():
            psql = Path(shutil.which("psql") or "psql")
        out = subprocess.run(
            [str(psql), "-h", "127.0.0.1", "-p", str(self.port), "-U", "codex", "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return out.stdout.decode().strip()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            # SIGINT: PostgreSQL's fast shutdown, which ends client connections (SIGTERM would
            # wait for the replicas to disconnect).
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


# ---------------------------------------------------------------- replicas and nginx


def config_toml(base_url: str, store_url: str | None, lease_secs: int) -> str:
    store = f'thread_store_url = "{store_url}"\nthread_lease_secs = {lease_secs}\n' if store_url else ""
    return f"""model = "mock-model"
model_provider = "mock"
approval_policy = "untrusted"
{store}
[model_providers.mock]
name = "Mock provider"
base_url = "{base_url}"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0
"""


@dataclass
class Replica:
    name: str
    home: Path
    process: subprocess.Popen[bytes]
    address: str  # host:port

    def alive(self) -> bool:
        return self.process.poll() is None


def start_replica(codex_bin: str, work: Path, name: str, base_url: str, store_url: str | None, lease_secs: int) -> Replica:
    home = work / f"home-{name}"
    home.mkdir()
    (home / "config.toml").write_text(config_toml(base_url, store_url, lease_secs))
    log_path = work / f"{name}.log"
    tokens = work / "tokens"
    if not tokens.exists():
        tokens.write_text("".join(f"{name}:{token}\n" for name, token in TOKENS.items()))
        tokens.chmod(0o600)
    process = subprocess.Popen(
        [codex_bin, "mcp", "--listen", "127.0.0.1:0", "--auth-tokens", str(tokens)],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CODEX_HOME": str(home),
            "MOCK_API_KEY": MOCK_API_KEY,
            "RUST_LOG": os.environ.get("REPLICAS_RUST_LOG", "info"),
            "HOSTNAME": name,
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(log_path, "wb"),  # noqa: SIM115 - the child keeps it
    )

    def listening() -> str | None:
        if process.poll() is not None:
            raise Failed(f"replica {name} exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        found = re.search(r"listening on http://(\S+)/mcp", log_path.read_text(errors="replace"))
        return found.group(1) if found else None

    address = wait_for(f"replica {name} to listen", listening, timeout=60)
    return Replica(name, home, process, address)


def start_nginx(work: Path, replicas: list[Replica]) -> tuple[subprocess.Popen[bytes], int, int]:
    """nginx with two front ends: round-robin, and one hashing on `Mcp-Param-Thread-Id`
    (docs/replicas.md, Routing)."""
    port, hashed_port = free_port(), free_port()
    servers = "\n".join(f"        server {r.address} max_fails=0;" for r in replicas)
    conf = work / "nginx.conf"
    temp = work / "nginx-temp"
    temp.mkdir()
    conf.write_text(
        f"""daemon off;
master_process off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    upstream codex {{
        # Round-robin: every request may land on any replica.
{servers}
        keepalive 16;
    }}
    map $http_mcp_param_thread_id $codex_route {{
        ""      $request_id;
        default $http_mcp_param_thread_id;
    }}
    upstream codex_hashed {{
        hash $codex_route consistent;
{servers}
    }}
    server {{
        listen 127.0.0.1:{hashed_port};
        location /mcp {{
            proxy_pass http://codex_hashed;
            proxy_http_version 1.1;
            proxy_set_header Host localhost;
            proxy_buffering off;
            proxy_read_timeout 300s;
            add_header X-Codex-Upstream $upstream_addr always;
        }}
    }}
    server {{
        listen 127.0.0.1:{port};
        location /mcp {{
            proxy_pass http://codex;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host localhost;
            proxy_buffering off;
            proxy_read_timeout 300s;
            proxy_next_upstream error timeout;
            add_header X-Codex-Upstream $upstream_addr always;
        }}
    }}
}}
"""
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    log = open(work / "nginx.out", "wb")  # noqa: SIM115
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(work)], stdout=log, stderr=subprocess.STDOUT)

    def up() -> bool:
        if process.poll() is not None:
            raise Failed(f"nginx exited: {(work / 'nginx.out').read_text()} {(work / 'nginx-error.log').read_text() if (work / 'nginx-error.log').exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    wait_for("nginx to listen", up, timeout=20)
    return process, port, hashed_port


# ---------------------------------------------------------------- MCP over plain HTTP (2026-07-28)

CAPS_ELICIT = {"elicitation": {"form": {}}}
CAPS_TASKS = {"elicitation": {"form": {}}, "extensions": {"io.modelcontextprotocol/tasks": {}}}


class Mcp:
    """Stateless 2026-07-28 JSON-RPC over HTTP: each request carries its own `_meta`."""

    def __init__(self, port: int, principal: str = "alice") -> None:
        self.port = port
        self.token = TOKENS[principal]
        self.next_id = 0
        self.lock = threading.Lock()

    def request(self, method: str, params: dict[str, Any], caps: dict[str, Any], timeout: float = 120) -> tuple[dict[str, Any], str]:
        """Returns the JSON-RPC message answering the request, and the replica that served it."""
        with self.lock:
            self.next_id += 1
            rid = self.next_id
        params = dict(params)
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": caps,
            "io.modelcontextprotocol/clientInfo": {"name": "replicas-e2e", "version": "1.0.0"},
        }
        body = json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}).encode()
        headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": method,
            "authorization": f"Bearer {self.token}",
        }
        name = params.get("name") or params.get("taskId")
        if name:
            headers["mcp-name"] = name
        # As a SEP-2243 client mirrors `codex-reply`'s annotated `threadId`.
        thread = (params.get("arguments") or {}).get("threadId")
        if method == "tools/call" and name == "codex-reply" and thread:
            headers["mcp-param-thread-id"] = thread
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", "/mcp", body=body, headers=headers)
            response = conn.getresponse()
            upstream = response.getheader("x-codex-upstream", "")
            raw = response.read().decode()
            if response.status != 200:
                raise Failed(f"{method}: HTTP {response.status} from {upstream}: {raw[:500]}")
        finally:
            conn.close()
        messages = []
        if raw.lstrip().startswith("{"):
            messages.append(json.loads(raw))
        else:
            for line in raw.splitlines():
                if line.startswith("data:") and line[5:].strip():
                    messages.append(json.loads(line[5:]))
        for message in messages:
            if message.get("id") == rid:
                # The last upstream nginx tried is the one that answered.
                return message, upstream.split(",")[-1].strip()
        raise Failed(f"{method}: no answer with id {rid} in {raw[:500]}")

    def call(self, tool: str, arguments: dict[str, Any], caps: dict[str, Any] = CAPS_ELICIT, extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
        params: dict[str, Any] = {"name": tool, "arguments": arguments}
        params.update(extra or {})
        message, upstream = self.request("tools/call", params, caps)
        if "result" not in message:
            raise Failed(f"tools/call {tool}: {message}")
        return message["result"], upstream


def result_text(result: dict[str, Any]) -> str:
    content = result.get("content") or []
    return content[0].get("text", "") if content else ""


def thread_of(result: dict[str, Any]) -> str:
    thread = (result.get("structuredContent") or {}).get("threadId")
    if not thread:
        raise Failed(f"no threadId in {result}")
    return thread


class Cluster:
    """Everything started, in the order it must stop."""

    def __init__(self, codex_bin: str, work: Path, replicas: int, shared: bool = True, lease_secs: int = 3) -> None:
        self.work = work
        self.model = MockModel()
        self.pg: Postgres | None = None
        store_url = None
        if shared:
            self.pg = Postgres(work)
            self.pg.start()
            store_url = self.pg.url
        self.replicas = [
            start_replica(codex_bin, work, f"replica{i + 1}", self.model.base_url, store_url, lease_secs) for i in range(replicas)
        ]
        self.nginx, self.port, self.hashed_port = start_nginx(work, self.replicas)
        self.mcp = Mcp(self.port)
        self.hashed = Mcp(self.hashed_port)
        self.bob = Mcp(self.port, "bob")

    def replica_at(self, address: str) -> Replica:
        for replica in self.replicas:
            if replica.address == address:
                return replica
        raise Failed(f"no replica at {address!r}")

    def stop(self) -> None:
        if self.nginx.poll() is None:
            self.nginx.terminate()
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
        for replica in self.replicas:
            if replica.alive():
                replica.process.terminate()
        for replica in self.replicas:
            try:
                replica.process.wait(15)
            except subprocess.TimeoutExpired:
                replica.process.kill()
        self.model.stop()
        if self.pg:
            self.pg.stop()
