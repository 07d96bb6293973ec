#!/usr/bin/env node
// codex-mcp's npm launcher: finds the native binary in the package for this platform (an
// optional dependency, installed only where it fits, as @openai/codex does) and runs it with
// the same arguments and the same stdin/stdout, so an MCP host speaks to the binary itself.
"use strict";

const { spawn } = require("node:child_process");
const path = require("node:path");

const platformPackage = `codex-mcp-${process.platform}-${process.arch}`;
const exe = process.platform === "win32" ? "codex-mcp.exe" : "codex-mcp";

let binary;
try {
  binary = path.join(path.dirname(require.resolve(`${platformPackage}/package.json`)), "bin", exe);
} catch {
  process.stderr.write(
    `codex-mcp: no binary for ${process.platform}-${process.arch}: the optional package ` +
      `${platformPackage} is not installed (npm skips it on platforms without a build, or ` +
      `with --omit=optional). Install from source instead: ` +
      `cargo install --locked --path mcp-server\n`,
  );
  process.exit(1);
}

// stdio is inherited, not piped: the host's pipes go to the binary untouched, with no copy
// in between and nothing of ours on stdout.
const child = spawn(binary, process.argv.slice(2), { stdio: "inherit" });

// A host stops the server with SIGTERM (or Ctrl-C in a terminal): pass it on, so the server
// shuts down its turns cleanly instead of being orphaned.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}

child.on("error", (err) => {
  process.stderr.write(`codex-mcp: cannot run ${binary}: ${err.message}\n`);
  process.exit(1);
});

child.on("exit", (code, signal) => {
  if (signal) {
    // Die of the same signal, so the host sees what the binary saw.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
