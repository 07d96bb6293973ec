//! Whether a command may run, must be asked about, or is refused: the approval-policy ×
//! sandbox matrix.

use crate::protocol::AskForApproval;
use crate::protocol::SandboxPolicy;
use crate::sandbox::SandboxType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SafetyCheck {
    /// Run without asking, in this sandbox.
    AutoApprove { sandbox: SandboxType },
    /// Ask the user first; approved commands run without a sandbox.
    AskUser { reason: Option<String> },
    /// Do not run; tell the model why.
    Reject { reason: String },
}

pub(crate) struct CommandAssessment<'a> {
    pub(crate) approval_policy: AskForApproval,
    pub(crate) sandbox_policy: &'a SandboxPolicy,
    /// The platform sandbox, if this machine has one.
    pub(crate) platform_sandbox: Option<SandboxType>,
    /// Known read-only, or approved for this conversation already.
    pub(crate) trusted: bool,
    pub(crate) with_escalated_permissions: bool,
    pub(crate) justification: Option<&'a str>,
}

pub(crate) fn assess_command_safety(assessment: &CommandAssessment<'_>) -> SafetyCheck {
    if assessment.trusted {
        return SafetyCheck::AutoApprove {
            sandbox: SandboxType::None,
        };
    }
    let policy = assessment.approval_policy;
    if policy == AskForApproval::UnlessTrusted {
        return SafetyCheck::AskUser { reason: None };
    }
    if *assessment.sandbox_policy == SandboxPolicy::DangerFullAccess {
        return SafetyCheck::AutoApprove {
            sandbox: SandboxType::None,
        };
    }
    if policy == AskForApproval::OnRequest && assessment.with_escalated_permissions {
        return SafetyCheck::AskUser {
            reason: assessment.justification.map(str::to_string),
        };
    }
    match (assessment.platform_sandbox, policy) {
        (Some(sandbox), _) => SafetyCheck::AutoApprove { sandbox },
        (None, AskForApproval::Never) => SafetyCheck::Reject {
            reason: format!(
                "command rejected: the {} sandbox is not available on this machine and approval_policy is never, so only known read-only commands can run; use read-only commands or ask the user to change the policy",
                assessment.sandbox_policy.mode().as_str()
            ),
        },
        (None, _) => SafetyCheck::AskUser {
            reason: Some(format!(
                "no {} sandbox is available on this machine, so the command would run unsandboxed",
                assessment.sandbox_policy.mode().as_str()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn check(
        policy: AskForApproval,
        sandbox: &SandboxPolicy,
        platform: Option<SandboxType>,
        trusted: bool,
        escalated: bool,
    ) -> SafetyCheck {
        assess_command_safety(&CommandAssessment {
            approval_policy: policy,
            sandbox_policy: sandbox,
            platform_sandbox: platform,
            trusted,
            with_escalated_permissions: escalated,
            justification: Some("needs network"),
        })
    }

    #[test]
    fn the_matrix() {
        use AskForApproval::*;
        let ro = SandboxPolicy::ReadOnly;
        let full = SandboxPolicy::DangerFullAccess;
        let none = SandboxType::None;
        assert_eq!(
            check(UnlessTrusted, &full, None, true, false),
            SafetyCheck::AutoApprove { sandbox: none }
        );
        assert_eq!(
            check(UnlessTrusted, &full, None, false, false),
            SafetyCheck::AskUser { reason: None }
        );
        assert_eq!(
            check(Never, &full, None, false, false),
            SafetyCheck::AutoApprove { sandbox: none }
        );
        assert_eq!(
            check(OnFailure, &full, None, false, false),
            SafetyCheck::AutoApprove { sandbox: none }
        );
        assert_eq!(
            check(OnRequest, &ro, None, false, true),
            SafetyCheck::AskUser {
                reason: Some("needs network".into())
            }
        );
        assert!(matches!(
            check(Never, &ro, None, false, false),
            SafetyCheck::Reject { .. }
        ));
        assert!(matches!(
            check(OnRequest, &ro, None, false, false),
            SafetyCheck::AskUser { reason: Some(_) }
        ));
        assert!(matches!(
            check(OnFailure, &ro, None, false, false),
            SafetyCheck::AskUser { reason: Some(_) }
        ));
    }

    #[test]
    fn with_a_platform_sandbox_commands_run_in_it_instead_of_asking() {
        use AskForApproval::*;
        let sandbox = Some(SandboxType::LinuxLandlock);
        let landlock = SafetyCheck::AutoApprove {
            sandbox: SandboxType::LinuxLandlock,
        };
        let workspace = SandboxPolicy::WorkspaceWrite {
            writable_roots: vec![],
            network_access: false,
            exclude_tmpdir_env_var: false,
            exclude_slash_tmp: false,
        };
        for policy in [&SandboxPolicy::ReadOnly, &workspace] {
            for approval in [OnRequest, OnFailure, Never] {
                assert_eq!(
                    check(approval, policy, sandbox, false, false),
                    landlock,
                    "{approval:?} {policy:?}"
                );
            }
            // Still asked: `untrusted`, and escalation under `on-request`.
            assert_eq!(
                check(UnlessTrusted, policy, sandbox, false, false),
                SafetyCheck::AskUser { reason: None }
            );
            assert_eq!(
                check(OnRequest, policy, sandbox, false, true),
                SafetyCheck::AskUser {
                    reason: Some("needs network".into())
                }
            );
            // Trusted commands run unconfined, as before.
            assert_eq!(
                check(Never, policy, sandbox, true, false),
                SafetyCheck::AutoApprove {
                    sandbox: SandboxType::None
                }
            );
        }
        // Full access never needs the sandbox.
        assert_eq!(
            check(
                Never,
                &SandboxPolicy::DangerFullAccess,
                sandbox,
                false,
                false
            ),
            SafetyCheck::AutoApprove {
                sandbox: SandboxType::None
            }
        );
    }
}
