//! The `<environment_context>` message that tells the model where and under which rules it runs.

use std::fmt::Write as _;
use std::path::Path;

use crate::protocol::AskForApproval;
use crate::protocol::SandboxPolicy;

/// Renders the context block sent as a user message at the start of a conversation.
pub(crate) fn environment_context(
    cwd: &Path,
    approval_policy: AskForApproval,
    sandbox_policy: &SandboxPolicy,
    shell: Option<&str>,
) -> String {
    let network = if sandbox_policy.has_network_access() {
        "enabled"
    } else {
        "restricted"
    };
    let mut text = String::from("<environment_context>\n");
    // Writing into a String cannot fail.
    let _ = writeln!(text, "  <cwd>{}</cwd>", cwd.display());
    let _ = writeln!(
        text,
        "  <approval_policy>{}</approval_policy>",
        approval_policy.as_str()
    );
    let _ = writeln!(
        text,
        "  <sandbox_mode>{}</sandbox_mode>",
        sandbox_policy.mode().as_str()
    );
    let _ = writeln!(text, "  <network_access>{network}</network_access>");
    if let SandboxPolicy::WorkspaceWrite { writable_roots, .. } = sandbox_policy
        && !writable_roots.is_empty()
    {
        text.push_str("  <writable_roots>\n");
        for root in writable_roots {
            let _ = writeln!(text, "    <root>{}</root>", root.display());
        }
        text.push_str("  </writable_roots>\n");
    }
    if let Some(shell) = shell {
        let _ = writeln!(text, "  <shell>{shell}</shell>");
    }
    text.push_str("</environment_context>");
    text
}

/// The name of the user's shell, from `$SHELL`.
pub(crate) fn user_shell_name() -> Option<String> {
    let shell = std::env::var("SHELL").ok()?;
    Path::new(&shell)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn renders_every_known_field() {
        let policy = SandboxPolicy::WorkspaceWrite {
            writable_roots: vec![PathBuf::from("/extra")],
            network_access: false,
            exclude_tmpdir_env_var: false,
            exclude_slash_tmp: false,
        };
        assert_eq!(
            environment_context(
                Path::new("/repo"),
                AskForApproval::OnRequest,
                &policy,
                Some("bash")
            ),
            "<environment_context>\n  <cwd>/repo</cwd>\n  <approval_policy>on-request</approval_policy>\n  <sandbox_mode>workspace-write</sandbox_mode>\n  <network_access>restricted</network_access>\n  <writable_roots>\n    <root>/extra</root>\n  </writable_roots>\n  <shell>bash</shell>\n</environment_context>"
        );
    }
}
