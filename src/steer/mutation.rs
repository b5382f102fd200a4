//! Test-only fault injection for the samplers' statistical tests (issue 14's
//! mutation checks): each `Mutation` is a known way to get a sampler subtly
//! wrong. Switched on for one thread inside a test, it must make the
//! chi-square test of that sampler fail; in every other build `active` is
//! the constant `false` and the branches fold away.

/// A known bug, injected where the sampler would make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mutation {
    /// SCR: no prefix salvage (a rejected chunk goes straight to RS-1).
    NoSalvage,
    /// SCR: the prefixes are tested with the whole chunk's uniform.
    SharedSalvageUniform,
    /// MPG score: `log |Score|` instead of `log max(0, Score)`.
    AbsScore,
    /// SCR: a chunk's score is the product of its tokens' scores.
    ProductOfTokenScores,
    /// PDD: the two-step window's `δ` is always 0.
    PddNoDelta,
}

#[cfg(test)]
thread_local! {
    static ACTIVE: std::cell::Cell<Option<Mutation>> = const { std::cell::Cell::new(None) };
}

/// Whether `m` is injected on this thread.
#[cfg(test)]
pub(crate) fn active(m: Mutation) -> bool {
    ACTIVE.with(|a| a.get() == Some(m))
}

#[cfg(not(test))]
#[inline(always)]
pub(crate) fn active(_: Mutation) -> bool {
    false
}

/// Runs `f` with `m` injected on this thread.
#[cfg(test)]
pub(crate) fn with<R>(m: Mutation, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ACTIVE.with(|a| a.set(None));
        }
    }
    ACTIVE.with(|a| a.set(Some(m)));
    let _reset = Reset;
    f()
}
