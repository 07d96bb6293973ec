//! End-to-end tests of the tool: patch text in, files and summary out, with the files checked
//! untouched between verification and application.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::path::PathBuf;

use pretty_assertions::assert_eq;
use tempfile::TempDir;

use super::*;
use crate::protocol::FileChange;

const SUMMARY_HEAD: &str = "Success. Updated the following files:\n";

fn wrap(body: &str) -> String {
    format!("*** Begin Patch\n{body}\n*** End Patch")
}

fn verify(dir: &TempDir, body: &str) -> Result<VerifiedPatch, ApplyPatchError> {
    let hunks = parse_patch(&wrap(body))?;
    verify_patch(&hunks, dir.path())
}

fn verify_error(dir: &TempDir, body: &str) -> String {
    match verify(dir, body) {
        Ok(verified) => panic!("expected an error, verified {verified:?}"),
        Err(err) => err.to_string(),
    }
}

/// Every file under `root`, by relative path, with its contents.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let contents = fs::read_to_string(&path).unwrap_or_default();
                files.insert(path.strip_prefix(root).unwrap().to_path_buf(), contents);
            }
        }
    }
    files
}

fn files(entries: &[(&str, &str)]) -> BTreeMap<PathBuf, String> {
    entries
        .iter()
        .map(|(path, contents)| (PathBuf::from(path), contents.to_string()))
        .collect()
}

/// Writes `initial`, verifies and applies `body`, checks nothing changed before `apply`, and
/// returns the files afterwards.
fn run(initial: &[(&str, &str)], body: &str) -> BTreeMap<PathBuf, String> {
    let dir = TempDir::new().unwrap();
    for (path, contents) in initial {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
    let verified = verify(&dir, body).unwrap();
    assert_eq!(snapshot(dir.path()), files(initial));
    verified.apply().unwrap();
    snapshot(dir.path())
}

#[test]
fn add_file_is_written_only_on_apply() {
    let dir = TempDir::new().unwrap();
    let verified = verify(&dir, "*** Add File: sub/dir/new.txt\n+hello\n+world").unwrap();
    let path = dir.path().join("sub/dir/new.txt");

    assert_eq!(
        verified.changes(),
        vec![(
            path.clone(),
            FileChange::Add {
                content: "hello\nworld\n".to_string(),
            }
        )]
    );
    assert_eq!(verified.touched_paths(), vec![path]);
    assert_eq!(snapshot(dir.path()), BTreeMap::new());

    assert_eq!(
        verified.apply().unwrap(),
        format!("{SUMMARY_HEAD}A sub/dir/new.txt\n")
    );
    assert_eq!(
        snapshot(dir.path()),
        files(&[("sub/dir/new.txt", "hello\nworld\n")])
    );
}

#[test]
fn delete_file_reports_its_content() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("gone.txt"), "bye\n").unwrap();
    let verified = verify(&dir, "*** Delete File: gone.txt").unwrap();

    assert_eq!(
        verified.changes(),
        vec![(
            dir.path().join("gone.txt"),
            FileChange::Delete {
                content: "bye\n".to_string(),
            }
        )]
    );
    assert_eq!(snapshot(dir.path()), files(&[("gone.txt", "bye\n")]));

    assert_eq!(
        verified.apply().unwrap(),
        format!("{SUMMARY_HEAD}D gone.txt\n")
    );
    assert_eq!(snapshot(dir.path()), BTreeMap::new());
}

#[test]
fn delete_of_missing_file_fails() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nope.txt");
    assert_eq!(
        verify_error(&dir, "*** Delete File: nope.txt"),
        format!(
            "Failed to read file to delete {}: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn update_of_missing_file_fails() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nope.txt");
    assert_eq!(
        verify_error(&dir, "*** Update File: nope.txt\n@@\n-a\n+b"),
        format!(
            "Failed to read file to update {}: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn one_line_update_diff() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("f.txt"), "original content\n").unwrap();
    let verified = verify(
        &dir,
        "*** Update File: f.txt\n@@\n-original content\n+modified content",
    )
    .unwrap();

    assert_eq!(
        verified.changes(),
        vec![(
            dir.path().join("f.txt"),
            FileChange::Update {
                unified_diff: "@@ -1 +1 @@\n-original content\n+modified content\n".to_string(),
                move_path: None,
            }
        )]
    );
    assert_eq!(
        snapshot(dir.path()),
        files(&[("f.txt", "original content\n")])
    );

    assert_eq!(
        verified.apply().unwrap(),
        format!("{SUMMARY_HEAD}M f.txt\n")
    );
    assert_eq!(
        snapshot(dir.path()),
        files(&[("f.txt", "modified content\n")])
    );
}

#[test]
fn diff_uses_one_line_of_context() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("f.txt"), "a\nb\nc\nd\ne\n").unwrap();
    let verified = verify(&dir, "*** Update File: f.txt\n c\n-d\n+D").unwrap();
    assert_eq!(
        verified.changes(),
        vec![(
            dir.path().join("f.txt"),
            FileChange::Update {
                unified_diff: "@@ -3,3 +3,3 @@\n c\n-d\n+D\n e\n".to_string(),
                move_path: None,
            }
        )]
    );
}

#[test]
fn update_with_context_marker_picks_the_right_occurrence() {
    let initial = "fn a() {\n    x();\n}\nfn b() {\n    x();\n}\n";
    let after = run(
        &[("lib.rs", initial)],
        "*** Update File: lib.rs\n@@ fn b() {\n-    x();\n+    y();",
    );
    assert_eq!(
        after,
        files(&[("lib.rs", "fn a() {\n    x();\n}\nfn b() {\n    y();\n}\n")])
    );
}

#[test]
fn first_chunk_without_marker() {
    let after = run(
        &[("a.txt", "one\ntwo\nthree\n")],
        "*** Update File: a.txt\n one\n-two\n+2",
    );
    assert_eq!(after, files(&[("a.txt", "one\n2\nthree\n")]));
}

#[test]
fn multiple_chunks_apply_in_order() {
    let after = run(
        &[("a.txt", "1\n2\n3\n4\n5\n6\n")],
        "*** Update File: a.txt\n@@\n 1\n-2\n+two\n@@\n-5\n+five\n+5.5",
    );
    assert_eq!(after, files(&[("a.txt", "1\ntwo\n3\n4\nfive\n5.5\n6\n")]));
}

#[test]
fn later_chunk_searches_after_earlier_one() {
    let after = run(
        &[("a.txt", "x\nmid\nx\n")],
        "*** Update File: a.txt\n@@\n-x\n+first\n@@\n-x\n+second",
    );
    assert_eq!(after, files(&[("a.txt", "first\nmid\nsecond\n")]));
}

#[test]
fn move_writes_destination_and_removes_source() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("old.txt"), "keep\nold\n").unwrap();
    let verified = verify(
        &dir,
        "*** Update File: old.txt\n*** Move to: moved/new.txt\n@@\n keep\n-old\n+new",
    )
    .unwrap();
    let source = dir.path().join("old.txt");
    let destination = dir.path().join("moved/new.txt");

    assert_eq!(
        verified.changes(),
        vec![(
            source.clone(),
            FileChange::Update {
                unified_diff: "@@ -1,2 +1,2 @@\n keep\n-old\n+new\n".to_string(),
                move_path: Some(destination.clone()),
            }
        )]
    );
    assert_eq!(verified.touched_paths(), vec![source, destination]);
    assert_eq!(snapshot(dir.path()), files(&[("old.txt", "keep\nold\n")]));

    assert_eq!(
        verified.apply().unwrap(),
        format!("{SUMMARY_HEAD}M moved/new.txt\n")
    );
    assert_eq!(
        snapshot(dir.path()),
        files(&[("moved/new.txt", "keep\nnew\n")])
    );
}

#[test]
fn move_onto_itself_keeps_the_file() {
    let after = run(
        &[("a.txt", "x\n")],
        "*** Update File: a.txt\n*** Move to: ./a.txt\n-x\n+y",
    );
    assert_eq!(after, files(&[("a.txt", "y\n")]));
}

#[test]
fn end_of_file_chunk_matches_at_the_end() {
    let after = run(
        &[("a.txt", "end\nmiddle\nend\n")],
        "*** Update File: a.txt\n@@\n-end\n+END\n*** End of File",
    );
    assert_eq!(after, files(&[("a.txt", "end\nmiddle\nEND\n")]));
}

#[test]
fn end_of_file_chunk_falls_back_to_search() {
    let after = run(
        &[("a.txt", "a\nb\nc\n")],
        "*** Update File: a.txt\n@@\n-b\n+B\n*** End of File",
    );
    assert_eq!(after, files(&[("a.txt", "a\nB\nc\n")]));
}

#[test]
fn pure_insertion_appends_at_end() {
    let after = run(&[("a.txt", "a\nb\n")], "*** Update File: a.txt\n@@\n+c\n+d");
    assert_eq!(after, files(&[("a.txt", "a\nb\nc\nd\n")]));
}

#[test]
fn insertion_and_replacement_combine() {
    let after = run(
        &[("a.txt", "a\nb\n")],
        "*** Update File: a.txt\n@@\n+tail\n@@\n-a\n+A",
    );
    assert_eq!(after, files(&[("a.txt", "A\nb\ntail\n")]));
}

#[test]
fn trailing_blank_context_line_is_dropped_when_absent() {
    // The blank line before `@@ ` is part of the first chunk, but the file has none there.
    let after = run(
        &[("a.txt", "a\nb\nc\n")],
        "*** Update File: a.txt\n@@\n-a\n+A\n\n@@\n-c\n+C",
    );
    assert_eq!(after, files(&[("a.txt", "A\nb\nC\n")]));
}

#[test]
fn missing_trailing_newline_is_added() {
    let after = run(&[("a.txt", "a\nb")], "*** Update File: a.txt\n-b\n+B");
    assert_eq!(after, files(&[("a.txt", "a\nB\n")]));
}

#[test]
fn deleting_every_line_leaves_an_empty_file() {
    let after = run(&[("a.txt", "a\n")], "*** Update File: a.txt\n-a");
    assert_eq!(after, files(&[("a.txt", "")]));
}

// A matched region is replaced by the chunk's new lines, so context lines take the patch's
// spelling of them; the fuzz only decides where the chunk goes.
#[test]
fn fuzz_trailing_whitespace() {
    let after = run(
        &[("a.py", "def f():   \n    return 1\t\n")],
        "*** Update File: a.py\n def f():\n-    return 1\n+    return 2",
    );
    assert_eq!(after, files(&[("a.py", "def f():\n    return 2\n")]));
}

#[test]
fn fuzz_surrounding_whitespace() {
    let after = run(
        &[("a.py", "if x:\n        call()\n")],
        "*** Update File: a.py\n if x:\n-call()\n+    other()",
    );
    assert_eq!(after, files(&[("a.py", "if x:\n    other()\n")]));
}

#[test]
fn fuzz_unicode_punctuation() {
    let initial = "msg = \u{201C}it\u{2019}s\u{201D}\nrange 1\u{2013}2\nnon\u{00A0}breaking\n";
    let after = run(
        &[("a.txt", initial)],
        "*** Update File: a.txt\n-msg = \"it's\"\n-range 1-2\n+done\n non breaking",
    );
    assert_eq!(after, files(&[("a.txt", "done\nnon breaking\n")]));
}

#[test]
fn context_not_found_error() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("a.txt"), "a\n").unwrap();
    assert_eq!(
        verify_error(&dir, "*** Update File: a.txt\n@@ fn missing()\n-a\n+b"),
        format!(
            "Failed to find context 'fn missing()' in {}",
            dir.path().join("a.txt").display()
        )
    );
}

#[test]
fn expected_lines_not_found_error() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("a.txt"), "a\nb\n").unwrap();
    assert_eq!(
        verify_error(&dir, "*** Update File: a.txt\n@@\n a\n-c\n+d"),
        format!(
            "Failed to find expected lines in {}:\na\nc",
            dir.path().join("a.txt").display()
        )
    );
}

#[test]
fn failed_verification_writes_nothing() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("a.txt"), "a\n").unwrap();
    let result = verify(
        &dir,
        "*** Add File: new.txt\n+x\n*** Update File: a.txt\n-zzz\n+y",
    );
    assert!(result.is_err());
    assert_eq!(snapshot(dir.path()), files(&[("a.txt", "a\n")]));
}

#[test]
fn later_hunks_see_earlier_ones() {
    let dir = TempDir::new().unwrap();
    let body = "*** Add File: a.txt\n+one\n\
                *** Update File: a.txt\n-one\n+two\n\
                *** Update File: a.txt\n*** Move to: b.txt\n-two\n+three";
    let verified = verify(&dir, body).unwrap();
    assert_eq!(snapshot(dir.path()), BTreeMap::new());
    assert_eq!(
        verified.touched_paths(),
        vec![dir.path().join("a.txt"), dir.path().join("b.txt")]
    );
    assert_eq!(
        verified.apply().unwrap(),
        format!("{SUMMARY_HEAD}A a.txt\nM a.txt\nM b.txt\n")
    );
    assert_eq!(snapshot(dir.path()), files(&[("b.txt", "three\n")]));

    // A file deleted earlier in the patch cannot be updated later in it.
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("c.txt"), "c\n").unwrap();
    assert_eq!(
        verify_error(
            &dir,
            "*** Delete File: c.txt\n*** Update File: c.txt\n-c\n+d"
        ),
        format!(
            "Failed to read file to update {}: removed by an earlier hunk of this patch",
            dir.path().join("c.txt").display()
        )
    );
}

#[test]
fn summary_groups_added_modified_deleted() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("del.txt"), "x\n").unwrap();
    fs::write(dir.path().join("mod.txt"), "x\n").unwrap();
    let body = "*** Delete File: del.txt\n\
                *** Update File: mod.txt\n-x\n+y\n\
                *** Add File: add.txt\n+z";
    let summary = verify(&dir, body).unwrap().apply().unwrap();
    assert_eq!(
        summary,
        format!("{SUMMARY_HEAD}A add.txt\nM mod.txt\nD del.txt\n")
    );
    assert_eq!(
        snapshot(dir.path()),
        files(&[("add.txt", "z\n"), ("mod.txt", "y\n")])
    );
}

#[test]
fn absolute_paths_are_used_as_given() {
    let dir = TempDir::new().unwrap();
    let elsewhere = TempDir::new().unwrap();
    let target = elsewhere.path().join("abs.txt");
    let body = format!("*** Add File: {}\n+x", target.display());
    let verified = verify(&dir, &body).unwrap();
    assert_eq!(verified.touched_paths(), vec![target.clone()]);
    assert_eq!(
        verified.apply().unwrap(),
        format!("{SUMMARY_HEAD}A {}\n", target.display())
    );
    assert_eq!(snapshot(elsewhere.path()), files(&[("abs.txt", "x\n")]));
}

#[test]
fn parent_components_are_resolved_for_safety_checks() {
    let dir = TempDir::new().unwrap();
    let verified = verify(&dir, "*** Add File: sub/../../escape.txt\n+x").unwrap();
    assert_eq!(
        verified.touched_paths(),
        vec![dir.path().parent().unwrap().join("escape.txt")]
    );
}

#[test]
fn heredoc_wrapped_patch_applies() {
    let dir = TempDir::new().unwrap();
    let patch = "<<'EOF'\n*** Begin Patch\n*** Add File: h.txt\n+hi\n*** End Patch\nEOF\n";
    let hunks = parse_patch(patch).unwrap();
    let summary = verify_patch(&hunks, dir.path()).unwrap().apply().unwrap();
    assert_eq!(summary, format!("{SUMMARY_HEAD}A h.txt\n"));
    assert_eq!(snapshot(dir.path()), files(&[("h.txt", "hi\n")]));
}

#[test]
fn file_change_serialization() {
    let update = FileChange::Update {
        unified_diff: "@@ -1 +1 @@\n-a\n+b\n".to_string(),
        move_path: None,
    };
    assert_eq!(
        serde_json::to_value(&update).unwrap(),
        serde_json::json!({
            "type": "update",
            "unified_diff": "@@ -1 +1 @@\n-a\n+b\n",
            "move_path": null,
        })
    );
    assert_eq!(
        serde_json::to_string(&update).unwrap(),
        r#"{"type":"update","unified_diff":"@@ -1 +1 @@\n-a\n+b\n","move_path":null}"#
    );
    let add = FileChange::Add {
        content: "x\n".to_string(),
    };
    assert_eq!(
        serde_json::to_string(&add).unwrap(),
        r#"{"type":"add","content":"x\n"}"#
    );
    let delete = FileChange::Delete {
        content: "y\n".to_string(),
    };
    assert_eq!(
        serde_json::to_string(&delete).unwrap(),
        r#"{"type":"delete","content":"y\n"}"#
    );
    assert_eq!(
        serde_json::from_str::<FileChange>(&serde_json::to_string(&update).unwrap()).unwrap(),
        update
    );
}

mod proptests {
    use proptest::prelude::*;

    use super::*;

    const PATHS: &[&str] = &["a.txt", "b.txt", "dir/c.txt", "missing.txt", "dir"];
    const LINES: &[&str] = &["alpha", "beta", "", "  beta  ", "gamma\u{2014}", "delta"];

    fn path() -> impl Strategy<Value = PathBuf> {
        prop::sample::select(PATHS).prop_map(PathBuf::from)
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(LINES).prop_map(str::to_string),
            1 => ".{0,6}",
        ]
    }

    fn lines() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(line(), 0..4)
    }

    fn chunk() -> impl Strategy<Value = UpdateFileChunk> {
        (prop::option::of(line()), lines(), lines(), any::<bool>()).prop_map(
            |(change_context, old_lines, new_lines, is_end_of_file)| UpdateFileChunk {
                change_context,
                old_lines,
                new_lines,
                is_end_of_file,
            },
        )
    }

    fn hunk() -> impl Strategy<Value = Hunk> {
        prop_oneof![
            (path(), ".{0,12}").prop_map(|(path, contents)| Hunk::AddFile { path, contents }),
            path().prop_map(|path| Hunk::DeleteFile { path }),
            (
                path(),
                prop::option::of(path()),
                prop::collection::vec(chunk(), 1..4)
            )
                .prop_map(|(path, move_path, chunks)| Hunk::UpdateFile {
                    path,
                    move_path,
                    chunks,
                }),
        ]
    }

    fn seed(dir: &TempDir) {
        fs::create_dir_all(dir.path().join("dir")).unwrap();
        fs::write(dir.path().join("a.txt"), "alpha\nbeta\ngamma-\n").unwrap();
        fs::write(dir.path().join("b.txt"), "delta\n\nbeta\nalpha").unwrap();
        fs::write(dir.path().join("dir/c.txt"), "").unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn verify_never_panics_nor_writes(hunks in prop::collection::vec(hunk(), 0..5)) {
            let dir = TempDir::new().unwrap();
            seed(&dir);
            let before = snapshot(dir.path());
            let verified = verify_patch(&hunks, dir.path());
            prop_assert_eq!(snapshot(dir.path()), before);
            if let Ok(verified) = verified {
                for path in verified.touched_paths() {
                    prop_assert!(path.starts_with(dir.path()));
                }
                // Writing may still fail (a file where a directory is needed, say), but must
                // not panic.
                let _ = verified.apply();
            }
        }
    }
}
