//! Chat rooms on apigen-runtime's fan-out topics: every posted message gets
//! the room's next sequence number and reaches every subscriber, on every
//! instance that shares the topics' backend (in-process, or Redis with
//! `--redis`). A subscriber resumes after the last sequence it saw.

use apigen_runtime::fanout::Topics;
use apigen_runtime::wkt::Timestamp;
use apigen_runtime::{Context, RequestStream, ResponseStream, Result, Status};

use crate::v1::{self, ChatMessage};

const DEFAULT_HISTORY: usize = 50;
const MAX_HISTORY: usize = 1000;

/// All rooms. A room is kept while it has subscribers and, once posted to,
/// for `fanout::RETENTION` after its last post; subscribing to a made-up
/// room keeps nothing after the subscriber leaves, and one process keeps at
/// most `fanout::MAX_TOPICS` rooms.
#[derive(Clone)]
pub struct Rooms {
    topics: Topics<ChatMessage>,
}

/// A message's sequence-dependent fields.
fn stamp(message: &mut ChatMessage, sequence: u64) {
    message.sequence = sequence;
    message.name = format!("{}/messages/{sequence}", message.room);
}

impl Default for Rooms {
    /// Rooms in this process only.
    fn default() -> Self {
        Rooms { topics: Topics::in_process(MAX_HISTORY, stamp) }
    }
}

impl Rooms {
    /// Rooms on the Redis at `url`, shared by every instance that uses it.
    pub async fn redis(url: &str) -> Result<Rooms> {
        Ok(Rooms { topics: Topics::redis(url, MAX_HISTORY, stamp).await? })
    }

    /// Whether the rooms' store answers: the server's readiness check.
    pub async fn ready(&self) -> Result<()> {
        self.topics.ready().await
    }

    /// Posts to `room`, which gets the room's next sequence number.
    async fn post(&self, room: &str, author: String, text: String) -> Result<ChatMessage> {
        check_room(room, "room")?;
        let message = ChatMessage {
            room: room.to_owned(),
            author,
            text,
            post_time: Some(Timestamp::now()),
            ..ChatMessage::default()
        };
        self.topics.publish(room, message).await
    }
}

fn check_room(room: &str, field: &str) -> Result<()> {
    match room.strip_prefix("rooms/") {
        Some(id) if !id.is_empty() && !id.contains('/') => Ok(()),
        _ => Err(Status::invalid_argument(format!("`{field}` must be a room name like `rooms/lobby`, not `{room}`"))),
    }
}

/// The sequence a subscriber resumes after (SSE `Last-Event-ID`).
fn resume_after(ctx: &Context) -> Result<Option<u64>> {
    ctx.last_event_id()
        .map(|id| {
            id.parse()
                .map_err(|_| Status::invalid_argument(format!("Last-Event-ID `{id}` is not a message sequence number")))
        })
        .transpose()
}

impl v1::Chat for Rooms {
    async fn post_message(&self, _ctx: Context, request: v1::PostMessageRequest) -> Result<ChatMessage> {
        self.post(&request.room, request.author, request.text).await
    }

    async fn get_history(&self, _ctx: Context, request: v1::GetHistoryRequest) -> Result<v1::GetHistoryResponse> {
        check_room(&request.room, "room")?;
        let limit = match request.limit {
            n if n < 0 => return Err(Status::invalid_argument("`limit` must not be negative")),
            0 => DEFAULT_HISTORY,
            n => (n as usize).min(MAX_HISTORY),
        };
        Ok(v1::GetHistoryResponse { messages: self.topics.history(&request.room, limit).await? })
    }

    async fn subscribe(&self, ctx: Context, request: v1::SubscribeRequest) -> Result<ResponseStream<ChatMessage>> {
        check_room(&request.room, "room")?;
        self.topics.subscribe(&request.room, resume_after(&ctx)?).await
    }

    async fn upload(
        &self,
        _ctx: Context,
        mut requests: RequestStream<v1::PostMessageRequest>,
    ) -> Result<v1::UploadSummary> {
        let mut posted_count = 0;
        while let Some(request) = requests.next().await {
            let request = request?;
            self.post(&request.room, request.author, request.text).await?;
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
        let incoming = self.topics.subscribe(&room, None).await?;
        self.post(&room, first.author, first.text).await?;
        let rooms = self.clone();
        let (failed, failures) = ResponseStream::channel(1);
        tokio::spawn(async move {
            while let Some(next) = requests.next().await {
                let posted = match next {
                    Ok(r) => rooms.post(&room, r.author, r.text).await.map(drop),
                    Err(status) => Err(status),
                };
                if let Err(status) = posted {
                    let _ = failed.send(Err(status)).await;
                    break;
                }
            }
        });
        Ok(ResponseStream::new(apigen_runtime::futures::stream::select(incoming, failures)))
    }
}
