//! `codex`: the program under the name the design and old host entries use (see lib.rs).

fn main() -> anyhow::Result<()> {
    codex_mcp_server::main()
}
