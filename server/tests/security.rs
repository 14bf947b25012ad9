//! Authentication and access control on a real node (issue 13): every RPC of every service
//! refused without credentials, with a wrong token, and without a grant; the refusals recorded
//! and the state unchanged; a broker token limited to its own group; disabled users and rotated
//! tokens; the CLI on the default data dir's root token.

use std::time::{Duration, Instant};

use pharos_chaos::raw_codec::RawCodec;
use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::{Client, ClientError, ClientOptions, token, v1};
use pharos_server::access_table::{Guard, RPC_ACCESS};

const TEST_TIMEOUT: Duration = Duration::from_secs(180);

async fn secure_node() -> (Cluster, Client) {
    let options = ClusterOptions { voters: 1, secure: true, ..ClusterOptions::default() };
    let cluster = Cluster::start(options).await.expect("cluster starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if cluster.root_token().is_some()
            && let Ok(me) = cluster.client().who_am_i().await
        {
            assert_eq!(me.user, "root");
            assert_eq!(me.kind(), v1::UserKind::Super);
            assert!(!me.insecure);
            break;
        }
        assert!(Instant::now() < deadline, "the root user was never bootstrapped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let root = cluster.client();
    (cluster, root)
}

fn client_with(cluster: &Cluster, token: Option<String>) -> Client {
    let endpoints = vec![cluster.nodes[0].client_addr.clone()];
    Client::with_options(endpoints, ClientOptions { attempts_max: 3, token, ..ClientOptions::default() })
        .expect("endpoint")
}

/// Creates a normal user and returns its token.
async fn add_user(root: &Client, name: &str) -> String {
    let token = token::generate();
    root.add_user(name, v1::UserKind::Normal, &token::sha256(&token)).await.expect("user added");
    token
}

fn entry(resource: &str, actions: &[&str]) -> v1::PolicyEntry {
    v1::PolicyEntry {
        resource: resource.to_string(),
        actions: actions.iter().map(|action| action.to_string()).collect(),
        source_cidrs: Vec::new(),
        decision: v1::Decision::Allow as i32,
    }
}

fn refusal(result: Result<impl std::fmt::Debug, ClientError>) -> (tonic::Code, v1::ErrorReason) {
    match result {
        Err(ClientError::Rejected { code, reason, .. }) => (code, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Calls `method` with an empty request (every field at its default) and the given
/// `authorization` header; `Ok` when the server answered (or started a stream).
async fn call(address: &str, method: &'static str, authorization: Option<&str>) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let mut request = tonic::Request::new(Vec::new());
    request.set_timeout(Duration::from_secs(5));
    if let Some(authorization) = authorization {
        request.metadata_mut().insert("authorization", authorization.parse().expect("ascii"));
    }
    let path = http::uri::PathAndQuery::from_static(method);
    grpc.unary(request, path, RawCodec).await.map(|_| ())
}

fn reason(status: &tonic::Status) -> &str {
    status.metadata().get("pharos-error").and_then(|value| value.to_str().ok()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rpc_refuses_strangers_and_callers_without_a_grant_and_changes_nothing() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (cluster, root) = secure_node().await;
        let address = cluster.nodes[0].client_addr.clone();
        let nobody_token = add_user(&root, "nobody").await;
        let nobody = format!("Bearer {nobody_token}");
        // Let start-up settle (the node records its own membership after the root bootstrap).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = root.status().await.expect("status");

        for row in RPC_ACCESS {
            let method = row.method;
            match row.guard {
                Guard::Public => {
                    call(&address, method, None).await.unwrap_or_else(|status| panic!("{method} is public: {status}"));
                }
                Guard::PeerOnly => {
                    let status = call(&address, method, Some(&nobody)).await.expect_err(method);
                    assert_eq!(status.code(), tonic::Code::Unimplemented, "{method} is not served on the client port");
                }
                Guard::Authenticated | Guard::Resource { .. } => {
                    for (credentials, what) in [
                        (None, "no token"),
                        (Some("Bearer pharos_wrong"), "a wrong token"),
                        (Some("Basic x"), "not bearer"),
                    ] {
                        let status = call(&address, method, credentials).await.expect_err(method);
                        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{method} with {what}: {status}");
                        assert_eq!(reason(&status), "UNAUTHENTICATED", "{method}");
                        assert!(!status.message().is_empty(), "{method}: a reason is given");
                    }
                    let answer = call(&address, method, Some(&nobody)).await;
                    if matches!(row.guard, Guard::Resource { .. }) {
                        let status = answer.expect_err(method);
                        assert_eq!(status.code(), tonic::Code::PermissionDenied, "{method} without a grant: {status}");
                        assert_eq!(reason(&status), "PERMISSION_DENIED", "{method}");
                        assert!(status.message().contains("nobody"), "{method}: {}", status.message());
                    } else {
                        answer.unwrap_or_else(|status| panic!("{method} needs only a valid token: {status}"));
                    }
                }
            }
        }

        let after = root.status().await.expect("status");
        assert_eq!(after.state_digest, before.state_digest, "refused requests changed the state");
        assert_eq!(after.last_log_index, before.last_log_index, "refused requests took log entries");

        let denials = root.list_denials(1_000).await.expect("denials");
        assert!(denials.denials.iter().any(|denial| denial.subject == "nobody" && denial.code == "PERMISSION_DENIED"));
        assert!(denials.denials.iter().any(|denial| denial.subject.is_empty() && denial.code == "UNAUTHENTICATED"));
        // One caller's flood is rate-limited, not kept whole.
        assert!(denials.suppressed_total > 0, "{} denials kept, none suppressed", denials.denials.len());
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_token_serves_its_own_group_and_nothing_else() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (cluster, root) = secure_node().await;
        let broker_token = add_user(&root, "broker-g1").await;
        root.grant("broker-g1", entry("cluster:g1", &["register"])).await.expect("grant");
        let broker = client_with(&cluster, Some(broker_token));
        let register = |group: &str, name: &str| v1::RegisterBrokerRequest {
            cluster: "c".into(),
            group: group.into(),
            name: name.into(),
            incarnation_id: format!("{group}-{name}"),
            addresses: [("default".to_string(), "127.0.0.1:10911".to_string())].into(),
            ..Default::default()
        };
        let own = broker.register_broker(register("g1", "a")).await.expect("registers in its own group");
        broker
            .heartbeat(v1::HeartbeatRequest {
                broker_id: own.broker_id,
                broker_epoch: own.broker_epoch,
                ..Default::default()
            })
            .await
            .expect("heartbeats its own broker");

        assert_eq!(refusal(broker.register_broker(register("g2", "b")).await).0, tonic::Code::PermissionDenied);
        let other = root.register_broker(register("g2", "b")).await.expect("root registers in g2");
        let heartbeat =
            v1::HeartbeatRequest { broker_id: other.broker_id, broker_epoch: other.broker_epoch, ..Default::default() };
        assert_eq!(refusal(broker.heartbeat(heartbeat).await).0, tonic::Code::PermissionDenied);
        let topic = v1::TopicInfo { name: "orders".into(), ..Default::default() };
        assert_eq!(
            refusal(broker.create_topic(topic).await),
            (tonic::Code::PermissionDenied, v1::ErrorReason::PermissionDenied)
        );
        assert_eq!(refusal(broker.list_users().await).0, tonic::Code::PermissionDenied);
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grants_disable_and_rotation_take_effect_and_the_last_super_user_stays() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (cluster, root) = secure_node().await;
        let app_token = add_user(&root, "app").await;
        let app = client_with(&cluster, Some(app_token.clone()));
        assert_eq!(refusal(app.put("orders/1", "x").await).0, tonic::Code::PermissionDenied);
        root.grant("app", entry("namespace:orders/*", &["update", "get"])).await.expect("grant");
        app.put("orders/1", "x").await.expect("granted prefix");
        assert_eq!(refusal(app.put("billing/1", "x").await).0, tonic::Code::PermissionDenied, "outside the prefix");

        let check = root
            .check_access(v1::CheckRequest {
                subject: "app".into(),
                resource_type: "namespace".into(),
                resource_name: "orders/7".into(),
                action: "update".into(),
                source: String::new(),
            })
            .await
            .expect("check");
        assert!(check.allowed);
        assert_eq!(check.entry_index, Some(0));
        assert!(check.explanation.contains("namespace:orders/*"), "{}", check.explanation);

        root.set_user_enabled("app", false).await.expect("disable");
        assert_eq!(refusal(app.put("orders/1", "y").await).0, tonic::Code::PermissionDenied, "disabled");
        root.set_user_enabled("app", true).await.expect("enable");
        let new_token = token::generate();
        root.rotate_token("app", &token::sha256(&new_token)).await.expect("rotate");
        assert_eq!(refusal(app.put("orders/1", "y").await).0, tonic::Code::Unauthenticated, "the old token is dead");
        client_with(&cluster, Some(new_token)).put("orders/1", "y").await.expect("the new token works");

        assert_eq!(
            refusal(root.delete_user("root").await),
            (tonic::Code::FailedPrecondition, v1::ErrorReason::LastSuperUser)
        );
        let audit = root.list_audit(100).await.expect("audit");
        assert!(
            audit.entries.iter().any(|record| record.action == "acl_rotate_token" && record.actor.starts_with("root@")),
            "ACL changes are audited with the authenticated user: {:?}",
            audit.entries
        );
    })
    .await
    .expect("test finished in time");
}
