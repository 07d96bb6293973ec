//! The names the model calls MCP tools by: `mcp__<server>__<tool>`, in the characters and the
//! length every provider accepts (`[a-zA-Z0-9_-]`, at most 64), stable across requests and
//! conversations, and unique.
//!
//! A name that needs no change keeps its readable form. One that had to be cut or had
//! characters replaced gets a short hash of the server and tool it stands for, so two tools
//! whose names sanitise alike (`a.b` and `a_b`) still differ, and the same tool gets the same
//! name every time.

use std::collections::HashSet;

use sha2::Digest as _;
use sha2::Sha256;

const PREFIX: &str = "mcp__";
const DELIMITER: &str = "__";
/// What the Responses and Chat Completions APIs accept as a function name.
pub(crate) const MAX_TOOL_NAME_LEN: usize = 64;
/// `_` and 8 hex digits.
const HASH_SUFFIX_LEN: usize = 9;

/// The name each `(server, tool)` pair is offered under, in the order given. Callers pass the
/// pairs sorted, so that which of two colliding tools keeps the plain name does not depend on
/// the order servers answered in.
pub(crate) fn assign_model_names(pairs: &[(&str, &str)]) -> Vec<String> {
    let mut taken = HashSet::new();
    pairs
        .iter()
        .map(|(server, tool)| {
            let mut name = preferred_name(server, tool);
            let mut salt = 0u32;
            while taken.contains(&name) {
                salt += 1;
                name = hashed_name(&sanitise(&raw_name(server, tool)), server, tool, salt);
            }
            taken.insert(name.clone());
            name
        })
        .collect()
}

fn raw_name(server: &str, tool: &str) -> String {
    format!("{PREFIX}{server}{DELIMITER}{tool}")
}

fn preferred_name(server: &str, tool: &str) -> String {
    let raw = raw_name(server, tool);
    let clean = sanitise(&raw);
    if clean == raw && clean.len() <= MAX_TOOL_NAME_LEN {
        clean
    } else {
        hashed_name(&clean, server, tool, 0)
    }
}

/// Every character outside `[a-zA-Z0-9_-]` becomes `_`; the result is ASCII.
fn sanitise(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `clean` cut to leave room for `_` and 8 hex digits of a hash of what it stands for.
fn hashed_name(clean: &str, server: &str, tool: &str, salt: u32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(server.as_bytes());
    hasher.update([0]);
    hasher.update(tool.as_bytes());
    if salt > 0 {
        hasher.update(salt.to_be_bytes());
    }
    let digest = hasher.finalize();
    let hex: String = digest
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    // `clean` is ASCII, so any byte index is a char boundary.
    let keep = clean.len().min(MAX_TOOL_NAME_LEN - HASH_SUFFIX_LEN);
    format!("{}_{hex}", &clean[..keep])
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_TOOL_NAME_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn plain_names_stay_readable() {
        assert_eq!(
            assign_model_names(&[("docs", "search"), ("everything", "get-sum")]),
            vec!["mcp__docs__search", "mcp__everything__get-sum"]
        );
    }

    #[test]
    fn names_are_sanitised_cut_and_still_unique_and_stable() {
        let long = "x".repeat(100);
        let pairs = [
            ("docs", "a.b"),
            ("docs", "a_b"),
            ("docs", "a b"),
            ("docs", "ünïcode"),
            ("docs", long.as_str()),
            ("docs", &format!("{long}y")),
            // The delimiter inside names: both spell `mcp__a__b__c`.
            ("a", "b__c"),
            ("a__b", "c"),
        ];
        let names = assign_model_names(&pairs);
        assert_eq!(names[1], "mcp__docs__a_b", "a clean name keeps its form");
        assert!(names[0].starts_with("mcp__docs__a_b_") && names[0] != names[2]);
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names.iter().all(|name| valid(name)), "{names:?}");
        assert_eq!(
            names,
            assign_model_names(&pairs),
            "the same tools get the same names"
        );
        assert_eq!(names[6], "mcp__a__b__c");
        assert!(names[7].starts_with("mcp__a__b__c_"), "{}", names[7]);
    }

    proptest::proptest! {
        #[test]
        fn any_names_become_valid_unique_names(
            tools in proptest::collection::vec(("[a-z_-]{1,12}", ".{0,80}"), 1..20)
        ) {
            let pairs: Vec<(&str, &str)> =
                tools.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect();
            let names = assign_model_names(&pairs);
            let distinct_pairs: HashSet<_> = pairs.iter().collect();
            let distinct_names: HashSet<_> = names.iter().collect();
            proptest::prop_assert!(names.iter().all(|name| valid(name)), "{:?}", names);
            proptest::prop_assert!(distinct_names.len() >= distinct_pairs.len());
        }
    }
}
