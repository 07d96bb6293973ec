//! Per-principal isolation over HTTP: a principal reaches only the threads and tasks it
//! created. Owners are recorded on disk (`$CODEX_HOME/owners/`), so they outlive a restart as
//! the rollouts and tasks do; what belongs to someone else looks exactly like what does not
//! exist ("unknown thread", "unknown task").

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use crate::http::auth::Principal;

/// What a request over HTTP with tokens may reach: rides in the request's extensions (put
/// there by the gate), so the handler's code finds it from the `RequestContext`. Absent on
/// stdio and on a loopback server without tokens, where one user owns everything.
#[derive(Clone)]
pub(crate) struct Access {
    pub(crate) principal: Principal,
    pub(crate) owners: Arc<Owners>,
}

impl Access {
    pub(crate) fn record_thread(&self, id: &str) {
        self.owners.record_thread(self, id);
    }

    pub(crate) fn owns_thread(&self, id: &str) -> bool {
        self.owners.owns_thread(self, id)
    }

    pub(crate) fn record_task(&self, id: &str) {
        self.owners.record_task(self, id);
    }

    pub(crate) fn owns_task(&self, id: &str) -> bool {
        self.owners.owns_task(self, id)
    }
}

/// Whether the request came over HTTP (the request's head rides in its extensions).
pub(crate) fn over_http(context: &RequestContext<RoleServer>) -> bool {
    context
        .extensions
        .get::<hyper::http::request::Parts>()
        .is_some()
}

/// The isolation a request is under, if any.
pub(crate) fn access(context: &RequestContext<RoleServer>) -> Option<&Access> {
    context
        .extensions
        .get::<hyper::http::request::Parts>()?
        .extensions
        .get::<Access>()
}

#[derive(Clone, Copy)]
enum Kind {
    Thread,
    Task,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Thread => "thread",
            Kind::Task => "task",
        }
    }
}

/// The owner records: one small file per thread or task, holding its principal's name.
pub(crate) struct Owners {
    dir: PathBuf,
}

impl Owners {
    pub(crate) fn new(codex_home: &std::path::Path) -> Self {
        Self {
            dir: codex_home.join("owners"),
        }
    }

    /// Records that `access`'s principal created thread `id`. A record that cannot be
    /// written leaves the thread unreachable over HTTP, never reachable by everyone.
    fn record_thread(&self, access: &Access, id: &str) {
        self.record(Kind::Thread, id, &access.principal.name);
    }

    fn record_task(&self, access: &Access, id: &str) {
        self.record(Kind::Task, id, &access.principal.name);
    }

    fn owns_thread(&self, access: &Access, id: &str) -> bool {
        self.owner(Kind::Thread, id).as_deref() == Some(access.principal.name.as_str())
    }

    fn owns_task(&self, access: &Access, id: &str) -> bool {
        self.owner(Kind::Task, id).as_deref() == Some(access.principal.name.as_str())
    }

    fn path(&self, kind: Kind, id: &str) -> Option<PathBuf> {
        // Ids are UUIDs; anything else could name a path outside the directory.
        let plain = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        plain.then(|| self.dir.join(format!("{}-{id}", kind.prefix())))
    }

    fn record(&self, kind: Kind, id: &str, principal: &str) {
        let Some(path) = self.path(kind, id) else {
            return;
        };
        let written = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&path, principal.as_bytes()));
        if let Err(err) = written {
            tracing::warn!(
                "recording the owner of {} {id} in {}: {err}",
                kind.prefix(),
                path.display()
            );
        }
    }

    fn owner(&self, kind: Kind, id: &str) -> Option<String> {
        std::fs::read_to_string(self.path(kind, id)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(owners: &Arc<Owners>, name: &str) -> Access {
        Access {
            principal: Principal {
                name: name.to_string(),
                admin: false,
            },
            owners: Arc::clone(owners),
        }
    }

    #[test]
    fn a_principal_owns_what_it_created_and_nothing_else() {
        let home = tempfile::TempDir::new().unwrap();
        let owners = Arc::new(Owners::new(home.path()));
        let (alice, bob) = (access(&owners, "alice"), access(&owners, "bob"));
        owners.record_thread(&alice, "0192f0c1-0000-7000-8000-000000000000");
        assert!(owners.owns_thread(&alice, "0192f0c1-0000-7000-8000-000000000000"));
        assert!(!owners.owns_thread(&bob, "0192f0c1-0000-7000-8000-000000000000"));
        assert!(!owners.owns_task(&alice, "0192f0c1-0000-7000-8000-000000000000"));
        assert!(!owners.owns_thread(&alice, "../../etc/passwd"));
        owners.record_thread(&alice, "../escape");
        assert!(!home.path().join("escape").exists());
    }
}
