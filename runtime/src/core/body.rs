//! Request bodies, read whole with the server's limits: every protocol that
//! buffers a body (all but gRPC's streams) reads it here.

use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::core::status::Status;

/// Reads a whole request body of at most `max` bytes, allowing at most
/// `idle` between two of its frames (tower-http's `TimeoutBody`).
pub(crate) async fn read_body(mut body: axum::body::Body, max: usize, idle: Duration) -> Result<Bytes, Status> {
    let mut read = Read::default();
    let arrived = std::future::poll_fn(|cx| Poll::Ready(read_arrived(&mut body, &mut read, max, cx))).await?;
    if arrived {
        return Ok(read.into_bytes());
    }
    read_rest(body, read, max, idle).await
}

/// Reads what has already arrived of `body` into `read` (all of a small
/// body, usually), with no timer to set: `true` when that is all of it.
/// Polls with `cx` only to find out; a caller that cannot wait may pass a
/// no-op waker, and reads the rest with [`read_rest`].
pub(crate) fn read_arrived(
    body: &mut axum::body::Body,
    read: &mut Read,
    max: usize,
    cx: &mut std::task::Context<'_>,
) -> Result<bool, Status> {
    loop {
        // Most GETs have no body: nothing to wait for.
        if http_body::Body::is_end_stream(body) {
            return Ok(true);
        }
        match http_body::Body::poll_frame(Pin::new(&mut *body), cx) {
            // The rest is still on its way.
            Poll::Pending => return Ok(false),
            Poll::Ready(None) => return Ok(true),
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    read.push(data, max)?;
                }
            }
            Poll::Ready(Some(Err(e))) => return Err(broke_off(e)),
        }
    }
}

/// Reads the rest of a body after [`read_arrived`], with the idle timer.
pub(crate) async fn read_rest(
    body: axum::body::Body,
    mut read: Read,
    max: usize,
    idle: Duration,
) -> Result<Bytes, Status> {
    use http_body_util::BodyExt;
    let rest = http_body_util::Limited::new(tower_http::timeout::TimeoutBody::new(idle, body), max - read.len);
    match rest.collect().await {
        Ok(collected) => {
            read.push(collected.to_bytes(), max)?;
            Ok(read.into_bytes())
        }
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(max)),
        Err(e) if e.is::<tower_http::timeout::TimeoutError>() => {
            Err(Status::deadline_exceeded(format!("no byte of the request body arrived for {} s", idle.as_secs()))
                .with_http_status(408))
        }
        Err(e) => Err(broke_off(e)),
    }
}

/// The body's bytes so far: the first chunk as it came, copied only when more follow.
#[derive(Default)]
pub(crate) struct Read {
    first: Bytes,
    more: Option<BytesMut>,
    len: usize,
}

impl Read {
    fn push(&mut self, data: Bytes, max: usize) -> Result<(), Status> {
        if data.len() > max - self.len {
            return Err(too_large(max));
        }
        self.len += data.len();
        if self.first.is_empty() && self.more.is_none() {
            self.first = data;
        } else {
            let more = self.more.get_or_insert_with(|| BytesMut::from(&self.first[..]));
            more.extend_from_slice(&data);
        }
        Ok(())
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        self.more.map_or(self.first, BytesMut::freeze)
    }
}

/// A request whose body the server has read whole (every protocol but
/// gRPC's and the axum routes'), handed to its protocol as it is.
pub(crate) type Whole = http::Request<Bytes>;

/// `body`, unless it is over `max` bytes.
pub(crate) fn at_most(body: Bytes, max: usize) -> Result<Bytes, Status> {
    if body.len() > max { Err(too_large(max)) } else { Ok(body) }
}

fn too_large(max: usize) -> Status {
    Status::resource_exhausted(format!("the body is larger than {max} bytes")).with_http_status(413)
}

/// The connection failed or the client reset the stream: there is hardly anyone to answer.
fn broke_off(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("the request body broke off: {e}"))
}
