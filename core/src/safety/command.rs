//! Decides which commands are read-only enough to run without asking the user under
//! `untrusted`, so that harmless exploration (`ls`, `rg`, `cat`) does not interrupt them with
//! approvals. It never decides whether a command runs outside the sandbox (`safety.rs`).
//!
//! Every rule here errs towards "not safe": a false negative costs one approval prompt, a
//! false positive runs something the user never agreed to. Programs that run code or read
//! configuration from the project are never safe, whatever the subcommand: `cargo check` runs
//! `build.rs` and proc macros, and every `git` subcommand reads the repository's config, which
//! can name programs to run (`core.fsmonitor`, `diff.external`, textconv drivers, pagers).

use crate::safety::parse_command::shell_script;

/// Programs that only read, whatever arguments they are given.
const ALWAYS_SAFE_PROGRAMS: &[&str] = &[
    "cat", "cd", "echo", "false", "grep", "head", "ls", "nl", "pwd", "tail", "true", "wc", "which",
];

/// `find` options that execute programs, delete files or write files.
const UNSAFE_FIND_OPTIONS: &[&str] = &[
    "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fls", "-fprint", "-fprint0", "-fprintf",
];

/// `rg` options that make it run other programs (preprocessors, decompressors, hostname).
const UNSAFE_RG_OPTIONS: &[&str] = &["--pre", "--hostname-bin", "--search-zip", "-z"];

/// `rg` options whose `--opt=value` form is just as dangerous as the bare form.
const UNSAFE_RG_OPTION_PREFIXES: &[&str] = &["--pre=", "--hostname-bin="];

/// Characters that make a script more than a plain list of commands: redirection,
/// expansion, substitution, subshells, grouping and further lines. A script containing any of
/// them is rejected outright rather than analysed.
const UNSAFE_SCRIPT_CHARS: &[char] = &['<', '>', '$', '`', '(', ')', '{', '}', '\n', '\r'];

/// Tokens that separate the commands of a script; each side is checked on its own.
const SCRIPT_OPERATORS: &[&str] = &["&&", "||", ";", "|"];

/// Returns true when `command` is known to be read-only and may run without approval.
pub(crate) fn is_known_safe_command(command: &[String]) -> bool {
    if let Some(script) = shell_script(command) {
        return is_known_safe_script(script);
    }
    is_known_safe_argv(command)
}

fn is_known_safe_script(script: &str) -> bool {
    if script.contains(UNSAFE_SCRIPT_CHARS) {
        return false;
    }
    let Some(words) = shlex::split(script) else {
        return false;
    };

    let mut commands: Vec<Vec<String>> = vec![Vec::new()];
    for word in words {
        if SCRIPT_OPERATORS.contains(&word.as_str()) {
            commands.push(Vec::new());
        } else if word.contains([';', '&', '|']) {
            // shlex does not know shell operators, so `ls;rm -rf x` arrives as the word
            // `ls;rm`; bash would run `rm`, so an operator glued to a word (or a lone `&`)
            // cannot be told apart from a quoted argument and is refused.
            return false;
        } else if let Some(current) = commands.last_mut() {
            current.push(word);
        }
    }

    // An empty command means a dangling or doubled operator (`ls &&`, `; ls`): not a script
    // we understand.
    commands
        .iter()
        .all(|command| !command.is_empty() && is_known_safe_argv(command))
}

/// The per-program rules, for a single command without any shell around it.
fn is_known_safe_argv(command: &[String]) -> bool {
    let Some((program, args)) = command.split_first() else {
        return false;
    };
    let program = program.as_str();

    if ALWAYS_SAFE_PROGRAMS.contains(&program) {
        return true;
    }

    match program {
        "find" => !args
            .iter()
            .any(|arg| UNSAFE_FIND_OPTIONS.contains(&arg.as_str())),
        "rg" => !args.iter().any(|arg| is_unsafe_rg_arg(arg)),
        "sed" => is_safe_sed(args),
        _ => false,
    }
}

fn is_unsafe_rg_arg(arg: &str) -> bool {
    if UNSAFE_RG_OPTIONS.contains(&arg) {
        return true;
    }
    if UNSAFE_RG_OPTION_PREFIXES
        .iter()
        .any(|prefix| arg.starts_with(prefix))
    {
        return true;
    }
    // `-z` can hide in a cluster of short flags such as `-iz`.
    arg.starts_with('-') && !arg.starts_with("--") && arg.contains('z')
}

/// Only `sed -n <N>p FILE` and `sed -n <M>,<N>p FILE`: printing a line range is the common
/// read-only use, and anything richer (`-i`, `w`, `e`) can write files or run commands.
fn is_safe_sed(args: &[String]) -> bool {
    let [flag, range, file] = args else {
        return false;
    };
    flag == "-n" && is_line_range_print(range) && !file.starts_with('-')
}

fn is_line_range_print(expr: &str) -> bool {
    let Some(range) = expr.strip_suffix('p') else {
        return false;
    };
    let is_number = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    match range.split_once(',') {
        Some((start, end)) => is_number(start) && is_number(end),
        None => is_number(range),
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    /// Asserts that every command in `commands` has the `expected` verdict, comparing the
    /// whole table so that a failure lists every command that got the other verdict.
    fn assert_safety(expected: bool, commands: &[&[&str]]) {
        let actual: Vec<(Vec<&str>, bool)> = commands
            .iter()
            .map(|words| {
                let argv: Vec<String> = words.iter().map(|word| (*word).to_string()).collect();
                (words.to_vec(), is_known_safe_command(&argv))
            })
            .collect();
        let wanted: Vec<(Vec<&str>, bool)> = commands
            .iter()
            .map(|words| (words.to_vec(), expected))
            .collect();
        assert_eq!(actual, wanted);
    }

    fn assert_scripts(expected: bool, scripts: &[&str]) {
        let commands: Vec<[&str; 3]> = scripts
            .iter()
            .map(|script| ["bash", "-lc", script])
            .collect();
        let commands: Vec<&[&str]> = commands.iter().map(|command| &command[..]).collect();
        assert_safety(expected, &commands);
    }

    #[test]
    fn empty_argv_is_not_safe() {
        assert_safety(false, &[&[]]);
    }

    #[test]
    fn the_shell_is_read_whether_named_bare_or_by_its_system_path() {
        // `shell_command` runs `$SHELL -c`, so `/bin/bash` must be judged like `bash`: the
        // verdict may not depend on how the server's environment spells the shell.
        assert_safety(
            true,
            &[
                &["bash", "-c", "echo hi"],
                &["/bin/bash", "-c", "echo hi"],
                &["/usr/bin/zsh", "-lc", "ls"],
                &["/bin/sh", "-c", "pwd"],
            ],
        );
        assert_safety(
            false,
            &[
                &["./bash", "-c", "echo hi"],
                &["/tmp/bin/bash", "-c", "echo hi"],
                &["/bin/bash", "-c", "rm -rf x"],
                &["/bin/fish", "-c", "echo hi"],
            ],
        );
    }

    #[test]
    fn always_safe_programs() {
        let commands: Vec<[&str; 2]> = ALWAYS_SAFE_PROGRAMS
            .iter()
            .map(|program| [*program, "x"])
            .collect();
        let commands: Vec<&[&str]> = commands.iter().map(|command| &command[..]).collect();
        assert_safety(true, &commands);
        assert_safety(true, &[&["ls", "-la"], &["pwd"]]);
    }

    #[test]
    fn unknown_programs_are_not_safe() {
        assert_safety(
            false,
            &[
                &["rm", "-rf", "/"],
                &["python3", "-c", "print(1)"],
                // The program name is taken as given, without a PATH lookup.
                &["/bin/ls"],
                &["LS"],
            ],
        );
    }

    #[test]
    fn find_without_actions_is_safe() {
        assert_safety(
            true,
            &[
                &["find", ".", "-name", "*.rs"],
                &["find", ".", "-type", "f", "-print"],
            ],
        );
    }

    #[test]
    fn find_with_actions_is_not_safe() {
        let commands: Vec<[&str; 4]> = UNSAFE_FIND_OPTIONS
            .iter()
            .map(|option| ["find", ".", option, "x"])
            .collect();
        let commands: Vec<&[&str]> = commands.iter().map(|command| &command[..]).collect();
        assert_safety(false, &commands);
        assert_safety(
            false,
            &[
                &["find", ".", "-delete"],
                &["find", ".", "-exec", "rm", "{}", ";"],
            ],
        );
    }

    #[test]
    fn rg_plain_search_is_safe() {
        assert_safety(
            true,
            &[
                &["rg", "foo"],
                &["rg", "-n", "-i", "foo", "src"],
                &["rg", "--files"],
            ],
        );
    }

    #[test]
    fn rg_with_external_programs_is_not_safe() {
        assert_safety(
            false,
            &[
                &["rg", "--pre", "x", "foo"],
                &["rg", "--pre=x", "foo"],
                &["rg", "--hostname-bin", "x", "foo"],
                &["rg", "--hostname-bin=x", "foo"],
                &["rg", "--search-zip", "foo"],
                &["rg", "-z", "foo"],
                &["rg", "-iz", "foo"],
            ],
        );
    }

    #[test]
    fn programs_that_run_project_code_or_config_are_not_safe() {
        assert_safety(
            false,
            &[
                // `build.rs` and proc macros.
                &["cargo", "check"],
                &["cargo", "build"],
                // The repository's config can run programs: `core.fsmonitor` (status),
                // `diff.external` and textconv (diff, log, show), `core.pager`.
                &["git", "status"],
                &["git", "diff"],
                &["git", "log", "--oneline", "-5"],
                &["git", "show"],
                &["git", "branch"],
                &["make", "-n"],
                &["npm", "ls"],
            ],
        );
        assert_scripts(false, &["ls && git status", "git diff | head"]);
    }

    #[test]
    fn sed_line_ranges_are_safe() {
        assert_safety(
            true,
            &[&["sed", "-n", "10p", "f"], &["sed", "-n", "1,5p", "f"]],
        );
    }

    #[test]
    fn other_sed_forms_are_not_safe() {
        assert_safety(
            false,
            &[
                &["sed", "-i", "s/a/b/", "f"],
                &["sed", "-n", "1,5p"],
                &["sed", "-n", "1,5p", "f", "g"],
                &["sed", "-n", "1,5w out", "f"],
                &["sed", "-n", "p", "f"],
                &["sed", "-n", ",5p", "f"],
                &["sed", "-n", "1p", "-i"],
            ],
        );
    }

    #[test]
    fn shell_scripts_of_safe_commands_are_safe() {
        assert_scripts(
            true,
            &[
                "ls",
                "ls && pwd",
                "rg foo src | head -n 5",
                "pwd ; ls -la || echo 'no such dir'",
            ],
        );
        assert_safety(
            true,
            &[
                &["bash", "-c", "ls"],
                &["sh", "-c", "ls"],
                &["sh", "-lc", "ls"],
            ],
        );
    }

    #[test]
    fn shell_scripts_with_unsafe_parts_are_not_safe() {
        assert_scripts(
            false,
            &[
                "rm -rf /",
                "ls && rm -rf /",
                "ls | sh",
                "ls;rm -rf /",
                "ls ;rm -rf /",
                "ls&&rm -rf /",
                "ls & rm -rf /",
                "ls &&",
                "&& ls",
                "",
                "ls 'unterminated",
                // The bash rule applies to the outer command only.
                "bash -lc ls",
            ],
        );
    }

    #[test]
    fn shell_scripts_with_shell_syntax_are_not_safe() {
        assert_scripts(
            false,
            &[
                "ls > out",
                "cat < in",
                "echo $(rm -rf /)",
                "echo `rm -rf /`",
                "echo $HOME",
                "(ls)",
                "{ ls; }",
                "ls\nrm -rf /",
            ],
        );
    }

    #[test]
    fn other_shell_forms_are_not_unwrapped() {
        assert_safety(
            false,
            &[
                &["bash", "-lc", "ls", "extra"],
                &["bash", "-x", "ls"],
                &["fish", "-c", "ls"],
            ],
        );
    }
}
