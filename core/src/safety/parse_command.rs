//! Summarises a command the model wants to run ("read foo.rs", "search for bar in src") so
//! approval UIs and events can show intent instead of a raw argv.
//!
//! A summary must never hide part of what will run: whenever a script is more than a plain
//! list of commands, it is reported as a single [`ParsedCommand::Unknown`] with its full text.

use crate::protocol::ParsedCommand;

/// Tokens that separate the commands of a script.
const SCRIPT_OPERATORS: &[&str] = &["&&", "||", ";", "|"];

/// Characters that, inside a word of a script, mean shell syntax shlex does not understand
/// (an operator glued to a word, redirection, expansion, subshells). Since shlex drops
/// quoting, a quoted `'a|b'` looks the same as a real pipe and is treated alike.
const SCRIPT_SYNTAX_CHARS: &[char] = &[';', '&', '|', '<', '>', '$', '`', '(', ')'];

/// `head`/`tail` options that take the next word as their value.
const HEAD_TAIL_VALUE_OPTIONS: &[&str] = &["-n", "-c", "--lines", "--bytes"];

/// `rg`/`grep` options that take the next word as their value, so that it is not mistaken for
/// the query or path. `-e`/`--regexp` and `-f`/`--file` are handled apart.
const SEARCH_VALUE_OPTIONS: &[&str] = &[
    "-g",
    "--glob",
    "--iglob",
    "-t",
    "--type",
    "-T",
    "--type-not",
    "-m",
    "--max-count",
    "-A",
    "--after-context",
    "-B",
    "--before-context",
    "-C",
    "--context",
    "-M",
    "--max-columns",
    "-j",
    "--threads",
    "--max-depth",
    "--include",
    "--exclude",
    "--exclude-dir",
];

/// Summarises `command`, one entry per command for a `bash -lc` script and one otherwise.
pub fn parse_command(command: &[String]) -> Vec<ParsedCommand> {
    if command.is_empty() {
        return Vec::new();
    }
    match shell_script(command) {
        Some(script) => parse_script(script),
        None => vec![parse_argv(command)],
    }
}

/// The script of `bash -lc SCRIPT`, `bash -c SCRIPT`, `sh -c SCRIPT` or `sh -lc SCRIPT`.
///
/// The shell may be named bare or by its path in a system directory (`/bin/bash`, which is
/// what `shell_command` runs when `$SHELL` says so), but not by any other path: `./bash` in the
/// workspace could be anything.
pub(crate) fn shell_script(command: &[String]) -> Option<&str> {
    match command {
        [shell, flag, script]
            if is_system_shell(shell) && matches!(flag.as_str(), "-c" | "-lc") =>
        {
            Some(script.as_str())
        }
        _ => None,
    }
}

/// Directories whose programs only an administrator can replace.
const SYSTEM_BIN_DIRS: &[&str] = &["/bin", "/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"];

fn is_system_shell(shell: &str) -> bool {
    let (dir, name) = match shell.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, shell),
    };
    matches!(name, "bash" | "sh" | "zsh") && dir.is_none_or(|dir| SYSTEM_BIN_DIRS.contains(&dir))
}

fn parse_script(script: &str) -> Vec<ParsedCommand> {
    let unknown = || {
        vec![ParsedCommand::Unknown {
            cmd: script.to_string(),
        }]
    };
    // shlex reads a newline as a space, but bash reads it as `;`.
    if script.contains(['\n', '\r']) {
        return unknown();
    }
    let Some(words) = shlex::split(script) else {
        return unknown();
    };

    let mut commands: Vec<Vec<String>> = vec![Vec::new()];
    for word in words {
        if SCRIPT_OPERATORS.contains(&word.as_str()) {
            commands.push(Vec::new());
        } else if word.contains(SCRIPT_SYNTAX_CHARS) {
            return unknown();
        } else if let Some(current) = commands.last_mut() {
            current.push(word);
        }
    }

    let parsed: Vec<ParsedCommand> = commands
        .iter()
        .filter(|command| !command.is_empty())
        .map(|command| parse_argv(command))
        .collect();
    if parsed.is_empty() {
        return unknown();
    }
    parsed
}

/// Summarises one command without any shell around it.
fn parse_argv(command: &[String]) -> ParsedCommand {
    let cmd = join(command);
    let Some((program, args)) = command.split_first() else {
        return ParsedCommand::Unknown { cmd };
    };

    match program.as_str() {
        "cat" => match positional_args(args, &[]).as_slice() {
            [path] => read(cmd, path),
            _ => ParsedCommand::Unknown { cmd },
        },
        "head" | "tail" => {
            let positional = positional_args(args, HEAD_TAIL_VALUE_OPTIONS);
            match (positional.as_slice(), args.last()) {
                // The file must be the last word: `head FILE -n 5` is unusual enough to leave
                // unrecognised rather than guess.
                ([path], Some(last)) if *path == last.as_str() => read(cmd, path),
                _ => ParsedCommand::Unknown { cmd },
            }
        }
        "ls" => ParsedCommand::ListFiles {
            path: positional_args(args, &[])
                .first()
                .copied()
                .map(str::to_string),
            cmd,
        },
        "find" => ParsedCommand::ListFiles {
            // Anything before the first expression is a starting point; expressions open with
            // `-name`, `(`, `!` and the like.
            path: args
                .first()
                .filter(|arg| !arg.starts_with(['-', '(', '!']))
                .cloned(),
            cmd,
        },
        "rg" if args.iter().any(|arg| arg == "--files") => ParsedCommand::ListFiles {
            path: positional_args(args, SEARCH_VALUE_OPTIONS)
                .first()
                .copied()
                .map(str::to_string),
            cmd,
        },
        "rg" | "grep" => parse_search(cmd, args),
        _ => ParsedCommand::Unknown { cmd },
    }
}

fn parse_search(cmd: String, args: &[String]) -> ParsedCommand {
    let mut pattern: Option<String> = None;
    let mut pattern_from_option = false;
    let mut positional: Vec<&str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-e" | "--regexp" => {
                if pattern.is_none() {
                    pattern = args.next().cloned();
                } else {
                    args.next();
                }
                pattern_from_option = true;
            }
            "-f" | "--file" => {
                // The patterns live in a file: there is no query to show.
                args.next();
                pattern_from_option = true;
            }
            "--" => positional.extend(args.by_ref().map(String::as_str)),
            option if SEARCH_VALUE_OPTIONS.contains(&option) => {
                args.next();
            }
            option if option.starts_with('-') && option != "-" => {}
            word => positional.push(word),
        }
    }

    // Without `-e`/`-f` the first positional word is the pattern and the next one the path.
    let (query, path) = if pattern_from_option {
        (pattern, positional.first())
    } else {
        (
            positional.first().copied().map(str::to_string),
            positional.get(1),
        )
    };
    ParsedCommand::Search {
        cmd,
        query,
        path: path.copied().map(str::to_string),
    }
}

fn read(cmd: String, path: &str) -> ParsedCommand {
    let name = path
        .rsplit('/')
        .find(|component| !component.is_empty())
        .unwrap_or(path)
        .to_string();
    ParsedCommand::Read {
        cmd,
        name,
        path: path.to_string(),
    }
}

/// The non-option arguments, skipping the value of each option in `value_options`.
fn positional_args<'a>(args: &'a [String], value_options: &[&str]) -> Vec<&'a str> {
    let mut positional = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let arg = arg.as_str();
        if arg == "--" {
            positional.extend(args.by_ref().map(String::as_str));
        } else if value_options.contains(&arg) {
            args.next();
        } else if !arg.starts_with('-') || arg == "-" {
            positional.push(arg);
        }
    }
    positional
}

/// Quotes `words` so the summary can be pasted back into a shell; shlex refuses only NUL
/// bytes, which no shell can pass anyway, so a plain join is fine for display then.
fn join(words: &[String]) -> String {
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_string()).collect()
    }

    fn parse(words: &[&str]) -> Vec<ParsedCommand> {
        parse_command(&argv(words))
    }

    fn bash(script: &str) -> Vec<ParsedCommand> {
        parse(&["bash", "-lc", script])
    }

    fn unknown(cmd: &str) -> ParsedCommand {
        ParsedCommand::Unknown {
            cmd: cmd.to_string(),
        }
    }

    fn read(cmd: &str, name: &str, path: &str) -> ParsedCommand {
        ParsedCommand::Read {
            cmd: cmd.to_string(),
            name: name.to_string(),
            path: path.to_string(),
        }
    }

    fn list(cmd: &str, path: Option<&str>) -> ParsedCommand {
        ParsedCommand::ListFiles {
            cmd: cmd.to_string(),
            path: path.map(str::to_string),
        }
    }

    fn search(cmd: &str, query: Option<&str>, path: Option<&str>) -> ParsedCommand {
        ParsedCommand::Search {
            cmd: cmd.to_string(),
            query: query.map(str::to_string),
            path: path.map(str::to_string),
        }
    }

    #[test]
    fn empty_argv_gives_nothing() {
        assert_eq!(parse(&[]), Vec::new());
    }

    #[test]
    fn serializes_with_snake_case_type_tag() {
        let json = serde_json::to_string(&list("ls -la", None)).unwrap();
        assert_eq!(json, r#"{"type":"list_files","cmd":"ls -la","path":null}"#);
    }

    #[test]
    fn round_trips_through_json() {
        let parsed = search("rg foo src", Some("foo"), Some("src"));
        let json = serde_json::to_string(&parsed).unwrap();
        assert_eq!(
            serde_json::from_str::<ParsedCommand>(&json).unwrap(),
            parsed
        );
    }

    #[test]
    fn cat_one_file_is_a_read() {
        assert_eq!(
            parse(&["cat", "src/main.rs"]),
            vec![read("cat src/main.rs", "main.rs", "src/main.rs")]
        );
        assert_eq!(
            parse(&["cat", "README.md"]),
            vec![read("cat README.md", "README.md", "README.md")]
        );
    }

    #[test]
    fn cat_of_several_files_or_stdin_is_unknown() {
        assert_eq!(parse(&["cat", "a", "b"]), vec![unknown("cat a b")]);
        assert_eq!(parse(&["cat"]), vec![unknown("cat")]);
    }

    #[test]
    fn head_and_tail_with_a_trailing_file_are_reads() {
        assert_eq!(
            parse(&["head", "-n", "20", "src/lib.rs"]),
            vec![read("head -n 20 src/lib.rs", "lib.rs", "src/lib.rs")]
        );
        assert_eq!(
            parse(&["tail", "-n50", "logs/out.log"]),
            vec![read("tail -n50 logs/out.log", "out.log", "logs/out.log")]
        );
        assert_eq!(
            parse(&["tail", "-f", "out.log"]),
            vec![read("tail -f out.log", "out.log", "out.log")]
        );
    }

    #[test]
    fn head_and_tail_without_a_single_trailing_file_are_unknown() {
        assert_eq!(parse(&["head", "-n", "5"]), vec![unknown("head -n 5")]);
        assert_eq!(parse(&["head", "a", "b"]), vec![unknown("head a b")]);
        assert_eq!(
            parse(&["tail", "f", "-n", "5"]),
            vec![unknown("tail f -n 5")]
        );
    }

    #[test]
    fn ls_lists_the_first_non_flag_path() {
        assert_eq!(parse(&["ls"]), vec![list("ls", None)]);
        assert_eq!(parse(&["ls", "-la"]), vec![list("ls -la", None)]);
        assert_eq!(
            parse(&["ls", "-la", "src", "docs"]),
            vec![list("ls -la src docs", Some("src"))]
        );
    }

    #[test]
    fn find_lists_its_starting_point() {
        assert_eq!(
            parse(&["find", "src", "-name", "*.rs"]),
            vec![list("find src -name '*.rs'", Some("src"))]
        );
        assert_eq!(
            parse(&["find", "-name", "*.rs"]),
            vec![list("find -name '*.rs'", None)]
        );
    }

    #[test]
    fn rg_and_grep_are_searches() {
        assert_eq!(
            parse(&["rg", "-n", "foo", "src"]),
            vec![search("rg -n foo src", Some("foo"), Some("src"))]
        );
        assert_eq!(
            parse(&["rg", "foo"]),
            vec![search("rg foo", Some("foo"), None)]
        );
        assert_eq!(
            parse(&["grep", "-rn", "fn main", "."]),
            vec![search("grep -rn 'fn main' .", Some("fn main"), Some("."))]
        );
        assert_eq!(parse(&["rg"]), vec![search("rg", None, None)]);
    }

    #[test]
    fn search_option_values_are_not_queries() {
        assert_eq!(
            parse(&["rg", "-g", "*.rs", "foo", "src"]),
            vec![search("rg -g '*.rs' foo src", Some("foo"), Some("src"))]
        );
        assert_eq!(
            parse(&["grep", "-e", "foo", "src"]),
            vec![search("grep -e foo src", Some("foo"), Some("src"))]
        );
        assert_eq!(
            parse(&["rg", "-f", "patterns.txt", "src"]),
            vec![search("rg -f patterns.txt src", None, Some("src"))]
        );
        assert_eq!(
            parse(&["rg", "--", "-foo", "src"]),
            vec![search("rg -- -foo src", Some("-foo"), Some("src"))]
        );
    }

    #[test]
    fn rg_files_lists_files() {
        assert_eq!(
            parse(&["rg", "--files", "src"]),
            vec![list("rg --files src", Some("src"))]
        );
    }

    #[test]
    fn other_commands_are_unknown() {
        assert_eq!(
            parse(&["cargo", "test", "--all"]),
            vec![unknown("cargo test --all")]
        );
        assert_eq!(
            parse(&["echo", "hello world"]),
            vec![unknown("echo 'hello world'")]
        );
    }

    #[test]
    fn bash_pipeline_is_split_into_commands() {
        assert_eq!(
            bash("rg foo src | head -n 5"),
            vec![
                search("rg foo src", Some("foo"), Some("src")),
                unknown("head -n 5"),
            ]
        );
    }

    #[test]
    fn bash_command_lists_are_split_at_every_operator() {
        assert_eq!(
            bash("cd src && ls ; cat 'a b.txt' || git status"),
            vec![
                unknown("cd src"),
                list("ls", None),
                read("cat 'a b.txt'", "a b.txt", "a b.txt"),
                unknown("git status"),
            ]
        );
        assert_eq!(
            parse(&["sh", "-c", "ls src"]),
            vec![list("ls src", Some("src"))]
        );
        assert_eq!(parse(&["bash", "-c", "pwd"]), vec![unknown("pwd")]);
        assert_eq!(
            parse(&["sh", "-lc", "cat x"]),
            vec![read("cat x", "x", "x")]
        );
    }

    #[test]
    fn bash_dangling_operators_are_skipped() {
        assert_eq!(bash("ls &&"), vec![list("ls", None)]);
        assert_eq!(bash("; ;"), vec![unknown("; ;")]);
        assert_eq!(bash(""), vec![unknown("")]);
    }

    #[test]
    fn bash_scripts_shlex_cannot_split_are_unknown() {
        assert_eq!(
            bash("cat 'unterminated"),
            vec![unknown("cat 'unterminated")]
        );
    }

    #[test]
    fn bash_scripts_with_other_shell_syntax_are_one_unknown() {
        for script in [
            "ls foo;rm -rf /",
            "ls > out",
            "cat < in",
            "ls & rm -rf /",
            "cat $(echo x)",
            "ls\nrm -rf /",
        ] {
            assert_eq!(bash(script), vec![unknown(script)], "{script}");
        }
    }

    #[test]
    fn other_shell_forms_are_not_unwrapped() {
        assert_eq!(
            parse(&["bash", "-lc", "ls", "x"]),
            vec![unknown("bash -lc ls x")]
        );
        assert_eq!(
            parse(&["bash", "script.sh"]),
            vec![unknown("bash script.sh")]
        );
    }
}
