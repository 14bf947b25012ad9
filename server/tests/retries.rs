//! Safe retries (issue 11): every keyed write of the key/value, topic and ACL services, sent
//! twice with one key as a client does when the first answer is lost. The retry must get the
//! first answer and write nothing: the Raft log does not grow. Broker, DR and offset writes
//! have the same check in `brokers.rs`, membership changes in `cluster.rs`.

use std::future::Future;
use std::time::Duration;

use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::{Client, v1};
use tonic::transport::Channel;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

async fn last_log_index(client: &Client) -> u64 {
    client.status().await.expect("status").last_log_index
}

/// Sends `request` twice; asserts the retry wrote no entry, and returns both answers.
async fn twice<T, Fut>(client: &Client, what: &str, mut send: impl FnMut() -> Fut) -> (T, T)
where
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let first = send().await.unwrap_or_else(|status| panic!("{what}: {status:?}")).into_inner();
    let after_first = last_log_index(client).await;
    let retry = send().await.unwrap_or_else(|status| panic!("{what}, retried: {status:?}")).into_inner();
    assert_eq!(last_log_index(client).await, after_first, "{what}: the retry wrote an entry");
    (first, retry)
}

/// [`twice`] with `service.method(request)`, each attempt on a clone of both.
macro_rules! twice {
    ($client:expr, $what:literal, $service:ident . $method:ident ( $request:ident )) => {
        twice($client, $what, || {
            let mut service = $service.clone();
            let request = $request.clone();
            async move { service.$method(request).await }
        })
    };
}

fn revision(header: Option<v1::ResponseHeader>) -> u64 {
    header.expect("every answer has the response header").revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_keyed_write_retried_with_its_key_gets_the_first_answer_and_writes_nothing() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let options = ClusterOptions { binary: env!("CARGO_BIN_EXE_pharos").into(), voters: 1, ..Default::default() };
        let cluster = Cluster::start(options).await.expect("node starts");
        let client = cluster.client();
        let channel: Channel = cluster.channel_of(1).await.expect("connect");
        let key = || Some(client.next_request_id());

        // Key/value.
        let mut kv = v1::kv_service_client::KvServiceClient::new(channel.clone());
        let put = v1::PutRequest { key: b"k".to_vec(), value: b"v1".to_vec(), request_id: key() };
        let (first, retry) = twice!(&client, "Put", kv.put(put)).await;
        assert_eq!((revision(retry.header), retry.created), (revision(first.header), first.created));
        let cas = v1::CompareAndSetRequest {
            key: b"k".to_vec(),
            value: b"v2".to_vec(),
            compare: Some(v1::compare_and_set_request::Compare::ExpectValue(b"v1".to_vec())),
            request_id: key(),
        };
        let (first, retry) = twice!(&client, "CompareAndSet", kv.compare_and_set(cas)).await;
        assert!(first.succeeded && retry.succeeded, "the retry is the first answer, not a failed comparison");
        assert_eq!(revision(retry.header), revision(first.header));
        let delete = v1::DeleteRequest { key: b"k".to_vec(), request_id: key() };
        let (first, retry) = twice!(&client, "Delete", kv.delete(delete)).await;
        assert!(first.deleted && retry.deleted, "the retry is the first answer, not 'nothing to delete'");
        kv.put(v1::PutRequest { key: b"k".to_vec(), value: b"v3".to_vec(), request_id: key() }).await.expect("put");

        // Topics (a group must exist for queues to live on).
        client
            .register_broker(v1::RegisterBrokerRequest {
                group: "g1".into(),
                name: "a".into(),
                incarnation_id: "a-1".into(),
                addresses: [("internal".to_string(), "127.0.0.1:1".to_string())].into(),
                request_id: key(),
                ..Default::default()
            })
            .await
            .expect("register");
        let topics = v1::topic_service_client::TopicServiceClient::new(channel.clone());
        let topic = |write_queues| v1::TopicInfo {
            name: "orders".into(),
            queues: vec![v1::QueueSpec { group: "g1".into(), read_queues: write_queues, write_queues }],
            ..Default::default()
        };
        let create = v1::CreateTopicRequest { topic: Some(topic(4)), request_id: key() };
        let (first, retry) = twice!(&client, "CreateTopic", topics.create_topic(create)).await;
        assert_eq!(retry.revision, first.revision, "the retry is the first answer, not TOPIC_EXISTS");
        let update = v1::UpdateTopicRequest { topic: Some(topic(8)), request_id: key() };
        let (first, retry) = twice!(&client, "UpdateTopic", topics.update_topic(update)).await;
        assert_eq!(retry.revision, first.revision);
        let delete = v1::DeleteTopicRequest { name: "orders".into(), force: false, request_id: key() };
        let (first, retry) = twice!(&client, "DeleteTopic", topics.delete_topic(delete)).await;
        assert_eq!(retry.revision, first.revision, "the retry is the first answer, not UNKNOWN_TOPIC");

        // Users and policies.
        let acl = v1::acl_service_client::AclServiceClient::new(channel);
        let hash = |digit: char| std::iter::repeat_n(digit, 64).collect::<String>();
        let add = v1::AddUserRequest {
            request_id: key(),
            name: "ops".into(),
            kind: v1::UserKind::Normal.into(),
            token_sha256: hash('a'),
        };
        let (first, retry) = twice!(&client, "AddUser", acl.add_user(add)).await;
        assert_eq!(retry.revision, first.revision, "the retry is the first answer, not USER_EXISTS");
        let rotate = v1::RotateTokenRequest { request_id: key(), name: "ops".into(), token_sha256: hash('b') };
        let (first, retry) = twice!(&client, "RotateToken", acl.rotate_token(rotate)).await;
        assert_eq!(retry.revision, first.revision);
        let disable = v1::SetUserEnabledRequest { request_id: key(), name: "ops".into(), enabled: false };
        let (first, retry) = twice!(&client, "SetUserEnabled", acl.set_user_enabled(disable)).await;
        assert_eq!(retry.revision, first.revision);
        let entry = v1::PolicyEntry {
            resource: "topic:orders".into(),
            actions: vec!["pub".into()],
            decision: v1::Decision::Allow.into(),
            ..Default::default()
        };
        let grant = v1::GrantRequest { request_id: key(), subject: "ops".into(), entry: Some(entry.clone()) };
        let (first, retry) = twice!(&client, "Grant", acl.grant(grant)).await;
        assert_eq!(retry.revision, first.revision);
        let revoke = v1::RevokeRequest { request_id: key(), subject: "ops".into(), entry: Some(entry) };
        let (first, retry) = twice!(&client, "Revoke", acl.revoke(revoke)).await;
        assert_eq!(retry.revision, first.revision, "the retry is the first answer, not 'no such entry'");
        let delete = v1::DeleteUserRequest { request_id: key(), name: "ops".into() };
        let (first, retry) = twice!(&client, "DeleteUser", acl.delete_user(delete)).await;
        assert_eq!(retry.revision, first.revision, "the retry is the first answer, not UNKNOWN_USER");
    })
    .await
    .expect("test finished in time");
}
