//! Automatic prefix caching across runs (what vLLM calls automatic prefix
//! caching and llama.cpp's server `cache_prompt`): the backend rows of
//! recent runs are kept, keyed by the tokens they hold and their adapter
//! mix, under a byte budget with least-recently-used eviction. A new run's
//! view starts from the longest cached prefix with the same mix (taking the
//! row, or copying its prefix) and computes only the rest; when the run ends
//! its rows come back as entries, replacing the entries they extend.
//!
//! Bytes are counted as the KV cache's f32 keys and values per position
//! (`bytes_per_position`); a backend's allocation granularity (WebGPU's
//! 64-position pages) comes on top. Only the kept rows count: the rows of
//! the run in progress are outside the budget.

use crate::backend::{AdapterId, Backend, RowId};
use crate::model::LlamaConfig;
use crate::{Error, Result};

/// The default budget: 256 MiB of KV rows, about 5,800 positions of
/// SmolLM2-135M (a 7-attribute PDD conversation of ~700 tokens per view).
pub const DEFAULT_CACHE_MB: f64 = 256.0;
/// The largest budget accepted (wasm32 memory is 4 GiB in all).
pub const MAX_CACHE_MB: f64 = 65_536.0;

/// A budget in MiB as a user wrote it: finite, 0 (off) to [`MAX_CACHE_MB`].
pub fn parse_budget_mb(mb: f64) -> Result<usize> {
    if !mb.is_finite() || !(0.0..=MAX_CACHE_MB).contains(&mb) {
        return Err(Error::InvalidInput(format!(
            "prefix cache budget {mb} MiB: give 0 (off) to {MAX_CACHE_MB} MiB"
        )));
    }
    Ok((mb * 1024.0 * 1024.0) as usize)
}

/// One kept row.
#[derive(Debug)]
struct Entry {
    row: RowId,
    tokens: Vec<u32>,
    mix: Vec<(AdapterId, f32)>,
    last_used: u64,
}

/// How a view starts: from a cached row (taken, or its prefix copied) or
/// from nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStart {
    /// The row the view uses, holding `len` positions.
    pub row: RowId,
    pub len: usize,
}

/// Lifetime counters, for tests and the bench.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheCounters {
    pub hits: u64,
    pub misses: u64,
    /// Entries freed to fit the budget.
    pub evictions: u64,
    /// Rows returned whole but larger than the whole budget.
    pub refused: u64,
}

pub struct PrefixCache {
    budget_bytes: usize,
    bytes_per_position: usize,
    entries: Vec<Entry>,
    tick: u64,
    pub counters: CacheCounters,
}

impl PrefixCache {
    pub fn new(config: &LlamaConfig, budget_bytes: usize) -> Self {
        Self {
            budget_bytes,
            bytes_per_position: config.n_layer * 2 * config.n_kv_head * config.head_dim * 4,
            entries: Vec::new(),
            tick: 0,
            counters: CacheCounters::default(),
        }
    }

    pub fn budget_bytes(&self) -> usize {
        self.budget_bytes
    }

    pub fn bytes_per_position(&self) -> usize {
        self.bytes_per_position
    }

    /// Bytes held by the kept rows.
    pub fn used_bytes(&self) -> usize {
        self.entries.iter().map(|e| e.tokens.len()).sum::<usize>() * self.bytes_per_position
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Positions the longest cached prefix of `tokens` under `mix` holds,
    /// without taking it (0 when none).
    pub fn peek(&self, tokens: &[u32], mix: &[(AdapterId, f32)]) -> usize {
        self.best(tokens, mix).map_or(0, |(_, n)| n)
    }

    fn best(&self, tokens: &[u32], mix: &[(AdapterId, f32)]) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.mix == mix)
            .map(|(i, e)| (i, common_prefix(&e.tokens, tokens)))
            .filter(|&(_, n)| n > 0)
            .max_by_key(|&(i, n)| (n, self.entries[i].last_used))
    }

    /// The entry holding the longest cached prefix of `tokens` under `mix`
    /// (its row) and the positions it gives, at most `max_len`; `None` when
    /// it gives none. Takes nothing.
    pub fn lookup(
        &self,
        tokens: &[u32],
        mix: &[(AdapterId, f32)],
        max_len: usize,
    ) -> Option<(RowId, usize)> {
        let (i, n) = self.best(tokens, mix)?;
        let len = n.min(max_len);
        (len > 0).then(|| (self.entries[i].row, len))
    }

    /// A copy of the first `len` positions of the entry on `entry_row`,
    /// which stays cached: for a view that shares an entry with another
    /// view of its run that will take it.
    pub fn lend<B: Backend>(
        &mut self,
        backend: &mut B,
        entry_row: RowId,
        len: usize,
    ) -> Result<RowId> {
        let i = self
            .entries
            .iter()
            .position(|e| e.row == entry_row)
            .ok_or_else(|| Error::Backend(format!("no cached entry on row {entry_row:?}")))?;
        self.counters.hits += 1;
        self.tick += 1;
        self.entries[i].last_used = self.tick;
        backend.fork_row(entry_row, len)
    }

    /// A row holding the longest cached prefix of `tokens` under `mix`, at
    /// most `max_len` positions, with the mix set; `None` on a miss. An
    /// entry mostly reused is taken (no copy; its unused tail is dropped),
    /// one barely reused keeps its place and lends a copy of its prefix.
    pub fn start<B: Backend>(
        &mut self,
        backend: &mut B,
        tokens: &[u32],
        mix: &[(AdapterId, f32)],
        max_len: usize,
    ) -> Result<Option<CacheStart>> {
        let Some((i, n)) = self.best(tokens, mix) else {
            self.counters.misses += 1;
            return Ok(None);
        };
        let len = n.min(max_len);
        if len == 0 {
            self.counters.misses += 1;
            return Ok(None);
        }
        self.counters.hits += 1;
        self.tick += 1;
        if 2 * len >= self.entries[i].tokens.len() {
            let e = self.entries.swap_remove(i);
            backend.truncate_row(e.row, len)?;
            Ok(Some(CacheStart { row: e.row, len }))
        } else {
            self.entries[i].last_used = self.tick;
            let row = backend.fork_row(self.entries[i].row, len)?;
            Ok(Some(CacheStart { row, len }))
        }
    }

    /// Keeps `row` (holding exactly `tokens` under `mix`) for later runs,
    /// or frees it: a row its budget cannot hold, or one an entry already
    /// extends, is freed; entries it extends are freed; then the least
    /// recently used entries go until the budget holds. Returns whether the
    /// row was kept.
    pub fn admit<B: Backend>(
        &mut self,
        backend: &mut B,
        row: RowId,
        tokens: Vec<u32>,
        mix: Vec<(AdapterId, f32)>,
    ) -> bool {
        debug_assert_eq!(backend.row_len(row).ok(), Some(tokens.len()));
        let bytes = tokens.len() * self.bytes_per_position;
        let covered = self
            .entries
            .iter()
            .position(|e| e.mix == mix && e.tokens.starts_with(&tokens));
        if tokens.is_empty() || bytes > self.budget_bytes || covered.is_some() {
            if bytes > self.budget_bytes {
                self.counters.refused += 1;
            }
            if let Some(i) = covered {
                self.tick += 1;
                self.entries[i].last_used = self.tick;
            }
            backend.free_row(row);
            return false;
        }
        let mut i = 0;
        while i < self.entries.len() {
            let e = &self.entries[i];
            if e.mix == mix && tokens.starts_with(&e.tokens) {
                backend.free_row(self.entries.swap_remove(i).row);
            } else {
                i += 1;
            }
        }
        self.tick += 1;
        self.entries.push(Entry {
            row,
            tokens,
            mix,
            last_used: self.tick,
        });
        self.evict_to_budget(backend);
        true
    }

    /// Frees every kept row.
    pub fn clear<B: Backend>(&mut self, backend: &mut B) {
        for e in self.entries.drain(..) {
            backend.free_row(e.row);
        }
    }

    /// Sets a new budget, evicting what no longer fits.
    pub fn set_budget<B: Backend>(&mut self, backend: &mut B, budget_bytes: usize) {
        self.budget_bytes = budget_bytes;
        self.evict_to_budget(backend);
    }

    /// Frees the least recently used entries until the budget holds.
    fn evict_to_budget<B: Backend>(&mut self, backend: &mut B) {
        while self.used_bytes() > self.budget_bytes {
            let lru = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
                .expect("over budget means an entry");
            backend.free_row(self.entries.swap_remove(lru).row);
            self.counters.evictions += 1;
        }
    }
}

pub(crate) fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
