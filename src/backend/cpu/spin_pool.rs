//! A fork-join pool whose helpers spin between matrix products (issue 13,
//! "threads in the page"). A decode step runs ~211 products of a few
//! hundred microseconds each; in the browser, rayon's helpers fall asleep
//! between two of them and each product then waits for an `Atomics.wait`
//! wake-up (decode 1.11x at 2 threads against prefill's 1.66x,
//! docs/BENCHMARKS.md). Here a helper spins on the pool's state for a while
//! (a few hundred microseconds) before it sleeps, so the products of one
//! step find it awake. One job at a time: the caller publishes it and takes
//! part, and returns when every share is done.
//!
//! A job's shares are claimed, not assigned: whoever comes first (the
//! caller or a helper) takes the next unclaimed share. So a helper that
//! never runs (a Web Worker the browser did not schedule, or one still
//! asleep) costs speed, never a hang: the caller runs its shares.
//!
//! The page's threaded worker starts the helpers (Web Workers running
//! [`SpinPool::help`], `worker::thread_pool`); natively the CLI does (std
//! threads, `start_native`; decode 1.14x rayon's pool at 2 threads in an
//! interleaved run on this 2-core VM, prefill the same).

use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Looks at the state a helper takes before it sleeps.
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

/// One job: share `i` (for every `i` below the job's share count) runs
/// `job(i)`, on whichever thread claims it.
type Job<'a> = &'a (dyn Fn(usize) + Sync);

/// The job's number in the state's high 32 bits, the count of its shares
/// not claimed yet in its low 32.
const EPOCH_SHIFT: u32 = 32;

fn epoch_of(state: u64) -> u64 {
    state >> EPOCH_SHIFT
}

fn unclaimed(state: u64) -> usize {
    (state & u64::from(u32::MAX)) as usize
}

pub struct SpinPool {
    threads: usize,
    /// `epoch << 32 | unclaimed shares`: the caller stores a new epoch with
    /// all its shares to publish a job; a claim takes one away (a
    /// compare-and-swap, so a claim can only be of the job it saw and the
    /// count never goes below 0) and runs the share that number names.
    state: AtomicU64,
    /// The job being run: a pointer to the caller's `Job` (valid while
    /// `run` waits).
    job: AtomicPtr<()>,
    /// Shares of the current job finished.
    done: AtomicUsize,
}

impl SpinPool {
    /// A pool of `threads` threads (the caller is thread 0); each of the
    /// `threads − 1` helpers should run [`Self::help`]. Lives as long as
    /// the process.
    pub fn new(threads: usize) -> &'static Self {
        Box::leak(Box::new(Self {
            threads: threads.clamp(1, u32::MAX as usize),
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
        }))
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job(i)` for every share `i` in `0..shares` and returns when
    /// all have run (the calling thread takes shares too). More shares than
    /// threads even out the threads' speeds: a thread the system stops for
    /// a while holds up one small share, not its whole part. Callers take
    /// turns (one job at a time).
    pub fn run(&self, shares: usize, job: Job<'_>) {
        let shares = shares.min(u32::MAX as usize);
        if self.threads == 1 || shares <= 1 {
            return (0..shares).for_each(job);
        }
        let slot: *const Job<'_> = &job;
        self.job.store(slot as *mut (), Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        // Publishes the job and the reset count with the new epoch.
        let epoch = epoch_of(self.state.load(Ordering::Relaxed)) + 1;
        self.state
            .store(epoch << EPOCH_SHIFT | shares as u64, Ordering::Release);
        wake(&self.state);
        self.claim_and_run();
        let mut spins = 0u32;
        while self.done.load(Ordering::Acquire) != shares {
            spins = spins.wrapping_add(1);
            pause(spins);
        }
    }

    /// Takes shares of the current job until none is left.
    fn claim_and_run(&self) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let left = unclaimed(state);
            if left == 0 {
                return;
            }
            match self.state.compare_exchange_weak(
                state,
                state - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Err(now) => state = now,
                Ok(_) => {
                    let slot = self.job.load(Ordering::Relaxed) as *const Job<'static>;
                    // SAFETY: the claim's acquire saw the job's pointer,
                    // stored before its epoch was published; that job's
                    // `run` cannot return (nor publish another) until this
                    // share is counted done below, so the pointer is live
                    // and still this job's.
                    let job = unsafe { *slot };
                    job(left - 1);
                    self.done.fetch_add(1, Ordering::Release);
                    state = self.state.load(Ordering::Acquire);
                }
            }
        }
    }

    /// A helper's loop: wait for a job, claim its shares, again.
    pub fn help(&self) -> ! {
        // Every job counts, even one published before this thread started.
        let mut seen = 0;
        loop {
            let mut spins = 0u32;
            loop {
                let state = self.state.load(Ordering::Acquire);
                if epoch_of(state) != seen {
                    seen = epoch_of(state);
                    break;
                }
                if spins < SPINS {
                    spins += 1;
                    pause(spins);
                } else {
                    sleep_while(&self.state, state);
                }
            }
            self.claim_and_run();
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn sleep_while(state: &AtomicU64, seen: u64) {
    // SAFETY: a valid, aligned address in the shared memory; a Web Worker
    // may block. Returns at once if the state is no longer `seen`.
    unsafe {
        core::arch::wasm32::memory_atomic_wait64(state.as_ptr() as *mut i64, seen as i64, -1);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn wake(state: &AtomicU64) {
    // SAFETY: as above.
    unsafe {
        core::arch::wasm32::memory_atomic_notify(state.as_ptr() as *mut i32, u32::MAX);
    }
}

/// Natively, a helper that spun long enough sleeps on a condition variable
/// until the state moves; the waker takes the same lock after publishing,
/// so no wake-up is lost.
#[cfg(not(target_arch = "wasm32"))]
static NAP: (std::sync::Mutex<()>, std::sync::Condvar) =
    (std::sync::Mutex::new(()), std::sync::Condvar::new());

#[cfg(not(target_arch = "wasm32"))]
fn sleep_while(state: &AtomicU64, seen: u64) {
    let mut guard = NAP.0.lock().unwrap_or_else(|e| e.into_inner());
    while state.load(Ordering::Acquire) == seen {
        guard = NAP.1.wait(guard).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn wake(_state: &AtomicU64) {
    let _guard = NAP.0.lock().unwrap_or_else(|e| e.into_inner());
    NAP.1.notify_all();
}

/// A pool of `threads` whose helpers are std threads (the CLI's, and the
/// tests').
#[cfg(not(target_arch = "wasm32"))]
pub fn start_native(threads: usize) -> &'static SpinPool {
    let pool = SpinPool::new(threads);
    for _ in 1..pool.threads() {
        std::thread::spawn(move || pool.help());
    }
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs 200 jobs of 1 to 9 shares on `pool`; every share of each must
    /// run exactly once.
    fn every_share_runs_once(pool: &SpinPool) {
        for round in 0..200usize {
            let n = 1 + round % 9;
            let seen: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            pool.run(n, &|i| {
                seen[i].fetch_add(round + 1, Ordering::Relaxed);
            });
            let got: Vec<usize> = seen.iter().map(|s| s.load(Ordering::Relaxed)).collect();
            assert_eq!(got, vec![round + 1; n], "round {round}");
        }
    }

    #[test]
    fn every_share_of_every_job_runs_once() {
        every_share_runs_once(start_native(3));
    }

    #[test]
    fn helpers_that_never_run_cost_speed_not_a_hang() {
        // No helper started (a Web Worker the browser never scheduled):
        // the caller runs every share itself.
        every_share_runs_once(SpinPool::new(4));
    }

    #[test]
    fn a_helper_that_starts_late_joins_in() {
        let pool = SpinPool::new(2);
        every_share_runs_once(pool);
        std::thread::spawn(move || pool.help());
        every_share_runs_once(pool);
    }
}
