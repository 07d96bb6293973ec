//! Turns the text of an `apply_patch` call into [`Hunk`]s.
//!
//! Models write this language by hand, so the parser forgives what is harmless: whitespace
//! around the envelope and hunk headers, a patch wrapped in a shell heredoc, blank lines between
//! chunks, and a first chunk that leaves out its `@@` line. What it cannot make sense of is
//! reported with the line number, so the model can fix its patch.

use std::path::Path;
use std::path::PathBuf;

use crate::apply_patch::error::ApplyPatchError;

const BEGIN_PATCH: &str = "*** Begin Patch";
const END_PATCH: &str = "*** End Patch";
const ADD_FILE: &str = "*** Add File: ";
const DELETE_FILE: &str = "*** Delete File: ";
const UPDATE_FILE: &str = "*** Update File: ";
const MOVE_TO: &str = "*** Move to: ";
const END_OF_FILE: &str = "*** End of File";
const CHUNK_MARKER: &str = "@@";
const CHUNK_MARKER_WITH_CONTEXT: &str = "@@ ";

/// Heredoc openers accepted around a patch: models sometimes pass the shell wrapping along.
const HEREDOC_OPENERS: &[&str] = &["<<EOF", "<<'EOF'", "<<\"EOF\""];

/// One file operation of a patch, with the path as the patch wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hunk {
    AddFile {
        path: PathBuf,
        contents: String,
    },
    DeleteFile {
        path: PathBuf,
    },
    UpdateFile {
        path: PathBuf,
        move_path: Option<PathBuf>,
        chunks: Vec<UpdateFileChunk>,
    },
}

impl Hunk {
    /// The path the hunk names first (the source of a move).
    pub fn path(&self) -> &Path {
        match self {
            Hunk::AddFile { path, .. }
            | Hunk::DeleteFile { path }
            | Hunk::UpdateFile { path, .. } => path,
        }
    }
}

/// One `@@` section of an update: lines to find (`old_lines`) and what replaces them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateFileChunk {
    /// A line (from the `@@ <context>` header) to find before looking for `old_lines`, used to
    /// tell apart repeated code such as two functions with the same body.
    pub change_context: Option<String>,
    /// Context and removed lines, in file order.
    pub old_lines: Vec<String>,
    /// Context and added lines, in file order.
    pub new_lines: Vec<String>,
    /// Set by `*** End of File`: the chunk belongs at the end of the file.
    pub is_end_of_file: bool,
}

/// Parses a whole patch, `*** Begin Patch` to `*** End Patch`, into its hunks.
pub fn parse_patch(patch: &str) -> Result<Vec<Hunk>, ApplyPatchError> {
    let lines: Vec<&str> = patch.trim().lines().collect();
    let (body, first_body_line) = match check_envelope(&lines) {
        Ok(()) => (&lines[1..lines.len() - 1], 2),
        Err(err) => match heredoc_inner_lines(&lines) {
            // The patch proper starts on the line after the heredoc opener.
            Some(inner) if check_envelope(inner).is_ok() => (&inner[1..inner.len() - 1], 3),
            _ => return Err(err),
        },
    };

    let mut hunks = Vec::new();
    let mut index = 0;
    while index < body.len() {
        let (hunk, consumed) = parse_one_hunk(&body[index..], first_body_line + index)?;
        hunks.push(hunk);
        index += consumed;
    }
    Ok(hunks)
}

/// Checks that the lines open with `*** Begin Patch` and close with `*** End Patch`. On
/// success the slice has at least two lines.
fn check_envelope(lines: &[&str]) -> Result<(), ApplyPatchError> {
    let first = lines.first().map(|line| line.trim());
    let last = lines.last().map(|line| line.trim());
    if first != Some(BEGIN_PATCH) {
        return Err(ApplyPatchError::InvalidPatch(format!(
            "The first line of the patch must be '{BEGIN_PATCH}'"
        )));
    }
    if lines.len() < 2 || last != Some(END_PATCH) {
        return Err(ApplyPatchError::InvalidPatch(format!(
            "The last line of the patch must be '{END_PATCH}'"
        )));
    }
    Ok(())
}

/// The lines between a heredoc opener and its closing `EOF`, if the text is so wrapped.
fn heredoc_inner_lines<'a>(lines: &'a [&'a str]) -> Option<&'a [&'a str]> {
    if lines.len() < 4 {
        return None;
    }
    let first = lines[0].trim();
    let last = lines[lines.len() - 1].trim();
    if HEREDOC_OPENERS.contains(&first) && last.ends_with("EOF") {
        Some(&lines[1..lines.len() - 1])
    } else {
        None
    }
}

/// Parses the hunk that starts at `lines[0]` (line `line_number` of the patch) and returns it
/// with the number of lines it took.
fn parse_one_hunk(lines: &[&str], line_number: usize) -> Result<(Hunk, usize), ApplyPatchError> {
    let header = lines.first().map(|line| line.trim()).unwrap_or_default();

    if let Some(path) = header.strip_prefix(ADD_FILE) {
        let mut contents = String::new();
        let mut consumed = 1;
        for line in &lines[1..] {
            let Some(added) = line.strip_prefix('+') else {
                break;
            };
            contents.push_str(added);
            contents.push('\n');
            consumed += 1;
        }
        let hunk = Hunk::AddFile {
            path: PathBuf::from(path),
            contents,
        };
        return Ok((hunk, consumed));
    }

    if let Some(path) = header.strip_prefix(DELETE_FILE) {
        let hunk = Hunk::DeleteFile {
            path: PathBuf::from(path),
        };
        return Ok((hunk, 1));
    }

    if let Some(path) = header.strip_prefix(UPDATE_FILE) {
        return parse_update_hunk(path, lines, line_number);
    }

    Err(ApplyPatchError::InvalidHunk {
        message: format!(
            "'{header}' is not a valid hunk header. Valid hunk headers: '*** Add File: {{path}}', \
             '*** Delete File: {{path}}', '*** Update File: {{path}}'"
        ),
        line_number,
    })
}

/// Parses an `*** Update File:` hunk whose header is `lines[0]`.
fn parse_update_hunk(
    path: &str,
    lines: &[&str],
    line_number: usize,
) -> Result<(Hunk, usize), ApplyPatchError> {
    let mut consumed = 1;
    let move_path = lines
        .get(1)
        .and_then(|line| line.trim().strip_prefix(MOVE_TO))
        .map(PathBuf::from);
    if move_path.is_some() {
        consumed += 1;
    }

    let mut chunks = Vec::new();
    while consumed < lines.len() {
        let line = lines[consumed];
        // Blank lines may separate chunks; inside a chunk they are empty context lines and the
        // chunk parser takes them.
        if line.trim().is_empty() {
            consumed += 1;
            continue;
        }
        // Any `***` line here is the next hunk header (or garbage that the hunk-header parser
        // will report with a clearer message than the chunk parser could).
        if line.trim_start().starts_with("***") {
            break;
        }
        let (chunk, chunk_lines) = parse_chunk(
            &lines[consumed..],
            line_number + consumed,
            chunks.is_empty(),
        )?;
        chunks.push(chunk);
        consumed += chunk_lines;
    }

    if chunks.is_empty() {
        return Err(ApplyPatchError::InvalidHunk {
            message: format!("Update file hunk for path '{path}' is empty"),
            line_number,
        });
    }

    let hunk = Hunk::UpdateFile {
        path: PathBuf::from(path),
        move_path,
        chunks,
    };
    Ok((hunk, consumed))
}

/// Parses one chunk starting at `lines[0]` (line `line_number` of the patch). Only the first
/// chunk of a hunk may leave out its `@@` line, since models often do so when the file has a
/// single change.
fn parse_chunk(
    lines: &[&str],
    line_number: usize,
    allow_missing_marker: bool,
) -> Result<(UpdateFileChunk, usize), ApplyPatchError> {
    let first = lines.first().copied().unwrap_or_default();
    let (change_context, body_start) = if first.trim_end() == CHUNK_MARKER {
        (None, 1)
    } else if let Some(context) = first.strip_prefix(CHUNK_MARKER_WITH_CONTEXT) {
        (context_from_marker(context), 1)
    } else if allow_missing_marker {
        (None, 0)
    } else {
        return Err(ApplyPatchError::InvalidHunk {
            message: format!(
                "Expected update hunk to start with a @@ context marker, got: '{first}'"
            ),
            line_number,
        });
    };

    if body_start >= lines.len() {
        return Err(ApplyPatchError::InvalidHunk {
            message: "Update hunk does not contain any lines".to_string(),
            line_number: line_number + body_start,
        });
    }

    let mut chunk = UpdateFileChunk {
        change_context,
        old_lines: Vec::new(),
        new_lines: Vec::new(),
        is_end_of_file: false,
    };
    let mut body_lines = 0;
    for line in &lines[body_start..] {
        let this_line_number = line_number + body_start + body_lines;
        if line.trim() == END_OF_FILE {
            if body_lines == 0 {
                return Err(ApplyPatchError::InvalidHunk {
                    message: "Update hunk does not contain any lines".to_string(),
                    line_number: this_line_number,
                });
            }
            chunk.is_end_of_file = true;
            body_lines += 1;
            break;
        }
        match line.chars().next() {
            None => {
                chunk.old_lines.push(String::new());
                chunk.new_lines.push(String::new());
            }
            Some(' ') => {
                chunk.old_lines.push(line[1..].to_string());
                chunk.new_lines.push(line[1..].to_string());
            }
            Some('-') => chunk.old_lines.push(line[1..].to_string()),
            Some('+') => chunk.new_lines.push(line[1..].to_string()),
            Some(_) => {
                if body_lines == 0 {
                    return Err(ApplyPatchError::InvalidHunk {
                        message: format!(
                            "Unexpected line found in update hunk: '{line}'. Every line should \
                             start with ' ' (context line), '+' (added line), or '-' (removed line)"
                        ),
                        line_number: this_line_number,
                    });
                }
                // Anything else starts the next chunk or hunk.
                break;
            }
        }
        body_lines += 1;
    }

    Ok((chunk, body_start + body_lines))
}

/// The context of an `@@ <context>` line. Models used to unified diffs sometimes write
/// `@@ -12,7 +12,8 @@ <heading>`; the line numbers are meaningless here, so only the heading
/// (if any) is kept as context.
fn context_from_marker(context: &str) -> Option<String> {
    match strip_unified_diff_ranges(context) {
        Some(heading) => {
            let heading = heading.trim();
            (!heading.is_empty()).then(|| heading.to_string())
        }
        None => Some(context.to_string()),
    }
}

/// What follows `-A[,B] +C[,D] @@` at the start of `text`, if `text` starts so.
fn strip_unified_diff_ranges(text: &str) -> Option<&str> {
    let rest = skip_range(text.strip_prefix('-')?)?;
    let rest = skip_range(rest.strip_prefix(" +")?)?;
    rest.strip_prefix(" @@")
}

/// `text` after a leading `N` or `N,M`.
fn skip_range(text: &str) -> Option<&str> {
    let rest = skip_digits(text)?;
    match rest.strip_prefix(',') {
        Some(after_comma) => skip_digits(after_comma),
        None => Some(rest),
    }
}

/// `text` after one or more leading ASCII digits.
fn skip_digits(text: &str) -> Option<&str> {
    let rest = text.trim_start_matches(|c: char| c.is_ascii_digit());
    (rest.len() < text.len()).then_some(rest)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn update(path: &str, chunks: Vec<UpdateFileChunk>) -> Hunk {
        Hunk::UpdateFile {
            path: PathBuf::from(path),
            move_path: None,
            chunks,
        }
    }

    fn chunk(context: Option<&str>, old: &[&str], new: &[&str]) -> UpdateFileChunk {
        UpdateFileChunk {
            change_context: context.map(str::to_string),
            old_lines: old.iter().map(|line| String::from(*line)).collect(),
            new_lines: new.iter().map(|line| String::from(*line)).collect(),
            is_end_of_file: false,
        }
    }

    fn error_text(patch: &str) -> String {
        match parse_patch(patch) {
            Ok(hunks) => panic!("expected an error, parsed {hunks:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn empty_patch_has_no_hunks() {
        assert_eq!(
            parse_patch("*** Begin Patch\n*** End Patch").unwrap(),
            Vec::<Hunk>::new()
        );
    }

    #[test]
    fn add_file_collects_plus_lines() {
        let patch = "*** Begin Patch\n*** Add File: src/new.txt\n+hello\n+\n+world\n*** End Patch";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![Hunk::AddFile {
                path: PathBuf::from("src/new.txt"),
                contents: "hello\n\nworld\n".to_string(),
            }]
        );
    }

    #[test]
    fn add_file_may_be_empty() {
        let patch = "*** Begin Patch\n*** Add File: empty.txt\n*** End Patch";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![Hunk::AddFile {
                path: PathBuf::from("empty.txt"),
                contents: String::new(),
            }]
        );
    }

    #[test]
    fn delete_file_takes_one_line() {
        let patch = "*** Begin Patch\n*** Delete File: old.txt\n*** End Patch";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![Hunk::DeleteFile {
                path: PathBuf::from("old.txt"),
            }]
        );
    }

    #[test]
    fn update_with_context_marker() {
        let patch = "*** Begin Patch\n\
                     *** Update File: a.py\n\
                     @@ def main():\n \
                     keep\n\
                     -old\n\
                     +new\n\
                     *** End Patch";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![update(
                "a.py",
                vec![chunk(
                    Some("def main():"),
                    &["keep", "old"],
                    &["keep", "new"]
                )]
            )]
        );
    }

    #[test]
    fn unified_diff_ranges_are_not_context() {
        let patch = "*** Begin Patch\n\
                     *** Update File: a.py\n\
                     @@ -3,7 +3,8 @@\n\
                     -a\n\
                     @@ -20 +21 @@ def main():\n\
                     -b\n\
                     @@ -1,2 +1,2 @@x\n\
                     -c\n\
                     @@ -1 +1 @\n\
                     -d\n\
                     *** End Patch";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![update(
                "a.py",
                vec![
                    chunk(None, &["a"], &[]),
                    chunk(Some("def main():"), &["b"], &[]),
                    chunk(Some("x"), &["c"], &[]),
                    // Not quite a range header: kept as written.
                    chunk(Some("-1 +1 @"), &["d"], &[]),
                ]
            )]
        );
    }

    #[test]
    fn update_with_bare_marker() {
        let patch = "*** Begin Patch\n*** Update File: a.py\n@@\n-old\n+new\n*** End Patch";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![update("a.py", vec![chunk(None, &["old"], &["new"])])]
        );
    }

    #[test]
    fn first_chunk_may_omit_marker() {
        let patch = "*** Begin Patch\n*** Update File: a.py\n keep\n-old\n+new\n*** End Patch";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![update(
                "a.py",
                vec![chunk(None, &["keep", "old"], &["keep", "new"])]
            )]
        );
    }

    #[test]
    fn later_chunk_may_not_omit_marker() {
        // After `*** End of File` a new chunk must start with `@@`.
        let patch = "*** Begin Patch\n\
                     *** Update File: a.py\n\
                     @@\n\
                     -a\n\
                     *** End of File\n \
                     b\n\
                     *** End Patch";
        assert_eq!(
            error_text(patch),
            "invalid hunk at line 6, Expected update hunk to start with a @@ context marker, \
             got: ' b'"
        );
    }

    #[test]
    fn multiple_chunks_and_empty_context_lines() {
        let patch = "*** Begin Patch\n\
                     *** Update File: a.py\n\
                     @@ class A:\n \
                     x = 1\n\
                     \n\
                     -y = 2\n\
                     +y = 3\n\
                     @@ class B:\n\
                     +z = 4\n\
                     *** End Patch";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![update(
                "a.py",
                vec![
                    chunk(
                        Some("class A:"),
                        &["x = 1", "", "y = 2"],
                        &["x = 1", "", "y = 3"]
                    ),
                    chunk(Some("class B:"), &[], &["z = 4"]),
                ]
            )]
        );
    }

    #[test]
    fn blank_lines_between_chunks_are_skipped() {
        let patch = "*** Begin Patch\n\
                     *** Update File: a.py\n\
                     \n\
                     @@\n\
                     -a\n\
                     +b\n\
                     *** End of File\n\
                     \n\
                     @@\n\
                     -c\n\
                     *** End Patch";
        let mut first = chunk(None, &["a"], &["b"]);
        first.is_end_of_file = true;
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![update("a.py", vec![first, chunk(None, &["c"], &[])])]
        );
    }

    #[test]
    fn update_with_move() {
        let patch = "*** Begin Patch\n\
                     *** Update File: old/name.rs\n\
                     *** Move to: new/name.rs\n\
                     @@\n\
                     -a\n\
                     +b\n\
                     *** End Patch";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![Hunk::UpdateFile {
                path: PathBuf::from("old/name.rs"),
                move_path: Some(PathBuf::from("new/name.rs")),
                chunks: vec![chunk(None, &["a"], &["b"])],
            }]
        );
    }

    #[test]
    fn end_of_file_marks_chunk() {
        let patch = "*** Begin Patch\n\
                     *** Update File: a.txt\n\
                     @@\n \
                     last\n\
                     +appended\n\
                     *** End of File\n\
                     *** End Patch";
        let mut expected = chunk(None, &["last"], &["last", "appended"]);
        expected.is_end_of_file = true;
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![update("a.txt", vec![expected])]
        );
    }

    #[test]
    fn several_hunks_in_order() {
        let patch = "*** Begin Patch\n\
                     *** Add File: a\n\
                     +1\n\
                     *** Delete File: b\n\
                     *** Update File: c\n\
                     -x\n\
                     +y\n\
                     *** End Patch";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![
                Hunk::AddFile {
                    path: PathBuf::from("a"),
                    contents: "1\n".to_string(),
                },
                Hunk::DeleteFile {
                    path: PathBuf::from("b"),
                },
                update("c", vec![chunk(None, &["x"], &["y"])]),
            ]
        );
    }

    #[test]
    fn envelope_and_headers_tolerate_whitespace() {
        let patch = "\n\n  *** Begin Patch  \n   *** Delete File: x.txt   \n *** End Patch \n\n";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![Hunk::DeleteFile {
                path: PathBuf::from("x.txt"),
            }]
        );
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        let patch = "*** Begin Patch\r\n*** Update File: a\r\n-x\r\n+y\r\n*** End Patch\r\n";
        assert_eq!(
            parse_patch(patch).unwrap(),
            vec![update("a", vec![chunk(None, &["x"], &["y"])])]
        );
    }

    #[test]
    fn heredoc_wrapped_patch_is_unwrapped() {
        for opener in ["<<EOF", "<<'EOF'", "<<\"EOF\""] {
            let patch =
                format!("{opener}\n*** Begin Patch\n*** Delete File: x\n*** End Patch\nEOF\n");
            assert_eq!(
                parse_patch(&patch).unwrap(),
                vec![Hunk::DeleteFile {
                    path: PathBuf::from("x"),
                }]
            );
        }
    }

    #[test]
    fn heredoc_line_numbers_count_the_opener() {
        let patch = "<<EOF\n*** Begin Patch\n*** Frobnicate: x\n*** End Patch\nEOF";
        assert_eq!(
            error_text(patch),
            "invalid hunk at line 3, '*** Frobnicate: x' is not a valid hunk header. Valid hunk \
             headers: '*** Add File: {path}', '*** Delete File: {path}', '*** Update File: {path}'"
        );
    }

    #[test]
    fn heredoc_with_bad_inner_patch_reports_outer_error() {
        let patch = "<<EOF\nnot a patch\n*** End Patch\nEOF";
        assert_eq!(
            error_text(patch),
            "The first line of the patch must be '*** Begin Patch'"
        );
    }

    #[test]
    fn missing_begin_is_reported() {
        assert_eq!(
            error_text("*** Update File: a\n*** End Patch"),
            "The first line of the patch must be '*** Begin Patch'"
        );
        assert_eq!(
            error_text(""),
            "The first line of the patch must be '*** Begin Patch'"
        );
    }

    #[test]
    fn missing_end_is_reported() {
        assert_eq!(
            error_text("*** Begin Patch\n*** Delete File: a"),
            "The last line of the patch must be '*** End Patch'"
        );
        assert_eq!(
            error_text("*** Begin Patch"),
            "The last line of the patch must be '*** End Patch'"
        );
    }

    #[test]
    fn invalid_hunk_header_is_reported() {
        let patch = "*** Begin Patch\n*** Add File: a\n+x\nbogus line\n*** End Patch";
        assert_eq!(
            error_text(patch),
            "invalid hunk at line 4, 'bogus line' is not a valid hunk header. Valid hunk \
             headers: '*** Add File: {path}', '*** Delete File: {path}', '*** Update File: {path}'"
        );
    }

    #[test]
    fn empty_update_is_reported() {
        let patch = "*** Begin Patch\n*** Update File: src/lib.rs\n*** End Patch";
        assert_eq!(
            error_text(patch),
            "invalid hunk at line 2, Update file hunk for path 'src/lib.rs' is empty"
        );
    }

    #[test]
    fn unexpected_first_chunk_line_is_reported() {
        let patch = "*** Begin Patch\n*** Update File: a\n@@\nbad\n*** End Patch";
        assert_eq!(
            error_text(patch),
            "invalid hunk at line 4, Unexpected line found in update hunk: 'bad'. Every line \
             should start with ' ' (context line), '+' (added line), or '-' (removed line)"
        );
    }

    #[test]
    fn marker_without_lines_is_reported() {
        let patch = "*** Begin Patch\n*** Update File: a\n@@\n*** End of File\n*** End Patch";
        assert_eq!(
            error_text(patch),
            "invalid hunk at line 4, Update hunk does not contain any lines"
        );
        let patch = "*** Begin Patch\n*** Update File: a\n-x\n@@\n*** End Patch";
        assert_eq!(
            error_text(patch),
            "invalid hunk at line 5, Update hunk does not contain any lines"
        );
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Lines that look like patch syntax, so that generated text reaches deep into the parser
    /// rather than failing at the envelope.
    fn patch_like_line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(BEGIN_PATCH.to_string()),
            Just(END_PATCH.to_string()),
            Just("*** Add File: a.txt".to_string()),
            Just("*** Delete File: a.txt".to_string()),
            Just("*** Update File: a.txt".to_string()),
            Just("*** Move to: b/c.txt".to_string()),
            Just(END_OF_FILE.to_string()),
            Just("@@".to_string()),
            Just("@@ fn main() {".to_string()),
            Just("@@ -1,2 +1 @@".to_string()),
            Just("<<'EOF'".to_string()),
            Just("EOF".to_string()),
            Just(String::new()),
            "[ +\\-@*<>]{0,3}.{0,8}",
        ]
    }

    const VALID_PATCH: &str = "*** Begin Patch\n\
                               *** Add File: a.txt\n\
                               +hello\n\
                               *** Update File: b.txt\n\
                               *** Move to: c.txt\n\
                               @@ fn main() {\n \
                               keep\n\
                               -old\n\
                               +new\n\
                               *** End of File\n\
                               *** Delete File: d.txt\n\
                               *** End Patch\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics_on_arbitrary_text(text in any::<String>()) {
            let _ = parse_patch(&text);
        }

        #[test]
        fn never_panics_on_patch_like_lines(
            lines in prop::collection::vec(patch_like_line(), 0..24),
            wrap in any::<bool>(),
        ) {
            let mut text = lines.join("\n");
            if wrap {
                text = format!("{BEGIN_PATCH}\n{text}\n{END_PATCH}");
            }
            let _ = parse_patch(&text);
        }

        #[test]
        fn never_panics_on_mutated_valid_patch(
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, any::<char>()), 1..8),
        ) {
            let mut chars: Vec<char> = VALID_PATCH.chars().collect();
            for (index, kind, replacement) in edits {
                if chars.is_empty() {
                    chars.push(replacement);
                    continue;
                }
                let at = index.index(chars.len());
                match kind {
                    0 => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, replacement),
                    _ => chars[at] = replacement,
                }
            }
            let text: String = chars.into_iter().collect();
            let _ = parse_patch(&text);
        }
    }
}
