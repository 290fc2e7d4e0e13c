//! Chat rooms on apigen-runtime's fan-out hub: every posted message gets the
//! room's next sequence number and reaches every subscriber.

use std::sync::Arc;

use apigen_runtime::fanout::Hub;
use apigen_runtime::wkt::Timestamp;
use apigen_runtime::{Context, RequestStream, ResponseStream, Result, Status};

use crate::v1::{self, ChatMessage};

const DEFAULT_HISTORY: usize = 50;
const MAX_HISTORY: usize = 1000;

/// All rooms. Rooms exist as soon as someone posts to or subscribes to them.
pub struct Rooms {
    hub: Arc<Hub<ChatMessage>>,
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms { hub: Arc::new(Hub::new(MAX_HISTORY)) }
    }
}

fn check_room(room: &str, field: &str) -> Result<()> {
    match room.strip_prefix("rooms/") {
        Some(id) if !id.is_empty() && !id.contains('/') => Ok(()),
        _ => Err(Status::invalid_argument(format!("`{field}` must be a room name like `rooms/lobby`, not `{room}`"))),
    }
}

/// Posts to `room`, which gets the room's next sequence number.
fn post(hub: &Hub<ChatMessage>, room: &str, author: String, text: String) -> Result<ChatMessage> {
    check_room(room, "room")?;
    Ok(hub.publish(room, |sequence| ChatMessage {
        name: format!("{room}/messages/{sequence}"),
        room: room.to_owned(),
        author,
        text,
        sequence,
        post_time: Some(Timestamp::now()),
    }))
}

impl v1::Chat for Rooms {
    async fn post_message(&self, _ctx: Context, request: v1::PostMessageRequest) -> Result<ChatMessage> {
        post(&self.hub, &request.room, request.author, request.text)
    }

    async fn get_history(&self, _ctx: Context, request: v1::GetHistoryRequest) -> Result<v1::GetHistoryResponse> {
        check_room(&request.room, "room")?;
        let limit = match request.limit {
            n if n < 0 => return Err(Status::invalid_argument("`limit` must not be negative")),
            0 => DEFAULT_HISTORY,
            n => (n as usize).min(MAX_HISTORY),
        };
        Ok(v1::GetHistoryResponse { messages: self.hub.history(&request.room, limit) })
    }

    async fn subscribe(&self, _ctx: Context, request: v1::SubscribeRequest) -> Result<ResponseStream<ChatMessage>> {
        check_room(&request.room, "room")?;
        Ok(ResponseStream::new(self.hub.subscribe(&request.room)))
    }

    async fn upload(
        &self,
        _ctx: Context,
        mut requests: RequestStream<v1::PostMessageRequest>,
    ) -> Result<v1::UploadSummary> {
        let mut posted_count = 0;
        while let Some(request) = requests.next().await {
            let request = request?;
            post(&self.hub, &request.room, request.author, request.text)?;
            posted_count += 1;
        }
        Ok(v1::UploadSummary { posted_count })
    }

    async fn converse(
        &self,
        _ctx: Context,
        mut requests: RequestStream<v1::ConverseRequest>,
    ) -> Result<ResponseStream<ChatMessage>> {
        let first = match requests.next().await {
            Some(first) => first?,
            None => return Ok(ResponseStream::new(apigen_runtime::futures::stream::empty())),
        };
        if first.room.is_empty() {
            return Err(Status::invalid_argument("the first message of a conversation must name its `room`"));
        }
        let room = first.room;
        check_room(&room, "room")?;
        // Subscribe before posting so the conversation sees its own messages.
        let incoming = self.hub.subscribe(&room);
        post(&self.hub, &room, first.author, first.text)?;
        let hub = Arc::clone(&self.hub);
        let (failed, failures) = ResponseStream::channel(1);
        tokio::spawn(async move {
            while let Some(next) = requests.next().await {
                if let Err(status) = next.and_then(|r| post(&hub, &room, r.author, r.text)) {
                    let _ = failed.send(Err(status)).await;
                    break;
                }
            }
        });
        Ok(ResponseStream::new(apigen_runtime::futures::stream::select(incoming, failures)))
    }
}
