//! A typed Server-Sent Events client of server-streaming methods
//! (`/sse/{package}.{Service}/{Method}`) that reconnects and resumes on its
//! own: after a dropped connection it waits the server's `retry:` time and
//! reconnects with `Last-Event-ID`, so a resumable stream (a fan-out topic)
//! continues after the last message it delivered, on any instance.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;

use crate::core::message::ApiMessage;
use crate::{Code, ResponseStream, Status};

/// How long to wait before reconnecting when the server did not say.
const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// Reconnections in a row without a message before the stream gives up.
const MAX_ATTEMPTS: u32 = 10;

/// An SSE connection to a server, for any server-streaming method.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: crate::client::Endpoint,
}

/// What one connection ended with.
enum Ended {
    /// The `end` event: the stream is complete (or failed for good).
    Done,
    /// The connection dropped: reconnect and resume.
    Dropped(String),
}

impl Client {
    /// A client of the server at `base`, for example `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> Client {
        Client { endpoint: crate::client::Endpoint::new(base) }
    }

    /// Headers sent with every request, for example `authorization`.
    pub fn headers_mut(&mut self) -> &mut http::HeaderMap {
        self.endpoint.headers_mut()
    }

    /// Streams the responses of `method` (`chat.v1.Chat/Subscribe`) to
    /// `request`. The first connection's failure is the returned error;
    /// later drops are reconnected, resuming after the last event.
    pub async fn subscribe<Req: ApiMessage, Resp: ApiMessage + Send>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<ResponseStream<Resp>, Status> {
        self.subscribe_after(method, request, None).await
    }

    /// [`subscribe`](Self::subscribe), resuming after the event `last_event_id`.
    pub async fn subscribe_after<Req: ApiMessage, Resp: ApiMessage + Send>(
        &self,
        method: &str,
        request: &Req,
        last_event_id: Option<String>,
    ) -> Result<ResponseStream<Resp>, Status> {
        let body = serde_json::to_vec(request)
            .map_err(|e| Status::internal(format!("cannot write the request as JSON: {e}")))?;
        let url = self.endpoint.url(&format!("/sse/{}", method.trim_start_matches('/')));
        let first = self.connect(&url, &body, last_event_id.as_deref()).await?;
        let Some(first) = first else {
            // 204: the stream had already ended.
            return Ok(ResponseStream::new(futures_util::stream::empty()));
        };
        let (tx, stream) = ResponseStream::channel(16);
        let this = self.clone();
        tokio::spawn(async move {
            let mut response = first;
            let mut last = last_event_id;
            let mut retry = DEFAULT_RETRY;
            let mut attempts = 0;
            loop {
                let ended = tokio::select! {
                    ended = forward::<Resp>(response, &tx, &mut last, &mut retry, &mut attempts) => ended,
                    () = tx.closed() => return,
                };
                let Ended::Dropped(why) = ended else { return };
                // Reconnect until a connection delivers again.
                loop {
                    attempts += 1;
                    if attempts > MAX_ATTEMPTS {
                        let status = Status::unavailable(format!(
                            "the event stream dropped ({why}) and reconnecting failed {MAX_ATTEMPTS} times"
                        ));
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(retry) => {}
                        () = tx.closed() => return,
                    }
                    match this.connect(&url, &body, last.as_deref()).await {
                        Ok(Some(next)) => {
                            response = next;
                            break;
                        }
                        Ok(None) => return,
                        Err(status) if status.code() == Code::Unavailable => continue,
                        Err(status) => {
                            let _ = tx.send(Err(status)).await;
                            return;
                        }
                    }
                }
            }
        });
        Ok(stream)
    }

    /// One connection: the response, `None` for 204, or the server's error.
    async fn connect(&self, url: &str, body: &[u8], last: Option<&str>) -> Result<Option<reqwest::Response>, Status> {
        let mut request = self
            .endpoint
            .request(reqwest::Method::POST, url)
            .header(http::header::ACCEPT, "text/event-stream")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        let response = request.send().await.map_err(|e| Status::unavailable(format!("cannot reach {url}: {e}")))?;
        match response.status().as_u16() {
            200 => Ok(Some(response)),
            204 => Ok(None),
            http => {
                let text = response.bytes().await.unwrap_or_default();
                Err(crate::client::rest::error_from(http, &text))
            }
        }
    }
}

/// Forwards one connection's events until it ends.
async fn forward<Resp: ApiMessage + Send>(
    response: reqwest::Response,
    tx: &tokio::sync::mpsc::Sender<Result<Resp, Status>>,
    last: &mut Option<String>,
    retry: &mut Duration,
    attempts: &mut u32,
) -> Ended {
    let mut events = response.bytes_stream().eventsource();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(e) => return Ended::Dropped(e.to_string()),
        };
        if let Some(r) = event.retry {
            *retry = r;
        }
        if event.event == "end" {
            if event.data.trim() != "{}" {
                let _ = tx.send(Err(end_error(&event.data))).await;
            }
            return Ended::Done;
        }
        if event.data.is_empty() {
            continue;
        }
        // As bytes, as the server reads JSON: one instantiation of each message's reader.
        let message = serde_json::from_slice::<Resp>(event.data.as_bytes())
            .map_err(|e| Status::internal(format!("an event is not a valid response message: {e}")));
        if !event.id.is_empty() {
            *last = Some(event.id);
        }
        *attempts = 0;
        let failed = message.is_err();
        if tx.send(message).await.is_err() || failed {
            return Ended::Done;
        }
    }
    Ended::Dropped("the server closed the connection".to_owned())
}

/// The error of an `end` event: `{"code": "not_found", "message": "…", "details": […]}`.
fn end_error(data: &str) -> Status {
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(value) if value.get("code").is_some() => crate::core::wire::status_from_object(&value),
        _ => Status::unknown(data.to_owned()),
    }
}
