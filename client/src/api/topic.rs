//! Topics and their routes.

use crate::rpc::topic;
use crate::{Client, ClientError, v1};

impl Client {
    pub async fn create_topic(&self, topic: v1::TopicInfo) -> Result<v1::TopicResponse, ClientError> {
        self.send::<topic::CreateTopic>(v1::CreateTopicRequest { topic: Some(topic), request_id: None }).await
    }

    pub async fn update_topic(&self, topic: v1::TopicInfo) -> Result<v1::TopicResponse, ClientError> {
        self.send::<topic::UpdateTopic>(v1::UpdateTopicRequest { topic: Some(topic), request_id: None }).await
    }

    pub async fn delete_topic(&self, name: &str, force: bool) -> Result<v1::DeleteTopicResponse, ClientError> {
        self.send::<topic::DeleteTopic>(v1::DeleteTopicRequest { name: name.to_string(), force, request_id: None })
            .await
    }

    pub async fn get_topic(
        &self,
        name: &str,
        consistency: v1::Consistency,
    ) -> Result<v1::GetTopicResponse, ClientError> {
        self.send::<topic::GetTopic>(v1::GetTopicRequest { name: name.to_string(), consistency: consistency as i32 })
            .await
    }

    pub async fn list_topics(&self, request: v1::ListTopicsRequest) -> Result<v1::ListTopicsResponse, ClientError> {
        self.send::<topic::ListTopics>(request).await
    }

    /// A topic's route with addresses on `network`, read at `consistency` like every read.
    pub async fn get_route(
        &self,
        topic: &str,
        network: &str,
        consistency: v1::Consistency,
    ) -> Result<v1::GetRouteResponse, ClientError> {
        let request = v1::GetRouteRequest {
            topic: topic.to_string(),
            network: network.to_string(),
            consistency: consistency as i32,
        };
        self.send::<topic::GetRoute>(request).await
    }

    pub async fn watch_routes(
        &self,
        request: v1::WatchRoutesRequest,
    ) -> Result<tonic::Streaming<v1::RouteEvent>, ClientError> {
        self.send::<topic::WatchRoutes>(request).await
    }
}
