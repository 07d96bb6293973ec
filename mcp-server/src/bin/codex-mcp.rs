//! `codex-mcp`: the same program as `codex`, under a name that does not collide with OpenAI's
//! CLI, so both can be on `PATH` (see lib.rs).

fn main() -> anyhow::Result<()> {
    codex_mcp_server::main()
}
