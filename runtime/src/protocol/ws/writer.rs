//! Writing one socket. A call's task writes its frame straight to the
//! socket when nothing of its own is queued and nobody else is writing: a
//! response then costs one task wake, as in a hand-written broadcast server.
//! Otherwise the frame waits in the call's queue for the writer task, which
//! also sends the connection's own frames and the close, and flushes once
//! nothing else is ready (one write for a unary call's `next` and `complete`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{BoxStream, SelectAll, SplitSink};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::CLOSE_GRACE;

/// The socket's sending half, shared by the writer task and the calls' tasks.
pub(super) type Sink = Arc<tokio::sync::Mutex<SplitSink<WebSocket, Message>>>;

/// A call's state shared between the reader, its task and the writer.
#[derive(Default)]
pub(super) struct CallState {
    /// The call has its outcome; its id may be used again.
    pub(super) done: AtomicBool,
    /// The client cancelled: its queued frames are dropped, not sent.
    pub(super) cancelled: AtomicBool,
    /// Frames of the call in its queue, not yet written: while there are
    /// any, its task queues the next ones too, so that they keep their order.
    pub(super) queued: AtomicUsize,
}

/// A frame from a call's queue; `None`: only a flush, for a frame its call
/// wrote but could not flush.
pub(super) struct Queued {
    pub(super) text: Option<Utf8Bytes>,
    pub(super) call: Arc<CallState>,
}

/// What the writer is told besides the calls' own frames.
pub(super) enum Control {
    /// A frame of the connection's own (ack, pong, ping, an error for a call that never started).
    Frame(String),
    /// A new call's queue.
    Queue(BoxStream<'static, Queued>),
    /// Send a close frame and stop; `drain` first sends what calls have queued.
    Close { code: u16, reason: String, drain: bool },
    /// The client closed: finish the close handshake and stop.
    Flush,
}

/// What the writer does next.
enum Outgoing {
    Control(Option<Control>),
    Frame(Queued),
}

/// The next thing to write: the connection's own frames first, then the calls' queues in turn.
async fn outgoing(
    control: &mut mpsc::Receiver<Control>,
    queues: &mut SelectAll<BoxStream<'static, Queued>>,
) -> Outgoing {
    // A queue that ends (its call is done and read) only disables its branch.
    tokio::select! {
        biased;
        item = control.recv() => Outgoing::Control(item),
        Some(frame) = queues.next(), if !queues.is_empty() => Outgoing::Frame(frame),
    }
}

/// Writes the frames queued for it, holding the socket for one batch at a
/// time and flushing once nothing else is ready.
pub(super) async fn write(sink: Sink, mut control: mpsc::Receiver<Control>) {
    let mut queues: SelectAll<BoxStream<'static, Queued>> = SelectAll::new();
    loop {
        // Wait for work without holding the socket, which the calls may write meanwhile.
        let mut item = outgoing(&mut control, &mut queues).await;
        let mut socket = sink.lock().await;
        loop {
            match item {
                Outgoing::Frame(Queued { text, call }) => {
                    let fed = match text {
                        Some(text) => socket.feed(Message::Text(text)).await,
                        None => Ok(()),
                    };
                    call.queued.fetch_sub(1, Ordering::SeqCst);
                    if fed.is_err() {
                        return;
                    }
                }
                Outgoing::Control(Some(Control::Frame(text))) => {
                    if socket.feed(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Outgoing::Control(Some(Control::Queue(queue))) => queues.push(queue),
                Outgoing::Control(Some(Control::Close { code, reason, drain })) => {
                    let _ = tokio::time::timeout(CLOSE_GRACE, async {
                        // Calls have finished and queued their last frames; send them first.
                        if drain {
                            while let Some(Some(frame)) = queues.next().now_or_never() {
                                let Some(text) = frame.text else { continue };
                                if socket.feed(Message::Text(text)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        let frame = CloseFrame { code, reason: reason.into() };
                        let _ = socket.send(Message::Close(Some(frame))).await;
                    })
                    .await;
                    return;
                }
                Outgoing::Control(Some(Control::Flush) | None) => {
                    let _ = tokio::time::timeout(CLOSE_GRACE, socket.close()).await;
                    return;
                }
            }
            match outgoing(&mut control, &mut queues).now_or_never() {
                Some(next) => item = next,
                None => break,
            }
        }
        if socket.flush().await.is_err() {
            return;
        }
    }
}
