//! The typed gRPC client's transport: tonic's channel and client, with
//! prost's codec per message type.

use futures_util::StreamExt;
use tonic_prost::ProstCodec;

use crate::core::message::ApiMessage;
use crate::{ResponseStream, Status};

/// A gRPC connection for the generated typed clients.
#[derive(Debug, Clone)]
pub struct Client {
    inner: tonic::client::Grpc<tonic::transport::Channel>,
    metadata: http::HeaderMap,
}

impl Client {
    /// Connects to `uri`, for example `http://127.0.0.1:8080`.
    pub async fn connect(uri: impl Into<String>) -> Result<Client, Status> {
        let uri = uri.into();
        let channel = tonic::transport::Endpoint::from_shared(uri.clone())
            .map_err(|e| Status::invalid_argument(format!("{uri} is not a valid URI: {e}")))?
            .connect()
            .await
            .map_err(|e| Status::unavailable(format!("cannot connect to {uri}: {e}")))?;
        Ok(Client { inner: tonic::client::Grpc::new(channel), metadata: http::HeaderMap::new() })
    }

    /// Metadata sent with every call, for example `authorization`.
    pub fn metadata_mut(&mut self) -> &mut http::HeaderMap {
        &mut self.metadata
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(self.metadata.clone());
        request
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.inner.ready().await.map_err(|e| Status::unavailable(format!("the connection is not ready: {e}")))
    }

    fn path(path: &'static str) -> http::uri::PathAndQuery {
        http::uri::PathAndQuery::from_static(path)
    }

    /// Calls a unary method at `path` (`/package.Service/Method`).
    pub async fn unary<Req: ApiMessage + Send + Sync, Resp: ApiMessage + Send + Sync>(
        &mut self,
        path: &'static str,
        request: Req,
    ) -> Result<Resp, Status> {
        self.ready().await?;
        let codec = ProstCodec::<Req, Resp>::default();
        let response = self.inner.unary(self.request(request), Self::path(path), codec).await?;
        Ok(response.into_inner())
    }

    /// Calls a server-streaming method.
    pub async fn server_streaming<Req: ApiMessage + Send + Sync, Resp: ApiMessage + Send + Sync>(
        &mut self,
        path: &'static str,
        request: Req,
    ) -> Result<ResponseStream<Resp>, Status> {
        self.ready().await?;
        let codec = ProstCodec::<Req, Resp>::default();
        let response = self.inner.server_streaming(self.request(request), Self::path(path), codec).await?;
        Ok(ResponseStream::new(response.into_inner().map(|i| i.map_err(Status::from))))
    }

    /// Calls a client-streaming method.
    pub async fn client_streaming<Req: ApiMessage + Send + Sync, Resp: ApiMessage + Send + Sync>(
        &mut self,
        path: &'static str,
        requests: impl futures_core::Stream<Item = Req> + Send + 'static,
    ) -> Result<Resp, Status> {
        self.ready().await?;
        let codec = ProstCodec::<Req, Resp>::default();
        let response = self.inner.client_streaming(self.request(requests), Self::path(path), codec).await?;
        Ok(response.into_inner())
    }

    /// Calls a bidirectional-streaming method.
    pub async fn bidi_streaming<Req: ApiMessage + Send + Sync, Resp: ApiMessage + Send + Sync>(
        &mut self,
        path: &'static str,
        requests: impl futures_core::Stream<Item = Req> + Send + 'static,
    ) -> Result<ResponseStream<Resp>, Status> {
        self.ready().await?;
        let codec = ProstCodec::<Req, Resp>::default();
        let response = self.inner.streaming(self.request(requests), Self::path(path), codec).await?;
        Ok(ResponseStream::new(response.into_inner().map(|i| i.map_err(Status::from))))
    }
}
