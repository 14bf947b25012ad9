//! `pharos serve`: opens the data dir, resolves the identity, starts Raft, serves the peer API,
//! the client API (with gRPC health and reflection) and HTTP, and keeps this node's membership
//! record true.

use std::time::Duration;

use anyhow::Context;
use pharos_proto::v1;
use pharos_replication::{Node, NodeInfo};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::api::Api;
use crate::bootstrap::{resolve_identity, this_node};
use crate::broker_api::BrokerApi;
use crate::brokers::BrokerRuntime;
use crate::config::{Bootstrap, ServeConfig};
use crate::shutdown::Shutdown;
use crate::topic_api::{OffsetApi, OffsetCommitter, TopicApi};

/// Largest client request accepted (a 1 MiB value plus envelope). Larger ones get
/// `OUT_OF_RANGE` from the transport before any handler runs.
const CLIENT_MESSAGE_BYTES_MAX: usize = 2 * 1024 * 1024;
/// How often a node checks that the membership describes it correctly.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(1);

/// Runs a node until `shutdown` fires.
pub async fn run(config: ServeConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let storage = Node::open_storage(&config.data_dir).context("opening the data dir")?;
    let identity = resolve_identity(&config, &storage).await?;
    let info = this_node(&config);
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

    let node = Node::start(storage, identity, info.clone(), &config.raft_tuning()).await.context("starting raft")?;

    let peer_server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(node.peer_service().into_server())
            .serve_with_incoming_shutdown(TcpListenerStream::new(peer_listener), shutdown.clone().wait()),
    );

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<v1::kv_service_server::KvServiceServer<Api>>().await;
    health_reporter.set_serving::<v1::cluster_service_server::ClusterServiceServer<Api>>().await;
    health_reporter.set_serving::<v1::broker_service_server::BrokerServiceServer<BrokerApi>>().await;
    health_reporter.set_serving::<v1::topic_service_server::TopicServiceServer<TopicApi>>().await;
    health_reporter.set_serving::<v1::offset_service_server::OffsetServiceServer<OffsetApi>>().await;
    let offset_committer = OffsetCommitter::start(node.clone());
    let broker_runtime = BrokerRuntime::new(node.clone(), config.broker_timing());
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pharos_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building gRPC reflection")?;
    let api = Api::new(node.clone());
    let client_server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection)
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
            .serve_with_incoming_shutdown(TcpListenerStream::new(client_listener), shutdown.clone().wait()),
    );
    let http_server = tokio::spawn({
        let shutdown = shutdown.clone();
        let router = crate::http::router(node.clone(), broker_runtime.clone());
        async move { axum::serve(http_listener, router).with_graceful_shutdown(shutdown.wait()).await }
    });

    join_cluster(&config, &node, &info).await?;
    let reconciler = tokio::spawn(reconcile_membership(node.clone(), info, config.auto_promote, shutdown.clone()));
    let broker_planner = tokio::spawn(broker_runtime.run(shutdown.clone().wait()));
    tracing::info!(
        client = %config.listen_client, peer = %config.listen_peer, http = %config.listen_http,
        "serving"
    );

    shutdown.wait().await;
    tracing::info!("shutting down");
    reconciler.abort();
    broker_planner.abort();
    node.shutdown().await;
    for (name, server) in [("peer", peer_server), ("client", client_server)] {
        if let Ok(Err(error)) = server.await {
            tracing::warn!(%error, "{name} server stopped with an error");
        }
    }
    if let Ok(Err(error)) = http_server.await {
        tracing::warn!(%error, "HTTP server stopped with an error");
    }
    Ok(())
}

/// First start of a data dir: initialize the cluster, or ask to join it.
async fn join_cluster(config: &ServeConfig, node: &Node, info: &NodeInfo) -> anyhow::Result<()> {
    match config.bootstrap()? {
        Bootstrap::Single => {
            if !node.is_initialized().await? {
                node.initialize([(config.node_id, info.clone())].into()).await?;
                tracing::info!("initialized a single-node cluster");
            }
        }
        Bootstrap::InitialCluster { members, .. } => {
            if !node.is_initialized().await? {
                // Every bootstrap voter proposes the identical membership: peer addresses
                // only. Each node then records its own client address and placement.
                let voters = members
                    .into_iter()
                    .map(|(id, peer_addr)| (id, NodeInfo { peer_addr, ..NodeInfo::default() }))
                    .collect();
                node.initialize(voters).await?;
                tracing::info!("initialized a static cluster");
            }
        }
        Bootstrap::Join { endpoints } => {
            if !node.status().members.contains_key(&config.node_id) {
                let client = pharos_client::Client::new(endpoints.clone())?;
                client
                    .join(config.node_id, info.into())
                    .await
                    .with_context(|| format!("joining the cluster through {}", endpoints.join(",")))?;
                tracing::info!("joined the cluster as a learner");
            }
        }
    }
    Ok(())
}

/// Keeps this node's membership record equal to its configuration (addresses, zone, region)
/// and, with `auto_promote`, asks for promotion once caught up. Intent: the config; observed:
/// the committed membership; each pass closes the gap idempotently.
async fn reconcile_membership(node: Node, info: NodeInfo, auto_promote: bool, shutdown: Shutdown) {
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
        let wants_promotion = auto_promote && is_learner && caught_up && !status.joint_consensus;
        if *recorded == info && !wants_promotion {
            continue;
        }
        if node.raft.is_leader() {
            if *recorded != info
                && let Err(error) = node.update_member(node_id, info.clone()).await
            {
                tracing::warn!(%error, "cannot record this node's addresses");
            }
            continue;
        }
        let (_, Some(leader_addr)) = node.leader() else { continue };
        let options = pharos_client::ClientOptions { attempts_max: 1, ..Default::default() };
        let Ok(client) = pharos_client::Client::with_options([leader_addr], options) else { continue };
        if *recorded != info {
            match client.update_member(node_id, (&info).into()).await {
                Ok(_) => tracing::info!("recorded this node's addresses and placement"),
                Err(error) => tracing::debug!(%error, "cannot record this node's addresses yet"),
            }
        } else if wants_promotion {
            match client.promote(node_id).await {
                Ok(_) => tracing::info!("promoted to voter"),
                Err(error) => tracing::info!(%error, "promotion not done yet"),
            }
        }
    }
}
