//! gRPC `BrokerService` (thin: decode -> node / broker runtime -> encode).

use crate::convert::Validate;
use pharos_proto::v1::ErrorReason as Reason;
use std::time::Duration;

use pharos_dr::election::ElectionRequest;
use pharos_dr::lease::GrantRefusal;
use pharos_meta::{BrokerOperation, BrokerState, Operation, RequestId, Response};
use pharos_proto::v1;
use pharos_proto::v1::broker_service_server::BrokerService;
use pharos_replication::Node;
use tonic::{Code, Request, Status};

use crate::brokers::BrokerRuntime;
use crate::handler::{WATCH_BATCH_MAX, WatchStream, compacted, watch_stream};
use crate::status::{command_error, invalid_request, node_error, with_reason};

/// A heartbeat that gets no lease, as the typed error the broker acts on.
fn grant_refusal(refusal: GrantRefusal) -> Status {
    use pharos_meta::CommandError;
    match refusal {
        GrantRefusal::LeadershipChanged => {
            node_error(pharos_replication::NodeError::NotLeader { leader_id: None, leader_client_addr: None })
        }
        GrantRefusal::UnknownBroker { broker_id } => command_error(CommandError::UnknownBroker { broker_id }),
        GrantRefusal::StaleBrokerEpoch { broker_id, current } => {
            command_error(CommandError::StaleBrokerEpoch { broker_id, current })
        }
        GrantRefusal::NotActive { broker_id, state } => {
            command_error(CommandError::BrokerNotActive { broker_id, state: state.as_str() })
        }
        // The lease ran out and the fence is on its way: to the broker, it is fenced already.
        GrantRefusal::BeingFenced { broker_id } => {
            command_error(CommandError::BrokerNotActive { broker_id, state: BrokerState::Fenced.as_str() })
        }
    }
}

#[derive(Debug, Clone)]
pub struct BrokerApi {
    node: Node,
    runtime: BrokerRuntime,
}

impl BrokerApi {
    pub fn new(node: Node, runtime: BrokerRuntime) -> Self {
        BrokerApi { node, runtime }
    }

    fn ensure_leader(&self) -> Result<(), Status> {
        self.node.ensure_leader().map_err(node_error)
    }

    /// The group of broker `broker_id`, the resource its own requests act on (`""` for an
    /// unknown broker, which only a grant on every group covers).
    fn group_of(&self, broker_id: u64) -> String {
        let applied = self.node.state_machine.read();
        applied.state.brokers.get(&broker_id).map(|broker| broker.group.clone()).unwrap_or_default()
    }

    async fn commit(
        &self,
        operation: BrokerOperation,
        request_id: Option<RequestId>,
        actor: String,
    ) -> Result<Response, Status> {
        crate::handler::propose(&self.node, Operation::Broker(operation), request_id, actor).await
    }

    async fn prepare_read(&self, consistency: i32) -> Result<(), Status> {
        crate::handler::prepare_read(&self.node, consistency).await
    }

    /// The wire view of a group, with the leader's soft state when this node leads.
    fn view(&self, view: &pharos_meta::GroupView) -> v1::BrokerGroupView {
        let mut wire = crate::convert::group_view(view);
        if self.node.leadership().is_some() {
            let now = self.runtime.now_ms();
            for broker in &mut wire.brokers {
                if let Some(heard) = self.runtime.lease_of(broker.broker_id) {
                    broker.last_heartbeat_age_ms = heard.last_heartbeat_ms.map(|at| now.saturating_sub(at));
                    broker.max_offset = heard.max_offset;
                    broker.confirm_offset = heard.confirm_offset;
                }
            }
            if let Some(reason) = self.runtime.leaderless().get(&view.group.name) {
                wire.leaderless = true;
                wire.leaderless_reason = reason.clone();
            }
        }
        wire
    }

    /// Whether an election with `election` could choose a master in `group` now, from the
    /// active brokers this leadership holds leases for: `INVALID_ARGUMENT` for a target that is
    /// no member of the group, `FAILED_PRECONDITION` / `NOT_ELIGIBLE` for one the policy would
    /// not pick (not live, or out of sync without `--unclean`).
    fn check_electable(&self, group: &pharos_meta::BrokerGroup, election: &ElectionRequest) -> Result<(), Status> {
        let applied = self.node.state_machine.read();
        let state = &applied.state;
        if let Some(to) = election.to
            && state.brokers.get(&to).is_none_or(|broker| broker.group != group.name)
        {
            return Err(with_reason(
                Code::InvalidArgument,
                Reason::InvalidArgument,
                format!("broker {to} is not a member of group {}", group.name),
            ));
        }
        let leases: Vec<(u64, u64)> = group
            .members
            .iter()
            .filter_map(|id| self.runtime.lease_of(*id).map(|lease| (*id, lease.confirm_offset)))
            .collect();
        let live: Vec<(&pharos_meta::Broker, u64)> = leases
            .iter()
            .filter_map(|(id, confirm_offset)| state.brokers.get(id).map(|broker| (broker, *confirm_offset)))
            .collect();
        let synced_names = group
            .sync_state_set
            .iter()
            .filter_map(|id| state.brokers.get(id).map(|broker| broker.name.clone()))
            .collect();
        let policy = pharos_dr::election::Policy { primary_region: None };
        pharos_dr::election::choose_master(group, &synced_names, &live, &policy, election)
            .map(|_| ())
            .map_err(|reason| with_reason(Code::FailedPrecondition, Reason::NotEligible, reason))
    }

    fn group_name(group: &str) -> Result<(), Status> {
        if group.is_empty() || group.len() > pharos_meta::limits::NAME_BYTES_MAX {
            return Err(with_reason(Code::InvalidArgument, Reason::InvalidArgument, "group must be 1..=255 bytes"));
        }
        Ok(())
    }
}

type EventStream = WatchStream<v1::BrokerGroupEvent>;

#[tonic::async_trait]
impl BrokerService for BrokerApi {
    async fn register_broker(
        &self,
        request: Request<v1::RegisterBrokerRequest>,
    ) -> Result<tonic::Response<v1::RegisterBrokerResponse>, Status> {
        crate::auth::authorize(&request, &request.get_ref().group)?;
        let actor = crate::handler::actor(&request);
        let (registration, request_id) =
            request.into_inner().validate().map_err(|error: crate::convert::InvalidRequest| {
                with_reason(Code::InvalidArgument, Reason::InvalidRegistration, error.to_string())
            })?;
        let group = registration.group.clone();
        // On the leader, a retry of an active registration is answered from the state and a
        // refusal is decided before proposing: neither takes a log entry (`apply` checks the
        // same way, for a registration proposed anyway).
        let known = if self.node.is_leader() {
            let applied = self.node.state_machine.read();
            let known = applied.state.check_registration(&registration).map_err(command_error)?;
            known.map(|broker| (broker.broker_id, broker.broker_epoch))
        } else {
            None
        };
        let (broker_id, broker_epoch) = match known {
            Some(known) => known,
            None => {
                let Response::BrokerRegistered { broker_id, broker_epoch } =
                    self.commit(BrokerOperation::Register(registration), request_id, actor).await?
                else {
                    return Err(Status::internal("unexpected answer to a registration"));
                };
                (broker_id, broker_epoch)
            }
        };
        self.runtime.registered();
        let (view, revision) = {
            let applied = self.node.state_machine.read();
            (applied.state.group_view(&group), applied.state.revision)
        };
        Ok(crate::handler::answer(
            &self.node,
            revision,
            v1::RegisterBrokerResponse {
                header: None,
                broker_id,
                broker_epoch,
                lease_ms: self.runtime.timing.lease_ms,
                heartbeat_interval_ms: self.runtime.timing.heartbeat_interval_ms,
                group: view.as_ref().map(|view| self.view(view)),
                revision,
            },
        ))
    }

    async fn heartbeat(
        &self,
        request: Request<v1::HeartbeatRequest>,
    ) -> Result<tonic::Response<v1::HeartbeatResponse>, Status> {
        crate::auth::authorize(&request, &self.group_of(request.get_ref().broker_id))?;
        let request = request.into_inner();
        if v1::BrokerRole::try_from(request.role).is_err() {
            return Err(with_reason(
                Code::InvalidArgument,
                Reason::InvalidArgument,
                format!("role {} is not a BrokerRole", request.role),
            ));
        }
        // Not fenced either: an old-generation leader must not renew any broker's lease.
        let leadership = self.runtime.leadership().map_err(node_error)?;
        // Only a leader that a quorum still follows may renew a master's lease. A deposed
        // leader that has not noticed yet (partitioned away, or just healed) would otherwise
        // renew it from stale state after the new leader's deadline for that master ran out,
        // and two masters would overlap (found by the chaos suite: `brokers-through-isolated-leader`).
        // The barrier also brings the state below up to date with everything committed. The
        // role is decided once, from the state read after the barrier: master only when the
        // barrier ran for it.
        let barrier_for_master = {
            let applied = self.node.state_machine.read();
            applied.state.master_of(request.broker_id).is_some()
        };
        if barrier_for_master {
            self.node.linearizable_barrier().await.map_err(node_error)?;
        }
        let applied = self.node.state_machine.read();
        let state = &applied.state;
        let offsets = (request.max_offset, request.confirm_offset);
        self.runtime
            .grant(leadership, state, request.broker_id, request.broker_epoch, offsets)
            .map_err(grant_refusal)?;
        let group = state
            .brokers
            .get(&request.broker_id)
            .and_then(|broker| state.groups.get(&broker.group))
            .cloned()
            .unwrap_or_default();
        drop(applied);
        let is_master = barrier_for_master && group.master_broker_id == Some(request.broker_id);
        let mut response = v1::HeartbeatResponse {
            lease_ms: self.runtime.timing.lease_ms,
            role: if is_master { v1::BrokerRole::Master } else { v1::BrokerRole::Replica }.into(),
            master_broker_id: group.master_broker_id,
            master_epoch: group.master_epoch,
            sync_state_set: group.sync_state_set.iter().copied().collect(),
            sync_state_epoch: group.sync_state_epoch,
            master_max_offset: 0,
            replicas: Vec::new(),
            header: None,
        };
        if is_master {
            let grace = self.runtime.timing.grace_ms();
            let now = self.runtime.now_ms();
            response.replicas = group
                .members
                .iter()
                .filter(|id| **id != request.broker_id)
                .filter_map(|id| {
                    let lease = self.runtime.lease_of(*id)?;
                    let alive = lease.last_heartbeat_ms.is_some_and(|at| now.saturating_sub(at) < grace);
                    Some(v1::ReplicaProgress {
                        broker_id: *id,
                        max_offset: lease.max_offset,
                        confirm_offset: lease.confirm_offset,
                        alive,
                    })
                })
                .collect();
        } else if let Some(master) = group.master_broker_id.and_then(|id| self.runtime.lease_of(id)) {
            response.master_max_offset = master.max_offset;
        }
        Ok(crate::handler::answer_applied(&self.node, response))
    }

    async fn unregister_broker(
        &self,
        request: Request<v1::UnregisterBrokerRequest>,
    ) -> Result<tonic::Response<v1::UnregisterBrokerResponse>, Status> {
        crate::auth::authorize(&request, &self.group_of(request.get_ref().broker_id))?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        let operation =
            BrokerOperation::Unregister { broker_id: request.broker_id, broker_epoch: request.broker_epoch };
        let Response::BrokerChanged { revision } = self.commit(operation, request_id, actor).await? else {
            return Err(Status::internal("unexpected answer to an unregistration"));
        };
        // It stopped serving by itself: no lease to wait for.
        self.runtime.forget(request.broker_id);
        Ok(crate::handler::answer(&self.node, revision, v1::UnregisterBrokerResponse { revision, header: None }))
    }

    async fn alter_sync_state_set(
        &self,
        request: Request<v1::AlterSyncStateSetRequest>,
    ) -> Result<tonic::Response<v1::AlterSyncStateSetResponse>, Status> {
        crate::auth::authorize(&request, &request.get_ref().group)?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        Self::group_name(&request.group)?;
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        let operation = BrokerOperation::AlterSyncStateSet {
            group: request.group,
            master_broker_id: request.master_broker_id,
            master_epoch: request.master_epoch,
            sync_state_epoch: request.sync_state_epoch,
            sync_state_set: request.sync_state_set.into_iter().collect(),
        };
        let Response::SyncStateSetAltered { sync_state_epoch } = self.commit(operation, request_id, actor).await?
        else {
            return Err(Status::internal("unexpected answer to a sync state set change"));
        };
        Ok(crate::handler::answer_applied(&self.node, v1::AlterSyncStateSetResponse { sync_state_epoch, header: None }))
    }

    async fn get_broker_group(
        &self,
        request: Request<v1::GetBrokerGroupRequest>,
    ) -> Result<tonic::Response<v1::GetBrokerGroupResponse>, Status> {
        crate::auth::authorize(&request, &request.get_ref().group)?;
        let request = request.into_inner();
        Self::group_name(&request.group)?;
        self.prepare_read(request.consistency).await?;
        let (view, revision) = {
            let applied = self.node.state_machine.read();
            (applied.state.group_view(&request.group), applied.state.revision)
        };
        let view = view
            .ok_or_else(|| command_error(pharos_meta::CommandError::UnknownGroup { group: request.group.clone() }))?;
        Ok(crate::handler::answer(
            &self.node,
            revision,
            v1::GetBrokerGroupResponse { group: Some(self.view(&view)), revision, header: None },
        ))
    }

    async fn list_broker_groups(
        &self,
        request: Request<v1::ListBrokerGroupsRequest>,
    ) -> Result<tonic::Response<v1::ListBrokerGroupsResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        self.prepare_read(request.into_inner().consistency).await?;
        let (views, revision) = {
            let applied = self.node.state_machine.read();
            let state = &applied.state;
            (state.groups.keys().filter_map(|name| state.group_view(name)).collect::<Vec<_>>(), state.revision)
        };
        Ok(crate::handler::answer(
            &self.node,
            revision,
            v1::ListBrokerGroupsResponse {
                header: None,
                groups: views.iter().map(|view| self.view(view)).collect(),
                revision,
            },
        ))
    }

    type WatchBrokerGroupStream = EventStream;

    async fn watch_broker_group(
        &self,
        request: Request<v1::WatchBrokerGroupRequest>,
    ) -> Result<tonic::Response<Self::WatchBrokerGroupStream>, Status> {
        crate::auth::authorize(&request, &request.get_ref().group)?;
        let slot = crate::handler::WatchSlot::take(&request)?;
        let request = request.into_inner();
        Self::group_name(&request.group)?;
        crate::handler::check_watch_start(&self.node, request.from_revision)?;
        // The first batch is read here so a bad revision fails the call itself.
        let (initial, last) = {
            let applied = self.node.state_machine.read();
            if request.from_revision == 0 {
                let current = applied.state.group_view(&request.group).map(|view| v1::BrokerGroupEvent {
                    revision: applied.state.revision,
                    group: Some(crate::convert::group_view(&view)),
                });
                (current.into_iter().collect::<Vec<_>>(), applied.state.revision)
            } else {
                applied.group_events.since(|key| key == request.group, request.from_revision, 0).map_err(compacted)?;
                (Vec::new(), request.from_revision)
            }
        };
        let group = request.group;
        let stream = watch_stream(&self.node, slot, initial, last, move |applied, last| {
            let events = applied.group_events.since(|key| key == group, last, WATCH_BATCH_MAX)?;
            Ok(events
                .into_iter()
                .map(|event| {
                    let group = Some(crate::convert::group_view(&event.payload));
                    (event.revision, v1::BrokerGroupEvent { revision: event.revision, group })
                })
                .collect())
        });
        Ok(tonic::Response::new(stream))
    }

    async fn fence_broker(
        &self,
        request: Request<v1::FenceBrokerRequest>,
    ) -> Result<tonic::Response<v1::FenceBrokerResponse>, Status> {
        crate::auth::authorize(&request, &self.group_of(request.get_ref().broker_id))?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        let (broker_id, request_id) = (request.broker_id, request.request_id);
        let request_id = crate::convert::request_id(request_id).map_err(invalid_request)?;
        let broker_epoch = self
            .node
            .state_machine
            .read()
            .state
            .brokers
            .get(&broker_id)
            .map(|broker| broker.broker_epoch)
            .ok_or_else(|| command_error(pharos_meta::CommandError::UnknownBroker { broker_id }))?;
        let Response::BrokerChanged { revision } =
            self.commit(BrokerOperation::Fence { broker_id, broker_epoch }, request_id, actor).await?
        else {
            return Err(Status::internal("unexpected answer to a fence"));
        };
        Ok(crate::handler::answer(&self.node, revision, v1::FenceBrokerResponse { revision, header: None }))
    }

    async fn remove_broker(
        &self,
        request: Request<v1::RemoveBrokerRequest>,
    ) -> Result<tonic::Response<v1::RemoveBrokerResponse>, Status> {
        crate::auth::authorize(&request, &self.group_of(request.get_ref().broker_id))?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        let broker_id = request.broker_id;
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        let Response::BrokerChanged { revision } =
            self.commit(BrokerOperation::Remove { broker_id }, request_id, actor).await?
        else {
            return Err(Status::internal("unexpected answer to a removal"));
        };
        self.runtime.forget(broker_id);
        Ok(crate::handler::answer(&self.node, revision, v1::RemoveBrokerResponse { revision, header: None }))
    }

    async fn failover(
        &self,
        request: Request<v1::FailoverRequest>,
    ) -> Result<tonic::Response<v1::FailoverResponse>, Status> {
        crate::auth::authorize(&request, &request.get_ref().group)?;
        let actor = crate::handler::actor(&request);
        self.ensure_leader()?;
        let request = request.into_inner();
        Self::group_name(&request.group)?;
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        if let Some(id) = &request_id {
            let applied = self.node.state_machine.read();
            match applied.state.remembered(id) {
                Some(Response::MasterElected { master_broker_id, master_epoch, .. }) => {
                    let message = v1::FailoverResponse {
                        master_broker_id: *master_broker_id,
                        master_epoch: *master_epoch,
                        header: None,
                    };
                    drop(applied);
                    return Ok(crate::handler::answer_applied(&self.node, message));
                }
                Some(Response::Error(error)) => return Err(command_error(error.clone())),
                _ => {}
            }
        }
        let group =
            self.node.state_machine.read().state.groups.get(&request.group).cloned().ok_or_else(|| {
                command_error(pharos_meta::CommandError::UnknownGroup { group: request.group.clone() })
            })?;
        if group.election_mode == pharos_meta::ElectionMode::Declared {
            return Err(command_error(pharos_meta::CommandError::MasterDeclared { group: group.name.clone() }));
        }
        if request.to.is_some() && request.to == group.master_broker_id {
            return Err(with_reason(Code::InvalidArgument, Reason::InvalidArgument, "--to names the current master"));
        }
        let exclude = group.master_broker_id.into_iter().collect();
        let election = ElectionRequest { to: request.to, unclean: request.unclean, exclude, request_id };
        // Before anything changes: the target exists, is a member, and the election could pick
        // it (or, without a target, someone) from the brokers alive now. A failover that cannot
        // elect must not fence the master it was asked to replace.
        self.check_electable(&group, &election)?;
        if let Some(Response::Error(error)) =
            self.runtime.begin_failover(&group, election, actor).await.map_err(node_error)?
        {
            return Err(command_error(error));
        }
        // The planner elects once the old master's lease has run out; wait for it, bounded.
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(self.runtime.timing.grace_ms())
            + Duration::from_secs(10);
        loop {
            let current = self.node.state_machine.read().state.groups.get(&group.name).cloned().unwrap_or_default();
            if current.master_epoch > group.master_epoch
                && let Some(master_broker_id) = current.master_broker_id
            {
                return Ok(crate::handler::answer_applied(
                    &self.node,
                    v1::FailoverResponse { master_broker_id, master_epoch: current.master_epoch, header: None },
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                self.runtime.cancel_failover(&group.name);
                let reason = self
                    .runtime
                    .leaderless()
                    .get(&group.name)
                    .cloned()
                    .unwrap_or_else(|| "no election happened".into());
                // Aborted, not DEADLINE_EXCEEDED: that code reads as the caller's own deadline.
                return Err(with_reason(
                    Code::Aborted,
                    Reason::Timeout,
                    format!("failover of {} did not complete: {reason}", group.name),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
