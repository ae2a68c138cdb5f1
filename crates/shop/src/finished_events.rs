//! The ids of events this instance saw finished (`processed` or `ignored`), kept in memory so
//! that a redelivery is answered after its signature check and before any query.
//!
//! A finished event never changes status again (DESIGN.md 1.3, 2), so an id found here is a
//! duplicate whatever another instance did since: the set can only be behind the database, never
//! wrong. A miss proves nothing, and the inbox asks the database as before. The set is bounded
//! ([`CAPACITY`] ids, the oldest forgotten first): Stripe's redeliveries and resends of older
//! events still find their row in `webhook_events`, at the price of a read.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// How many finished ids are remembered: a few MB at most, hours of a busy shop's events.
pub const CAPACITY: usize = 65_536;

/// A bounded set of finished event ids, oldest evicted first. Cheap to share.
#[derive(Debug)]
pub struct FinishedEvents {
    capacity: usize,
    ids: Mutex<Ids>,
}

#[derive(Debug, Default)]
struct Ids {
    set: HashSet<Arc<str>>,
    /// Insertion order, for eviction.
    order: VecDeque<Arc<str>>,
}

impl Default for FinishedEvents {
    fn default() -> Self {
        FinishedEvents::with_capacity(CAPACITY)
    }
}

impl FinishedEvents {
    pub fn with_capacity(capacity: usize) -> FinishedEvents {
        FinishedEvents {
            capacity: capacity.max(1),
            ids: Mutex::default(),
        }
    }

    /// True when `id` is known to be finished.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().set.contains(id)
    }

    /// Remembers `id` as finished, forgetting the oldest id when full.
    pub fn insert(&self, id: &str) {
        let mut ids = self.lock();
        if ids.set.contains(id) {
            return;
        }
        if ids.order.len() >= self.capacity {
            if let Some(oldest) = ids.order.pop_front() {
                ids.set.remove(&oldest);
            }
        }
        let id: Arc<str> = Arc::from(id);
        ids.set.insert(id.clone());
        ids.order.push_back(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ids> {
        // A panic while holding the lock cannot leave the set inconsistent in a way that matters:
        // at worst an id is in one collection only, which costs a read later.
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_remembers_finished_ids_and_forgets_the_oldest_first() {
        let finished = FinishedEvents::with_capacity(2);
        assert!(!finished.contains("evt_1"));
        finished.insert("evt_1");
        finished.insert("evt_2");
        finished.insert("evt_1");
        assert!(finished.contains("evt_1") && finished.contains("evt_2"));
        finished.insert("evt_3");
        assert!(!finished.contains("evt_1"), "the oldest is forgotten");
        assert!(finished.contains("evt_2") && finished.contains("evt_3"));
    }
}
