//! `pharos serve`: opens the data dir, carries out the start-up plan (`crate::startup`: the
//! identity, then how this node becomes a member), starts Raft, serves the peer API, the client
//! API (with gRPC health and reflection) and HTTP, and keeps this node's membership record true.
//! A DR reform (unplanned failover, failback) changes the stopped node's data dir and restarts
//! all of it in process, from that data dir, on the same ports.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pharos_proto::v1;
use pharos_replication::{ClusterIdentity, Node, NodeInfo, Storage, reform};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::acl_api::AclApi;
use crate::api::Api;
use crate::broker_api::BrokerApi;
use crate::brokers::BrokerRuntime;
use crate::config::ServeConfig;
use crate::dr_api::DrApi;
use crate::dr_runtime::DrRuntime;
use crate::member_api::MemberApi;
use crate::restart::Restart;
use crate::shutdown::Shutdown;
use crate::startup::{BootstrapCheck, IdentityPlan, MembershipStep, Promotion, RaftFacts, StartupFacts};
use crate::topic_api::{OffsetApi, OffsetCommitter, TopicApi};

/// Largest client request accepted (a 1 MiB value plus envelope). Larger ones get
/// `OUT_OF_RANGE` from the transport before any handler runs.
pub(crate) const CLIENT_MESSAGE_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Requests one client connection may have in flight at once (HTTP/2 concurrent streams, open
/// watches included); a client queues the rest. Watches alone are capped lower
/// ([`crate::handler::WATCHES_PER_CONNECTION_MAX`]).
const CLIENT_STREAMS_PER_CONNECTION_MAX: u32 = 1024;
/// How often a node checks that the membership describes it correctly.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(1);
/// Until a new cluster records its first feature level, requests of newer levels wait for it:
/// its leader retries at least this often, and at once on every applied entry (a member's
/// advertisement is one).
const FIRST_FEATURE_LEVEL_RETRY: Duration = Duration::from_secs(1);

/// How long in-flight client requests may take to finish when the node restarts in process.
const RESTART_DRAIN: Duration = Duration::from_secs(2);
/// How long a node that must re-join keeps trying to reach the cluster.
const REJOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a node until `shutdown` fires, restarting it in process after a DR reform.
pub async fn run(config: ServeConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let mut storage = Node::open_storage(&config.data_dir).context("opening the data dir")?;
    loop {
        let Some(restart) = serve(&config, storage.clone(), shutdown.clone()).await? else { return Ok(()) };
        storage = reform_data_dir(&config, storage, restart).await?;
        tracing::warn!("restarting in process");
    }
}

/// Changes a stopped node's data dir as a DR reform asked; returns the storage to start from.
/// What the next start does with it is the start-up plan's business: a seed resumes from its
/// continued log, a quarantined node finds an empty data dir and the pending join.
async fn reform_data_dir(config: &ServeConfig, storage: Storage, restart: Restart) -> anyhow::Result<Storage> {
    let identity = ClusterIdentity::load(&storage)?.context("the data dir lost its identity")?;
    match restart {
        Restart::Seed { generation, failover_command } => {
            reform::reform_as_seed(&storage, &identity, config.node_info(), generation, &failover_command)
                .await
                .context("re-forming as the seed of a new generation")?;
            Ok(storage)
        }
        Restart::Rejoin { pending } => {
            // Intent first (a crash after it still joins), then the old data moves aside.
            reform::write_pending_join(&config.data_dir, &pending).context("recording the pending join")?;
            drop(storage);
            reform::quarantine(&config.data_dir, identity.generation).context("quarantining the data dir")?;
            Node::open_storage(&config.data_dir).context("opening the new data dir")
        }
    }
}

/// Serves until `shutdown` fires (`None`) or a DR reform asks for a restart.
async fn serve(config: &ServeConfig, storage: Storage, outer_shutdown: Shutdown) -> anyhow::Result<Option<Restart>> {
    let facts = startup_facts(config, &storage)?;
    let identity = take_identity(&facts, &storage).await?;
    let info = config.node_info();
    let (restarter, mut restart_requests) = crate::restart::channel();
    let (trigger, shutdown) = crate::shutdown::channel();
    let restart_requested = tokio::spawn(async move {
        let requested = tokio::select! {
            () = outer_shutdown.wait() => None,
            restart = restart_requests.recv() => restart,
        };
        trigger.trigger();
        requested
    });
    tracing::info!(node_id = config.node_id, cluster_id = %identity.cluster_id, generation = identity.generation, "starting");

    // Bind every port before starting Raft so a port conflict fails the start cleanly.
    let peer_listener = TcpListener::bind(&config.listen_peer)
        .await
        .with_context(|| format!("binding peer port {}", config.listen_peer))?;
    let client_listener = TcpListener::bind(&config.listen_client)
        .await
        .with_context(|| format!("binding client port {}", config.listen_client))?;
    let http_listener = TcpListener::bind(&config.listen_http)
        .await
        .with_context(|| format!("binding HTTP port {}", config.listen_http))?;
    let remoting_listener = TcpListener::bind(&config.listen_remoting)
        .await
        .with_context(|| format!("binding RocketMQ remoting port {}", config.listen_remoting))?;

    let tls = crate::tls::PortsTls::load(config.tls.as_ref())?;
    let node = Node::start(storage, identity, info.clone(), &config.raft_tuning()).await.context("starting raft")?;
    // Read before this node takes part in Raft (its gate is closed): what the data dir holds.
    let raft_facts = RaftFacts { initialized: node.is_initialized().await?, member: node.is_member().await? };
    learn_newer_generation(&node).await;

    let broker_runtime = BrokerRuntime::new(node.clone(), config.broker_timing(), config.broker_record_retention_ms);
    let broker_requests =
        crate::remoting::BrokerRequests::new(node.clone(), broker_runtime.clone(), config.remoting_open_registration);
    if config.remoting_open_registration
        && config.broker_lease_ms <= pharos_remoting::controller::LEASE_SAFETY_MARGIN_MS
    {
        tracing::warn!(
            broker_lease_ms = config.broker_lease_ms,
            "RocketMQ brokers in controller mode refuse a write lease of {} ms or less: their masters will accept no writes",
            pharos_remoting::controller::LEASE_SAFETY_MARGIN_MS
        );
    }
    let peer_server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(node.peer_service().into_server())
            .add_service(MemberApi::new(node.clone(), restarter.clone(), broker_requests.clone()).into_server())
            .serve_with_incoming_shutdown(
                pharos_tls::incoming(no_delay(peer_listener), tls.peer.clone()),
                shutdown.clone().wait(),
            ),
    );

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<v1::kv_service_server::KvServiceServer<Api>>().await;
    health_reporter.set_serving::<v1::cluster_service_server::ClusterServiceServer<Api>>().await;
    health_reporter.set_serving::<v1::broker_service_server::BrokerServiceServer<BrokerApi>>().await;
    health_reporter.set_serving::<v1::topic_service_server::TopicServiceServer<TopicApi>>().await;
    health_reporter.set_serving::<v1::offset_service_server::OffsetServiceServer<OffsetApi>>().await;
    let offset_committer = OffsetCommitter::start(node.clone());
    let dr_runtime = DrRuntime::new(node.clone(), broker_runtime.clone());
    health_reporter.set_serving::<v1::dr_service_server::DrServiceServer<DrApi>>().await;
    let (reflection_v1, reflection_v1alpha) = crate::reflection::services().context("building gRPC reflection")?;
    let api = Api::new(node.clone());
    let authority = crate::auth::Authority::new(node.clone(), config.insecure);
    if config.insecure {
        tracing::warn!(
            "INSECURE: the client port serves everyone without authentication or access control (--insecure)"
        );
    }
    health_reporter.set_serving::<v1::acl_service_server::AclServiceServer<AclApi>>().await;
    let stamp_identity = identity_headers(&node.identity.cluster_id, node.identity.generation);
    let request_counts = Arc::new(crate::request_metrics::RequestCounts::default());
    let client_server = tokio::spawn(
        tonic::transport::Server::builder()
            // In-flight requests per connection (HTTP/2 streams): clients queue beyond it.
            .max_concurrent_streams(Some(CLIENT_STREAMS_PER_CONNECTION_MAX))
            // Outermost: refusals of authentication are counted too.
            .layer(crate::request_metrics::RequestMetricsLayer::new(request_counts.clone()))
            .layer(tower::util::MapResponseLayer::new(stamp_identity))
            .layer(crate::auth::AuthLayer::new(authority.clone()))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(
                v1::kv_service_server::KvServiceServer::new(api.clone())
                    .max_decoding_message_size(CLIENT_MESSAGE_BYTES_MAX),
            )
            .add_service(
                v1::cluster_service_server::ClusterServiceServer::new(api)
                    .max_decoding_message_size(CLIENT_MESSAGE_BYTES_MAX),
            )
            .add_service(
                v1::broker_service_server::BrokerServiceServer::new(BrokerApi::new(
                    node.clone(),
                    broker_runtime.clone(),
                ))
                .max_decoding_message_size(CLIENT_MESSAGE_BYTES_MAX),
            )
            .add_service(
                v1::topic_service_server::TopicServiceServer::new(TopicApi::new(node.clone()))
                    .max_decoding_message_size(CLIENT_MESSAGE_BYTES_MAX),
            )
            .add_service(
                v1::offset_service_server::OffsetServiceServer::new(OffsetApi::new(node.clone(), offset_committer))
                    .max_decoding_message_size(CLIENT_MESSAGE_BYTES_MAX),
            )
            .add_service(
                v1::dr_service_server::DrServiceServer::new(DrApi::new(node.clone(), dr_runtime.clone()))
                    .max_decoding_message_size(CLIENT_MESSAGE_BYTES_MAX),
            )
            .add_service(AclApi::new(node.clone(), authority.clone()).into_server())
            .serve_with_incoming_shutdown(
                pharos_tls::incoming(no_delay(client_listener), tls.client.clone()),
                shutdown.clone().wait(),
            ),
    );
    let remoting_stats = pharos_remoting::ServeStats::default();
    let http_server = tokio::spawn({
        let shutdown = shutdown.clone();
        let router = crate::http::router(
            node.clone(),
            broker_runtime.clone(),
            dr_runtime.clone(),
            authority.clone(),
            remoting_stats.clone(),
            request_counts.clone(),
        );
        async move { axum::serve(http_listener, router).with_graceful_shutdown(shutdown.wait()).await }
    });
    let remoting_server = tokio::spawn(pharos_remoting::serve(
        remoting_listener,
        std::sync::Arc::new(crate::remoting::NameServer::new(node.clone(), broker_requests)),
        pharos_remoting::ServeLimits::default(),
        remoting_stats,
        shutdown.clone().wait(),
    ));

    let promotion = take_part(&facts, &node, raft_facts, &shutdown).await?;
    let reconciler = tokio::spawn(reconcile_membership(node.clone(), info, promotion, shutdown.clone()));
    let first_feature_level = tokio::spawn(record_first_feature_level(node.clone(), shutdown.clone()));
    let broker_planner = tokio::spawn(broker_runtime.run(shutdown.clone().wait()));
    let master_announcer = tokio::spawn(crate::remoting::announce_masters(node.clone(), shutdown.clone().wait()));
    let dr_planner = tokio::spawn(dr_runtime.run(shutdown.clone()));
    // An insecure node leaves the root to the first secure start: nothing to authenticate yet.
    let root_bootstrap = tokio::spawn({
        let (node, data_dir, stop) = (node.clone(), config.data_dir.clone(), shutdown.clone());
        let insecure = config.insecure;
        async move {
            if !insecure {
                crate::auth::bootstrap_root(node, data_dir, stop.wait()).await;
            }
        }
    });
    tracing::info!(
        client = %config.listen_client, peer = %config.listen_peer, http = %config.listen_http,
        remoting = %config.listen_remoting, "serving"
    );

    shutdown.wait().await;
    let restart = restart_requested.await.unwrap_or(None);
    tracing::info!(restarting = restart.is_some(), "shutting down");
    for task in [reconciler, first_feature_level, broker_planner, master_announcer, dr_planner, root_bootstrap] {
        task.abort();
        let _ = task.await;
    }
    node.shutdown().await;
    for (name, server) in [("peer", peer_server), ("client", client_server)] {
        let mut server = server;
        match tokio::time::timeout(RESTART_DRAIN, &mut server).await {
            Ok(Ok(Err(error))) => tracing::warn!(%error, "{name} server stopped with an error"),
            Ok(_) => {}
            Err(_) => {
                tracing::warn!("{name} server still had requests in flight; closing them");
                server.abort();
                let _ = server.await;
            }
        }
    }
    drain(http_server).await;
    drain(remoting_server).await;
    Ok(restart)
}

/// Waits for `server` to finish its graceful shutdown, at most [`RESTART_DRAIN`], then stops it.
async fn drain<T>(mut server: tokio::task::JoinHandle<T>) {
    if tokio::time::timeout(RESTART_DRAIN, &mut server).await.is_err() {
        server.abort();
        let _ = server.await;
    }
}

/// The accepted connections of `listener`, each with `TCP_NODELAY` set. tonic ignores its own
/// `tcp_nodelay` setting for a caller-supplied stream of connections, and without it Nagle's
/// algorithm meets the peer's delayed ACK on every small reply: ~40 ms per request at one
/// client (issue 15: a linearizable read took 43 ms against etcd's 0.4 ms).
fn no_delay(
    listener: TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> + Send + 'static {
    use futures::StreamExt;
    TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
            }
        })
    })
}

/// How long a starting node waits for the other regions' members to say their generation.
const GENERATION_PROBE_TIMEOUT_MS: u64 = 1_000;

/// Before serving clients, asks the members of other regions for their generation: a node of a
/// region that was failed over while it was down learns it here, before it can take a write
/// (rather than at its first replication round). Members that do not answer in time are
/// skipped: the peer-level check still fences later.
async fn learn_newer_generation(node: &Node) {
    let status = node.status();
    let probes = status
        .members
        .iter()
        .filter(|(id, info)| **id != status.node_id && info.region != node.info.region && !info.client_addr.is_empty())
        .map(|(_, info)| {
            let options = pharos_client::ClientOptions {
                attempts_max: 1,
                request_timeout_ms: GENERATION_PROBE_TIMEOUT_MS,
                connect_timeout_ms: GENERATION_PROBE_TIMEOUT_MS,
                ca_file: crate::tls::cluster_ca_file(),
                ..Default::default()
            };
            let client = pharos_client::Client::with_options([info.client_addr.clone()], options);
            async move { client.ok()?.identity().await.ok() }
        });
    for identity in futures::future::join_all(probes).await.into_iter().flatten() {
        if identity.cluster_id == node.identity.cluster_id {
            node.fence.observe(identity.generation);
        }
    }
}

/// Every client-port answer carries this node's `(cluster_id, generation)` (docs/architecture.md, "Regions and disaster recovery"): a
/// broker or client that has seen a higher generation refuses answers from an older one.
fn identity_headers(
    cluster_id: &str,
    generation: u64,
) -> impl Fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> + Clone + use<> {
    let cluster_id = http::HeaderValue::from_str(cluster_id).ok();
    let generation = http::HeaderValue::from(generation);
    move |mut response| {
        let headers = response.headers_mut();
        if let Some(cluster_id) = &cluster_id {
            headers.insert(pharos_proto::metadata::CLUSTER_ID, cluster_id.clone());
        }
        headers.insert(pharos_proto::metadata::GENERATION, generation.clone());
        response
    }
}

/// What the start-up plan is decided on: the configuration and the data dir. Reads only.
fn startup_facts(config: &ServeConfig, storage: &Storage) -> anyhow::Result<StartupFacts> {
    Ok(StartupFacts {
        node_id: config.node_id,
        data_dir: config.data_dir.clone(),
        bootstrap: config.bootstrap()?,
        auto_promote: config.auto_promote,
        stored_identity: ClusterIdentity::load(storage).context("reading the cluster identity")?,
        pending_join: reform::read_pending_join(&config.data_dir).context("reading the pending join")?,
        new_cluster_id: uuid::Uuid::new_v4().to_string(),
        restored_from: pharos_replication::backup::restored_from(storage).context("reading the restore record")?,
    })
}

/// Carries out [`crate::startup::identity_plan`]: the identity Raft starts with, recorded
/// (fsynced) before this node talks to any peer. A refusal happens before anything is written.
async fn take_identity(facts: &StartupFacts, storage: &Storage) -> anyhow::Result<ClusterIdentity> {
    let identity = match crate::startup::identity_plan(facts)? {
        IdentityPlan::Resume(identity) => return Ok(identity),
        IdentityPlan::Record(identity) => identity,
        IdentityPlan::AskCluster { endpoints } => {
            let remote = crate::member_api::identity_through(&endpoints).await.map_err(|status| {
                anyhow::anyhow!(
                    "cannot reach the cluster to join through {}: {}",
                    endpoints.join(","),
                    crate::member_api::describe(&status)
                )
            })?;
            ClusterIdentity { cluster_id: remote.cluster_id, generation: remote.generation, node_id: facts.node_id }
        }
    };
    identity.save(storage).context("recording the cluster identity")?;
    tracing::info!(cluster_id = %identity.cluster_id, node_id = identity.node_id, generation = identity.generation, "initialized data dir");
    Ok(identity)
}

/// Carries out [`crate::startup::membership_plan`] on the started node: opens its `RaftGate`
/// when the step allows, initializes, joins or finishes a pending join, and on a first static
/// start asks the peers first and plans again with their verdict. Returns when this node should
/// ask for promotion once caught up.
async fn take_part(
    facts: &StartupFacts,
    node: &Node,
    raft: RaftFacts,
    shutdown: &Shutdown,
) -> anyhow::Result<Promotion> {
    let node_id = node.identity.node_id;
    let mut verdict = None;
    loop {
        let plan = crate::startup::membership_plan(facts, &node.identity, raft, verdict.as_ref())?;
        if plan.step.takes_part_at_once() {
            node.raft_gate.open();
        }
        match plan.step {
            MembershipStep::Resume => {}
            MembershipStep::InitializeSingle => {
                node.initialize([(node_id, node.info.clone())].into()).await?;
                tracing::info!("initialized a single-node cluster");
            }
            MembershipStep::ProbePeers { members } => {
                verdict = Some(probe_initial_cluster(node, &members, shutdown).await?);
                continue;
            }
            MembershipStep::InitializeStatic { members } => {
                node.raft_gate.open();
                // Every bootstrap voter proposes the identical membership: peer addresses
                // only. Each node then records its own client address and placement.
                let voters = members
                    .into_iter()
                    .map(|(id, peer_addr)| (id, NodeInfo { peer_addr, ..Default::default() }))
                    .collect();
                node.initialize(voters).await?;
                tracing::info!("initialized a static cluster");
            }
            MembershipStep::Join { endpoints } => {
                crate::member_api::join_through(&endpoints, node_id, &node.info)
                    .await
                    .map_err(|status| anyhow::anyhow!(crate::member_api::describe(&status)))
                    .with_context(|| format!("joining the cluster through {}", endpoints.join(",")))?;
                tracing::info!("joined the cluster as a learner");
            }
            MembershipStep::FinishPendingJoin { rejoin_through } => {
                if let Some(endpoints) = rejoin_through {
                    rejoin(node, &endpoints).await?;
                }
                reform::remove_pending_join(&facts.data_dir).context("removing the pending join")?;
            }
        }
        return Ok(plan.promotion);
    }
}

/// How often a node on an empty data dir asks its initial cluster again.
const PROBE_RETRY: Duration = Duration::from_secs(1);
/// How long one probe of a peer may take (generous: every node of a first start is starting at
/// once, on machines that may be loaded).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the wait for the initial cluster is logged.
const PROBE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A node on an empty data dir with `--initial-cluster` asks the listed peers whether the
/// cluster has seen it before, until enough of them answered to tell
/// (`crate::startup::bootstrap_check`); returns that verdict, `Initialize` or
/// `AlreadyBootstrapped`.
async fn probe_initial_cluster(
    node: &Node,
    members: &std::collections::BTreeMap<u64, String>,
    shutdown: &Shutdown,
) -> anyhow::Result<BootstrapCheck> {
    let mut logged_at: Option<tokio::time::Instant> = None;
    // Answers are kept across rounds, and each round asks only the peers not heard yet. That is
    // safe: a node that holds this node's committed address record says so whenever it answers,
    // and the majority needed always includes one such node (see `bootstrap_check`).
    let mut heard = std::collections::BTreeMap::new();
    loop {
        let unheard =
            members.iter().filter(|(id, _)| !heard.contains_key(*id)).map(|(id, a)| (*id, a.clone())).collect();
        for answer in pharos_replication::network::probe_peers(&node.identity, &unheard, PROBE_TIMEOUT).await {
            heard.insert(answer.node_id, answer);
        }
        let answers: Vec<_> = heard.values().cloned().collect();
        match crate::startup::bootstrap_check(members.len(), &answers) {
            BootstrapCheck::Wait { answered, needed } => {
                if logged_at.is_none_or(|at| at.elapsed() >= PROBE_LOG_INTERVAL) {
                    tracing::warn!(
                        answered,
                        needed,
                        "empty data dir: waiting for the initial cluster to answer before initializing (a first \
                         start, or a member that lost its disk?)"
                    );
                    logged_at = Some(tokio::time::Instant::now());
                }
            }
            verdict => return Ok(verdict),
        }
        tokio::select! {
            () = shutdown.clone().wait() => anyhow::bail!("shut down while waiting for the initial cluster"),
            () = tokio::time::sleep(PROBE_RETRY) => {}
        }
    }
}

/// Joins `endpoints` (peer addresses) as a learner after a reform, retrying while the new
/// generation forms.
async fn rejoin(node: &Node, endpoints: &[String]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + REJOIN_TIMEOUT;
    loop {
        match crate::member_api::join_through(endpoints, node.identity.node_id, &node.info).await {
            Ok(_) => {
                tracing::warn!(generation = node.identity.generation, "re-joined the cluster as a learner");
                return Ok(());
            }
            Err(status) if tokio::time::Instant::now() < deadline => {
                tracing::info!(error = crate::member_api::describe(&status), "cannot re-join yet");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(status) => {
                anyhow::bail!(
                    "re-joining the cluster through {}: {}",
                    endpoints.join(","),
                    crate::member_api::describe(&status)
                );
            }
        }
    }
}

/// Keeps this node's membership record equal to its configuration (addresses, zone, region)
/// and, as `promotion` says, asks for promotion once caught up. Intent: the config; observed:
/// the committed membership; each pass closes the gap idempotently.
async fn reconcile_membership(node: Node, info: NodeInfo, mut promotion: Promotion, shutdown: Shutdown) {
    let node_id = node.identity.node_id;
    let mut interval = tokio::time::interval(RECONCILE_INTERVAL);
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = interval.tick() => {}
        }
        let status = node.status();
        let Some(recorded) = status.members.get(&node_id) else { continue };
        let is_learner = !status.voters.contains(&node_id);
        let caught_up = status.cluster_commit_index > 0 && status.applied_index + 100 >= status.cluster_commit_index;
        if promotion == Promotion::Once && !is_learner {
            promotion = Promotion::Never;
        }
        let wants_promotion = promotion != Promotion::Never && is_learner && caught_up && !status.joint_consensus;
        if *recorded == info && !wants_promotion {
            continue;
        }
        if node.is_leader() {
            if *recorded != info
                && let Err(error) = node.update_member(node_id, info.clone()).await
            {
                tracing::warn!(%error, "cannot record this node's addresses");
            }
            continue;
        }
        let Some(leader) = crate::member_api::leader_peer_addr(&node) else { continue };
        let Ok(mut client) = crate::member_api::peer(&leader) else { continue };
        if *recorded != info {
            let request = v1::JoinRequest { node_id, info: Some((&info).into()), request_id: None };
            match client.update_member(request).await {
                Ok(_) => tracing::info!("recorded this node's addresses and placement"),
                Err(status) => tracing::debug!(error = status.message(), "cannot record this node's addresses yet"),
            }
        } else if wants_promotion {
            match client.promote_self(v1::PromoteRequest { node_id }).await {
                Ok(_) => tracing::info!("promoted to voter"),
                Err(status) => tracing::info!(error = status.message(), "promotion not done yet"),
            }
        }
    }
}

/// Records the cluster's first feature level, once: the newest every member advertises, as
/// soon as every member's record advertises one. A new cluster so starts at the newest level
/// its members share; a cluster written by a release that predates feature levels gets one once
/// every member runs a release that advertises it (before, its state reads as the baseline).
/// Every later raise is the operator's (`pharos cluster feature-level upgrade`), so a rolling
/// upgrade can be rolled back until then (docs/adr/0026-feature-levels.md).
/// Ends once a level is recorded (by any leader) or at shutdown.
async fn record_first_feature_level(node: Node, shutdown: Shutdown) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    // A member's advertisement and a new leader's first entry are both applied entries: wake
    // on those, with a slow timer as a fallback for an attempt that failed for another reason.
    let mut applied = node.state_machine.subscribe();
    while node.state_machine.read().state.feature_level == 0 {
        if node.is_leader()
            && let Some(level) = node.members_feature_level()
        {
            let operation = pharos_meta::Operation::SetFeatureLevel { level };
            match node.write(crate::handler::command(operation, None, "coordinator".into())).await {
                Ok(_) => tracing::info!(level, "recorded the cluster's first feature level"),
                Err(error) => tracing::debug!(%error, "cannot record the cluster's first feature level yet"),
            }
        }
        tokio::select! {
            () = &mut stop => return,
            changed = applied.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(FIRST_FEATURE_LEVEL_RETRY) => {}
        }
    }
}
