//! Walking an event log step by step, exactly, for any mode: each step names the events it must
//! produce (one predicate each, in any order) with no other event among them, and the end checks
//! that nothing followed the last step. The events of one step are committed together (one
//! transaction, relayed as one batch), so they arrive contiguous, after every event of the
//! previous step.

use livepk::pb::events::{Event, EventFilter, FetchRequest};

use super::{Client, EventLog, SETTLE_SLACK, target_of};

/// A named predicate on one event.
pub type Pred<'a> = (&'static str, Box<dyn Fn(&Event) -> bool + 'a>);

/// A predicate named `name`.
pub fn pred<'a>(name: &'static str, matches: impl Fn(&Event) -> bool + 'a) -> Pred<'a> {
    (name, Box::new(matches))
}

/// A cursor over `log`, whose subscription selects what `filter` selects.
pub struct Steps<'a> {
    log: &'a EventLog,
    filter: EventFilter,
    cursor: usize,
}

impl<'a> Steps<'a> {
    /// Steps over `log` (subscribed with `filter`) from its first event.
    pub fn new(log: &'a EventLog, filter: EventFilter) -> Steps<'a> {
        Steps { log, filter, cursor: 0 }
    }

    /// Exactly these: waits until the events after the cursor are one event for each predicate
    /// (in any order) with no other event among them; returns them in predicate order and moves
    /// the cursor past them.
    pub async fn expect_exactly(&mut self, step: &str, preds: Vec<Pred<'_>>) -> Vec<Event> {
        self.expect_amid(step, |_| false, preds).await
    }

    /// As [`Steps::expect_exactly`], except that events `unrelated` matches may come before and
    /// among this step's events; they are skipped. Only for notifications a background task
    /// sends at moments the test does not know (coalesced score notifications).
    pub async fn expect_amid(
        &mut self,
        step: &str,
        unrelated: impl Fn(&Event) -> bool,
        preds: Vec<Pred<'_>>,
    ) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + SETTLE_SLACK;
        let names: Vec<&str> = preds.iter().map(|(name, _)| *name).collect();
        loop {
            let events = self.log.snapshot();
            let window: Vec<usize> = (self.cursor..events.len())
                .filter(|index| !unrelated(&events[*index]))
                .take(preds.len())
                .collect();
            if window.len() == preds.len() {
                let Some(matched) = assign(&preds, &window, &events) else {
                    panic!(
                        "step {step:?}: expected exactly {names:?} after position {}, got:\n{}",
                        self.cursor,
                        describe_all(&events[self.cursor..])
                    );
                };
                self.cursor = window.last().map_or(self.cursor, |last| last + 1);
                return matched.into_iter().map(|index| events[index].clone()).collect();
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "step {step:?}: {} of the {} events {names:?} arrived after position {}:\n{}",
                    window.len(),
                    preds.len(),
                    self.cursor,
                    describe_all(&events[self.cursor..])
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Every event the subscription delivered so far (to look at the skipped ones).
    pub fn seen(&self) -> Vec<Event> {
        self.log.snapshot()
    }

    /// Nothing after the last step: once the subscription has caught up with the stream (as
    /// `Fetch` reads it with the same filter, in the same order), no event may follow the
    /// cursor, except events `unrelated` matches.
    pub async fn expect_end(&self, server: &Client, unrelated: impl Fn(&Event) -> bool) {
        let stream = fetch_matching(server, &self.filter).await;
        self.log
            .wait_count("the subscription to catch up with the stream", stream.len(), |_| true)
            .await;
        let events = self.log.snapshot();
        let ids = |events: &[Event]| -> Vec<String> {
            events.iter().map(|event| event.event_id.clone()).collect()
        };
        assert_eq!(ids(&events), ids(&stream), "Subscribe and Fetch deliver the same events");
        let left: Vec<Event> =
            events[self.cursor..].iter().filter(|event| !unrelated(event)).cloned().collect();
        assert!(left.is_empty(), "events after the last step:\n{}", describe_all(&left));
    }
}

/// Every event of the stream `filter` selects, read with `Fetch` from the oldest.
pub async fn fetch_matching(server: &Client, filter: &EventFilter) -> Vec<Event> {
    let mut events = Vec::new();
    let mut after = "0".to_owned();
    loop {
        let response = server
            .events()
            .fetch(FetchRequest {
                after_event_id: after.clone(),
                limit: 1000,
                filter: Some(filter.clone()),
            })
            .await
            .expect("Fetch")
            .into_inner();
        assert!(!response.truncated, "the event stream was truncated");
        let done = response.last_event_id == after;
        events.extend(response.events);
        if done {
            return events;
        }
        after = response.last_event_id;
    }
}

/// One distinct event of `window` for each predicate (backtracking: predicates may overlap);
/// the events' indexes in predicate order.
fn assign(preds: &[Pred<'_>], window: &[usize], events: &[Event]) -> Option<Vec<usize>> {
    fn extend(
        preds: &[Pred<'_>],
        window: &[usize],
        events: &[Event],
        chosen: &mut Vec<usize>,
    ) -> bool {
        let Some((_, pred)) = preds.get(chosen.len()) else { return true };
        for &index in window {
            if !chosen.contains(&index) && pred(&events[index]) {
                chosen.push(index);
                if extend(preds, window, events, chosen) {
                    return true;
                }
                chosen.pop();
            }
        }
        false
    }
    let mut chosen = Vec::with_capacity(preds.len());
    extend(preds, window, events, &mut chosen).then_some(chosen)
}

/// An event in a line: id, type, target and pkid.
pub fn describe(event: &Event) -> String {
    format!("{} {} {:?} pkid {}", event.event_id, event.r#type, target_of(event), event.pkid)
}

fn describe_all(events: &[Event]) -> String {
    events.iter().map(describe).collect::<Vec<_>>().join("\n")
}
