//! Whether a command may run, must be asked about, or is refused: the approval-policy ×
//! sandbox matrix. Being known read-only decides only whether to ask, never whether to run
//! unconfined: a "read-only" program can still run code or config planted in the workspace
//! (a `build.rs`, a git `core.fsmonitor`), so only the user's approval lifts the sandbox.

pub(crate) mod command;
pub mod parse_command;
pub(crate) mod patch;

use crate::exec::sandbox::SandboxType;
use crate::protocol::AskForApproval;
use crate::protocol::SandboxPolicy;

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
    /// Known read-only (`command_safety.rs`): spares the question under `untrusted`, and
    /// nothing else.
    pub(crate) known_safe: bool,
    /// The user approved this exact command for the conversation: their decision, so it runs
    /// as an approved command does, unconfined.
    pub(crate) approved_for_session: bool,
    pub(crate) with_escalated_permissions: bool,
    pub(crate) justification: Option<&'a str>,
}

pub(crate) fn assess_command_safety(assessment: &CommandAssessment<'_>) -> SafetyCheck {
    if assessment.approved_for_session {
        return SafetyCheck::AutoApprove {
            sandbox: SandboxType::None,
        };
    }
    let policy = assessment.approval_policy;
    if policy == AskForApproval::UnlessTrusted && !assessment.known_safe {
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
        // Without a sandbox every command would run unconfined, known read-only or not, and
        // nothing runs unconfined without an approval.
        (None, AskForApproval::Never) => SafetyCheck::Reject {
            reason: format!(
                "command rejected: the {} sandbox is not available on this machine and approval_policy is never, so no command can run without an approval; ask the user to change the policy",
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
        known_safe: bool,
        escalated: bool,
    ) -> SafetyCheck {
        assess_command_safety(&CommandAssessment {
            approval_policy: policy,
            sandbox_policy: sandbox,
            platform_sandbox: platform,
            known_safe,
            approved_for_session: false,
            with_escalated_permissions: escalated,
            justification: Some("needs network"),
        })
    }

    fn workspace() -> SandboxPolicy {
        SandboxPolicy::WorkspaceWrite {
            writable_roots: vec![],
            network_access: false,
            exclude_tmpdir_env_var: false,
            exclude_slash_tmp: false,
        }
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
        for policy in [&SandboxPolicy::ReadOnly, &workspace()] {
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

    /// The escape the audit found: `git status`, `cargo check` or `cat /proc/<pid>/environ`
    /// ran unconfined because they were on the read-only list.
    #[test]
    fn known_read_only_commands_still_run_in_the_sandbox() {
        use AskForApproval::*;
        let sandbox = Some(SandboxType::LinuxLandlock);
        for policy in [&SandboxPolicy::ReadOnly, &workspace()] {
            for approval in [UnlessTrusted, OnRequest, OnFailure, Never] {
                assert_eq!(
                    check(approval, policy, sandbox, true, false),
                    SafetyCheck::AutoApprove {
                        sandbox: SandboxType::LinuxLandlock
                    },
                    "{approval:?} {policy:?}"
                );
            }
        }
    }

    #[test]
    fn without_a_sandbox_known_read_only_commands_are_asked_about_or_refused() {
        use AskForApproval::*;
        for policy in [&SandboxPolicy::ReadOnly, &workspace()] {
            for approval in [UnlessTrusted, OnRequest, OnFailure] {
                assert!(
                    matches!(
                        check(approval, policy, None, true, false),
                        SafetyCheck::AskUser { reason: Some(_) }
                    ),
                    "{approval:?} {policy:?}"
                );
            }
            assert!(matches!(
                check(Never, policy, None, true, false),
                SafetyCheck::Reject { .. }
            ));
        }
    }

    #[test]
    fn seatbelt_is_judged_exactly_as_landlock() {
        use AskForApproval::*;
        let seatbelt = SandboxType::MacosSeatbelt;
        let landlock = SandboxType::LinuxLandlock;
        for approval in [UnlessTrusted, OnRequest, OnFailure, Never] {
            for policy in [
                SandboxPolicy::ReadOnly,
                workspace(),
                SandboxPolicy::DangerFullAccess,
            ] {
                for (known_safe, escalated) in [(false, false), (true, false), (false, true)] {
                    let on_macos = check(approval, &policy, Some(seatbelt), known_safe, escalated);
                    let on_linux =
                        match check(approval, &policy, Some(landlock), known_safe, escalated) {
                            SafetyCheck::AutoApprove { sandbox } if sandbox == landlock => {
                                SafetyCheck::AutoApprove { sandbox: seatbelt }
                            }
                            other => other,
                        };
                    assert_eq!(
                        on_macos, on_linux,
                        "{approval:?} {policy:?} {known_safe} {escalated}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_a_command_approved_for_the_conversation_runs_unconfined_without_asking() {
        use AskForApproval::*;
        for approval in [UnlessTrusted, OnRequest, OnFailure, Never] {
            for platform in [None, Some(SandboxType::LinuxLandlock)] {
                let checked = assess_command_safety(&CommandAssessment {
                    approval_policy: approval,
                    sandbox_policy: &workspace(),
                    platform_sandbox: platform,
                    known_safe: false,
                    approved_for_session: true,
                    with_escalated_permissions: false,
                    justification: None,
                });
                assert_eq!(
                    checked,
                    SafetyCheck::AutoApprove {
                        sandbox: SandboxType::None
                    }
                );
            }
        }
    }
}
