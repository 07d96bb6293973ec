//! Finds where a chunk's lines sit in a file, forgiving the small differences models introduce
//! when they retype code: trailing or surrounding whitespace, and typographic punctuation
//! (smart quotes, long dashes, non-breaking spaces) in place of ASCII.
//!
//! Each level of leniency is tried over the whole search range before the next, so an exact
//! match further down the file wins over a fuzzy one nearer the cursor.

/// How two lines are compared, from strictest to most lenient.
#[derive(Clone, Copy)]
enum Fuzz {
    Exact,
    TrimEnd,
    Trim,
    TrimAndNormalize,
}

const FUZZ_LEVELS: [Fuzz; 4] = [
    Fuzz::Exact,
    Fuzz::TrimEnd,
    Fuzz::Trim,
    Fuzz::TrimAndNormalize,
];

impl Fuzz {
    fn lines_match(self, line: &str, pattern: &str) -> bool {
        match self {
            Fuzz::Exact => line == pattern,
            Fuzz::TrimEnd => line.trim_end() == pattern.trim_end(),
            Fuzz::Trim => line.trim() == pattern.trim(),
            Fuzz::TrimAndNormalize => normalize(line) == normalize(pattern),
        }
    }
}

/// Returns the index in `lines` where `pattern` starts, searching at or after `start`.
///
/// With `eof`, the pattern is first tried flush against the end of the file, since that is
/// where an `*** End of File` chunk belongs; if it is not there, the ordinary search runs.
/// An empty pattern matches at `start`.
pub(crate) fn seek_sequence(
    lines: &[String],
    pattern: &[String],
    start: usize,
    eof: bool,
) -> Option<usize> {
    if pattern.is_empty() {
        return Some(start);
    }
    if pattern.len() > lines.len() {
        return None;
    }
    let last_start = lines.len() - pattern.len();

    if eof && last_start >= start {
        let at_end = FUZZ_LEVELS
            .iter()
            .any(|fuzz| matches_at(lines, pattern, last_start, *fuzz));
        if at_end {
            return Some(last_start);
        }
    }

    FUZZ_LEVELS.iter().find_map(|fuzz| {
        (start..=last_start).find(|&index| matches_at(lines, pattern, index, *fuzz))
    })
}

fn matches_at(lines: &[String], pattern: &[String], index: usize, fuzz: Fuzz) -> bool {
    lines[index..]
        .iter()
        .zip(pattern)
        .all(|(line, wanted)| fuzz.lines_match(line, wanted))
}

/// The line trimmed, with typographic punctuation and exotic spaces read as their ASCII
/// counterparts.
fn normalize(line: &str) -> String {
    let mapped: String = line.chars().map(normalize_char).collect();
    // Trim after mapping, so that padding made of exotic spaces goes too.
    mapped.trim().to_string()
}

fn normalize_char(c: char) -> char {
    match c {
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' => '-',
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' => '"',
        '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => ' ',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn strings(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|line| String::from(*line)).collect()
    }

    #[test]
    fn exact_match() {
        let lines = strings(&["a", "b", "c", "b", "c"]);
        assert_eq!(
            seek_sequence(&lines, &strings(&["b", "c"]), 0, false),
            Some(1)
        );
        assert_eq!(
            seek_sequence(&lines, &strings(&["b", "c"]), 2, false),
            Some(3)
        );
        assert_eq!(seek_sequence(&lines, &strings(&["b", "c"]), 4, false), None);
    }

    #[test]
    fn empty_pattern_matches_at_start() {
        assert_eq!(seek_sequence(&strings(&["a"]), &[], 1, false), Some(1));
    }

    #[test]
    fn pattern_longer_than_file_never_matches() {
        let lines = strings(&["a"]);
        assert_eq!(seek_sequence(&lines, &strings(&["a", "b"]), 0, false), None);
        assert_eq!(seek_sequence(&lines, &strings(&["a", "b"]), 0, true), None);
    }

    #[test]
    fn start_past_end_finds_nothing() {
        let lines = strings(&["a", "b"]);
        assert_eq!(seek_sequence(&lines, &strings(&["a"]), 7, false), None);
        assert_eq!(seek_sequence(&lines, &strings(&["b"]), 7, true), None);
    }

    #[test]
    fn trailing_whitespace_is_ignored() {
        let lines = strings(&["fn main() {   ", "    body\t"]);
        assert_eq!(
            seek_sequence(&lines, &strings(&["fn main() {", "    body"]), 0, false),
            Some(0)
        );
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        let lines = strings(&["x", "    indented  "]);
        assert_eq!(
            seek_sequence(&lines, &strings(&["indented"]), 0, false),
            Some(1)
        );
    }

    #[test]
    fn typographic_punctuation_is_normalized() {
        let lines = strings(&[
            "let s = \u{201C}quoted\u{201D};",
            "it\u{2019}s a \u{2014} dash\u{00A0}and\u{3000}space",
            "x \u{2212} y",
        ]);
        let pattern = strings(&["let s = \"quoted\";", "it's a - dash and space", "x - y"]);
        assert_eq!(seek_sequence(&lines, &pattern, 0, false), Some(0));
    }

    #[test]
    fn normalization_works_in_the_pattern_too() {
        let lines = strings(&["a - 'b'"]);
        let pattern = strings(&["a \u{2013} \u{2018}b\u{2019}"]);
        assert_eq!(seek_sequence(&lines, &pattern, 0, false), Some(0));
    }

    #[test]
    fn exact_match_beats_earlier_fuzzy_match() {
        let lines = strings(&["value  ", "value"]);
        assert_eq!(
            seek_sequence(&lines, &strings(&["value"]), 0, false),
            Some(1)
        );
    }

    #[test]
    fn end_of_file_prefers_the_end() {
        let lines = strings(&["x", "tail", "y", "tail"]);
        assert_eq!(seek_sequence(&lines, &strings(&["tail"]), 0, true), Some(3));
        assert_eq!(
            seek_sequence(&lines, &strings(&["tail"]), 0, false),
            Some(1)
        );
    }

    #[test]
    fn end_of_file_falls_back_to_search() {
        let lines = strings(&["x", "tail", "y"]);
        assert_eq!(seek_sequence(&lines, &strings(&["tail"]), 0, true), Some(1));
    }

    #[test]
    fn different_lines_do_not_match() {
        let lines = strings(&["alpha", "beta"]);
        assert_eq!(seek_sequence(&lines, &strings(&["gamma"]), 0, false), None);
    }
}
