//! Resumable subscriptions over GraphQL. An event of a stream with a cursor
//! carries it as `extensions.eventId` in its payload; a subscribe whose
//! request `extensions.lastEventId` names one resumes the stream after it,
//! as SSE's `Last-Event-ID` does (the same `last-event-id` metadata).

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextSubscribe};
use async_graphql::{Request, Response, ServerError, ServerResult, Value};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

/// The extension that moves event ids in and out of subscriptions.
pub(super) struct EventIds;

/// One operation's resume point, and the id of the event its field
/// resolved last, which the payload it becomes then carries.
#[derive(Clone, Default)]
pub(super) struct Resume {
    pub(super) last_event_id: Option<String>,
    latest: Arc<Mutex<Option<String>>>,
}

impl Resume {
    /// Notes the id of the event being resolved (`None`: it has none).
    pub(super) fn resolving(&self, id: Option<String>) {
        if let Ok(mut latest) = self.latest.lock() {
            *latest = id;
        }
    }
}

impl ExtensionFactory for EventIds {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Resume::default())
    }
}

#[async_trait::async_trait]
impl Extension for Resume {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let last_event_id = match request.extensions.0.remove("lastEventId") {
            None | Some(Value::Null) => None,
            Some(Value::String(last)) => Some(last),
            Some(_) => {
                return Err(ServerError::new(
                    "extensions.lastEventId must be a string, an eventId the stream sent",
                    None,
                ));
            }
        };
        request.data.insert(Resume { last_event_id, latest: Arc::clone(&self.latest) });
        next.run(ctx, request).await
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let latest = Arc::clone(&self.latest);
        next.run(ctx, stream)
            .map(move |mut response| {
                if let Some(id) = latest.lock().ok().and_then(|mut l| l.take()) {
                    response.extensions.insert("eventId".to_owned(), Value::String(id));
                }
                response
            })
            .boxed()
    }
}
