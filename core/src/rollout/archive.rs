//! Archiving moves a rollout out of `sessions/` so it no longer lists. The path comes from a
//! client, so it is checked first: only a file of the named conversation inside `sessions/` may
//! be moved.

use std::path::Path;
use std::path::PathBuf;

use super::ARCHIVED_SESSIONS_SUBDIR;
use super::RolloutError;
use super::SESSIONS_SUBDIR;
use crate::protocol::ConversationId;

/// Checks that `path` is conversation `id`'s rollout inside `codex_home/sessions` and returns it
/// canonicalized. Canonicalizing both sides defeats `..` components and symlinks that would
/// otherwise let a client move arbitrary files.
pub fn validate_archive_path(
    codex_home: &Path,
    id: ConversationId,
    path: &Path,
) -> Result<PathBuf, RolloutError> {
    let sessions = codex_home.join(SESSIONS_SUBDIR);
    let sessions_dir = sessions.canonicalize().map_err(|source| RolloutError::Io {
        path: sessions.clone(),
        source,
    })?;
    let canonical = path.canonicalize().map_err(|source| RolloutError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if canonical == sessions_dir || !canonical.starts_with(&sessions_dir) {
        return Err(RolloutError::OutsideSessions {
            path: path.to_path_buf(),
            sessions_dir,
        });
    }
    let suffix = format!("{id}.jsonl");
    let matches_id = canonical
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.ends_with(&suffix));
    if !matches_id {
        return Err(RolloutError::IdMismatch {
            path: path.to_path_buf(),
            id,
        });
    }
    Ok(canonical)
}

/// Moves the rollout to `codex_home/archived_sessions/<same name>` and returns its new path.
pub async fn archive_rollout(codex_home: &Path, path: &Path) -> Result<PathBuf, RolloutError> {
    let archive_dir = codex_home.join(ARCHIVED_SESSIONS_SUBDIR);
    let Some(name) = path.file_name() else {
        return Err(RolloutError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "rollout path has no file name",
            ),
        });
    };
    let target = archive_dir.join(name);
    let source_path = path.to_path_buf();
    let moved_to = target.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&archive_dir).map_err(|source| RolloutError::Io {
            path: archive_dir.clone(),
            source,
        })?;
        std::fs::rename(&source_path, &moved_to).map_err(|source| RolloutError::Io {
            path: source_path.clone(),
            source,
        })
    })
    .await
    .unwrap_or_else(|join| {
        Err(RolloutError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(join),
        })
    })?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    struct Home {
        dir: TempDir,
        id: ConversationId,
        rollout: PathBuf,
    }

    fn home() -> Home {
        let dir = TempDir::new().unwrap();
        let id = ConversationId::new();
        let day = dir.path().join(SESSIONS_SUBDIR).join("2025/01/02");
        std::fs::create_dir_all(&day).unwrap();
        let rollout = day.join(format!("rollout-2025-01-02T03-04-05-{id}.jsonl"));
        std::fs::write(&rollout, "{}\n").unwrap();
        Home { dir, id, rollout }
    }

    #[test]
    fn accepts_the_conversations_own_file() {
        let home = home();
        let roundabout = home
            .dir
            .path()
            .join(SESSIONS_SUBDIR)
            .join("2025/01/../01/02")
            .join(home.rollout.file_name().unwrap());
        assert_eq!(
            validate_archive_path(home.dir.path(), home.id, &roundabout).unwrap(),
            home.rollout.canonicalize().unwrap()
        );
    }

    #[test]
    fn rejects_files_outside_sessions() {
        let home = home();
        let outside = home
            .dir
            .path()
            .join(format!("rollout-2025-01-02T03-04-05-{}.jsonl", home.id));
        std::fs::write(&outside, "{}\n").unwrap();
        let err = validate_archive_path(home.dir.path(), home.id, &outside).unwrap_err();
        assert!(
            matches!(&err, RolloutError::OutsideSessions { path, .. } if *path == outside),
            "{err:?}"
        );

        let escape = home
            .dir
            .path()
            .join(SESSIONS_SUBDIR)
            .join("..")
            .join(outside.file_name().unwrap());
        let err = validate_archive_path(home.dir.path(), home.id, &escape).unwrap_err();
        assert!(
            matches!(err, RolloutError::OutsideSessions { .. }),
            "{err:?}"
        );

        let sessions = home.dir.path().join(SESSIONS_SUBDIR);
        let err = validate_archive_path(home.dir.path(), home.id, &sessions).unwrap_err();
        assert!(
            matches!(err, RolloutError::OutsideSessions { .. }),
            "{err:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn rejects_symlinks_leading_out_of_sessions() {
        let home = home();
        let outside = home.dir.path().join(format!("secret-{}.jsonl", home.id));
        std::fs::write(&outside, "{}\n").unwrap();
        let link = home
            .rollout
            .with_file_name(format!("link-{}.jsonl", home.id));
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let err = validate_archive_path(home.dir.path(), home.id, &link).unwrap_err();
        assert!(
            matches!(err, RolloutError::OutsideSessions { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_another_conversations_file_and_missing_files() {
        let home = home();
        let other = ConversationId::new();
        let err = validate_archive_path(home.dir.path(), other, &home.rollout).unwrap_err();
        assert!(
            matches!(&err, RolloutError::IdMismatch { id, .. } if *id == other),
            "{err:?}"
        );

        let missing = home.rollout.with_file_name("gone.jsonl");
        let err = validate_archive_path(home.dir.path(), home.id, &missing).unwrap_err();
        assert!(
            matches!(&err, RolloutError::Io { path, .. } if *path == missing),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn archive_moves_the_file_into_archived_sessions() {
        let home = home();
        let archived = archive_rollout(home.dir.path(), &home.rollout)
            .await
            .unwrap();
        assert_eq!(
            archived,
            home.dir
                .path()
                .join(ARCHIVED_SESSIONS_SUBDIR)
                .join(home.rollout.file_name().unwrap())
        );
        assert!(!home.rollout.exists());
        assert_eq!(std::fs::read_to_string(&archived).unwrap(), "{}\n");

        let err = archive_rollout(home.dir.path(), &home.rollout)
            .await
            .unwrap_err();
        assert!(matches!(err, RolloutError::Io { .. }), "{err:?}");
    }
}
