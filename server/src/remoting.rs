//! The RocketMQ NameServer on the remoting port (docs/rocketmq.md): requests are answered from
//! this node's applied state, with no leader round trip, like a `local` read of the gRPC API.
//! A follower may answer with a route a little behind the leader's, as one Apache NameServer
//! of several may; RocketMQ clients poll routes every 30 s and retry brokers. A node that has
//! applied nothing yet, or that a newer generation fenced, refuses instead
//! (`namesrv::availability`).

use pharos_remoting::{Handler, RemotingCommand, namesrv};
use pharos_replication::Node;

/// The network whose broker addresses RocketMQ clients get: the one `pharos topic route` and
/// the gRPC `GetRoute` use when none is named.
pub const REMOTING_NETWORK: &str = "internal";

#[derive(Debug, Clone)]
pub struct NameServer {
    node: Node,
}

impl NameServer {
    pub fn new(node: Node) -> Self {
        NameServer { node }
    }
}

impl Handler for NameServer {
    async fn handle(&self, request: &RemotingCommand) -> RemotingCommand {
        // The answer is built under the read lock and nothing is awaited while it is held.
        let applied = self.node.state_machine.read();
        let applied_index = applied.last_applied.as_ref().map(|log_id| log_id.index);
        if let Err(reason) = namesrv::availability(self.node.fence.fenced_by(), applied_index) {
            return namesrv::unavailable(reason);
        }
        namesrv::answer(&applied.state, REMOTING_NETWORK, request)
    }
}
