//! How many threads the page's model worker runs, and which build it loads
//! (issue 13, "threads in the page"). The threaded worker build shares its
//! wasm memory with a pool of Web Workers; a browser only allows shared
//! memory on a cross-origin isolated page (COOP/COEP headers, which
//! `trunk serve` sends, or the service worker `web/isolation_sw.js` adds on
//! a plain static host). Without it the page loads the single-threaded build
//! and says why. Pure: the page passes in what the browser reports.

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
}

/// The worker build and thread count to start with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ThreadPlan {
    pub threads: usize,
    /// Load the threaded worker build (shared memory).
    pub threaded_build: bool,
    /// Why the page runs fewer threads than wanted, in the page's words.
    pub note: Option<String>,
}

/// The plan for `requested` threads (`?threads=`, none: the cores, capped).
pub(crate) fn plan(requested: Option<usize>, page: PageAbilities) -> ThreadPlan {
    let wanted = requested.unwrap_or_else(|| page.cores.clamp(1, PAGE_THREAD_CAP));
    let single = |note: Option<&str>| ThreadPlan {
        threads: 1,
        threaded_build: false,
        note: note.map(str::to_string),
    };
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
        threaded_build: true,
        note: None,
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
    };

    #[test]
    fn an_isolated_page_takes_every_core_up_to_the_cap() {
        assert_eq!(plan(None, ISOLATED).threads, 4);
        assert!(plan(None, ISOLATED).threaded_build);
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
            (one.threads, one.threaded_build, one.note),
            (1, false, None)
        );
    }

    #[test]
    fn without_isolation_or_shared_memory_the_page_runs_one_thread_and_says_why() {
        let open = PageAbilities {
            isolated: false,
            ..ISOLATED
        };
        let p = plan(None, open);
        assert_eq!((p.threads, p.threaded_build), (1, false));
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
}
