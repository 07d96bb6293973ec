//! The developer message that tells the model what it may do on this machine: its sandbox, its
//! network, who approves what, and how to ask for more. Written in our own words; models act
//! better when the rules are stated than when they find them by failing.

use std::fmt::Write as _;

use crate::config::Config;
use crate::config::model_family::ShellToolType;
use crate::protocol::AskForApproval;
use crate::protocol::ResponseItem;
use crate::protocol::SandboxPolicy;

/// Renders the `<permissions>` developer message for `config`'s sandbox and approval policy.
pub(super) fn permissions_message(config: &Config) -> ResponseItem {
    ResponseItem::text_message("developer", permissions_text(config))
}

fn permissions_text(config: &Config) -> String {
    let mut text = String::from("<permissions>\n");
    let sandbox = match &config.sandbox_policy {
        SandboxPolicy::ReadOnly => {
            "Sandbox: read-only. Commands may read any file but write none.".to_string()
        }
        SandboxPolicy::WorkspaceWrite {
            writable_roots,
            exclude_tmpdir_env_var,
            exclude_slash_tmp,
            ..
        } => {
            let mut places = format!("the working directory ({})", config.cwd.display());
            for root in writable_roots {
                let _ = write!(places, ", {}", root.display());
            }
            let temp = match (*exclude_slash_tmp, *exclude_tmpdir_env_var) {
                (false, false) => " and the temporary directories",
                (true, false) => " and $TMPDIR",
                (false, true) => " and /tmp",
                (true, true) => "",
            };
            format!(
                "Sandbox: workspace-write. Commands may write in {places}{temp}, nowhere \
                 else; a `.git` directory at the top of those stays read-only."
            )
        }
        SandboxPolicy::DangerFullAccess => {
            "Sandbox: none. Commands run with the user's full permissions; be careful.".to_string()
        }
    };
    let _ = writeln!(text, "{sandbox}");
    let network = if config.sandbox_policy.has_network_access() {
        "Network: commands may use the network."
    } else {
        "Network: commands have no network access."
    };
    let _ = writeln!(text, "{network}");
    let approvals = match config.approval_policy {
        AskForApproval::UnlessTrusted => {
            "Approvals (untrusted): a command not known to only read is put to the user before \
             it runs; a denied command does not run, so do not retry it as it was."
        }
        AskForApproval::OnFailure => {
            "Approvals (on-failure): commands run in the sandbox; when one fails there, the user \
             is asked whether to run it again without the sandbox."
        }
        AskForApproval::OnRequest => match config.model_family().shell_tool {
            ShellToolType::UnifiedExec => {
                "Approvals (on-request): commands run in the sandbox. When one needs more \
                 (writing elsewhere, the network), call `exec_command` with `sandbox_permissions: \
                 \"require_escalated\"` and a one-sentence `justification`; the user decides. \
                 Patches outside the writable places are put to the user as well."
            }
            ShellToolType::Shell | ShellToolType::ShellCommand => {
                "Approvals (on-request): commands run in the sandbox. When one needs more (writing \
                 elsewhere, the network), call the shell tool with `with_escalated_permissions: \
                 true` and a one-sentence `justification`; the user decides. Patches outside the \
                 writable places are put to the user as well."
            }
        },
        AskForApproval::Never => {
            "Approvals (never): nobody will be asked. Work within the sandbox; when something \
             cannot be done there, say so in your answer instead of trying to get around it."
        }
    };
    let _ = writeln!(text, "{approvals}");
    text.push_str("</permissions>");
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use pretty_assertions::assert_eq;

    use super::*;
    use crate::config::ConfigOverrides;

    #[test]
    fn the_message_states_sandbox_network_and_approvals() {
        let home = tempfile::TempDir::new().unwrap();
        let mut config = Config::load(home.path(), &[], ConfigOverrides::default()).unwrap();
        config.cwd = PathBuf::from("/work/project");
        config.sandbox_policy = SandboxPolicy::WorkspaceWrite {
            writable_roots: vec![PathBuf::from("/srv/cache")],
            network_access: false,
            exclude_tmpdir_env_var: false,
            exclude_slash_tmp: false,
        };
        config.approval_policy = AskForApproval::OnRequest;
        assert_eq!(
            permissions_text(&config),
            "<permissions>\n\
             Sandbox: workspace-write. Commands may write in the working directory \
             (/work/project), /srv/cache and the temporary directories, nowhere else; a `.git` \
             directory at the top of those stays read-only.\n\
             Network: commands have no network access.\n\
             Approvals (on-request): commands run in the sandbox. When one needs more (writing \
             elsewhere, the network), call the shell tool with `with_escalated_permissions: \
             true` and a one-sentence `justification`; the user decides. Patches outside the \
             writable places are put to the user as well.\n\
             </permissions>"
        );
        config.sandbox_policy = SandboxPolicy::DangerFullAccess;
        config.approval_policy = AskForApproval::Never;
        let text = permissions_text(&config);
        assert!(text.contains("Sandbox: none."), "{text}");
        assert!(text.contains("commands may use the network"), "{text}");
        assert!(text.contains("Approvals (never)"), "{text}");
    }
}
