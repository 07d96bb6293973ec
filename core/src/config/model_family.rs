//! What a model expects of its harness, by model family: the tools it was trained on, the request
//! fields it takes, how much context it has and how much tool output it should see.
//!
//! Models work best with the tools and settings they were trained with, so each family gets its
//! own. A family is found by the longest matching slug prefix; an unknown model gets the plain
//! defaults. Every fact can be overridden from config.toml (the `model_*` keys and
//! `tool_output_token_limit`, see [`FamilyOverrides`]), as codex's can.

use serde::Deserialize;

use crate::protocol::ReasoningEffort;
use crate::protocol::ReasoningSummary;
use crate::protocol::Verbosity;

/// How the model runs commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShellToolType {
    /// `shell`: an argv.
    Shell,
    /// `shell_command`: a string run by the user's shell.
    ShellCommand,
    /// `exec_command` and `write_stdin`: long-lived processes, optionally in a PTY.
    UnifiedExec,
}

/// How the model sends patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyPatchToolType {
    /// A function tool whose one argument is the patch text.
    Function,
    /// A custom (freeform) tool whose input is the patch itself, described by a grammar. Only
    /// the Responses API has custom tools; elsewhere the function is offered instead.
    Freeform,
}

/// The facts of one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFamily {
    /// The slug prefix that selected this family; empty for the default.
    pub family: &'static str,
    pub shell_tool: ShellToolType,
    pub apply_patch_tool: ApplyPatchToolType,
    /// Whether requests carry `reasoning` (effort and summary).
    pub supports_reasoning: bool,
    /// The effort sent when config sets none.
    pub default_reasoning_effort: Option<ReasoningEffort>,
    /// Whether requests carry `text.verbosity` (Responses API only).
    pub supports_verbosity: bool,
    /// The verbosity sent when config sets none.
    pub default_verbosity: Option<Verbosity>,
    /// Tokens of context the model has, reported to clients.
    pub context_window: Option<u64>,
    /// A conversation is compacted once a request's context reaches this many tokens.
    pub auto_compact_token_limit: Option<u64>,
    /// The model sees at most about this many tokens of one tool output (head and tail kept).
    pub tool_output_token_limit: usize,
    /// Whether the model may call several tools in one response.
    pub parallel_tool_calls: bool,
    /// Whether the model is offered `request_user_input`, which it was trained to use.
    pub request_user_input: bool,
    /// Whether the model is offered `view_image` (`tools.view_image` in config.toml decides
    /// otherwise).
    pub view_image: bool,
}

/// What codex's current families see of a tool's output.
const CODEX_TOOL_OUTPUT_TOKENS: usize = 10_000;
/// What other models see: about 10 KiB, as before tokens were counted.
const DEFAULT_TOOL_OUTPUT_TOKENS: usize = 2_560;

const DEFAULT_FAMILY: ModelFamily = ModelFamily {
    family: "",
    shell_tool: ShellToolType::Shell,
    apply_patch_tool: ApplyPatchToolType::Function,
    supports_reasoning: false,
    default_reasoning_effort: None,
    supports_verbosity: false,
    default_verbosity: None,
    context_window: None,
    auto_compact_token_limit: None,
    tool_output_token_limit: DEFAULT_TOOL_OUTPUT_TOKENS,
    parallel_tool_calls: false,
    request_user_input: false,
    view_image: false,
};

/// 90 % of a window: room for the summary request itself.
const fn compact_at(window: u64) -> Option<u64> {
    Some(window / 10 * 9)
}

/// The Codex-tuned GPT-5 models: a shell string, freeform patches.
const GPT5_CODEX: ModelFamily = ModelFamily {
    family: "gpt-5-codex",
    shell_tool: ShellToolType::ShellCommand,
    apply_patch_tool: ApplyPatchToolType::Freeform,
    supports_reasoning: true,
    default_reasoning_effort: Some(ReasoningEffort::Medium),
    supports_verbosity: false,
    default_verbosity: None,
    context_window: Some(272_000),
    auto_compact_token_limit: compact_at(272_000),
    tool_output_token_limit: CODEX_TOOL_OUTPUT_TOKENS,
    parallel_tool_calls: true,
    request_user_input: true,
    view_image: true,
};

/// The general GPT-5 models: unified exec, freeform patches, low verbosity.
const GPT5: ModelFamily = ModelFamily {
    family: "gpt-5",
    shell_tool: ShellToolType::UnifiedExec,
    apply_patch_tool: ApplyPatchToolType::Freeform,
    supports_reasoning: true,
    default_reasoning_effort: Some(ReasoningEffort::Medium),
    supports_verbosity: true,
    default_verbosity: Some(Verbosity::Low),
    context_window: Some(272_000),
    auto_compact_token_limit: compact_at(272_000),
    tool_output_token_limit: CODEX_TOOL_OUTPUT_TOKENS,
    parallel_tool_calls: true,
    request_user_input: true,
    view_image: true,
};

/// Reasoning models of the o-series and codex-mini: the argv shell, function patches.
const O_SERIES: ModelFamily = ModelFamily {
    family: "o",
    supports_reasoning: true,
    context_window: Some(200_000),
    auto_compact_token_limit: compact_at(200_000),
    ..DEFAULT_FAMILY
};

/// The open-weights models served locally (Ollama): function tools, reasoning effort.
const GPT_OSS: ModelFamily = ModelFamily {
    family: "gpt-oss",
    supports_reasoning: true,
    context_window: Some(128_000),
    auto_compact_token_limit: compact_at(128_000),
    ..DEFAULT_FAMILY
};

const GPT4_1: ModelFamily = ModelFamily {
    family: "gpt-4.1",
    context_window: Some(1_047_576),
    ..DEFAULT_FAMILY
};

const GPT4O: ModelFamily = ModelFamily {
    family: "gpt-4o",
    context_window: Some(128_000),
    ..DEFAULT_FAMILY
};

/// Slug prefixes and their families; the longest match wins, so `gpt-5.2-codex` is a codex
/// model and `gpt-5.2` a general one.
const FAMILIES: &[(&str, ModelFamily)] = &[
    ("gpt-5-codex", GPT5_CODEX),
    ("gpt-5.1-codex", GPT5_CODEX),
    ("gpt-5.2-codex", GPT5_CODEX),
    ("gpt-5.3-codex", GPT5_CODEX),
    ("codex-", GPT5_CODEX),
    ("gpt-5", GPT5),
    ("gpt-oss", GPT_OSS),
    ("o1", O_SERIES),
    ("o3", O_SERIES),
    ("o4", O_SERIES),
    ("codex-mini", O_SERIES),
    ("gpt-4.1", GPT4_1),
    ("gpt-4o", GPT4O),
];

/// The config.toml keys that override a family's facts. Absent keys keep the family's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FamilyOverrides {
    /// `model_shell_tool`: `shell`, `shell_command` or `unified_exec`.
    pub model_shell_tool: Option<ShellToolType>,
    /// `model_apply_patch_tool`: `function` or `freeform`.
    pub model_apply_patch_tool: Option<ApplyPatchToolType>,
    /// `model_supports_reasoning_summaries`: send `reasoning` even to an unknown model.
    pub model_supports_reasoning_summaries: Option<bool>,
    /// `model_verbosity`: `low`, `medium` or `high`; sent as `text.verbosity` where the API
    /// takes it.
    pub model_verbosity: Option<Verbosity>,
    /// `model_context_window`: tokens.
    pub model_context_window: Option<u64>,
    /// `tool_output_token_limit`: tokens of one tool output the model sees.
    pub tool_output_token_limit: Option<usize>,
    /// `model_parallel_tool_calls`: whether several tool calls may come in one response.
    pub model_parallel_tool_calls: Option<bool>,
}

impl ModelFamily {
    /// The family of `model`, with `overrides` applied.
    pub fn find(model: &str, overrides: &FamilyOverrides) -> ModelFamily {
        let mut family = FAMILIES
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(DEFAULT_FAMILY, |(_, family)| family.clone());
        // A codex model of a GPT-5 release not listed yet (gpt-5.4-codex, ...) is still a
        // codex model.
        if family.family == GPT5.family && model.contains("-codex") {
            family = GPT5_CODEX;
        }
        if let Some(shell) = overrides.model_shell_tool {
            family.shell_tool = shell;
        }
        if let Some(patch) = overrides.model_apply_patch_tool {
            family.apply_patch_tool = patch;
        }
        if let Some(reasoning) = overrides.model_supports_reasoning_summaries {
            family.supports_reasoning = reasoning;
        }
        if let Some(verbosity) = overrides.model_verbosity {
            family.supports_verbosity = true;
            family.default_verbosity = Some(verbosity);
        }
        if let Some(window) = overrides.model_context_window {
            family.context_window = Some(window);
            family.auto_compact_token_limit = compact_at(window);
        }
        if let Some(tokens) = overrides.tool_output_token_limit {
            family.tool_output_token_limit = tokens.max(1);
        }
        if let Some(parallel) = overrides.model_parallel_tool_calls {
            family.parallel_tool_calls = parallel;
        }
        family
    }

    /// The `reasoning` settings of a request, if the model takes them (or the user set an
    /// effort).
    pub(crate) fn reasoning(
        &self,
        effort: Option<ReasoningEffort>,
        summary: ReasoningSummary,
    ) -> Option<(Option<ReasoningEffort>, ReasoningSummary)> {
        (self.supports_reasoning || effort.is_some())
            .then(|| (effort.or(self.default_reasoning_effort), summary))
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn the_longest_prefix_wins() {
        let none = FamilyOverrides::default();
        assert_eq!(
            ModelFamily::find("gpt-5.2-codex", &none).shell_tool,
            ShellToolType::ShellCommand
        );
        assert_eq!(
            ModelFamily::find("gpt-5.2", &none).shell_tool,
            ShellToolType::UnifiedExec
        );
        assert_eq!(ModelFamily::find("gpt-5.2", &none).family, "gpt-5");
        assert_eq!(
            ModelFamily::find("gpt-5.4-codex-max", &none).family,
            "gpt-5-codex"
        );
        assert_eq!(ModelFamily::find("o3", &none).family, "o");
        assert_eq!(ModelFamily::find("codex-mini-latest", &none).family, "o");
        assert_eq!(ModelFamily::find("mock-model", &none), DEFAULT_FAMILY);
    }

    #[test]
    fn config_overrides_each_fact() {
        let overrides = FamilyOverrides {
            model_shell_tool: Some(ShellToolType::Shell),
            model_apply_patch_tool: Some(ApplyPatchToolType::Function),
            model_supports_reasoning_summaries: Some(true),
            model_verbosity: Some(Verbosity::High),
            model_context_window: Some(1_000),
            tool_output_token_limit: Some(50),
            model_parallel_tool_calls: Some(false),
        };
        let family = ModelFamily::find("mock-model", &overrides);
        assert_eq!(
            family,
            ModelFamily {
                family: "",
                shell_tool: ShellToolType::Shell,
                apply_patch_tool: ApplyPatchToolType::Function,
                supports_reasoning: true,
                default_reasoning_effort: None,
                supports_verbosity: true,
                default_verbosity: Some(Verbosity::High),
                context_window: Some(1_000),
                auto_compact_token_limit: Some(900),
                tool_output_token_limit: 50,
                parallel_tool_calls: false,
                request_user_input: false,
                view_image: false,
            }
        );
        let codex = ModelFamily::find("gpt-5.2-codex", &overrides);
        assert_eq!(codex.shell_tool, ShellToolType::Shell);
        assert_eq!(
            codex.default_reasoning_effort,
            Some(ReasoningEffort::Medium)
        );
    }

    #[test]
    fn reasoning_goes_to_reasoning_models_or_when_asked_for() {
        let none = FamilyOverrides::default();
        let gpt5 = ModelFamily::find("gpt-5.2", &none);
        assert_eq!(
            gpt5.reasoning(None, ReasoningSummary::Auto),
            Some((Some(ReasoningEffort::Medium), ReasoningSummary::Auto))
        );
        assert_eq!(
            gpt5.reasoning(Some(ReasoningEffort::High), ReasoningSummary::Concise),
            Some((Some(ReasoningEffort::High), ReasoningSummary::Concise))
        );
        let plain = ModelFamily::find("mock-model", &none);
        assert_eq!(plain.reasoning(None, ReasoningSummary::Auto), None);
        assert_eq!(
            plain.reasoning(Some(ReasoningEffort::Low), ReasoningSummary::Auto),
            Some((Some(ReasoningEffort::Low), ReasoningSummary::Auto))
        );
    }
}
