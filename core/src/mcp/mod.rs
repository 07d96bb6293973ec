//! The agent's own MCP servers (`[mcp_servers]`): one [`McpConnectionManager`] per
//! conversation starts them, offers their tools to the model and routes calls to them.
//!
//! This is the engine as an MCP *client* of the servers its user configured; it still knows
//! nothing of the host that drives it (invariant 1 is about that side).
//!
//! Per conversation, because a conversation's settings decide its servers (config.toml,
//! profile, `-c`, a call's `config` map, its cwd), and because the servers then die with it.
//! They start in the background when the conversation is created, so nothing waits for them
//! but the first model request, and that at most each server's `startup_timeout_sec`. A server
//! that fails, hangs or later goes away costs only its own tools: the model is told which
//! servers are unavailable in the request's instructions, and a call to a server that died is
//! answered with why.

mod client;
mod http;
pub(crate) mod naming;
pub(crate) mod result;
mod stdio;
pub(crate) mod tool_spec;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) use self::client::Connection;
pub(crate) use self::client::ProgressUpdate;
use crate::config::mcp_servers::McpServerConfig;
use crate::config::mcp_servers::McpServerTransport;
use crate::lock::lock;
use crate::protocol::EventMsg;
use crate::protocol::McpServerState;
use crate::protocol::McpServerSummary;
use crate::protocol::McpStartupCompleteEvent;
use crate::protocol::McpStartupFailure;
use crate::protocol::McpStartupStatus;
use crate::protocol::McpStartupUpdateEvent;
use crate::protocol::McpToolSummary;
use crate::protocol::McpTransportKind;

/// Beyond a server's own start-up timeout (which its start task enforces), the most the first
/// request waits for it: a margin for the task to record its failure.
const STARTUP_WAIT_MARGIN: Duration = Duration::from_secs(5);

/// Where one server is. `Ready` holds the connection.
#[derive(Clone)]
enum SlotState {
    Disabled,
    Starting,
    Ready(Arc<Connection>),
    Failed(Arc<str>),
}

struct ServerSlot {
    name: String,
    config: McpServerConfig,
    state: watch::Receiver<SlotState>,
    /// The start task; aborted (killing what it started) if the conversation ends first.
    start: Option<JoinHandle<()>>,
}

impl ServerSlot {
    /// The state, with a connection whose server went away read as failed.
    fn current(&self) -> SlotState {
        match &*self.state.borrow() {
            SlotState::Ready(connection) if connection.is_closed() => SlotState::Failed(Arc::from(
                "the server stopped (its process exited or its connection closed)",
            )),
            state => state.clone(),
        }
    }
}

impl Drop for ServerSlot {
    fn drop(&mut self) {
        if let Some(start) = self.start.take() {
            start.abort();
        }
    }
}

/// One conversation's MCP servers.
pub(crate) struct McpConnectionManager {
    /// Sorted by name.
    servers: Vec<ServerSlot>,
    /// Whether the start-up events were emitted (once, by the first request that waited).
    startup_reported: AtomicBool,
    /// The tools the last model request was offered: what calls are routed by. Kept with the
    /// servers' states it was built from, so a request reuses it until one of them changes.
    offered: Mutex<(Vec<SlotKey>, Arc<ToolTable>)>,
}

/// What a table depends on of one server's state. A `Ready` connection is known by its
/// address, which cannot be reused while the cached table holds the connection.
#[derive(Clone, PartialEq, Eq)]
enum SlotKey {
    Disabled,
    Starting,
    Ready(usize),
    Failed(Arc<str>),
}

impl SlotKey {
    fn of(state: &SlotState) -> Self {
        match state {
            SlotState::Disabled => Self::Disabled,
            SlotState::Starting => Self::Starting,
            SlotState::Ready(connection) => Self::Ready(Arc::as_ptr(connection) as usize),
            SlotState::Failed(error) => Self::Failed(Arc::clone(error)),
        }
    }
}

/// The MCP tools of one request: their specs and where each name leads.
#[derive(Default)]
pub(crate) struct ToolTable {
    pub(crate) specs: Vec<Value>,
    routes: HashMap<String, ToolRoute>,
    /// Servers that are configured but unavailable, for the model's instructions.
    pub(crate) unavailable_note: Option<String>,
}

/// Where a model's tool name leads.
#[derive(Clone)]
pub(crate) struct ToolRoute {
    pub(crate) server: String,
    pub(crate) tool: String,
    /// The tool's `annotations` as the server sent them (`readOnlyHint`, `destructiveHint`).
    pub(crate) annotations: Option<Value>,
    pub(crate) connection: Arc<Connection>,
}

impl McpConnectionManager {
    /// Starts every enabled server in the background; returns at once.
    pub(crate) fn start(
        servers: &std::collections::BTreeMap<String, McpServerConfig>,
        conversation_cwd: &Path,
    ) -> Self {
        let servers = servers
            .iter()
            .map(|(name, config)| {
                if !config.enabled {
                    let (_, state) = watch::channel(SlotState::Disabled);
                    return ServerSlot {
                        name: name.clone(),
                        config: config.clone(),
                        state,
                        start: None,
                    };
                }
                let (tx, state) = watch::channel(SlotState::Starting);
                let (task_name, task_config, cwd) =
                    (name.clone(), config.clone(), conversation_cwd.to_path_buf());
                let start = tokio::spawn(async move {
                    let outcome = tokio::time::timeout(
                        task_config.startup_timeout,
                        client::connect(&task_name, &task_config, &cwd),
                    )
                    .await;
                    let state = match outcome {
                        Ok(Ok(connection)) => SlotState::Ready(Arc::new(connection)),
                        Ok(Err(error)) => SlotState::Failed(Arc::from(error)),
                        Err(_) => SlotState::Failed(Arc::from(format!(
                            "did not start within {} s (`startup_timeout_sec`)",
                            task_config.startup_timeout.as_secs_f64()
                        ))),
                    };
                    if let SlotState::Failed(error) = &state {
                        tracing::warn!(server = %task_name, "MCP server unavailable: {error}");
                    }
                    let _ = tx.send(state);
                });
                ServerSlot {
                    name: name.clone(),
                    config: config.clone(),
                    state,
                    start: Some(start),
                }
            })
            .collect();
        Self {
            servers,
            startup_reported: AtomicBool::new(false),
            // No servers' states yet: empty, like a manager without servers.
            offered: Mutex::new((Vec::new(), Arc::new(ToolTable::default()))),
        }
    }

    /// Waits until every enabled server has started or failed. The first caller also emits
    /// each server's outcome as it settles and then `mcp_startup_complete`; later callers find
    /// nothing to wait for.
    pub(crate) async fn wait_for_startup(&self, emit: &(dyn Fn(EventMsg) + Sync)) {
        let report = !self.startup_reported.swap(true, Ordering::SeqCst);
        let enabled: Vec<&ServerSlot> = self
            .servers
            .iter()
            .filter(|slot| slot.config.enabled)
            .collect();
        if enabled.is_empty() {
            return;
        }
        let mut waits: FuturesUnordered<_> = enabled
            .iter()
            .copied()
            .map(|slot| async move {
                let mut state = slot.state.clone();
                let limit = slot.config.startup_timeout + STARTUP_WAIT_MARGIN;
                let _ = tokio::time::timeout(
                    limit,
                    state.wait_for(|state| !matches!(state, SlotState::Starting)),
                )
                .await;
                slot
            })
            .collect();
        while let Some(slot) = waits.next().await {
            if report {
                emit(EventMsg::McpStartupUpdate(McpStartupUpdateEvent {
                    server: slot.name.clone(),
                    status: startup_status(&slot.current()),
                }));
            }
        }
        if report {
            let mut ready = Vec::new();
            let mut failed = Vec::new();
            for slot in &enabled {
                match startup_status(&slot.current()) {
                    McpStartupStatus::Ready => ready.push(slot.name.clone()),
                    McpStartupStatus::Failed { error } => failed.push(McpStartupFailure {
                        server: slot.name.clone(),
                        error,
                    }),
                    McpStartupStatus::Starting => failed.push(McpStartupFailure {
                        server: slot.name.clone(),
                        error: "still starting".to_string(),
                    }),
                }
            }
            emit(EventMsg::McpStartupComplete(McpStartupCompleteEvent {
                ready,
                failed,
            }));
        }
    }

    /// The MCP tools to offer in the next request, remembered for routing its calls. Built
    /// again only when a server's state has changed since the last request.
    pub(crate) fn offer(&self) -> Arc<ToolTable> {
        let keys: Vec<SlotKey> = self
            .servers
            .iter()
            .map(|slot| SlotKey::of(&slot.current()))
            .collect();
        {
            let offered = lock(&self.offered);
            if offered.0 == keys {
                return Arc::clone(&offered.1);
            }
        }
        // A state that changes between the keys and the build makes the next request build
        // again: the keys are older than the table, never newer.
        let table = Arc::new(self.build_table());
        *lock(&self.offered) = (keys, Arc::clone(&table));
        table
    }

    /// Where the model's tool `name` leads, among the tools it was last offered.
    pub(crate) fn route(&self, name: &str) -> Option<ToolRoute> {
        lock(&self.offered).1.routes.get(name).cloned()
    }

    /// Every configured server, its state and its tools, for clients.
    pub(crate) fn summaries(&self) -> Vec<McpServerSummary> {
        let table = self.build_table();
        let mut names_by_pair: HashMap<(&str, &str), &str> = HashMap::new();
        for (name, route) in &table.routes {
            names_by_pair.insert((route.server.as_str(), route.tool.as_str()), name.as_str());
        }
        self.servers
            .iter()
            .map(|slot| {
                let state = slot.current();
                let tools = match &state {
                    SlotState::Ready(connection) => connection
                        .tools
                        .iter()
                        .map(|tool| McpToolSummary {
                            name: tool.name.to_string(),
                            model_name: names_by_pair
                                .get(&(slot.name.as_str(), tool.name.as_ref()))
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                            description: tool.description.as_ref().map(ToString::to_string),
                            input_schema: Value::Object((*tool.input_schema).clone()),
                            annotations: tool
                                .annotations
                                .as_ref()
                                .and_then(|a| serde_json::to_value(a).ok()),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                McpServerSummary {
                    name: slot.name.clone(),
                    transport: match slot.config.transport {
                        McpServerTransport::Stdio { .. } => McpTransportKind::Stdio,
                        McpServerTransport::StreamableHttp { .. } => {
                            McpTransportKind::StreamableHttp
                        }
                    },
                    status: match state {
                        SlotState::Disabled => McpServerState::Disabled,
                        SlotState::Starting => McpServerState::Starting,
                        SlotState::Ready(_) => McpServerState::Ready,
                        SlotState::Failed(error) => McpServerState::Failed {
                            error: error.to_string(),
                        },
                    },
                    tools,
                }
            })
            .collect()
    }

    fn build_table(&self) -> ToolTable {
        let mut entries: Vec<(&ServerSlot, Arc<Connection>, usize)> = Vec::new();
        let mut unavailable = Vec::new();
        for slot in &self.servers {
            match slot.current() {
                SlotState::Ready(connection) => {
                    for index in 0..connection.tools.len() {
                        entries.push((slot, Arc::clone(&connection), index));
                    }
                }
                SlotState::Failed(error) => unavailable.push(format!("`{}` ({error})", slot.name)),
                SlotState::Starting => {
                    unavailable.push(format!("`{}` (still starting)", slot.name));
                }
                SlotState::Disabled => {}
            }
        }
        entries.sort_by(|a, b| {
            (a.0.name.as_str(), a.1.tools[a.2].name.as_ref())
                .cmp(&(b.0.name.as_str(), b.1.tools[b.2].name.as_ref()))
        });
        let pairs: Vec<(&str, &str)> = entries
            .iter()
            .map(|(slot, connection, index)| {
                (slot.name.as_str(), connection.tools[*index].name.as_ref())
            })
            .collect();
        let names = naming::assign_model_names(&pairs);
        let mut table = ToolTable::default();
        for ((slot, connection, index), name) in entries.iter().zip(names) {
            let tool = &connection.tools[*index];
            let description = tool
                .description
                .as_deref()
                .or(tool.title.as_deref())
                .unwrap_or_default();
            let schema = Value::Object((*tool.input_schema).clone());
            table
                .specs
                .push(tool_spec::function_spec(&name, description, &schema));
            table.routes.insert(
                name,
                ToolRoute {
                    server: slot.name.clone(),
                    tool: tool.name.to_string(),
                    annotations: tool
                        .annotations
                        .as_ref()
                        .and_then(|a| serde_json::to_value(a).ok()),
                    connection: Arc::clone(connection),
                },
            );
        }
        if !unavailable.is_empty() {
            table.unavailable_note = Some(format!(
                "Some MCP servers configured for this conversation are unavailable, so their \
                 tools are not offered: {}.",
                unavailable.join(", ")
            ));
        }
        table
    }
}

impl std::fmt::Debug for McpConnectionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.servers.iter().map(|slot| slot.name.as_str()).collect();
        f.debug_struct("McpConnectionManager")
            .field("servers", &names)
            .finish_non_exhaustive()
    }
}

fn startup_status(state: &SlotState) -> McpStartupStatus {
    match state {
        SlotState::Starting => McpStartupStatus::Starting,
        SlotState::Ready(_) => McpStartupStatus::Ready,
        SlotState::Failed(error) => McpStartupStatus::Failed {
            error: error.to_string(),
        },
        SlotState::Disabled => McpStartupStatus::Failed {
            error: "disabled".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_table_is_built_again_only_when_a_server_changes() {
        let broken = McpServerConfig {
            transport: McpServerTransport::Stdio {
                command: "/nonexistent/mcp-server".to_string(),
                args: Vec::new(),
                env: BTreeMap::new(),
                env_vars: Vec::new(),
                cwd: None,
            },
            enabled: true,
            startup_timeout: Duration::from_secs(5),
            tool_timeout: Duration::from_secs(5),
            enabled_tools: None,
            disabled_tools: Vec::new(),
        };
        let cwd = tempfile::TempDir::new().unwrap();
        let manager = McpConnectionManager::start(
            &BTreeMap::from([("broken".to_string(), broken)]),
            cwd.path(),
        );
        let early = manager.offer();
        tokio::time::timeout(Duration::from_secs(10), manager.wait_for_startup(&|_| {}))
            .await
            .expect("the server fails to start within its timeout");
        let settled = manager.offer();
        let note = settled.unavailable_note.clone().unwrap_or_default();
        assert!(
            note.contains("`broken`") && !note.contains("still starting"),
            "{note}"
        );
        assert!(
            Arc::ptr_eq(&settled, &manager.offer()),
            "nothing changed: the same table"
        );
        if early
            .unavailable_note
            .as_deref()
            .is_some_and(|note| note.contains("still starting"))
        {
            assert!(
                !Arc::ptr_eq(&early, &settled),
                "the failure made a new table"
            );
        }
    }
}
