//! Fan-out's part of a trace: publishing in a traced call records a
//! producer span (a child of the call's), and delivering that message to a
//! subscriber in this process records a consumer span, a child of the
//! producer's, linked to the subscriber's own call. The producer's context
//! is kept here, for the newest [`KEPT`] messages, not in the backend, so
//! the messages stay as they are; a subscriber on another instance gets the
//! message without the link.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry::trace::{Link, Span as _, SpanContext, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context as OtelContext, KeyValue};

/// Messages whose producer span is kept.
const KEPT: usize = 4096;

/// The producer spans of recent messages, by topic and sequence number.
#[derive(Default)]
pub(super) struct Traces {
    inner: Mutex<Kept>,
    /// Some producer span was kept: until then deliveries take no lock.
    any: AtomicBool,
}

#[derive(Default)]
struct Kept {
    by_message: HashMap<(Arc<str>, u64), SpanContext>,
    order: VecDeque<(Arc<str>, u64)>,
}

impl Traces {
    /// A producer span for a publish to `topic`, when the caller is in a trace.
    pub(super) fn publishing(topic: &str) -> Option<OtelContext> {
        let cx = OtelContext::current();
        if !cx.span().span_context().is_valid() {
            return None;
        }
        let tracer = crate::core::trace::tracer();
        let span = tracer
            .span_builder(format!("publish {topic}"))
            .with_kind(SpanKind::Producer)
            .with_attributes([
                KeyValue::new("messaging.system", "apigen"),
                KeyValue::new("messaging.operation.type", "send"),
                KeyValue::new("messaging.destination.name", topic.to_owned()),
            ])
            .start_with_context(&tracer, &cx);
        Some(cx.with_span(span))
    }

    /// The publish in `cx` stored message `sequence` of `topic`. Its context
    /// is kept only when the span is recorded: without an exporter, no
    /// delivery would be either, and subscribers skip the lookup.
    pub(super) fn published(&self, cx: OtelContext, topic: &str, sequence: u64) {
        let span = cx.span();
        if !span.is_recording() {
            return;
        }
        span.set_attribute(KeyValue::new("messaging.message.id", sequence.to_string()));
        span.end();
        let key: (Arc<str>, u64) = (topic.into(), sequence);
        let mut kept = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if kept.order.len() >= KEPT
            && let Some(oldest) = kept.order.pop_front()
        {
            kept.by_message.remove(&oldest);
        }
        kept.order.push_back(key.clone());
        kept.by_message.insert(key, span.span_context().clone());
        self.any.store(true, Ordering::Relaxed);
    }

    /// Message `sequence` of `topic` reaches a subscriber: a consumer span
    /// under its producer's, when this process published it in a trace.
    pub(super) fn delivered(&self, topic: &str, sequence: u64) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let producer = {
            let kept = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if kept.by_message.is_empty() {
                return;
            }
            kept.by_message.get(&(Arc::<str>::from(topic), sequence)).cloned()
        };
        let Some(producer) = producer else { return };
        let subscriber = OtelContext::current();
        let links = {
            let own = subscriber.span();
            let own = own.span_context();
            if own.is_valid() { vec![Link::with_context(own.clone())] } else { Vec::new() }
        };
        let tracer = crate::core::trace::tracer();
        let parent = OtelContext::new().with_remote_span_context(producer);
        tracer
            .span_builder(format!("deliver {topic}"))
            .with_kind(SpanKind::Consumer)
            .with_attributes([
                KeyValue::new("messaging.system", "apigen"),
                KeyValue::new("messaging.operation.type", "process"),
                KeyValue::new("messaging.destination.name", topic.to_owned()),
                KeyValue::new("messaging.message.id", sequence.to_string()),
            ])
            .with_links(links)
            .start_with_context(&tracer, &parent)
            .end();
    }
}
