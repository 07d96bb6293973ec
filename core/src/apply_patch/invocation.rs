//! Recognises an `apply_patch` call that a model made through the shell tool instead of the
//! dedicated tool, so the engine can route it through patch verification and approval rather
//! than running an `apply_patch` binary that may not exist.

/// Names under which models invoke the patch tool.
const PATCH_COMMANDS: &[&str] = &["apply_patch", "applypatch"];

/// The patch text if `command` is a plain patch invocation: `["apply_patch", patch]`, or
/// `["bash", "-lc" | "-c", script]` whose script is only `apply_patch <<'DELIM'` with its
/// heredoc. Anything more elaborate (a `cd` first, commands after the heredoc) yields `None`,
/// so it is run, and judged, as an ordinary command.
pub fn extract_patch_from_shell(command: &[String]) -> Option<String> {
    match command {
        [program, patch] if PATCH_COMMANDS.contains(&program.as_str()) => Some(patch.clone()),
        [shell, flag, script] if is_posix_shell(shell) && (flag == "-lc" || flag == "-c") => {
            patch_from_heredoc_script(script)
        }
        _ => None,
    }
}

/// `bash` or `zsh`, by name or by path (`/bin/bash`): `shell_command` and `exec_command` run
/// scripts with the user's shell, named by its path. Plain `sh` is left alone, as before.
fn is_posix_shell(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    matches!(name, "bash" | "zsh")
}

/// Parses `apply_patch <<DELIM\n...\nDELIM`, with the delimiter bare, single- or
/// double-quoted, and returns the heredoc body with a trailing newline, as the command would
/// have read it on stdin.
fn patch_from_heredoc_script(script: &str) -> Option<String> {
    let script = script.trim();
    let (first_line, body) = script.split_once('\n')?;

    let first_line = first_line.trim();
    let program = PATCH_COMMANDS
        .iter()
        .find(|name| first_line.starts_with(**name))?;
    let redirect = first_line[program.len()..].trim_start();
    let delimiter = heredoc_delimiter(redirect.strip_prefix("<<")?.trim_start())?;

    let body_lines: Vec<&str> = body.lines().collect();
    // The heredoc ends at the first line equal to its delimiter; anything after it would be
    // further commands, which this shortcut must not skip over.
    let end = body_lines.iter().position(|line| *line == delimiter)?;
    if end + 1 != body_lines.len() {
        return None;
    }

    let mut patch = body_lines[..end].join("\n");
    patch.push('\n');
    Some(patch)
}

/// The delimiter word of a heredoc redirect, stripped of its quotes.
fn heredoc_delimiter(word: &str) -> Option<&str> {
    let unquoted = match word.chars().next()? {
        quote @ ('\'' | '"') => word.strip_prefix(quote)?.strip_suffix(quote)?,
        _ => word,
    };
    let is_word = !unquoted.is_empty()
        && unquoted
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    is_word.then_some(unquoted)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn argv(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|part| String::from(*part)).collect()
    }

    const PATCH: &str = "*** Begin Patch\n*** Delete File: a.txt\n*** End Patch\n";

    #[test]
    fn direct_invocation() {
        assert_eq!(
            extract_patch_from_shell(&argv(&["apply_patch", PATCH])),
            Some(PATCH.to_string())
        );
        assert_eq!(
            extract_patch_from_shell(&argv(&["applypatch", PATCH])),
            Some(PATCH.to_string())
        );
    }

    #[test]
    fn heredoc_with_each_quoting() {
        for (flag, opener) in [
            ("-lc", "<<'EOF'"),
            ("-c", "<<EOF"),
            ("-lc", "<<\"EOF\""),
            ("-lc", "<< 'PATCH_END'"),
        ] {
            let delimiter = opener
                .trim_start_matches("<<")
                .trim()
                .trim_matches(['\'', '"']);
            let script = format!("apply_patch {opener}\n{PATCH}{delimiter}\n");
            assert_eq!(
                extract_patch_from_shell(&argv(&["bash", flag, &script])),
                Some(PATCH.to_string()),
                "{script}"
            );
        }
    }

    #[test]
    fn the_users_shell_by_path_is_recognised() {
        for shell in ["/bin/bash", "/usr/bin/zsh", "zsh"] {
            let script = format!("apply_patch <<'EOF'\n{PATCH}EOF");
            assert_eq!(
                extract_patch_from_shell(&argv(&[shell, "-lc", &script])).as_deref(),
                Some(PATCH),
                "{shell}"
            );
        }
    }

    #[test]
    fn heredoc_script_is_trimmed() {
        let script = format!("\n  applypatch <<'EOF'\n{PATCH}EOF\n\n");
        assert_eq!(
            extract_patch_from_shell(&argv(&["bash", "-lc", &script])),
            Some(PATCH.to_string())
        );
    }

    #[test]
    fn cd_prefix_is_not_extracted() {
        let script = format!("cd sub && apply_patch <<'EOF'\n{PATCH}EOF");
        assert_eq!(
            extract_patch_from_shell(&argv(&["bash", "-lc", &script])),
            None
        );
    }

    #[test]
    fn commands_after_heredoc_are_not_extracted() {
        let script = format!("apply_patch <<'EOF'\n{PATCH}EOF\nrm -rf /tmp/x");
        assert_eq!(
            extract_patch_from_shell(&argv(&["bash", "-lc", &script])),
            None
        );
    }

    #[test]
    fn other_commands_are_not_extracted() {
        for command in [
            argv(&["apply_patch"]),
            argv(&["apply_patch", PATCH, "extra"]),
            argv(&["cat", PATCH]),
            argv(&["bash", "-x", "apply_patch <<EOF\nx\nEOF"]),
            argv(&["sh", "-c", "apply_patch <<EOF\nx\nEOF"]),
            argv(&["bash", "-lc", "apply_patch"]),
            argv(&["bash", "-lc", "apply_patch <<'EOF\nx\nEOF"]),
            argv(&["bash", "-lc", "apply_patch < patch.txt\nEOF"]),
            argv(&["bash", "-lc", "apply_patch <<EOF\nno terminator"]),
            argv(&["bash", "-lc", "apply_patchx <<EOF\nx\nEOF"]),
            argv(&["/usr/bin/fish", "-c", "apply_patch <<EOF\nx\nEOF"]),
        ] {
            assert_eq!(extract_patch_from_shell(&command), None, "{command:?}");
        }
    }
}
