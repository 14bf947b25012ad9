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
        let metrics = cluster.http_get(cluster.nodes[0].node_id, "/metrics").await.expect("metrics");
        let value = |name: &str| {
            metrics.lines().find_map(|line| line.strip_prefix(&format!("{name} "))).and_then(|v| v.parse::<u64>().ok())
        };
        assert_eq!(value("pharos_insecure"), Some(0), "{metrics}");
        assert!(value("pharos_auth_denials_total") > Some(denials.suppressed_total), "{metrics}");
        assert_eq!(value("pharos_auth_denials_suppressed_total"), Some(denials.suppressed_total));
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

/// Runs the CLI against `cluster` with `token`; returns the exit code and the JSON it printed.
fn cli(cluster: &Cluster, token: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pharos"))
        .arg(format!("--endpoints={}", cluster.nodes[0].client_addr))
        .args(["--output", "json"])
        .args(args)
        .env("PHAROS_TOKEN", token)
        .env_remove("PHAROS_TOKEN_FILE")
        .output()
        .expect("run the CLI");
    let code = output.status.code().expect("exited");
    let json = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    assert!(code != 0 || !json.is_null(), "{args:?} printed no JSON: {}", String::from_utf8_lossy(&output.stderr));
    (code, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_acl_cli_manages_users_and_policies_and_the_audit_filters_find_the_changes() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (cluster, _root) = secure_node().await;
        let root_token = cluster.root_token().expect("root token");
        let root = |args: &[&str]| cli(&cluster, &root_token, args);
        let dir = tempfile::tempdir().expect("temp dir");
        let token_file = dir.path().join("alice.token");
        let token_path = token_file.to_str().expect("utf-8 path");

        let (code, added) = root(&["acl", "user", "add", "alice", "--write-token", token_path]);
        assert_eq!(code, 0, "{added}");
        assert!(added["token"].is_null(), "a token written to a file is not printed: {added}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&token_file).expect("token file").permissions().mode() & 0o777, 0o600);
        let alice_token = std::fs::read_to_string(&token_file).expect("token").trim().to_string();
        assert_eq!(
            root(&["acl", "user", "add", "bob", "--write-token", token_path]).0,
            1,
            "an existing token file is never overwritten"
        );
        assert_eq!(std::fs::read_to_string(&token_file).expect("token").trim(), alice_token);

        let alice = |args: &[&str]| cli(&cluster, &alice_token, args);
        assert_eq!(alice(&["acl", "whoami"]).1["user"], "alice");
        assert_eq!(alice(&["kv", "put", "orders/1", "x"]).0, 1, "no grant yet");

        let grant = ["acl", "grant", "alice", "--resource", "namespace:orders/*", "--actions", "update,get"];
        assert_eq!(root(&grant).0, 0);
        assert_eq!(alice(&["kv", "put", "orders/1", "x"]).0, 0, "granted");
        let (code, allowed) = root(&["acl", "check", "alice", "namespace:orders/9", "update"]);
        assert_eq!((code, allowed["allowed"].as_bool()), (0, Some(true)), "{allowed}");
        assert_eq!(allowed["entry"]["resource"], "namespace:orders/*");
        let (code, denied) = root(&["acl", "check", "alice", "namespace:billing/1", "update"]);
        assert_eq!((code, denied["allowed"].as_bool()), (2, Some(false)), "a denial exits 2: {denied}");
        let (_, policies) = root(&["acl", "list", "alice"]);
        assert_eq!(
            policies["policies"][0]["entries"][0]["actions"],
            serde_json::json!(["get", "update"]),
            "actions are kept in a canonical order"
        );

        assert_eq!(root(&["acl", "user", "disable", "alice"]).0, 0);
        assert_eq!(alice(&["kv", "put", "orders/1", "y"]).0, 1, "a disabled user is refused");
        assert_eq!(root(&["acl", "user", "enable", "alice"]).0, 0);
        let (code, rotated) = root(&["acl", "user", "rotate-token", "alice"]);
        assert_eq!(code, 0, "{rotated}");
        let new_token = rotated["token"].as_str().expect("a rotated token without a file is printed").to_string();
        assert_eq!(alice(&["kv", "put", "orders/1", "y"]).0, 1, "the old token is dead");
        assert_eq!(cli(&cluster, &new_token, &["kv", "put", "orders/1", "y"]).0, 0, "the new token works");

        let revoke = ["acl", "revoke", "alice", "--resource", "namespace:orders/*", "--actions", "get,update"];
        assert_eq!(root(&revoke).0, 0, "actions in any order");
        let (_, policies) = root(&["acl", "list", "alice"]);
        let entries = policies["policies"].as_array().map_or(0, |policies| {
            policies.iter().map(|policy| policy["entries"].as_array().map_or(0, Vec::len)).sum::<usize>()
        });
        assert_eq!(entries, 0, "{policies}");
        let (_, users) = root(&["acl", "user", "list"]);
        let names: Vec<&str> =
            users["users"].as_array().expect("users").iter().filter_map(|u| u["name"].as_str()).collect();
        assert_eq!(names, ["alice", "root"]);

        // The audit filters: subject, action, since.
        let (_, grants) = root(&["audit", "list", "--subject", "root", "--action", "acl_grant"]);
        let grants = grants.as_array().expect("entries");
        assert_eq!(grants.len(), 1, "{grants:?}");
        assert_eq!(grants[0]["subject"], "root");
        assert!(grants[0]["source"].as_str().expect("source").starts_with("127.0.0.1:"), "{grants:?}");
        assert!(grants[0]["at"].as_str().expect("at").ends_with('Z'), "RFC 3339 UTC: {grants:?}");
        let (_, recent) = root(&["audit", "list", "--since", "10m", "--action", "acl_add_user"]);
        assert_eq!(recent.as_array().map(Vec::len), Some(1), "{recent}");
        let (_, future) = root(&["audit", "list", "--since", "2999-01-01T00:00:00Z"]);
        assert_eq!(future.as_array().map(Vec::len), Some(0), "{future}");
        let (_, by_alice) = root(&["audit", "list", "--subject", "alice"]);
        assert!(by_alice.as_array().expect("entries").iter().all(|entry| entry["subject"] == "alice"), "{by_alice}");

        let (_, denials) = root(&["acl", "denials"]);
        assert!(
            denials["denials"].as_array().expect("denials").iter().any(|denial| denial["subject"] == "alice"),
            "alice's refused put is listed: {denials}"
        );
        assert_eq!(root(&["acl", "user", "delete", "alice"]).0, 0);
        assert_eq!(cli(&cluster, &new_token, &["acl", "whoami"]).0, 1, "a deleted user's token is dead");
    })
    .await
    .expect("test finished in time");
}

async fn next(stream: &mut tonic::Streaming<v1::AclEvent>) -> v1::AclEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an event in time")
        .expect("stream open")
        .expect("not ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acl_watchers_see_users_and_policies_change_and_resume_from_a_revision() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (cluster, root) = secure_node().await;
        let mut all = root.watch_acls(v1::WatchAclsRequest::default()).await.expect("watch");
        let first = next(&mut all).await;
        assert_eq!((first.subject.as_str(), first.deleted), ("root", false), "the current users come first");
        assert_eq!(first.user.as_ref().map(|user| user.kind()), Some(v1::UserKind::Super));

        let app_token = add_user(&root, "app").await;
        let added = next(&mut all).await;
        assert_eq!((added.subject.as_str(), added.entries.len()), ("app", 0));
        assert!(added.user.as_ref().is_some_and(|user| user.enabled));
        let granted_at = root.grant("app", entry("topic:orders*", &["pub"])).await.expect("grant").revision;
        let granted = next(&mut all).await;
        assert_eq!((granted.revision, granted.entries[0].resource.as_str()), (granted_at, "topic:orders*"));

        // A watcher resuming after the grant sees only what came later, and only its subject.
        let mut resumed = root
            .watch_acls(v1::WatchAclsRequest { subject: "app".into(), from_revision: granted_at })
            .await
            .expect("resume");
        root.set_user_enabled("app", false).await.expect("disable");
        let disabled = next(&mut resumed).await;
        assert_eq!(disabled.subject, "app");
        assert!(disabled.user.as_ref().is_some_and(|user| !user.enabled), "{disabled:?}");
        root.delete_user("app").await.expect("delete");
        let deleted = next(&mut resumed).await;
        assert!(deleted.deleted && deleted.user.is_none() && deleted.entries.is_empty(), "{deleted:?}");

        // Watching needs the `acl` grant like listing does.
        let stranger = client_with(&cluster, Some(app_token));
        assert_eq!(
            refusal(stranger.watch_acls(v1::WatchAclsRequest::default()).await).0,
            tonic::Code::Unauthenticated,
            "a deleted user's token"
        );
        let future = root.watch_acls(v1::WatchAclsRequest { subject: String::new(), from_revision: u64::MAX });
        assert_eq!(refusal(future.await).1, v1::ErrorReason::FutureRevision);
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_connection_holds_at_most_256_watches_and_a_closed_one_frees_its_slot() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (_cluster, root) = secure_node().await;
        let mut open = Vec::new();
        for _ in 0..pharos_server::handler::WATCHES_PER_CONNECTION_MAX {
            open.push(root.watch_acls(v1::WatchAclsRequest::default()).await.expect("a watch within the limit"));
        }
        let refused = root.watch_routes(v1::WatchRoutesRequest::default()).await;
        assert_eq!(
            refusal(refused),
            (tonic::Code::ResourceExhausted, v1::ErrorReason::TooManyWatches),
            "the limit covers every kind of watch"
        );
        root.list_users().await.expect("other requests still pass");
        drop(open.pop());
        let deadline = Instant::now() + Duration::from_secs(10);
        while root.watch_acls(v1::WatchAclsRequest::default()).await.is_err() {
            assert!(Instant::now() < deadline, "a closed watch never gave its slot back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("test finished in time");
}
