//! `DrService`: DR status, placement and mode, planned switchover, unplanned failover and
//! failback (docs/architecture.md, "Regions and disaster recovery"). Thin: the decisions are the `pharos_dr` planners', the steps are the
//! leader's `DrRuntime`'s, and the storage surgery is `pharos_replication::reform`'s.

use pharos_proto::v1::ErrorReason as Reason;
use std::time::Duration;

use pharos_dr::failover::{OldMember, Reach, RegionProbe, Survivor};
use pharos_meta::{Command, DrCommand, Operation, Response};
use pharos_proto::v1;
use pharos_proto::v1::dr_service_server::DrService;
use pharos_replication::Node;
use tonic::{Code, Request, Status};

use crate::convert::enums;
use crate::dr_runtime::DrRuntime;
use crate::status::{command_error, invalid_request, node_error, with_reason};

/// How long one node of the failed region may take to answer a probe before it counts as gone.
const PROBE_TIMEOUT_MS: u64 = 1_000;

#[derive(Debug, Clone)]
pub struct DrApi {
    node: Node,
    runtime: DrRuntime,
}

fn invalid(message: impl Into<String>) -> Status {
    with_reason(Code::InvalidArgument, Reason::InvalidArgument, message)
}

fn reach_to_wire(reach: Reach) -> v1::Reach {
    match reach {
        Reach::Answered => v1::Reach::Answered,
        Reach::Refused => v1::Reach::Refused,
        Reach::NoAnswer => v1::Reach::NoAnswer,
    }
}

/// Whether anything accepts a TCP connection at `address`: `Err` says how it failed.
async fn connect(address: &str) -> Result<(), Reach> {
    match tokio::time::timeout(Duration::from_millis(PROBE_TIMEOUT_MS), tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => Err(Reach::Refused),
        Ok(Err(_)) | Err(_) => Err(Reach::NoAnswer),
    }
}

fn single_attempt(endpoint: &str) -> Result<pharos_client::Client, Status> {
    let options = pharos_client::ClientOptions {
        attempts_max: 1,
        request_timeout_ms: PROBE_TIMEOUT_MS,
        connect_timeout_ms: PROBE_TIMEOUT_MS,
        ca_file: crate::tls::cluster_ca_file(),
        ..Default::default()
    };
    pharos_client::Client::with_options([endpoint.to_string()], options)
        .map_err(|error| invalid(format!("bad endpoint {endpoint}: {error}")))
}

fn failover_status(record: &pharos_meta::FailoverRecord) -> v1::FailoverStatus {
    v1::FailoverStatus {
        generation: record.generation,
        at_ms: record.at_ms,
        from_region: record.from_region.clone(),
        to_region: record.to_region.clone(),
        seed_node_id: record.seed_node_id,
        seed_last_log_index: record.seed_last_log_index,
        last_known_commit_index: record.last_known_commit_index,
        last_mode: enums::dr_mode(record.last_mode).into(),
        last_state: enums::sync_state(record.last_state).into(),
        last_dr_state_id: record.last_dr_state_id,
        rpo_zero: record.rpo_zero,
        leader_silence_ms: record.leader_silence_ms,
        last_announced_dr_state_id: record.last_announced_dr_state_id,
        sync_promise_remaining_ms: record.sync_promise_remaining_ms,
        loss_report: pharos_dr::failover::loss_report(record),
        abandoned_node_ids: record.abandoned_members.iter().map(|member| member.node_id).collect(),
    }
}

impl DrApi {
    /// Probes an old-region member on its client port (`Identity`) and its peer port (`Probe`),
    /// both at once; bounded by about two `PROBE_TIMEOUT_MS`.
    async fn probe_old_member(&self, member: &OldMember) -> RegionProbe {
        let (client, peer) = futures::join!(self.probe_client_port(member), self.probe_peer_port(member));
        RegionProbe { node_id: member.node_id, client, peer }
    }

    async fn probe_client_port(&self, member: &OldMember) -> Reach {
        match connect(&member.client_addr).await {
            Err(reach) => reach,
            Ok(()) => match single_attempt(&member.client_addr) {
                Ok(client) => match client.identity().await {
                    Ok(identity)
                        if identity.cluster_id == self.node.identity.cluster_id
                            && identity.generation >= self.node.identity.generation =>
                    {
                        Reach::Answered
                    }
                    Ok(_) | Err(_) => Reach::NoAnswer,
                },
                Err(_) => Reach::NoAnswer,
            },
        }
    }

    async fn probe_peer_port(&self, member: &OldMember) -> Reach {
        match connect(&member.peer_addr).await {
            Err(reach) => reach,
            Ok(()) => match pharos_replication::network::probe_peer(
                &self.node.identity,
                &member.peer_addr,
                Duration::from_millis(PROBE_TIMEOUT_MS),
            )
            .await
            {
                Some(_) => Reach::Answered,
                None => Reach::NoAnswer,
            },
        }
    }

    pub fn new(node: Node, runtime: DrRuntime) -> Self {
        DrApi { node, runtime }
    }

    fn ensure_leader(&self) -> Result<(), Status> {
        self.node.ensure_leader().map_err(node_error)
    }

    async fn commit(
        &self,
        command: DrCommand,
        request_id: Option<pharos_meta::RequestId>,
        actor: String,
    ) -> Result<u64, Status> {
        // The edge checks are about the request's shape: malformed arguments, whatever the state.
        pharos_meta::dr::validate(&command)
            .map_err(|error| with_reason(Code::InvalidArgument, Reason::InvalidDr, error.to_string()))?;
        match crate::handler::propose(&self.node, Operation::Dr(command), request_id, actor).await? {
            Response::DrChanged { revision } => Ok(revision),
            other => Err(Status::internal(format!("unexpected answer {other:?}"))),
        }
    }
}

fn survivor(survey: &v1::SurveyResponse) -> Result<Survivor, Status> {
    let dr = pharos_meta::codec::decode_dr_record(&survey.dr_record)
        .map_err(|error| Status::internal(format!("node {} sent a malformed DR record: {error}", survey.node_id)))?;
    Ok(Survivor {
        node_id: survey.node_id,
        generation: survey.generation,
        last_log: (survey.last_log_term, survey.last_log_index),
        known_commit_index: survey.known_commit_index,
        dr,
        millis_since_leader_contact: survey.millis_since_leader_contact,
        announced_dr_state_id: survey.announced_dr_state_id,
        sync_promise_remaining_ms: survey.sync_promise_remaining_ms,
    })
}

#[tonic::async_trait]
impl DrService for DrApi {
    async fn status(
        &self,
        request: Request<v1::DrStatusRequest>,
    ) -> Result<tonic::Response<v1::DrStatusResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let status = self.node.status();
        let lag_ms = self.runtime.lag_ms();
        let applied = self.node.state_machine.read();
        let dr = &applied.state.dr;
        let members = status
            .members
            .iter()
            .map(|(id, info)| {
                let matched = status.matched.as_ref().and_then(|matched| matched.get(id).copied());
                v1::DrMember {
                    node_id: *id,
                    zone: info.zone.clone(),
                    region: info.region.clone(),
                    role: enums::member_role(status.voters.contains(id)).into(),
                    lag_entries: matched.map(|matched| status.last_log_index.saturating_sub(matched)),
                    lag_ms: lag_ms.get(id).copied(),
                    matched_index: matched,
                }
            })
            .collect();
        let operation = dr.operation.as_ref().map(|operation| v1::DrOperationStatus {
            id: operation.id,
            from_region: operation.from_region.clone(),
            to_region: operation.to_region.clone(),
            step: enums::switchover_step(operation.step).into(),
            started_at_ms: operation.started_at_ms,
            step_at_ms: operation.step_at_ms,
            result: self.runtime.progress(),
            finished_at_ms: 0,
        });
        let last_operation = dr.last_operation.as_ref().map(|finished| v1::DrOperationStatus {
            id: finished.id,
            from_region: finished.from_region.clone(),
            to_region: finished.to_region.clone(),
            step: v1::SwitchoverStep::Unspecified.into(),
            started_at_ms: finished.started_at_ms,
            step_at_ms: finished.finished_at_ms,
            result: finished.result.clone(),
            finished_at_ms: finished.finished_at_ms,
        });
        let placement: Vec<(u64, &str, &str, bool)> = status
            .members
            .iter()
            .map(|(id, info)| (*id, info.zone.as_str(), info.region.as_str(), status.voters.contains(id)))
            .collect();
        let mut warnings = pharos_dr::placement_warnings(&dr.primary_region, &dr.dr_region, &placement);
        if let Some(generation) = self.node.fence.fenced_by() {
            warnings.push(format!("this node is fenced by generation {generation}: run `pharos dr failback`"));
        }
        let message = v1::DrStatusResponse {
            header: None,
            cluster_id: self.node.identity.cluster_id.clone(),
            generation: self.node.identity.generation,
            node_id: status.node_id,
            leader_id: status.leader_id,
            primary_region: dr.primary_region.clone(),
            dr_region: dr.dr_region.clone(),
            mode: enums::dr_mode(dr.mode).into(),
            // UNSPECIFIED in `majority` mode: there is no sync state.
            state: dr.sync_state().map_or(v1::DrSyncState::Unspecified, enums::sync_state).into(),
            dr_state_id: dr.dr_state_id,
            dr_sync_timeout_ms: dr.dr_sync_timeout_ms,
            members,
            operation,
            last_operation,
            last_failover: dr.last_failover.as_ref().map(failover_status),
            warnings,
            fenced_by_generation: self.node.fence.fenced_by(),
            applied_index: status.applied_index,
            millis_since_leader_contact: self.node.leader_contact.millis_since(),
        };
        let revision = applied.state.revision;
        drop(applied);
        Ok(crate::handler::answer(&self.node, revision, message))
    }

    async fn configure(
        &self,
        request: Request<v1::DrConfigureRequest>,
    ) -> Result<tonic::Response<v1::DrChangeResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let actor = crate::handler::actor(&request);
        self.ensure_leader()?;
        let request = request.into_inner();
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        let command = DrCommand::Configure { primary_region: request.primary_region, dr_region: request.dr_region };
        let revision = self.commit(command, request_id, actor).await?;
        Ok(crate::handler::answer(&self.node, revision, v1::DrChangeResponse { revision, header: None }))
    }

    async fn set_mode(
        &self,
        request: Request<v1::DrSetModeRequest>,
    ) -> Result<tonic::Response<v1::DrChangeResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let actor = crate::handler::actor(&request);
        self.ensure_leader()?;
        let request = request.into_inner();
        let mode = enums::replication_mode(request.mode).ok_or_else(|| {
            invalid(format!("mode must be DR_MODE_MAJORITY or DR_MODE_DR_SYNC, not {}", request.mode))
        })?;
        let dr_sync_timeout_ms = match request.dr_sync_timeout_ms {
            0 => self.node.state_machine.read().state.dr.dr_sync_timeout_ms,
            timeout => timeout,
        };
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        let revision = self.commit(DrCommand::SetMode { mode, dr_sync_timeout_ms }, request_id, actor).await?;
        Ok(crate::handler::answer(&self.node, revision, v1::DrChangeResponse { revision, header: None }))
    }

    async fn switchover(
        &self,
        request: Request<v1::SwitchoverRequest>,
    ) -> Result<tonic::Response<v1::SwitchoverResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let actor = crate::handler::actor(&request);
        self.ensure_leader()?;
        let request = request.into_inner();
        if request.to_region.is_empty() {
            return Err(invalid("to_region is required"));
        }
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        let status = self.node.status();
        let (from_region, plan) = {
            let applied = self.node.state_machine.read();
            // A retry of a request that already began an operation gets that operation, not
            // "in progress" (the apply would answer it the same way; this answers before planning).
            if let Some(Response::DrChanged { revision }) =
                request_id.as_ref().and_then(|id| applied.state.remembered(id))
            {
                let operation_id = *revision;
                let plan = vec![format!("operation {operation_id} was begun by the first attempt of this request")];
                drop(applied);
                let message = v1::SwitchoverResponse { operation_id, plan, header: None };
                return Ok(crate::handler::answer(&self.node, operation_id, message));
            }
            let dr = &applied.state.dr;
            if let Some(operation) = &dr.operation {
                return Err(command_error(pharos_meta::CommandError::DrOperationInProgress {
                    operation_id: operation.id,
                }));
            }
            // The operation planned as if it were starting now.
            let probe = pharos_meta::DrOperation {
                id: 0,
                from_region: dr.primary_region.clone(),
                to_region: request.to_region.clone(),
                step: pharos_meta::SwitchoverStep::PromoteLearners,
                started_at_ms: 0,
                step_at_ms: 0,
            };
            let observed = crate::dr_runtime::observe(&status, &applied.state, &probe, &Default::default());
            let plan = pharos_dr::switchover::plan(&dr.primary_region, &request.to_region, &observed)
                .map_err(|reason| with_reason(Code::FailedPrecondition, Reason::SwitchoverRefused, reason))?;
            (dr.primary_region.clone(), plan)
        };
        if from_region.is_empty() {
            return Err(with_reason(
                Code::FailedPrecondition,
                Reason::SwitchoverRefused,
                "no primary region is known yet: run `pharos dr configure` first",
            ));
        }
        if request.dry_run {
            return Ok(crate::handler::answer_applied(
                &self.node,
                v1::SwitchoverResponse { operation_id: 0, plan, header: None },
            ));
        }
        let operation_id = self
            .commit(DrCommand::BeginSwitchover { from_region, to_region: request.to_region }, request_id, actor)
            .await?;
        Ok(crate::handler::answer(
            &self.node,
            operation_id,
            v1::SwitchoverResponse { operation_id, plan, header: None },
        ))
    }

    async fn failover(
        &self,
        request: Request<v1::RegionFailoverRequest>,
    ) -> Result<tonic::Response<v1::RegionFailoverResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        if request.to_region.is_empty() {
            return Err(invalid("to_region is required"));
        }
        if self.node.info.region != request.to_region {
            return Err(with_reason(
                Code::FailedPrecondition,
                Reason::FailoverRefused,
                format!(
                    "this node is in region {}; send the failover to a node of {}",
                    self.node.info.region, request.to_region
                ),
            ));
        }
        let refused = |reason: String| with_reason(Code::FailedPrecondition, Reason::FailoverRefused, reason);
        let status = self.node.status();
        let old_members: Vec<OldMember> = status
            .members
            .iter()
            .map(|(id, info)| OldMember {
                node_id: *id,
                client_addr: info.client_addr.clone(),
                peer_addr: info.peer_addr.clone(),
                zone: info.zone.clone(),
                region: info.region.clone(),
            })
            .collect();
        // Probe the other regions on both ports: any node of this cluster that answers refuses
        // the failover, and one that is not proven down needs the operator's word that its
        // region is fenced.
        let probes = futures::future::join_all(
            old_members
                .iter()
                .filter(|member| member.region != request.to_region)
                .map(|member| self.probe_old_member(member)),
        )
        .await;
        let mut survivors = Vec::new();
        let mut unreachable = Vec::new();
        for member in old_members.iter().filter(|member| member.region == request.to_region) {
            if member.peer_addr.is_empty() {
                // Never recorded its address: nobody can reach it, and neither can we.
                unreachable.push(member.node_id);
                continue;
            }
            let survey = if member.node_id == self.node.identity.node_id {
                crate::member_api::survey(&self.node).await.map_err(|status| status.message().to_string())
            } else {
                match crate::member_api::peer(&member.peer_addr)?.survey(v1::SurveyRequest {}).await {
                    Ok(survey) => Ok(survey.into_inner()),
                    Err(status) => Err(status.message().to_string()),
                }
            };
            match survey {
                Ok(survey) if survey.cluster_id == self.node.identity.cluster_id => survivors.push(survivor(&survey)?),
                Ok(_) | Err(_) => unreachable.push(member.node_id),
            }
        }
        let fenced_region = Some(request.old_region_fenced.as_str()).filter(|region| !region.is_empty());
        let plan = pharos_dr::failover::plan(
            &request.to_region,
            request.force,
            &old_members,
            &probes,
            fenced_region,
            &survivors,
        )
        .map_err(|refusal| {
            let found: Vec<String> = probes.iter().map(pharos_dr::failover::RegionProbe::describe).collect();
            refused(format!("{refusal}; probes: {}", found.join("; ")))
        })?;
        if let Some(region) = fenced_region {
            tracing::warn!(%region, "failover with the operator's statement that the old region is fenced");
        }
        let groups = {
            let applied = self.node.state_machine.read();
            crate::dr_runtime::group_placements(&applied.state, &request.to_region, &Default::default())
                .into_iter()
                .map(|group| match (group.master_region.as_deref(), group.target_candidate) {
                    (Some(region), _) if region == request.to_region => {
                        format!("{}: master already in {region}", group.group)
                    }
                    (_, Some(candidate)) => format!(
                        "{}: broker {candidate} of the sync state set takes over once the old master's lease runs out (no message loss)",
                        group.group
                    ),
                    (_, None) => format!(
                        "{}: no sync-state-set broker in {}: leaderless unless unclean election is allowed \
                         (`pharos broker failover --group {} --unclean`: messages past the replica's offset are lost)",
                        group.group, request.to_region, group.group
                    ),
                })
                .collect()
        };
        let mut response = v1::RegionFailoverResponse {
            generation: plan.record.generation,
            seed_node_id: plan.seed_node_id,
            rejoining: plan.rejoining.clone(),
            unreachable,
            rpo_zero: plan.record.rpo_zero,
            seed_last_log_index: plan.record.seed_last_log_index,
            last_known_commit_index: plan.record.last_known_commit_index,
            loss_report: pharos_dr::failover::loss_report(&plan.record),
            groups,
            seed_client_addr: String::new(),
            probes: probes
                .iter()
                .map(|probe| v1::RegionProbe {
                    node_id: probe.node_id,
                    region: old_members
                        .iter()
                        .find(|member| member.node_id == probe.node_id)
                        .map(|member| member.region.clone())
                        .unwrap_or_default(),
                    client: reach_to_wire(probe.client).into(),
                    peer: reach_to_wire(probe.peer).into(),
                })
                .collect(),
            header: None,
        };
        if request.dry_run {
            return Ok(crate::handler::answer_applied(&self.node, response));
        }
        tracing::warn!(generation = plan.record.generation, seed = plan.seed_node_id, "unplanned failover");
        let command = pharos_meta::codec::encode_command(&Command {
            request_id: None,
            issued_at_ms: crate::handler::unix_ms(),
            actor,
            operation: Operation::Dr(DrCommand::CompleteFailover(plan.record.clone())),
        });
        let member_of = |node_id: u64| status.members.get(&node_id).cloned().unwrap_or_default();
        let seed = member_of(plan.seed_node_id);
        let reform = |role: v1::ReformRole, join_endpoints: Vec<String>, failover_command: Vec<u8>| v1::ReformRequest {
            cluster_id: self.node.identity.cluster_id.clone(),
            generation: plan.record.generation,
            role: role.into(),
            join_endpoints,
            auto_promote: true,
            failover_command,
        };
        crate::member_api::peer(&seed.peer_addr)?
            .reform(reform(v1::ReformRole::Seed, Vec::new(), command))
            .await
            .map_err(|error| Status::unavailable(format!("the seed (node {}) refused: {error}", plan.seed_node_id)))?;
        for node_id in &plan.rejoining {
            if let Err(error) = crate::member_api::peer(&member_of(*node_id).peer_addr)?
                .reform(reform(v1::ReformRole::Rejoin, vec![seed.peer_addr.clone()], Vec::new()))
                .await
            {
                tracing::warn!(node_id, %error, "a survivor did not take the rejoin request");
                response.unreachable.push(*node_id);
            }
        }
        // The caller waits for the new generation (this node may itself be restarting now).
        response.seed_client_addr = seed.client_addr;
        Ok(crate::handler::answer_applied(&self.node, response))
    }

    async fn failback(
        &self,
        request: Request<v1::FailbackRequest>,
    ) -> Result<tonic::Response<v1::FailbackResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        self.ensure_leader()?;
        let (record, members) = {
            let applied = self.node.state_machine.read();
            (applied.state.dr.last_failover.clone(), self.node.status().members)
        };
        let record = record.ok_or_else(|| {
            with_reason(Code::FailedPrecondition, Reason::FailbackRefused, "no unplanned failover is recorded")
        })?;
        let endpoints: Vec<String> = members.values().map(|info| info.peer_addr.clone()).collect();
        let mut response = v1::FailbackResponse::default();
        for member in record.abandoned_members.iter().filter(|member| !members.contains_key(&member.node_id)) {
            let request = v1::ReformRequest {
                cluster_id: self.node.identity.cluster_id.clone(),
                generation: self.node.identity.generation,
                role: v1::ReformRole::Rejoin.into(),
                join_endpoints: endpoints.clone(),
                auto_promote: false,
                failover_command: Vec::new(),
            };
            match crate::member_api::peer(&member.peer_addr)?.reform(request).await {
                Ok(_) => response.rejoining.push(member.node_id),
                Err(error) => {
                    response.unreachable.push(member.node_id);
                    response
                        .unreachable_reasons
                        .insert(member.node_id, format!("at {}: {}", member.peer_addr, error.message()));
                }
            }
        }
        Ok(crate::handler::answer_applied(&self.node, response))
    }
}
