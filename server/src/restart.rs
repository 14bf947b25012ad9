//! In-process restarts of `pharos serve`: a DR reform stops every service and Raft, changes the
//! data dir (re-formed as a seed, or quarantined to re-join), and starts again from it with the
//! same configuration, ports and process.

use pharos_proto::v1;
use tokio::sync::mpsc;

/// Why the node restarts.
#[derive(Debug, Clone)]
pub enum Restart {
    /// Continue the cluster from this node's log as the only voter of `generation`.
    Seed { generation: u64, failover_command: Vec<u8> },
    /// Quarantine the data dir and join `pending.endpoints` as a learner of `pending.generation`.
    Rejoin { pending: v1::PendingJoin },
}

/// Asks the serving loop to restart. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Restarter {
    sender: mpsc::Sender<Restart>,
}

/// One restart at a time; a second request while one is pending is dropped (logged).
pub fn channel() -> (Restarter, mpsc::Receiver<Restart>) {
    let (sender, receiver) = mpsc::channel(1);
    (Restarter { sender }, receiver)
}

impl Restarter {
    pub fn request(&self, restart: Restart) {
        if let Err(error) = self.sender.try_send(restart) {
            tracing::warn!(%error, "a restart is already pending; request dropped");
        }
    }
}
