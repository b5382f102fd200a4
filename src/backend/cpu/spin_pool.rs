//! A fork-join pool whose helpers spin between matrix products (issue 13,
//! "threads in the page"). A decode step runs ~211 products of a few
//! hundred microseconds each; in the browser, rayon's helpers fall asleep
//! between two of them and each product then waits for an `Atomics.wait`
//! wake-up (decode 1.11x at 2 threads against prefill's 1.66x,
//! docs/BENCHMARKS.md). Here a helper spins on the job counter for a while
//! (a few hundred microseconds) before it sleeps, so the products of one
//! step find it awake. One job at a time: the caller publishes it, takes
//! part as thread 0 and returns when every helper is done.
//!
//! The page's threaded worker starts the helpers (Web Workers running
//! [`SpinPool::help`], `worker::thread_pool`); natively the CLI does (std
//! threads, `start_native`; decode 1.14x rayon's pool at 2 threads in an
//! interleaved run on this 2-core VM, prefill the same).

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

/// Looks at the job counter a helper takes before it sleeps.
const SPINS: u32 = 1 << 18;

/// One turn of a spin loop. Natively every 64th turn also yields the core:
/// with more runnable threads than cores (several CLI processes at once),
/// a spinning thread would otherwise hold a core the thread it waits for
/// needs (measured: `tests/cli_run.rs` took 56.6 s instead of 24.6 s).
#[inline(always)]
fn pause(spins: u32) {
    std::hint::spin_loop();
    #[cfg(not(target_arch = "wasm32"))]
    if spins.is_multiple_of(64) {
        std::thread::yield_now();
    }
    #[cfg(target_arch = "wasm32")]
    let _ = spins;
}

/// One job: thread `i` runs `job(i)`.
type Job<'a> = &'a (dyn Fn(usize) + Sync);

pub struct SpinPool {
    threads: usize,
    /// Bumped once per job; helpers wait for it to move.
    epoch: AtomicU32,
    /// The job being run: a pointer to the caller's `Job` (valid while
    /// `run` waits).
    job: AtomicPtr<()>,
    /// Helpers still running the current job.
    pending: AtomicUsize,
}

impl SpinPool {
    /// A pool of `threads` (the caller is thread 0); each of the
    /// `threads − 1` helpers must run [`Self::help`] with its index.
    /// Lives as long as the process.
    pub fn new(threads: usize) -> &'static Self {
        Box::leak(Box::new(Self {
            threads: threads.max(1),
            epoch: AtomicU32::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            pending: AtomicUsize::new(0),
        }))
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job(i)` for every thread index `i` (0 on the calling thread)
    /// and returns when all have. Callers take turns (one job at a time).
    pub fn run(&self, job: Job<'_>) {
        if self.threads == 1 {
            return job(0);
        }
        let slot: *const Job<'_> = &job;
        self.job.store(slot as *mut (), Ordering::Relaxed);
        self.pending.store(self.threads - 1, Ordering::Relaxed);
        // Publishes the job and the count with the new epoch.
        self.epoch.fetch_add(1, Ordering::Release);
        wake(&self.epoch);
        job(0);
        let mut spins = 0u32;
        while self.pending.load(Ordering::Acquire) != 0 {
            spins = spins.wrapping_add(1);
            pause(spins);
        }
    }

    /// Helper `index`'s loop: wait for a job, run its share, say so.
    pub fn help(&self, index: usize) -> ! {
        // Every job counts, even one published before this thread started.
        let mut seen = 0;
        loop {
            let mut spins = 0u32;
            loop {
                let epoch = self.epoch.load(Ordering::Acquire);
                if epoch != seen {
                    seen = epoch;
                    break;
                }
                if spins < SPINS {
                    spins += 1;
                    pause(spins);
                } else {
                    sleep_while(&self.epoch, seen);
                }
            }
            let slot = self.job.load(Ordering::Relaxed) as *const Job<'static>;
            // SAFETY: `run` stored a pointer to its live `job` before bumping
            // the epoch (acquired above) and waits for `pending` to reach 0
            // before that `job` goes out of scope.
            let job = unsafe { *slot };
            job(index);
            self.pending.fetch_sub(1, Ordering::Release);
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn sleep_while(epoch: &AtomicU32, seen: u32) {
    // SAFETY: a valid, aligned address in the shared memory; a Web Worker
    // may block.
    unsafe {
        core::arch::wasm32::memory_atomic_wait32(epoch.as_ptr() as *mut i32, seen as i32, -1);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn wake(epoch: &AtomicU32) {
    // SAFETY: as above.
    unsafe {
        core::arch::wasm32::memory_atomic_notify(epoch.as_ptr() as *mut i32, u32::MAX);
    }
}

/// Natively, a helper that spun long enough sleeps on a condition variable
/// until the epoch moves; the waker takes the same lock after bumping the
/// epoch, so no wake-up is lost.
#[cfg(not(target_arch = "wasm32"))]
static NAP: (std::sync::Mutex<()>, std::sync::Condvar) =
    (std::sync::Mutex::new(()), std::sync::Condvar::new());

#[cfg(not(target_arch = "wasm32"))]
fn sleep_while(epoch: &AtomicU32, seen: u32) {
    let mut guard = NAP.0.lock().unwrap_or_else(|e| e.into_inner());
    while epoch.load(Ordering::Acquire) == seen {
        guard = NAP.1.wait(guard).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn wake(_epoch: &AtomicU32) {
    let _guard = NAP.0.lock().unwrap_or_else(|e| e.into_inner());
    NAP.1.notify_all();
}

/// A pool of `threads` whose helpers are std threads (the CLI's, and the
/// tests').
#[cfg(not(target_arch = "wasm32"))]
pub fn start_native(threads: usize) -> &'static SpinPool {
    let pool = SpinPool::new(threads);
    for index in 1..pool.threads() {
        std::thread::spawn(move || pool.help(index));
    }
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_runs_its_share_of_every_job() {
        let pool = start_native(3);
        for round in 0..200usize {
            let seen: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            pool.run(&|i| {
                seen[i].fetch_add(round + 1, Ordering::Relaxed);
            });
            let got: Vec<usize> = seen.iter().map(|s| s.load(Ordering::Relaxed)).collect();
            assert_eq!(got, vec![round + 1; 3], "round {round}");
        }
    }
}
