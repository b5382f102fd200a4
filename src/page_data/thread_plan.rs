//! How many threads the page's model worker runs, and which build it loads
//! (issue 13, "threads in the page"). The threaded worker build shares its
//! wasm memory with a pool of Web Workers; a browser only allows shared
//! memory on a cross-origin isolated page (COOP/COEP headers, which
//! `trunk serve` sends, or the service worker `web/isolation_sw.js` adds on
//! a plain static host). Without it the page loads the single-threaded build
//! and says why. Where the browser also validates relaxed-simd, the page
//! loads the threaded build compiled with it (for one thread too, so one and
//! several threads run the same kernels); `?simd=simd128` keeps it off.
//! Pure: the page passes in what the browser reports.

/// The most threads the page asks for by default (as natively: more rarely
/// pays on a 135M model).
pub(crate) const PAGE_THREAD_CAP: usize = 8;
/// The most threads `?threads=` may ask for.
pub(crate) const MAX_PAGE_THREADS: usize = 64;

/// What the browser says about this page.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageAbilities {
    /// `navigator.hardwareConcurrency` (0 when the browser hides it).
    pub cores: usize,
    /// `crossOriginIsolated`.
    pub isolated: bool,
    /// `SharedArrayBuffer` exists.
    pub shared_memory: bool,
    /// `WebAssembly.validate` accepts a relaxed-simd module (and the link
    /// does not say `?simd=simd128`).
    pub relaxed_simd: bool,
}

/// The model worker's builds (`index.html`, `web/threaded_worker.sh`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WorkerBuild {
    /// simd128, one thread: runs everywhere.
    Plain,
    /// simd128 on shared memory, a pool of threads.
    Threaded,
    /// The threaded build with relaxed-simd's byte dots.
    ThreadedRelaxed,
}

impl WorkerBuild {
    /// The build's loader script, next to the page.
    pub(crate) fn loader(self) -> &'static str {
        match self {
            WorkerBuild::Plain => "worker_loader.js",
            WorkerBuild::Threaded => "worker_mt_loader.js",
            WorkerBuild::ThreadedRelaxed => "worker_mt_relaxed_loader.js",
        }
    }
}

/// The worker build and thread count to start with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ThreadPlan {
    pub threads: usize,
    /// The worker build to load.
    pub build: WorkerBuild,
    /// Why the page runs fewer threads than wanted, in the page's words.
    pub note: Option<String>,
}

/// The plan for `requested` threads (`?threads=`, none: the cores, capped).
pub(crate) fn plan(requested: Option<usize>, page: PageAbilities) -> ThreadPlan {
    let wanted = requested.unwrap_or_else(|| page.cores.clamp(1, PAGE_THREAD_CAP));
    let single = |note: Option<&str>| ThreadPlan {
        threads: 1,
        build: WorkerBuild::Plain,
        note: note.map(str::to_string),
    };
    if page.isolated && page.shared_memory && page.relaxed_simd {
        return ThreadPlan {
            threads: wanted,
            build: WorkerBuild::ThreadedRelaxed,
            note: None,
        };
    }
    if wanted == 1 {
        return single(None);
    }
    if !page.isolated {
        return single(Some(
            "one thread: the page is not cross-origin isolated, so the browser allows no shared \
             memory (the host must send Cross-Origin-Opener-Policy: same-origin and \
             Cross-Origin-Embedder-Policy: require-corp, or the page's service worker add them)",
        ));
    }
    if !page.shared_memory {
        return single(Some(
            "one thread: this browser offers no shared WebAssembly memory",
        ));
    }
    ThreadPlan {
        threads: wanted,
        build: WorkerBuild::Threaded,
        note: None,
    }
}

/// `?simd=`: `relaxed` (the default: relaxed-simd where the browser has it)
/// or `simd128` (never relaxed-simd); whether relaxed-simd may be used.
pub(crate) fn parse_simd(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "relaxed" => Ok(true),
        "simd128" => Ok(false),
        _ => Err(format!(
            "the link's simd={} is not a choice; use simd=relaxed (relaxed-simd where the \
             browser has it, the default) or simd=simd128 (never)",
            value.chars().take(20).collect::<String>()
        )),
    }
}

/// `?threads=N`: a whole number from 1 to [`MAX_PAGE_THREADS`].
pub(crate) fn parse_threads(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE_THREADS).contains(&n) => Ok(n),
        _ => Err(format!(
            "the link's threads={} is not a whole number from 1 to {MAX_PAGE_THREADS}; the page \
             picks the thread count itself",
            value.chars().take(20).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISOLATED: PageAbilities = PageAbilities {
        cores: 4,
        isolated: true,
        shared_memory: true,
        relaxed_simd: false,
    };

    #[test]
    fn an_isolated_page_takes_every_core_up_to_the_cap() {
        assert_eq!(plan(None, ISOLATED).threads, 4);
        assert_eq!(plan(None, ISOLATED).build, WorkerBuild::Threaded);
        let many = PageAbilities {
            cores: 32,
            ..ISOLATED
        };
        assert_eq!(plan(None, many).threads, PAGE_THREAD_CAP);
        // A browser that hides its cores gets one thread, the plain build.
        let hidden = PageAbilities {
            cores: 0,
            ..ISOLATED
        };
        assert_eq!(plan(None, hidden), plan(Some(1), ISOLATED));
    }

    #[test]
    fn the_address_bar_overrides_the_count() {
        assert_eq!(plan(Some(2), ISOLATED).threads, 2);
        assert_eq!(plan(Some(16), ISOLATED).threads, 16);
        let one = plan(Some(1), ISOLATED);
        assert_eq!(
            (one.threads, one.build, one.note),
            (1, WorkerBuild::Plain, None)
        );
    }

    #[test]
    fn without_isolation_or_shared_memory_the_page_runs_one_thread_and_says_why() {
        let open = PageAbilities {
            isolated: false,
            ..ISOLATED
        };
        let p = plan(None, open);
        assert_eq!((p.threads, p.build), (1, WorkerBuild::Plain));
        assert!(p.note.unwrap().contains("not cross-origin isolated"));
        let no_sab = PageAbilities {
            shared_memory: false,
            ..ISOLATED
        };
        assert!(plan(Some(2), no_sab)
            .note
            .unwrap()
            .contains("shared WebAssembly memory"));
    }

    #[test]
    fn thread_counts_in_the_link_are_checked() {
        assert_eq!(parse_threads(" 2 "), Ok(2));
        for bad in ["0", "-1", "2.5", "many", "", "65"] {
            assert!(
                parse_threads(bad).unwrap_err().contains("threads="),
                "{bad}"
            );
        }
    }

    #[test]
    fn relaxed_simd_takes_the_relaxed_threaded_build_for_any_count() {
        let relaxed = PageAbilities {
            relaxed_simd: true,
            ..ISOLATED
        };
        for wanted in [None, Some(1), Some(2)] {
            let p = plan(wanted, relaxed);
            assert_eq!(p.build, WorkerBuild::ThreadedRelaxed, "{wanted:?}");
            assert_eq!(p.threads, wanted.unwrap_or(4));
        }
        // Not isolated: relaxed-simd or not, one thread on the plain build.
        let open = PageAbilities {
            isolated: false,
            ..relaxed
        };
        assert_eq!(plan(Some(2), open).build, WorkerBuild::Plain);
        assert_eq!(
            WorkerBuild::ThreadedRelaxed.loader(),
            "worker_mt_relaxed_loader.js"
        );
    }

    #[test]
    fn simd_in_the_link_is_checked() {
        assert_eq!(parse_simd("relaxed"), Ok(true));
        assert_eq!(parse_simd(" SIMD128 "), Ok(false));
        assert!(parse_simd("avx").unwrap_err().contains("simd=simd128"));
    }
}
