//! The CPU backend's worker threads (issue 13): a matrix product splits
//! its weight rows into contiguous ranges across a pool. Natively that is
//! rayon: the CLI makes its main thread one of the global pool's workers
//! (`use_global_pool`), so a product runs in place with the caller taking
//! its share (decode 1.39-1.46x at 2 threads against 1.30-1.32x when handed
//! to a separate pool); other thread counts get a pool of their own. In the
//! page's threaded build it is the [`SpinPool`] the model worker installs
//! (`worker::thread_pool`: Web Workers on the shared memory), and natively
//! the CLI's default size: [`SPIN_SHARES_PER_THREAD`] ranges per thread,
//! claimed in turn. Every output element is still one kernel call over the same
//! data in the same order, so the logits are bit-identical for any thread
//! count and pool (`tests/threads.rs` checks 1, 2 and 3, and the spin
//! pool); the single-threaded wasm build runs on its one thread.

use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
use std::sync::OnceLock;

#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
use super::spin_pool::SpinPool;

use crate::{Error, Result};

/// The most threads the default takes (more rarely pays on a 135M model).
pub const DEFAULT_THREAD_CAP: usize = 8;
/// The most threads a setting may ask for.
pub const MAX_THREADS: usize = 256;

/// Contiguous row ranges per thread and product on rayon (a thread that
/// finishes early steals).
#[cfg(not(target_arch = "wasm32"))]
const CHUNKS_PER_THREAD: usize = 4;
/// Row ranges per thread and product on the spin pool, whose threads claim
/// them in turn: a thread the system stops for a while (the page's own
/// drawing shares the cores) holds up one small range, not half a product.
#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
const SPIN_SHARES_PER_THREAD: usize = 4;

/// The process's spin pool, once installed (the page's threaded worker).
#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
static SPIN_POOL: OnceLock<&'static SpinPool> = OnceLock::new();

/// Makes `pool` the one CPU backends of its size run on from now on (once
/// per process; returns whether it was installed).
#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
pub fn install_spin_pool(pool: &'static SpinPool) -> bool {
    SPIN_POOL.set(pool).is_ok()
}

/// A process-wide thread count for new backends (`--threads`); 0: default.
static DEFAULT: AtomicUsize = AtomicUsize::new(0);

/// The threads a new CPU backend uses: `--threads`, else the machine's
/// cores capped at [`DEFAULT_THREAD_CAP`] (in the browser: one, until the
/// worker's pool has started and set it).
pub fn default_threads() -> usize {
    match DEFAULT.load(Ordering::Relaxed) {
        0 if cfg!(target_arch = "wasm32") => 1,
        0 => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(DEFAULT_THREAD_CAP),
        n => n,
    }
}

/// Sets the thread count of the backends made from now on.
pub fn set_default_threads(n: usize) -> Result<()> {
    check(n)?;
    DEFAULT.store(n, Ordering::Relaxed);
    Ok(())
}

fn check(n: usize) -> Result<()> {
    if n == 0 || n > MAX_THREADS {
        return Err(Error::InvalidInput(format!(
            "threads must be between 1 and {MAX_THREADS}, got {n}"
        )));
    }
    Ok(())
}

/// Makes the calling thread worker 0 of rayon's global pool of
/// [`default_threads`] (once per process, before any other use of rayon):
/// backends of that many threads made on this thread then run their
/// products in place. Returns whether the pool was built so.
#[cfg(not(target_arch = "wasm32"))]
pub fn use_global_pool() -> bool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(default_threads())
        .use_current_thread()
        .build_global()
        .is_ok()
}

/// Where a backend's products run.
enum Pool {
    /// On the calling thread alone.
    One,
    /// The installed spin pool, the caller as its thread 0.
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    Spin(&'static SpinPool),
    /// Rayon's global pool, of which the calling thread is a worker.
    #[cfg(not(target_arch = "wasm32"))]
    Global,
    /// A rayon pool of the backend's own, handed each product.
    #[cfg(not(target_arch = "wasm32"))]
    Own(rayon::ThreadPool),
}

/// A backend's threads: none beyond the caller's, or a pool of `count`.
pub struct Threads {
    count: usize,
    pool: Pool,
}

impl Threads {
    pub fn new(count: usize) -> Result<Self> {
        check(count)?;
        if count == 1 {
            return Ok(Self {
                count,
                pool: Pool::One,
            });
        }
        #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
        if let Some(pool) = SPIN_POOL.get().filter(|p| p.threads() == count) {
            return Ok(Self::on_spin_pool(pool));
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            // A worker of the global pool (the CLI's main thread) of this size
            // runs the products in place.
            let in_global =
                rayon::current_thread_index().is_some() && rayon::current_num_threads() == count;
            let pool = match in_global {
                true => Pool::Global,
                false => Pool::Own(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(count)
                        .thread_name(|i| format!("persona-cpu-{i}"))
                        .build()
                        .map_err(|e| {
                            Error::Backend(format!("cannot start {count} threads: {e}"))
                        })?,
                ),
            };
            Ok(Self { count, pool })
        }
        #[cfg(target_arch = "wasm32")]
        Err(Error::InvalidInput(format!(
            "{count} threads asked for, but the page's worker runs {} (its threads need the \
             threaded build on a cross-origin isolated page)",
            default_threads()
        )))
    }

    /// Threads on `pool` (its size), the caller as its thread 0.
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    fn on_spin_pool(pool: &'static SpinPool) -> Self {
        Self {
            count: pool.threads(),
            pool: Pool::Spin(pool),
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Which pool runs the products: "one thread", "spin pool", "rayon".
    pub fn pool_kind(&self) -> &'static str {
        match self.pool {
            Pool::One => "one thread",
            #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
            Pool::Spin(_) => "spin pool",
            #[cfg(not(target_arch = "wasm32"))]
            Pool::Global | Pool::Own(_) => "rayon",
        }
    }

    /// Runs `f(i)` for every `i < tasks`, shared out across the threads in
    /// turn (each task on one thread; the tasks must write disjoint data).
    pub fn each(&self, tasks: usize, f: impl Fn(usize) + Sync) {
        match &self.pool {
            Pool::One => (0..tasks).for_each(f),
            #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
            Pool::Spin(pool) => pool.run(tasks, &f),
            #[cfg(not(target_arch = "wasm32"))]
            Pool::Global => {
                use rayon::prelude::*;
                (0..tasks).into_par_iter().for_each(&f);
            }
            #[cfg(not(target_arch = "wasm32"))]
            Pool::Own(pool) => {
                use rayon::prelude::*;
                pool.install(|| (0..tasks).into_par_iter().for_each(&f));
            }
        }
    }

    /// `out[t · rows + r0 + i] = tile[i · n + t]` where `f(r0, tile)` fills
    /// the `n` outputs of weight rows `r0..r0 + group` (`group` divides
    /// `rows`: the kernels that take eight interleaved rows at once ask for
    /// 8); the rows are shared out across the threads in contiguous ranges
    /// of whole groups. With several vectors a range goes through [`TILE`]
    /// rows at a time: their outputs gathered, then written out as one run
    /// of `TILE` values per vector (no transposed copy of the whole
    /// product).
    pub fn rows(
        &self,
        rows: usize,
        n: usize,
        group: usize,
        out: &mut [f32],
        f: impl Fn(usize, &mut [f32]) + Sync,
    ) {
        if n == 0 || rows == 0 {
            return;
        }
        assert!(out.len() >= n * rows);
        assert!(group > 0 && rows.is_multiple_of(group) && TILE.is_multiple_of(group));
        let per_thread = match self.pool {
            #[cfg(not(target_arch = "wasm32"))]
            Pool::Global | Pool::Own(_) => CHUNKS_PER_THREAD,
            #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
            Pool::Spin(_) => SPIN_SHARES_PER_THREAD,
            Pool::One => 1,
        };
        let chunk = rows
            .div_ceil(self.count * per_thread)
            .next_multiple_of(group);
        let chunks = rows.div_ceil(chunk);
        let out = SharedOut(out.as_mut_ptr());
        let work = |c: usize| {
            let range = c * chunk..((c + 1) * chunk).min(rows);
            if n == 1 {
                // SAFETY: chunk `c` alone writes `out[range]` (one vector:
                // the row-major output is the by-row one), in bounds.
                let slice = unsafe { out.slice(range.start, range.len()) };
                for (r0, tile) in range.step_by(group).zip(slice.chunks_exact_mut(group)) {
                    f(r0, tile);
                }
                return;
            }
            let mut tile = vec![0f32; TILE * n];
            for r0 in range.clone().step_by(TILE) {
                let m = TILE.min(range.end - r0);
                for (g, groups) in tile[..m * n].chunks_exact_mut(group * n).enumerate() {
                    f(r0 + g * group, groups);
                }
                for t in 0..n {
                    // SAFETY: as above, chunk `c` alone writes rows
                    // `range` of every vector `t`.
                    let dst = unsafe { out.slice(t * rows + r0, m) };
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = tile[i * n + t];
                    }
                }
            }
        };
        match &self.pool {
            Pool::One => (0..chunks).for_each(work),
            #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
            Pool::Spin(pool) => pool.run(chunks, &work),
            #[cfg(not(target_arch = "wasm32"))]
            Pool::Global => {
                use rayon::prelude::*;
                (0..chunks).into_par_iter().for_each(work);
            }
            #[cfg(not(target_arch = "wasm32"))]
            Pool::Own(pool) => {
                use rayon::prelude::*;
                pool.install(|| (0..chunks).into_par_iter().for_each(work));
            }
        }
    }
}

/// Weight rows whose outputs a thread gathers before writing them out.
const TILE: usize = 16;

/// An output written by several threads at once, each its own elements
/// (a product's chunks of rows, attention's heads per task).
#[derive(Clone, Copy)]
pub(super) struct SharedOut(pub(super) *mut f32);

// SAFETY: writers take disjoint elements (`Threads::rows`, `attention::attend`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// # Safety
    /// `at..at + len` must be in bounds and written by no other thread
    /// while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn slice(&self, at: usize, len: usize) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(at), len)
    }
}
