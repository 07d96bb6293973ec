//! What is running on the machine, read from `/proc`: tests check that no child outlives its turn.

/// Command lines of the processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(cmdline);
            }
        }
    }
    found
}

/// Waits up to `limit` until a process matching `marker` exists (`present`) or none does;
/// returns whether that happened. Process start and death are only observable in `/proc`,
/// so this looks again every few milliseconds.
pub async fn wait_for_processes(marker: &str, present: bool, limit: std::time::Duration) -> bool {
    let appeared_or_gone = async {
        while processes_with(marker).is_empty() == present {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(limit, appeared_or_gone).await.is_ok()
}
