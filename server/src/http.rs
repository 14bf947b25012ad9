//! HTTP `/metrics` (Prometheus text), `/healthz` and `/readyz`.

use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use pharos_replication::Node;

use crate::auth::Authority;
use crate::brokers::BrokerRuntime;
use crate::dr_runtime::DrRuntime;
use crate::request_metrics::RequestCounts;

#[derive(Debug, Clone)]
pub struct HttpState {
    node: Node,
    brokers: BrokerRuntime,
    dr: DrRuntime,
    authority: Arc<Authority>,
    remoting: pharos_remoting::ServeStats,
    requests: Arc<RequestCounts>,
}

pub fn router(
    node: Node,
    brokers: BrokerRuntime,
    dr: DrRuntime,
    authority: Arc<Authority>,
    remoting: pharos_remoting::ServeStats,
    requests: Arc<RequestCounts>,
) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(HttpState { node, brokers, dr, authority, remoting, requests })
}

async fn metrics(State(HttpState { node, brokers, dr, authority, remoting, requests }): State<HttpState>) -> String {
    let status = node.status();
    let (active_brokers, brokers_by_state, groups, dr_record, feature_level) = {
        let applied = node.state_machine.read();
        let state = &applied.state;
        let active = state.brokers.values().filter(|b| b.state == pharos_meta::BrokerState::Active).count();
        let mut by_state = std::collections::BTreeMap::new();
        for broker in state.brokers.values() {
            *by_state.entry(broker.state.as_str()).or_insert(0u64) += 1;
        }
        (active as u64, by_state, state.groups.len() as u64, state.dr.clone(), state.committed_feature_level())
    };
    let leaderless = brokers.leaderless();
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, value: u64| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
    };
    gauge("pharos_raft_term", "Current Raft term.", status.term);
    gauge(
        "pharos_raft_is_leader",
        "1 if this node is the leader.",
        u64::from(status.leader_id == Some(status.node_id)),
    );
    gauge("pharos_raft_leader_id", "Node id of the known leader (0 if none).", status.leader_id.unwrap_or(0));
    gauge("pharos_raft_last_log_index", "Index of the last log entry.", status.last_log_index);
    gauge("pharos_raft_commit_index", "Highest committed index held locally.", status.commit_index);
    gauge("pharos_raft_applied_index", "Highest index applied to the state machine.", status.applied_index);
    gauge(
        "pharos_raft_apply_lag_entries",
        "Entries this node knows committed and has not applied yet.",
        status.commit_index.saturating_sub(status.applied_index),
    );
    gauge("pharos_feature_level", "The cluster's committed feature level, as applied here.", u64::from(feature_level));
    gauge(
        "pharos_feature_level_supported",
        "The newest feature level this node applies (--feature-level-max).",
        u64::from(node.info.supported_feature_level()),
    );
    gauge("pharos_raft_snapshot_index", "Last index covered by the current snapshot.", status.snapshot_index);
    gauge("pharos_raft_purged_index", "Last purged log index.", status.purged_index);
    gauge("pharos_raft_voters", "Number of voters.", status.voters.len() as u64);
    gauge("pharos_raft_members", "Number of members (voters and learners).", status.members.len() as u64);
    gauge("pharos_brokers_active", "Registered brokers in state active.", active_brokers);
    gauge("pharos_broker_groups", "Broker groups.", groups);
    gauge(
        "pharos_broker_groups_leaderless",
        "Broker groups without a master and without an eligible candidate (leader only).",
        leaderless.len() as u64,
    );
    gauge(
        "pharos_generation",
        "Fencing generation of this node's data (+1 per unplanned failover).",
        node.identity.generation,
    );
    gauge(
        "pharos_fenced_by_generation",
        "Higher generation this node learned of (0: not fenced); a fenced node takes no writes.",
        node.fence.fenced_by().unwrap_or(0),
    );
    gauge(
        "pharos_insecure",
        "1 if the node runs --insecure: its client port authenticates and authorizes nothing.",
        u64::from(authority.insecure()),
    );
    gauge(
        "pharos_dr_state_id",
        "Log index of the switch that set the current DR mode and state.",
        dr_record.dr_state_id,
    );
    gauge(
        "pharos_dr_operation_step",
        "Step of the switchover in progress (0 none, 1 promote-learners, 2 transfer-leader, 3 demote-voters, 4 move-masters).",
        dr_record.operation.as_ref().map_or(0, |operation| u64::from(operation.step.code())),
    );
    let remoting = remoting.snapshot();
    gauge("pharos_remoting_connections", "Open RocketMQ remoting connections.", remoting.connections_open);
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    };
    let denials = &authority.denials;
    counter(
        "pharos_auth_denials_total",
        "Requests this node refused (unauthenticated or not granted).",
        denials.denied_total.load(std::sync::atomic::Ordering::Relaxed),
    );
    counter(
        "pharos_auth_denials_suppressed_total",
        "Denials not recorded in the denial log because their caller exceeded the rate limit.",
        denials.suppressed_total.load(std::sync::atomic::Ordering::Relaxed),
    );
    counter(
        "pharos_remoting_connections_refused_total",
        "Remoting connections closed on accept because the connection limit was reached.",
        remoting.connections_refused_total,
    );
    counter(
        "pharos_remoting_connections_closed_malformed_total",
        "Remoting connections closed for a malformed, cut-short or too slow frame.",
        remoting.connections_closed_malformed_total,
    );
    counter("pharos_remoting_requests_total", "Remoting requests answered.", remoting.requests_total);
    counter(
        "pharos_raft_leader_changes_total",
        "Times this node saw the leader change (including to none) since it started.",
        pharos_replication::metrics::LEADER_CHANGES.load(std::sync::atomic::Ordering::Relaxed),
    );
    counter(
        "pharos_remoting_requests_not_supported_total",
        "Remoting requests answered REQUEST_CODE_NOT_SUPPORTED.",
        remoting.requests_not_supported_total,
    );
    let _ = writeln!(text, "# HELP pharos_dr_mode 1 for the current replication mode.\n# TYPE pharos_dr_mode gauge");
    for mode in [pharos_meta::ReplicationMode::Majority, pharos_meta::ReplicationMode::DrSync] {
        let _ = writeln!(text, "pharos_dr_mode{{mode=\"{}\"}} {}", mode.as_str(), u64::from(dr_record.mode == mode));
    }
    let _ = writeln!(
        text,
        "# HELP pharos_dr_sync_state 1 for the current dr-sync state (all 0 in majority mode).\n# TYPE pharos_dr_sync_state gauge"
    );
    for state in [pharos_meta::SyncState::Sync, pharos_meta::SyncState::Async, pharos_meta::SyncState::SyncRecover] {
        let _ = writeln!(
            text,
            "pharos_dr_sync_state{{state=\"{}\"}} {}",
            state.as_str(),
            u64::from(dr_record.sync_state() == Some(state))
        );
    }
    let lag_ms = dr.lag_ms();
    if !lag_ms.is_empty() {
        let _ = writeln!(
            text,
            "# HELP pharos_dr_member_lag_ms How long the oldest entry a member lacks has waited (leader only).\n\
             # TYPE pharos_dr_member_lag_ms gauge"
        );
        for (id, lag) in &lag_ms {
            let region = status.members.get(id).map_or("", |info| info.region.as_str());
            let _ = writeln!(text, "pharos_dr_member_lag_ms{{node_id=\"{id}\",region=\"{region}\"}} {lag}");
        }
    }
    let _ = writeln!(text, "# HELP pharos_brokers Broker records by state.\n# TYPE pharos_brokers gauge");
    for state in ["active", "fenced", "shutdown"] {
        let _ =
            writeln!(text, "pharos_brokers{{state=\"{state}\"}} {}", brokers_by_state.get(state).copied().unwrap_or(0));
    }
    let _ = writeln!(
        text,
        "# HELP pharos_grpc_requests_total Client-port gRPC requests by method and status code.\n\
         # TYPE pharos_grpc_requests_total counter"
    );
    for (method, code, count) in requests.snapshot() {
        let _ = writeln!(text, "pharos_grpc_requests_total{{method=\"{method}\",code=\"{code}\"}} {count}");
    }
    pharos_replication::metrics::render(&mut text);
    if let Some(matched) = &status.matched {
        let _ = writeln!(
            text,
            "# HELP pharos_raft_member_lag_entries Entries the leader still has to replicate.\n\
             # TYPE pharos_raft_member_lag_entries gauge"
        );
        for (id, index) in matched {
            let region = status.members.get(id).map_or("", |info| info.region.as_str());
            let _ = writeln!(
                text,
                "pharos_raft_member_lag_entries{{node_id=\"{id}\",region=\"{region}\"}} {}",
                status.last_log_index.saturating_sub(*index)
            );
        }
    }
    text
}

async fn healthz(State(HttpState { node, .. }): State<HttpState>) -> (StatusCode, &'static str) {
    if node.is_raft_running() { (StatusCode::OK, "ok\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "raft stopped\n") }
}

/// Ready when a leader is known and the local state machine has applied what this node knows
/// committed.
async fn readyz(State(HttpState { node, .. }): State<HttpState>) -> (StatusCode, String) {
    let status = node.status();
    if let Some(generation) = node.fence.fenced_by() {
        // A failover moved the cluster on without this node: it serves nothing a load balancer
        // should send traffic to.
        return (StatusCode::SERVICE_UNAVAILABLE, format!("fenced by generation {generation}\n"));
    }
    match status.leader_id {
        None => (StatusCode::SERVICE_UNAVAILABLE, "no leader known\n".to_string()),
        Some(_) if status.applied_index < status.commit_index => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("applying: {} of {}\n", status.applied_index, status.commit_index),
        ),
        Some(leader) => (StatusCode::OK, format!("ready; leader {leader}\n")),
    }
}
