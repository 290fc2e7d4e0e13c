//! One `apigen.v1` call, run in its own task: the method's responses become
//! `next` frames, then `complete` or `error`. Each frame goes straight to
//! the socket when it can (`writer.rs`), else into the call's queue.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};

use super::frames::{error_frame, frame, push_json_string};
use super::stopping;
use super::writer::{CallState, Queued, Sink};
use crate::core::call::{Output, Requests};
use crate::core::message::DynMessage;
use crate::core::pipeline::{Method, Pipeline};
use crate::{Context, Status};

/// How a frame written straight to the socket went.
enum Direct {
    /// In the socket's buffer; flushed, or a flush is queued for the writer.
    Written,
    /// Not written: the call has frames queued, someone else is writing, or
    /// the socket's buffer is full. It goes into the queue, whose timeout
    /// is the stall rule.
    Busy(Utf8Bytes),
    Closed,
}

pub(super) struct CallTask {
    pub(super) id: String,
    pub(super) serial: u64,
    pub(super) pipeline: Arc<Pipeline>,
    pub(super) method: Method,
    pub(super) streaming: bool,
    /// A server stream, whose events may carry ids a later subscribe resumes after.
    pub(super) resumable: bool,
    /// `{"type":"next","id":"<the call's id>","payload":`, the start of each `next` frame.
    pub(super) frame_start: String,
    /// The cursor field of a resumable stream's messages.
    pub(super) cursor: Option<&'static str>,
    pub(super) ctx: Context,
    pub(super) state: Arc<CallState>,
    pub(super) sink: Sink,
    pub(super) out: mpsc::Sender<Queued>,
    pub(super) stall: Duration,
}

impl CallTask {
    /// Calls the method, sends its responses and then `complete` or `error`.
    pub(super) async fn run(
        self,
        input: Requests,
        stopped: oneshot::Receiver<Status>,
        shutdown: watch::Receiver<bool>,
    ) -> (String, u64) {
        let done = (self.id.clone(), self.serial);
        // The queue keeps a slot for the last frame, should it have to wait.
        let Ok(last) = self.out.clone().reserve_owned().await else { return done };
        let streaming = self.streaming;
        let mut shutdown = shutdown;
        let result = tokio::select! {
            result = self.respond(input) => result,
            Ok(status) = stopped => Err(status),
            true = stopping(&mut shutdown), if streaming => {
                Err(Status::unavailable("the server is shutting down; reconnect to continue"))
            }
        };
        self.state.done.store(true, Ordering::SeqCst);
        let text = match result {
            Ok(()) => frame("complete", &self.id),
            Err(status) => error_frame(&self.id, &status),
        };
        // Queued, in the slot kept for it, when it cannot go now.
        if let Direct::Busy(text) = self.direct(text.into(), true) {
            self.state.queued.fetch_add(1, Ordering::SeqCst);
            last.send(Queued { text: Some(text), call: Arc::clone(&self.state) });
        }
        done
    }

    async fn respond(&self, input: Requests) -> Result<(), Status> {
        match self.pipeline.invoke(&self.method, &self.ctx, input).await? {
            // Its `complete` follows at once: one flush for both.
            Output::Single(message) => self.next(message, false).await,
            Output::Stream(mut stream) => {
                while let Some(message) = stream.next().await {
                    self.next(message?, true).await?;
                }
                Ok(())
            }
        }
    }

    /// Sends one response: straight to the socket when it can, else into the
    /// queue, waiting at most `stall` for room.
    async fn next(&self, message: Box<dyn DynMessage>, flush: bool) -> Result<(), Status> {
        let json = message.json_text()?;
        let event =
            if self.resumable { crate::core::stream::event_id(&*message, self.cursor, json.as_bytes()) } else { None };
        // `{"type":"next","id":…,"payload":…}`, and a resumable stream's `"eventId":…`,
        // written into one buffer: per subscriber of a shared stream, this is all the work.
        let mut text = String::with_capacity(self.frame_start.len() + json.len() + 48);
        text.push_str(&self.frame_start);
        text.push_str(&json);
        if let Some(event) = event {
            text.push_str(r#","eventId":"#);
            push_json_string(&mut text, &event);
        }
        text.push('}');
        let text = match self.direct(text.into(), flush) {
            Direct::Written => return Ok(()),
            Direct::Busy(text) => text,
            Direct::Closed => return Err(Status::cancelled("the socket closed")),
        };
        // Room in the queue: no timer for the common case.
        let permit = match self.out.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Closed(())) => return Err(Status::cancelled("the socket closed")),
            Err(mpsc::error::TrySendError::Full(())) => {
                match tokio::time::timeout(self.stall, self.out.reserve()).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(Status::cancelled("the socket closed")),
                    Err(_) => {
                        return Err(Status::resource_exhausted(format!(
                            "the client read none of the {} waiting responses for {} ms",
                            self.out.max_capacity().saturating_sub(1),
                            self.stall.as_millis()
                        )));
                    }
                }
            }
        };
        self.state.queued.fetch_add(1, Ordering::SeqCst);
        permit.send(Queued { text: Some(text), call: Arc::clone(&self.state) });
        Ok(())
    }

    /// Writes `text` to the socket now, without waiting: only if nothing of
    /// this call is queued, nobody else is writing, and the socket's buffer
    /// takes it. A flush the socket cannot finish at once is left to the
    /// writer (a flush marker in the queue, which later frames then follow).
    fn direct(&self, text: Utf8Bytes, flush: bool) -> Direct {
        if self.state.queued.load(Ordering::SeqCst) != 0 || self.state.cancelled.load(Ordering::SeqCst) {
            return Direct::Busy(text);
        }
        let Ok(mut socket) = self.sink.try_lock() else { return Direct::Busy(text) };
        // `feed` hands the frame over in the poll that finds room, or keeps it: this copy is ours.
        match socket.feed(Message::Text(text.clone())).now_or_never() {
            Some(Ok(())) => {}
            Some(Err(_)) => return Direct::Closed,
            None => return Direct::Busy(text),
        }
        if flush && socket.flush().now_or_never().is_none() {
            self.state.queued.fetch_add(1, Ordering::SeqCst);
            if self.out.try_send(Queued { text: None, call: Arc::clone(&self.state) }).is_err() {
                // The queue is closed (the socket is done) or full, when the writer flushes anyway.
                self.state.queued.fetch_sub(1, Ordering::SeqCst);
            }
        }
        Direct::Written
    }
}
