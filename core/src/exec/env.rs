//! Builds the environment a spawned command runs with, from config.toml's
//! `[shell_environment_policy]`, so that commands the model runs see only what the user allows.

use std::collections::HashMap;

use serde::Deserialize;
use wildmatch::WildMatch;

/// Which of our own environment variables a spawned command starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShellEnvironmentPolicyInherit {
    /// Every variable of this process.
    #[default]
    All,
    /// Only [`CORE_VARS`]: enough for most programs to find their tools and home.
    Core,
    /// Nothing; only what `set` adds.
    None,
}

/// The `[shell_environment_policy]` table of config.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ShellEnvironmentPolicy {
    #[serde(default)]
    pub inherit: ShellEnvironmentPolicyInherit,
    /// Lets variables matching [`DEFAULT_EXCLUDES`] through: the user's explicit opt-out.
    #[serde(default)]
    pub ignore_default_excludes: bool,
    /// Globs (`*`, `?`, case-insensitive) of names to drop.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Variables to set, after inheriting and excluding, so they are never excluded.
    #[serde(default)]
    pub set: HashMap<String, String>,
    /// If non-empty, globs of the only names to keep; applied last, so it also filters `set`.
    #[serde(default)]
    pub include_only: Vec<String>,
}

/// The variables [`ShellEnvironmentPolicyInherit::Core`] keeps.
#[cfg(not(windows))]
const CORE_VARS: &[&str] = &[
    "HOME", "LOGNAME", "PATH", "SHELL", "USER", "USERNAME", "TMPDIR", "TEMP", "TMP",
];
/// On Windows, also what programs need to start at all and to find programs and the user's
/// folders.
#[cfg(windows)]
const CORE_VARS: &[&str] = &[
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "USER",
    "USERNAME",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "PROGRAMFILES",
];

/// Whether `name` is one of [`CORE_VARS`]: Windows spells them as it likes (`Path`,
/// `SystemRoot`), and reads them in any case.
fn is_core_var(name: &str) -> bool {
    CORE_VARS.iter().any(|core| {
        if cfg!(windows) {
            core.eq_ignore_ascii_case(name)
        } else {
            *core == name
        }
    })
}

/// Security invariant: credentials in our environment (API keys, tokens, secrets) must never
/// reach a command the model runs, since its output goes back to the model and the command
/// itself may be hostile. Only `ignore_default_excludes = true` lifts this.
const DEFAULT_EXCLUDES: &[&str] = &["*KEY*", "*SECRET*", "*TOKEN*"];

/// Set to `1` for a command that runs with the network taken away by the sandbox, so that tools
/// and test suites can skip what needs the network instead of failing on it.
pub const CODEX_SANDBOX_NETWORK_DISABLED_ENV_VAR: &str = "CODEX_SANDBOX_NETWORK_DISABLED";

/// The environment for a spawned command, built from this process's environment.
pub fn create_env(policy: &ShellEnvironmentPolicy) -> HashMap<String, String> {
    create_env_from(std::env::vars(), policy)
}

/// [`create_env`] over the given variables, so the policy can be tested without touching the
/// process environment.
pub(crate) fn create_env_from(
    vars: impl IntoIterator<Item = (String, String)>,
    policy: &ShellEnvironmentPolicy,
) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = match policy.inherit {
        ShellEnvironmentPolicyInherit::All => vars.into_iter().collect(),
        ShellEnvironmentPolicyInherit::Core => vars
            .into_iter()
            .filter(|(name, _)| is_core_var(name))
            .collect(),
        ShellEnvironmentPolicyInherit::None => HashMap::new(),
    };

    if !policy.ignore_default_excludes {
        let default_excludes = patterns(DEFAULT_EXCLUDES.iter().copied());
        env.retain(|name, _| !matches_any(&default_excludes, name));
    }

    let excludes = patterns(policy.exclude.iter().map(String::as_str));
    env.retain(|name, _| !matches_any(&excludes, name));

    env.extend(
        policy
            .set
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );

    if !policy.include_only.is_empty() {
        let include_only = patterns(policy.include_only.iter().map(String::as_str));
        env.retain(|name, _| matches_any(&include_only, name));
    }

    env
}

fn patterns<'a>(globs: impl Iterator<Item = &'a str>) -> Vec<WildMatch> {
    // Environment names are case-insensitive on Windows and inconsistently cased in practice
    // (`aws_secret_access_key`), so a glob must catch every casing.
    globs.map(WildMatch::new_case_insensitive).collect()
}

fn matches_any(patterns: &[WildMatch], name: &str) -> bool {
    patterns.iter().any(|pattern| pattern.matches(name))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pretty_assertions::assert_eq;

    use super::*;

    fn vars() -> Vec<(String, String)> {
        [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/me"),
            ("USER", "me"),
            ("TMPDIR", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("FOO_BAR", "1"),
            ("FOOD", "2"),
            ("OPENAI_API_KEY", "sk-1"),
            ("MY_SECRET_TOKEN", "s"),
            ("aws_secret_access_key", "a"),
            ("github_token", "g"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
    }

    /// Sorted, so that a failing assertion shows a readable diff.
    fn env(policy: &ShellEnvironmentPolicy) -> BTreeMap<String, String> {
        create_env_from(vars(), policy).into_iter().collect()
    }

    fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_string(), (*value).to_string()))
            .collect()
    }

    fn set(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_string(), (*value).to_string()))
            .collect()
    }

    #[test]
    fn default_policy_keeps_everything_but_secrets() {
        assert_eq!(
            env(&ShellEnvironmentPolicy::default()),
            expected(&[
                ("PATH", "/usr/bin"),
                ("HOME", "/home/me"),
                ("USER", "me"),
                ("TMPDIR", "/tmp"),
                ("LANG", "C.UTF-8"),
                ("FOO_BAR", "1"),
                ("FOOD", "2"),
            ])
        );
    }

    #[test]
    fn core_keeps_only_core_names() {
        let policy = ShellEnvironmentPolicy {
            inherit: ShellEnvironmentPolicyInherit::Core,
            ..Default::default()
        };
        assert_eq!(
            env(&policy),
            expected(&[
                ("PATH", "/usr/bin"),
                ("HOME", "/home/me"),
                ("USER", "me"),
                ("TMPDIR", "/tmp"),
            ])
        );
    }

    #[test]
    fn none_with_set_gives_only_the_set() {
        let policy = ShellEnvironmentPolicy {
            inherit: ShellEnvironmentPolicyInherit::None,
            set: set(&[("CI", "1"), ("PATH", "/opt/bin")]),
            ..Default::default()
        };
        assert_eq!(env(&policy), expected(&[("CI", "1"), ("PATH", "/opt/bin")]));
    }

    #[test]
    fn set_overrides_inherited_values_and_escapes_excludes() {
        let policy = ShellEnvironmentPolicy {
            inherit: ShellEnvironmentPolicyInherit::Core,
            exclude: vec!["PATH".to_string()],
            set: set(&[("PATH", "/opt/bin"), ("MY_TOKEN", "explicit")]),
            ..Default::default()
        };
        assert_eq!(
            env(&policy),
            expected(&[
                ("PATH", "/opt/bin"),
                ("HOME", "/home/me"),
                ("USER", "me"),
                ("TMPDIR", "/tmp"),
                ("MY_TOKEN", "explicit"),
            ])
        );
    }

    #[test]
    fn exclude_globs_are_case_insensitive() {
        let policy = ShellEnvironmentPolicy {
            exclude: vec!["foo*".to_string(), "?ANG".to_string()],
            ..Default::default()
        };
        assert_eq!(
            env(&policy),
            expected(&[
                ("PATH", "/usr/bin"),
                ("HOME", "/home/me"),
                ("USER", "me"),
                ("TMPDIR", "/tmp"),
            ])
        );
    }

    #[test]
    fn include_only_keeps_matching_names() {
        let policy = ShellEnvironmentPolicy {
            include_only: vec!["p*".to_string(), "FOO?".to_string()],
            set: set(&[("CI", "1")]),
            ..Default::default()
        };
        assert_eq!(
            env(&policy),
            expected(&[("PATH", "/usr/bin"), ("FOOD", "2")])
        );
    }

    #[test]
    fn ignore_default_excludes_keeps_secrets() {
        let policy = ShellEnvironmentPolicy {
            ignore_default_excludes: true,
            include_only: vec!["*KEY*".to_string()],
            ..Default::default()
        };
        assert_eq!(
            env(&policy),
            expected(&[("OPENAI_API_KEY", "sk-1"), ("aws_secret_access_key", "a")])
        );
    }

    #[test]
    fn deserializes_from_toml() {
        let policy: ShellEnvironmentPolicy =
            toml::from_str("inherit = \"core\"\nexclude = [\"FOO*\"]").unwrap();
        assert_eq!(
            policy,
            ShellEnvironmentPolicy {
                inherit: ShellEnvironmentPolicyInherit::Core,
                exclude: vec!["FOO*".to_string()],
                ..Default::default()
            }
        );
    }

    #[test]
    fn deserializes_every_field_from_toml() {
        let policy: ShellEnvironmentPolicy = toml::from_str(
            r#"
inherit = "none"
ignore_default_excludes = true
exclude = ["A*"]
include_only = ["B?"]

[set]
CI = "1"
"#,
        )
        .unwrap();
        assert_eq!(
            policy,
            ShellEnvironmentPolicy {
                inherit: ShellEnvironmentPolicyInherit::None,
                ignore_default_excludes: true,
                exclude: vec!["A*".to_string()],
                set: set(&[("CI", "1")]),
                include_only: vec!["B?".to_string()],
            }
        );
    }

    #[test]
    fn empty_toml_is_the_default_policy() {
        let policy: ShellEnvironmentPolicy = toml::from_str("").unwrap();
        assert_eq!(policy, ShellEnvironmentPolicy::default());
    }

    #[test]
    fn create_env_reads_the_process_environment() {
        let policy = ShellEnvironmentPolicy::default();
        assert_eq!(
            create_env(&policy),
            create_env_from(std::env::vars(), &policy)
        );
    }
}
