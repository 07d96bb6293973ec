//! What the model sees of a long tool output: its head and its tail, about as many tokens as the
//! model family allows, with a marker giving the size of the whole.
//!
//! Tokens are estimated at four bytes each, as the model would count them closely enough for a
//! budget; cuts fall on line ends where one is near, and always on character boundaries.

/// Bytes per token, for budgets.
const BYTES_PER_TOKEN: usize = 4;

/// `text` if it fits in `max_tokens`, else its head and tail around a marker such as
/// `[... omitted about 9000 of 12000 tokens: 700 of 930 lines ...]`.
pub(crate) fn truncate_to_tokens(text: &str, max_tokens: usize) -> String {
    let budget = max_tokens.saturating_mul(BYTES_PER_TOKEN);
    if text.len() <= budget {
        return text.to_string();
    }
    let head = head_of(text, budget / 2);
    let tail = tail_of(text, budget / 2);
    let omitted = &text[head.len()..text.len() - tail.len()];
    format!(
        "{head}\n[... omitted about {} of {} tokens: {} of {} lines ...]\n{tail}",
        omitted.len().div_ceil(BYTES_PER_TOKEN),
        text.len().div_ceil(BYTES_PER_TOKEN),
        omitted.matches('\n').count(),
        text.lines().count(),
    )
}

/// At most `max` bytes from the start, ending after a newline when one is in the last half.
fn head_of(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[..end].rfind('\n') {
        Some(newline) if newline >= end / 2 => &text[..=newline],
        _ => &text[..end],
    }
}

/// At most `max` bytes from the end, starting after a newline when one is in the first half.
fn tail_of(text: &str, max: usize) -> &str {
    let mut start = text.len() - max.min(text.len());
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let tail = &text[start..];
    match tail.find('\n') {
        Some(newline) if newline < tail.len() / 2 && newline + 1 < tail.len() => {
            &tail[newline + 1..]
        }
        _ => tail,
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn short_output_is_untouched() {
        assert_eq!(truncate_to_tokens("a\nb\n", 10), "a\nb\n");
    }

    #[test]
    fn long_output_keeps_head_and_tail_lines_and_says_how_much_is_gone() {
        let text: String = (0..1000).map(|n| format!("line {n:03}\n")).collect();
        assert_eq!(text.len(), 9000);
        let truncated = truncate_to_tokens(&text, 100);
        assert!(truncated.starts_with("line 000\n"), "{truncated}");
        assert!(truncated.ends_with("line 999\n"), "{truncated}");
        assert!(!truncated.contains("line 500\n"));
        // 200 bytes a side: 22 whole lines of 9 bytes each.
        assert!(
            truncated
                .contains("\n[... omitted about 2151 of 2250 tokens: 956 of 1000 lines ...]\n"),
            "{truncated}"
        );
        assert!(truncated.len() <= 100 * BYTES_PER_TOKEN + 80);
    }

    #[test]
    fn huge_lines_are_cut_in_bytes_on_character_boundaries() {
        let text = format!("{}\n{}\n", "é".repeat(25_000), "b".repeat(50_000));
        let truncated = truncate_to_tokens(&text, 1_000);
        assert!(truncated.len() <= 4_000 + 80, "{}", truncated.len());
        assert!(truncated.starts_with('é') && truncated.ends_with("b\n"));
    }

    #[test]
    fn the_budget_follows_the_limit() {
        let text = "x".repeat(100_000);
        assert!(truncate_to_tokens(&text, 2_560).len() <= 2_560 * 4 + 80);
        assert!(truncate_to_tokens(&text, 10_000).len() > 2_560 * 4 + 80);
    }
}
