//! Edits `$CODEX_HOME/config.toml` in place for clients that change saved settings, keeping
//! the user's comments, key order and layout.
//!
//! The file is edited as a `toml_edit` document, not re-serialized from a typed struct, because
//! a user's config.toml is a hand-written file: only the lines that change may change. The new
//! text is written to a temporary file in the same directory and renamed over the old one, so
//! a reader (a conversation starting at the same moment) sees the old file or the new one,
//! never half of one.

use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Mutex;

use toml::Value as TomlValue;
use toml_edit::DocumentMut;
use toml_edit::Item;
use toml_edit::Table;
use toml_edit::visit::Visit;
use toml_edit::visit_mut::VisitMut;

use crate::config::CONFIG_TOML_FILE;
use crate::config::overrides::ConfigOverride;
use crate::protocol::ReasoningEffort;

/// Serialises read-modify-write cycles within this process, so two edits at once cannot
/// lose one another's change. A std lock: the edit is synchronous and never awaits.
static EDIT_LOCK: Mutex<()> = Mutex::new(());

/// Why config.toml could not be edited. The messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigEditError {
    /// The file exists but is not valid TOML; it is left untouched.
    #[error("cannot edit {path}: it is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },

    /// A key on the way to the edited one holds a value that is not a table.
    #[error("cannot edit {path}: `{key}` is not a table")]
    NotATable { path: PathBuf, key: String },

    /// Reading or writing the file (or creating `CODEX_HOME`) failed.
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The model settings a client saves as the user's default. `None` removes the key, so the
/// built-in default (or the level below) applies again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSelection {
    /// `model`.
    pub model: Option<String>,
    /// `model_reasoning_effort`.
    pub effort: Option<ReasoningEffort>,
}

/// The profile whose table new conversations take their model from when they name none:
/// `typed` (the server's `--profile`), else a `profile` set by `overrides` (its `-c` flags; the
/// last one wins), else `None`, which leaves it to the file's own `profile` key. The same
/// order [`crate::Config::load`] uses.
pub fn profile_from_flags(typed: Option<&str>, overrides: &[ConfigOverride]) -> Option<String> {
    if let Some(profile) = typed {
        return Some(profile.to_string());
    }
    let mut probe = TomlValue::Table(toml::Table::new());
    for o in overrides {
        o.apply(&mut probe);
    }
    probe.get("profile")?.as_str().map(str::to_string)
}

/// Saves `selection` in `codex_home/config.toml`: under `[profiles.<profile>]` when a profile
/// is active (`profile`, else the file's `profile` key), at the top level otherwise. Creates
/// `codex_home` and the file if missing; a new file is readable by its owner only, an existing
/// one keeps its permissions. A symlinked config.toml is edited where it points.
pub fn persist_model_selection(
    codex_home: &Path,
    profile: Option<&str>,
    selection: &ModelSelection,
) -> Result<(), ConfigEditError> {
    let _guard = EDIT_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = codex_home.join(CONFIG_TOML_FILE);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConfigEditError::Io { path, source }
    };
    std::fs::create_dir_all(codex_home).map_err(io_err(codex_home))?;
    // Renaming over a symlink would replace the link with a plain file; dotfile managers
    // link config.toml, so the link's target is what gets edited.
    let target = match std::fs::canonicalize(&path) {
        Ok(target) => target,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => path,
        Err(err) => return Err(io_err(&path)(err)),
    };
    let (original, permissions) = match std::fs::read_to_string(&target) {
        Ok(text) => {
            let permissions = std::fs::metadata(&target)
                .map_err(io_err(&target))?
                .permissions();
            (Some(text), Some(permissions))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => (None, None),
        Err(err) => return Err(io_err(&target)(err)),
    };
    let edited = edit_model_selection(
        original.as_deref().unwrap_or_default(),
        profile,
        selection,
        &target,
    )?;
    if original.as_deref() == Some(edited.as_str()) {
        return Ok(());
    }
    let dir = target.parent().unwrap_or(codex_home);
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    file.write_all(edited.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .map_err(io_err(file.path()))?;
    if let Some(permissions) = permissions {
        file.as_file()
            .set_permissions(permissions)
            .map_err(io_err(file.path()))?;
    }
    file.persist(&target)
        .map_err(|err| io_err(&target)(err.error))?;
    Ok(())
}

/// The text of config.toml after saving `selection`: `text` with only the edited lines changed.
fn edit_model_selection(
    text: &str,
    profile: Option<&str>,
    selection: &ModelSelection,
    path: &Path,
) -> Result<String, ConfigEditError> {
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|err: toml_edit::TomlError| ConfigEditError::Parse {
                path: path.to_path_buf(),
                message: err.to_string().trim_end().to_string(),
            })?;
    let profile = profile.map(str::to_string).or_else(|| {
        doc.get("profile")
            .and_then(Item::as_str)
            .map(str::to_string)
    });
    let table: Vec<&str> = match &profile {
        Some(name) => vec!["profiles", name],
        None => Vec::new(),
    };
    set(&mut doc, path, &table, "model", selection.model.as_deref())?;
    set(
        &mut doc,
        path,
        &table,
        "model_reasoning_effort",
        selection.effort.map(ReasoningEffort::as_str),
    )?;
    Ok(doc.to_string())
}

/// Sets `key` in the table at `table` (the keys leading to it, none for the top level) to the
/// string `value`, or removes it when `value` is `None`. `path` is only for error messages.
fn set(
    doc: &mut DocumentMut,
    path: &Path,
    table: &[&str],
    key: &str,
    value: Option<&str>,
) -> Result<(), ConfigEditError> {
    match value {
        Some(value) => insert(doc, path, table, key, value),
        None => remove(doc, path, table, key),
    }
}

fn insert(
    doc: &mut DocumentMut,
    path: &Path,
    table: &[&str],
    key: &str,
    value: &str,
) -> Result<(), ConfigEditError> {
    let mut item = doc.as_item_mut();
    for (depth, segment) in table.iter().enumerate() {
        let parent = item
            .as_table_like_mut()
            .ok_or_else(|| not_a_table(path, &table[..depth]))?;
        if parent.get(segment).is_none() {
            let mut new = Table::new();
            // `[profiles]` alone would be an empty header line; only the innermost table
            // gets one.
            new.set_implicit(depth + 1 < table.len());
            parent.insert(segment, Item::Table(new));
        }
        item = parent
            .get_mut(segment)
            .ok_or_else(|| not_a_table(path, &table[..=depth]))?;
    }
    let parent = item
        .as_table_like_mut()
        .ok_or_else(|| not_a_table(path, table))?;
    let mut new = toml_edit::Value::from(value);
    match parent.get_mut(key) {
        // Replacing only the value keeps the key's leading comments (they belong to the key)
        // and a trailing comment on the same line (it belongs to the value).
        Some(Item::Value(old)) => {
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        _ => {
            parent.insert(key, Item::Value(new));
        }
    }
    Ok(())
}

fn remove(
    doc: &mut DocumentMut,
    path: &Path,
    table: &[&str],
    key: &str,
) -> Result<(), ConfigEditError> {
    let mut item = doc.as_item_mut();
    for (depth, segment) in table.iter().enumerate() {
        let Some(next) = item
            .as_table_like_mut()
            .ok_or_else(|| not_a_table(path, &table[..depth]))?
            .get_mut(segment)
        else {
            return Ok(());
        };
        item = next;
    }
    // Where the table's body ends: at its own position for a header table, before the first
    // header for the top level (`Some(None)`). Dotted and inline tables have no body of their
    // own to keep comments in (`None`).
    let body_ends_after = match item {
        Item::Table(_) if table.is_empty() => Some(None),
        Item::Table(t) if !t.is_dotted() => t.position().map(Some),
        _ => None,
    };
    let parent = item
        .as_table_like_mut()
        .ok_or_else(|| not_a_table(path, table))?;
    let Some(old_key) = parent.key(key) else {
        return Ok(());
    };
    // The comments and blank lines above the removed line belong to its key; they move to
    // whatever now comes next, so only the removed line disappears from the file.
    let leading = old_key
        .leaf_decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or_default()
        .to_string();
    let next_key = parent
        .iter()
        .skip_while(|(k, _)| *k != key)
        .skip(1)
        .find(|(_, item)| item.is_value())
        .map(|(k, _)| k.to_string());
    parent.remove(key);
    if leading.is_empty() {
        return Ok(());
    }
    if let Some(next_key) = next_key {
        if let Some(mut next) = parent.key_mut(&next_key) {
            let decor = next.leaf_decor_mut();
            let rest = decor.prefix().and_then(|p| p.as_str()).unwrap_or_default();
            let prefix = format!("{leading}{rest}");
            decor.set_prefix(prefix);
        }
        return Ok(());
    }
    let Some(after) = body_ends_after else {
        return Ok(());
    };
    let mut next_header = NextHeader { after, found: None };
    next_header.visit_document(doc);
    match next_header.found {
        Some(position) => PrependToHeader { position, leading }.visit_document_mut(doc),
        None => {
            let rest = doc.trailing().as_str().unwrap_or_default();
            let trailing = format!("{leading}{rest}");
            doc.set_trailing(trailing);
        }
    }
    Ok(())
}

fn not_a_table(path: &Path, at: &[&str]) -> ConfigEditError {
    ConfigEditError::NotATable {
        path: path.to_path_buf(),
        key: at.join("."),
    }
}

/// Whether a table is printed with a `[header]` line, which is where moved comments can go.
fn has_header(table: &Table) -> bool {
    !table.is_dotted() && (!table.is_implicit() || table.iter().any(|(_, item)| item.is_value()))
}

/// Finds the first header after position `after` (`None`: after the top level, so any).
struct NextHeader {
    after: Option<isize>,
    found: Option<isize>,
}

impl<'doc> Visit<'doc> for NextHeader {
    fn visit_table(&mut self, node: &'doc Table) {
        if let Some(position) = node.position()
            && has_header(node)
            && self.after.is_none_or(|after| position > after)
            && self.found.is_none_or(|found| position < found)
        {
            self.found = Some(position);
        }
        toml_edit::visit::visit_table(self, node);
    }
}

/// Puts `leading` in front of the header at `position`.
struct PrependToHeader {
    position: isize,
    leading: String,
}

impl VisitMut for PrependToHeader {
    fn visit_table_mut(&mut self, node: &mut Table) {
        if node.position() == Some(self.position) && has_header(node) {
            let decor = node.decor_mut();
            let rest = decor.prefix().and_then(|p| p.as_str()).unwrap_or("\n");
            decor.set_prefix(format!("{}{rest}", self.leading));
            return;
        }
        toml_edit::visit_mut::visit_table_mut(self, node);
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;
    use crate::Config;
    use crate::ConfigOverrides;

    fn edit(
        text: &str,
        profile: Option<&str>,
        model: Option<&str>,
        effort: Option<ReasoningEffort>,
    ) -> String {
        edit_model_selection(
            text,
            profile,
            &ModelSelection {
                model: model.map(str::to_string),
                effort,
            },
            Path::new("/h/config.toml"),
        )
        .unwrap()
    }

    const COMMENTED: &str = r#"# My settings.
#   (hand-written)

model    =   "gpt-5"   # the usual one
# effort, for hard tasks
model_reasoning_effort = 'low'
approval_policy = "never"


[tools]   # optional tools
web_search = true

# Work profile.
[profiles.work]
model = "o3"
"#;

    #[test]
    fn only_the_edited_lines_change() {
        assert_eq!(
            edit(
                COMMENTED,
                None,
                Some("gpt-5.2"),
                Some(ReasoningEffort::High)
            ),
            r#"# My settings.
#   (hand-written)

model    =   "gpt-5.2"   # the usual one
# effort, for hard tasks
model_reasoning_effort = "high"
approval_policy = "never"


[tools]   # optional tools
web_search = true

# Work profile.
[profiles.work]
model = "o3"
"#
        );
    }

    #[test]
    fn removing_a_key_keeps_the_comments_above_it() {
        assert_eq!(
            edit(COMMENTED, None, Some("gpt-5"), None),
            r#"# My settings.
#   (hand-written)

model    =   "gpt-5"   # the usual one
# effort, for hard tasks
approval_policy = "never"


[tools]   # optional tools
web_search = true

# Work profile.
[profiles.work]
model = "o3"
"#
        );
        // The last key of a table: its comments go before the next header.
        let text = "a = 1\n\n# the model\nmodel = \"x\"\n\n# next\n[tools]\nview_image = true\n";
        assert_eq!(
            edit(text, None, None, None),
            "a = 1\n\n# the model\n\n# next\n[tools]\nview_image = true\n"
        );
        // The last key of the file: its comments stay at the end.
        let text = "[profiles.p]\n# the model\nmodel = \"x\"\n# the end\n";
        assert_eq!(
            edit(text, Some("p"), None, None),
            "[profiles.p]\n# the model\n# the end\n"
        );
    }

    #[test]
    fn the_example_in_the_docs_holds() {
        // docs/account-api.md, `setDefaultModel`.
        let before = "# My settings.\nmodel = \"gpt-5\"   # the usual one\n\n# effort, for hard tasks\nmodel_reasoning_effort = \"low\"\napproval_policy = \"never\"\n";
        assert_eq!(
            edit(before, None, Some("gpt-5.2-codex"), None),
            "# My settings.\nmodel = \"gpt-5.2-codex\"   # the usual one\n\n# effort, for hard tasks\napproval_policy = \"never\"\n"
        );
    }

    #[test]
    fn an_active_profile_gets_the_keys() {
        // Selected by the file.
        let text = "profile = \"work\"\nmodel = \"gpt-5\"\n\n[profiles.work] # mine\nmodel = \"o3\"\n\n[profiles.home]\nmodel = \"o4\"\n";
        assert_eq!(
            edit(text, None, Some("gpt-5.2"), Some(ReasoningEffort::Xhigh)),
            "profile = \"work\"\nmodel = \"gpt-5\"\n\n[profiles.work] # mine\nmodel = \"gpt-5.2\"\nmodel_reasoning_effort = \"xhigh\"\n\n[profiles.home]\nmodel = \"o4\"\n"
        );
        // Selected by the caller (`--profile`), over the file's choice; the table is created.
        assert_eq!(
            edit(text, Some("new"), Some("gpt-5.2"), None),
            "profile = \"work\"\nmodel = \"gpt-5\"\n\n[profiles.work] # mine\nmodel = \"o3\"\n\n[profiles.home]\nmodel = \"o4\"\n\n[profiles.new]\nmodel = \"gpt-5.2\"\n"
        );
        // A profile written as an inline table stays one.
        assert_eq!(
            edit(
                "profile = \"p\"\nprofiles = { p = { model = \"a\" } }\n",
                None,
                Some("b"),
                None
            ),
            "profile = \"p\"\nprofiles = { p = { model = \"b\" } }\n"
        );
    }

    #[test]
    fn an_empty_file_gets_top_level_keys() {
        assert_eq!(
            edit("", None, Some("gpt-5.2"), Some(ReasoningEffort::Minimal)),
            "model = \"gpt-5.2\"\nmodel_reasoning_effort = \"minimal\"\n"
        );
        assert_eq!(edit("", None, None, None), "");
        // New top-level keys go after the existing ones, before the first table.
        assert_eq!(
            edit(
                "approval_policy = \"never\"\n\n[tools]\nview_image = true\n",
                None,
                Some("m"),
                None
            ),
            "approval_policy = \"never\"\nmodel = \"m\"\n\n[tools]\nview_image = true\n"
        );
    }

    #[test]
    fn what_cannot_be_edited_is_refused_with_the_file_named() {
        let bad = edit_model_selection(
            "model = ",
            None,
            &ModelSelection::default(),
            Path::new("/h/config.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad.starts_with("cannot edit /h/config.toml: it is not valid TOML: "),
            "{bad}"
        );
        let bad = edit_model_selection(
            "profiles = 3\n",
            Some("p"),
            &ModelSelection {
                model: Some("m".into()),
                effort: None,
            },
            Path::new("/h/config.toml"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(bad, "cannot edit /h/config.toml: `profiles` is not a table");
    }

    #[test]
    fn the_flags_choose_the_profile_before_the_file() {
        let overrides = [
            ConfigOverride::parse("profile=first").unwrap(),
            ConfigOverride::parse("profile=second").unwrap(),
        ];
        assert_eq!(
            profile_from_flags(Some("typed"), &overrides).as_deref(),
            Some("typed")
        );
        assert_eq!(
            profile_from_flags(None, &overrides).as_deref(),
            Some("second")
        );
        assert_eq!(profile_from_flags(None, &[]), None);
    }

    #[test]
    fn a_missing_home_and_file_are_created_and_the_engine_reads_the_result() {
        let dir = TempDir::new().unwrap();
        let home = dir.path().join("codex");
        let selection = ModelSelection {
            model: Some("gpt-5.2".into()),
            effort: Some(ReasoningEffort::Xhigh),
        };
        persist_model_selection(&home, None, &selection).unwrap();
        let config = Config::load(&home, &[], ConfigOverrides::default()).unwrap();
        assert_eq!(config.model, "gpt-5.2");
        assert_eq!(config.model_reasoning_effort, Some(ReasoningEffort::Xhigh));
        // Only the temporary file's rename touched the directory.
        let names: Vec<_> = std::fs::read_dir(&home)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.toml"]);
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_file_keeps_its_permissions_and_a_new_one_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(CONFIG_TOML_FILE);
        let selection = ModelSelection {
            model: Some("m".into()),
            effort: None,
        };
        persist_model_selection(dir.path(), None, &selection).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        persist_model_selection(dir.path(), None, &ModelSelection::default()).unwrap();
        assert_eq!(mode(&path), 0o640);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_file_is_edited_where_it_points() {
        let dir = TempDir::new().unwrap();
        let real = dir.path().join("dotfiles.toml");
        std::fs::write(&real, "# mine\nmodel = \"a\"\n").unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::os::unix::fs::symlink(&real, home.join(CONFIG_TOML_FILE)).unwrap();
        let selection = ModelSelection {
            model: Some("b".into()),
            effort: None,
        };
        persist_model_selection(&home, None, &selection).unwrap();
        assert!(home.join(CONFIG_TOML_FILE).is_symlink());
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            "# mine\nmodel = \"b\"\n"
        );
    }
}
