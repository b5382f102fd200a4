//! The CPU backend's worker threads (issue 13, "threads natively"): a
//! matrix product splits its weight rows into contiguous ranges across a
//! rayon pool. The CLI makes its main thread one of the global pool's
//! workers (`use_global_pool`), so a product runs in place with the caller
//! taking its share (decode 1.39-1.46x at 2 threads against 1.30-1.32x
//! when handed to a separate pool); other thread counts get a pool of their
//! own. Every output element is still one kernel call over the same
//! data in the same order, so the logits are bit-identical for any thread
//! count (`tests/threads.rs` checks 1, 2 and 3). The threaded wasm build
//! (atomics, shared memory) runs the same code on the model worker's pool of
//! Web Workers (`worker::thread_pool`, the worker's thread is worker 0 of
//! rayon's global pool); the single-threaded wasm build on its one thread.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Error, Result};

/// The most threads the default takes (more rarely pays on a 135M model).
pub const DEFAULT_THREAD_CAP: usize = 8;
/// The most threads a setting may ask for.
pub const MAX_THREADS: usize = 256;

/// Contiguous row ranges per thread and product. Natively four (a thread
/// that finishes early steals); in the page one: there a steal wakes a
/// sleeping Web Worker (an `Atomics.wait` round trip), and one range each
/// measured prefill 1.64x / decode 1.15x at 2 threads against 1.42x / 1.08x
/// with four (docs/BENCHMARKS.md).
const CHUNKS_PER_THREAD: usize = if cfg!(target_arch = "wasm32") { 1 } else { 4 };

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
#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
enum Pool {
    /// On the calling thread alone.
    One,
    /// Rayon's global pool, of which the calling thread is a worker.
    Global,
    /// A pool of the backend's own, handed each product.
    Own(rayon::ThreadPool),
}

/// A backend's threads: none beyond the caller's, or a pool of `count`.
pub struct Threads {
    count: usize,
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    pool: Pool,
}

impl Threads {
    pub fn new(count: usize) -> Result<Self> {
        check(count)?;
        #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
        {
            // A worker of the global pool (the CLI's main thread) of this size
            // runs the products in place.
            let in_global =
                rayon::current_thread_index().is_some() && rayon::current_num_threads() == count;
            let pool = match count {
                1 => Pool::One,
                _ if in_global => Pool::Global,
                n => Pool::Own(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(n)
                        .thread_name(|i| format!("persona-cpu-{i}"))
                        .build()
                        .map_err(|e| Error::Backend(format!("cannot start {n} threads: {e}")))?,
                ),
            };
            Ok(Self { count, pool })
        }
        #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
        {
            if count > 1 {
                return Err(Error::InvalidInput(
                    "this build runs the CPU backend on one thread (the page's threaded build needs cross-origin isolation)".into(),
                ));
            }
            Ok(Self { count })
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// `out[t · rows + r] = row_out[t]` where `f(r, row_out)` fills the `n`
    /// outputs of weight row `r`; the rows are shared out across the threads
    /// in contiguous ranges.
    pub fn rows(
        &self,
        rows: usize,
        n: usize,
        out: &mut [f32],
        f: impl Fn(usize, &mut [f32]) + Sync,
    ) {
        if n == 0 || rows == 0 {
            return;
        }
        let chunk = rows.div_ceil(self.count * CHUNKS_PER_THREAD).max(1);
        let work = |(c, block): (usize, &mut [f32])| {
            for (i, row_out) in block.chunks_exact_mut(n).enumerate() {
                f(c * chunk + i, row_out);
            }
        };
        let run = |by_row: &mut [f32]| {
            #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
            {
                use rayon::prelude::*;
                match &self.pool {
                    Pool::One => {}
                    Pool::Global => {
                        by_row.par_chunks_mut(chunk * n).enumerate().for_each(work);
                        return;
                    }
                    Pool::Own(pool) => {
                        pool.install(|| {
                            by_row.par_chunks_mut(chunk * n).enumerate().for_each(work)
                        });
                        return;
                    }
                }
            }
            by_row.chunks_mut(chunk * n).enumerate().for_each(work);
        };
        if n == 1 {
            // One vector: the row-major output is the by-row one.
            run(out);
            return;
        }
        let mut by_row = vec![0f32; rows * n];
        run(&mut by_row);
        for (r, row) in by_row.chunks_exact(n).enumerate() {
            for (t, &v) in row.iter().enumerate() {
                out[t * rows + r] = v;
            }
        }
    }
}
