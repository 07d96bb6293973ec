//! Checks of the source tree itself: the invariants a test can see without running anything
//! (ARCHITECTURE.md names them), and that ARCHITECTURE.md stays short and names only files that
//! exist.

use std::collections::BTreeSet;
use std::path::Path;
use std::path::PathBuf;

/// The workspace root: this crate's parent.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate has a parent")
        .to_path_buf()
}

/// Every file of the workspace, relative to the root, build output and caches left out.
fn workspace_files() -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).expect("readable directory");
        for entry in entries {
            let path = entry.expect("readable entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !matches!(name, "target" | ".git" | "node_modules" | "__pycache__") {
                    walk(root, &path, out);
                }
            } else {
                out.push(
                    path.strip_prefix(root)
                        .expect("under the root")
                        .to_path_buf(),
                );
            }
        }
    }
    let root = root();
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

fn rust_files() -> Vec<PathBuf> {
    workspace_files()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(root().join(path)).expect("readable file")
}

/// The code of a file before its unit tests, comments stripped line by line.
fn production_code(text: &str) -> String {
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .map(|line| match line.find("//") {
            Some(comment) => &line[..comment],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let missing: Vec<_> = rust_files()
        .into_iter()
        .filter(|path| !read(path).starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` line saying why they exist: {missing:?}"
    );
}

/// Invariant: only mcp-server writes stdout, and there only the transport (MCP messages) and
/// the command-line subcommands that talk to a terminal, never the server.
#[test]
fn only_the_transport_writes_stdout() {
    // `eprintln!` and `eprint!` go to stderr, and `ExecOutputStream::Stdout` names a command's
    // stream: neither counts.
    let writes_stdout = |code: &str| {
        let macro_call = ["println!", "print!("].iter().any(|name| {
            code.match_indices(name)
                .any(|(at, _)| !code[..at].ends_with('e'))
        });
        macro_call
            || ["stdout()", "io::Stdout"]
                .iter()
                .any(|needle| code.contains(needle))
    };
    let allowed = |path: &Path| {
        path == Path::new("mcp-server/src/stdio_transport.rs")
            || path.starts_with("mcp-server/src/cli")
    };
    let library = |path: &Path| {
        [
            "protocol/src",
            "core/src",
            "mcp-types/src",
            "mcp-server/src",
        ]
        .iter()
        .any(|dir| path.starts_with(dir))
    };
    let offenders: Vec<_> = rust_files()
        .into_iter()
        .filter(|path| library(path) && !allowed(path))
        .filter(|path| writes_stdout(&production_code(&read(path))))
        .collect();
    assert!(
        offenders.is_empty(),
        "stdout belongs to the MCP transport; these files write to it: {offenders:?}"
    );
}

/// Invariant: the wire crates are plain data. Read from Cargo.lock, so a dependency that
/// brings tokio in indirectly is caught too.
#[test]
fn the_wire_crates_have_no_tokio() {
    let lock: toml::Table = read(Path::new("Cargo.lock"))
        .parse()
        .expect("Cargo.lock parses");
    let packages = lock["package"].as_array().expect("packages");
    let dependencies = |name: &str| -> Vec<String> {
        packages
            .iter()
            .filter(|package| package["name"].as_str() == Some(name))
            .flat_map(|package| {
                package
                    .get("dependencies")
                    .and_then(toml::Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            // An entry is "name" or "name version" when several versions are locked.
            .filter_map(|dep| {
                dep.as_str()
                    .map(|d| d.split(' ').next().unwrap_or(d).to_string())
            })
            .collect()
    };
    for krate in ["codex-protocol", "codex-mcp-types"] {
        let mut seen = BTreeSet::new();
        let mut todo = vec![krate.to_string()];
        while let Some(name) = todo.pop() {
            if seen.insert(name.clone()) {
                todo.extend(dependencies(&name));
            }
        }
        assert!(seen.len() > 1, "{krate} is not in Cargo.lock");
        for runtime in ["tokio", "codex-core"] {
            assert!(
                !seen.contains(runtime),
                "{krate} depends on {runtime}, but it must stay plain data"
            );
        }
    }
}

/// ARCHITECTURE.md is a short map of things that rarely change, and true: every file or folder
/// it names in backticks exists.
#[test]
fn architecture_md_is_short_and_names_real_files() {
    let text = read(Path::new("ARCHITECTURE.md"));
    let lines = text.lines().count();
    assert!(
        lines <= 320,
        "ARCHITECTURE.md has {lines} lines; keep it a map and put behaviour in docs/"
    );
    let files = workspace_files();
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .flat_map(|file| file.ancestors().skip(1).map(Path::to_path_buf))
        .collect();
    let named: BTreeSet<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|token| !token.contains(' '))
        .filter(|token| {
            [".rs", ".md", ".py", "/"]
                .iter()
                .any(|end| token.ends_with(end))
        })
        .collect();
    assert!(named.len() > 40, "the map names files: {named:?}");
    let exists = |token: &str| {
        let path = Path::new(token.trim_end_matches('/'));
        files
            .iter()
            .chain(dirs.iter())
            .any(|real| real.ends_with(path))
    };
    let missing: Vec<_> = named.into_iter().filter(|token| !exists(token)).collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names files that do not exist: {missing:?}"
    );
}
