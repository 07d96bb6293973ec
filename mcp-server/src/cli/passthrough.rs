//! Sharing the name `codex` with OpenAI's CLI. Users keep that CLI for its TUI, `codex exec`
//! and `codex mcp list`, and host entries written for its old `codex mcp-server` should keep
//! working. Whichever `codex` comes first on `PATH`, both must work: so a command this program
//! does not have is handed, with its arguments unchanged, to the next `codex` on `PATH` that
//! is not this program (the process is replaced: exit status, signals and terminal carry
//! over). Without one, the user is told what this program is and what it can do.
//!
//! Loops are the danger: a wrapper script named `codex` that runs this binary (as a package
//! manager's shim may) is a different file, so it would be "another codex" for ever. Every
//! hand-off therefore records the program it went to in `CODEX_MCP_HANDED_OFF`, and a program
//! recorded there is never chosen again.
//!
//! Windows cannot replace a process: there the next `codex` (`codex.exe`, or npm's
//! `codex.cmd`) runs as a child and its exit code becomes ours.

use std::ffi::OsString;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt as _;
#[cfg(unix)]
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::path::PathBuf;

use clap::error::ErrorKind;

/// The programs already handed a command, as a `PATH`-style list of canonical paths.
const HANDED_OFF_ENV: &str = "CODEX_MCP_HANDED_OFF";

/// The names this program answers to; anything else is OpenAI's CLI's.
const OWN_COMMANDS: &[&str] = &[
    "mcp",
    "mcp-server",
    "login",
    "logout",
    "sandbox-exec",
    "help",
];

/// Shown at the end of `--help`.
pub(crate) const HELP: &str = "\
Other commands (`exec`, `resume`, `mcp list`, no command at all for the TUI, ...) are OpenAI's \
CLI's: they are handed to the next `codex` on PATH that is not this program, so both can be \
installed. This program is also installed as `codex-mcp`.";

/// Parses the command line for `C`, named after the binary that runs (`codex` or
/// `codex-mcp`). A command line that is not this program's goes to OpenAI's CLI when there is
/// one; otherwise clap's error (or help, or version) is shown.
pub(crate) fn parse<C: clap::Parser>() -> C {
    let invoked_as_codex_mcp = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|argv0| argv0.file_stem().map(|stem| stem == "codex-mcp"))
        .unwrap_or(false);
    let name = if invoked_as_codex_mcp {
        "codex-mcp"
    } else {
        "codex"
    };
    let parsed = C::command()
        .name(name)
        .try_get_matches()
        .and_then(|matches| C::from_arg_matches(&matches));
    match parsed {
        Ok(cli) => cli,
        Err(err) => {
            let shown_by_us = matches!(
                err.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            );
            // `codex mcp --bogus` is a mistake with our command; `codex -m o3 exec` (a flag we
            // do not have) is OpenAI's CLI's.
            let names_our_command = std::env::args_os()
                .skip(1)
                .any(|arg| arg.to_str().is_some_and(|arg| OWN_COMMANDS.contains(&arg)));
            if !shown_by_us
                && !names_our_command
                && let Some(next) = next_codex()
            {
                exec(next);
            }
            err.exit()
        }
    }
}

/// Hands the whole command line to OpenAI's CLI, or explains why not.
pub(crate) fn hand_off() -> ! {
    if let Some(next) = next_codex() {
        exec(next);
    }
    let version = env!("CARGO_PKG_VERSION");
    let first = std::env::args_os().nth(1);
    match first {
        None => eprintln!(
            "codex: this is codex-mcp {version}, an MCP server: an MCP host starts it as `codex mcp`, \
             and `codex login` signs it in (`codex --help` lists its commands). OpenAI's CLI would \
             start its TUI here, but no other `codex` is on PATH."
        ),
        Some(first) => eprintln!(
            "codex: `{}` is not a command of codex-mcp {version} (an MCP server), and no other \
             `codex` (OpenAI's CLI) is on PATH to hand it to. `codex --help` lists this \
             program's commands.",
            first.to_string_lossy()
        ),
    }
    std::process::exit(2)
}

/// A `codex` found on `PATH`.
struct NextCodex {
    path: PathBuf,
    canonical: PathBuf,
}

/// The first `codex` on `PATH` that is neither this program nor one already handed this
/// command. Relative `PATH` entries are skipped: they would run whatever the current
/// directory holds.
fn next_codex() -> Option<NextCodex> {
    let me = std::env::current_exe()
        .and_then(|exe| exe.canonicalize())
        .ok();
    let tried = handed_off();
    std::env::split_paths(&std::env::var_os("PATH")?)
        .filter(|dir| dir.is_absolute())
        .flat_map(|dir| PROGRAM_NAMES.iter().map(move |name| dir.join(name)))
        .filter(|path| is_executable(path))
        .filter_map(|path| {
            let canonical = path.canonicalize().ok()?;
            Some(NextCodex { path, canonical })
        })
        .find(|next| Some(&next.canonical) != me.as_ref() && !tried.contains(&next.canonical))
}

fn handed_off() -> Vec<PathBuf> {
    std::env::var_os(HANDED_OFF_ENV)
        .map(|list| std::env::split_paths(&list).collect())
        .unwrap_or_default()
}

/// The file names of a `codex` on `PATH`, in the order they are preferred.
#[cfg(unix)]
const PROGRAM_NAMES: &[&str] = &["codex"];
#[cfg(windows)]
const PROGRAM_NAMES: &[&str] = &["codex.exe", "codex.cmd"];

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// On Windows a file is run by its extension, which [`PROGRAM_NAMES`] fixes.
#[cfg(windows)]
fn is_executable(path: &Path) -> bool {
    path.metadata().is_ok_and(|meta| meta.is_file())
}

/// Becomes `next`, with this process's arguments.
fn exec(next: NextCodex) -> ! {
    let mut tried = handed_off();
    tried.push(next.canonical);
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut command = std::process::Command::new(&next.path);
    command.args(args);
    if let Ok(list) = std::env::join_paths(tried) {
        command.env(HANDED_OFF_ENV, list);
    }
    #[cfg(unix)]
    let err = command.exec();
    #[cfg(windows)]
    let err = match command.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(err) => err,
    };
    eprintln!("codex: cannot run {}: {err}", next.path.display());
    std::process::exit(126)
}
