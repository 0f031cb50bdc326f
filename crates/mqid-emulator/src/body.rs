//! The body of an answer: the whole JSON at once, or, for the body faults, one that is streamed
//! without a length, breaks off, or stalls.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::time::Sleep;

/// An answer's body.
pub(crate) enum AnswerBody {
    /// All of it in one frame, with its length.
    Full(Option<Bytes>),
    /// `head`, then `filler` until `remaining` bytes are left for `tail`, then `tail`; no length
    /// announced (chunked).
    Padded {
        head: Option<Bytes>,
        filler: Bytes,
        remaining: u64,
        tail: Option<Bytes>,
    },
    /// `sent` (part of a body of `announced` bytes), then, after `stall` if any, an error: the
    /// connection is closed short of the announced length.
    Broken {
        sent: Option<Bytes>,
        announced: u64,
        stall: Option<Pin<Box<Sleep>>>,
    },
}

impl AnswerBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        AnswerBody::Full(Some(bytes.into()))
    }

    /// `body` with whitespace inserted after `split` bytes so that it is `total` bytes long,
    /// streamed in chunks of 64 KiB.
    pub fn padded(body: &[u8], split: usize, total: u64) -> Self {
        let (head, tail) = body.split_at(split.min(body.len()));
        let padding = total.saturating_sub(body.len() as u64);
        AnswerBody::Padded {
            head: Some(Bytes::copy_from_slice(head)),
            filler: Bytes::from(vec![b' '; 64 * 1024]),
            remaining: padding,
            tail: Some(Bytes::copy_from_slice(tail)),
        }
    }

    /// The first half of `body`, announced whole, then (after `stall`) a closed connection.
    pub fn broken(body: &[u8], stall: Option<Duration>) -> Self {
        AnswerBody::Broken {
            sent: Some(Bytes::copy_from_slice(&body[..body.len() / 2])),
            announced: body.len() as u64,
            stall: stall.map(|d| Box::pin(tokio::time::sleep(d))),
        }
    }
}

impl Body for AnswerBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        match this {
            AnswerBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            AnswerBody::Padded {
                head,
                filler,
                remaining,
                tail,
            } => {
                if let Some(h) = head.take() {
                    return Poll::Ready(Some(Ok(Frame::data(h))));
                }
                if *remaining > 0 {
                    let n = (*remaining).min(filler.len() as u64) as usize;
                    *remaining -= n as u64;
                    return Poll::Ready(Some(Ok(Frame::data(filler.slice(..n)))));
                }
                Poll::Ready(tail.take().map(|t| Ok(Frame::data(t))))
            }
            AnswerBody::Broken { sent, stall, .. } => {
                if let Some(s) = sent.take() {
                    return Poll::Ready(Some(Ok(Frame::data(s))));
                }
                if let Some(sleep) = stall {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Poll::Ready(Some(Err(std::io::Error::other(
                    "fault injection: the body breaks off",
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            AnswerBody::Full(b) => b.is_none(),
            AnswerBody::Padded {
                head,
                remaining,
                tail,
                ..
            } => head.is_none() && *remaining == 0 && tail.is_none(),
            AnswerBody::Broken { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            AnswerBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            AnswerBody::Padded { .. } => SizeHint::default(),
            AnswerBody::Broken { announced, .. } => SizeHint::with_exact(*announced),
        }
    }
}
