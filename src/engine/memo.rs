//! Results that depend only on a run's views (their prompts and adapter
//! mixes) and a setting, kept across runs so a re-run that moved something
//! else skips them: PDD's importance (its PIE answer `G` and the
//! leave-one-out scores `I_i`, PDD paper §3.2) is computed once per
//! conversation and persona, whatever β, K or the importance sliders say.
//! A small least-recently-used list compared by whole keys (no hashing, no
//! collisions).

use std::collections::VecDeque;

use crate::backend::AdapterId;

/// One view as a key: its prompt tokens and its adapter mix.
pub type ViewKey = (Vec<u32>, Vec<(AdapterId, f32)>);

/// What a memoised result was computed from: every view's prompt and mix,
/// and the setting that shaped it (PIE's answer length).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoKey {
    pub views: Vec<ViewKey>,
    pub setting: usize,
}

/// PDD's importance: the raw `I_i` (nats) and the PIE answer `G`.
#[derive(Debug, Clone, PartialEq)]
pub struct Importance {
    pub raw: Vec<f64>,
    pub answer: Vec<u32>,
}

/// At most `capacity` results, the least recently used dropped first.
pub struct Memo<V> {
    capacity: usize,
    entries: VecDeque<(MemoKey, V)>,
    /// Results found (lifetime), for a run's statistics.
    pub hits: u64,
}

impl<V: Clone> Memo<V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: VecDeque::new(),
            hits: 0,
        }
    }

    /// The result kept for `key`, now the most recently used.
    pub fn get(&mut self, key: &MemoKey) -> Option<V> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        let entry = self.entries.remove(i).expect("found above");
        let value = entry.1.clone();
        self.entries.push_front(entry);
        self.hits += 1;
        Some(value)
    }

    pub fn put(&mut self, key: MemoKey, value: V) {
        self.entries.retain(|(k, _)| *k != key);
        self.entries.push_front((key, value));
        self.entries.truncate(self.capacity);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What an engine keeps across runs: KV rows by prefix, and results by views.
pub struct RunCache {
    pub prefix: super::PrefixCache,
    pub importance: Memo<Importance>,
}

/// PDD importances kept (one per conversation and persona).
const IMPORTANCE_MEMO: usize = 16;

impl RunCache {
    /// A cache of KV rows within `budget_bytes` for a model of `config`.
    pub fn new(config: &crate::model::LlamaConfig, budget_bytes: usize) -> Self {
        Self {
            prefix: super::PrefixCache::new(config, budget_bytes),
            importance: Memo::new(IMPORTANCE_MEMO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: u32, setting: usize) -> MemoKey {
        MemoKey {
            views: vec![(vec![1, t], vec![])],
            setting,
        }
    }

    #[test]
    fn keeps_the_most_recent_results_by_whole_key() {
        let mut m = Memo::new(2);
        m.put(key(1, 48), 10);
        m.put(key(2, 48), 20);
        assert_eq!(m.get(&key(1, 48)), Some(10)); // now the most recent
        assert_eq!(m.get(&key(1, 4)), None); // another setting is another key
        m.put(key(3, 48), 30); // drops key 2, the least recently used
        assert_eq!(m.get(&key(2, 48)), None);
        assert_eq!(m.get(&key(1, 48)), Some(10));
        assert_eq!(m.get(&key(3, 48)), Some(30));
        m.put(key(3, 48), 31); // replaces
        assert_eq!((m.get(&key(3, 48)), m.len()), (Some(31), 2));
        assert_eq!(m.hits, 4, "misses do not count");
    }
}
