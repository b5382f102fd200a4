//! The row mechanics every backend must hold, written once over `Backend`
//! and run on each (`tests/engine_rows.rs`: the CPU, `tests/webgpu.rs`:
//! lavapipe): batched rows equal rows run alone, truncate + re-feed equals
//! a fresh run (across KV pages), a fork continues like the original and
//! leaves it untouched, views from the prefix cache read what a fresh
//! prefill reads, and bad steps are rejected before any compute.
//! Every log-prob within 1e-4 of the other way of computing it.

#![allow(dead_code)]

use persona::backend::{Backend, LogProbs, Readout, RowId, RowStep};

pub const A: &[u32] = &[
    1, 9690, 198, 2683, 359, 253, 5356, 5646, 2, 198, 1, 4093, 198,
];
pub const B: &[u32] = &[1, 4093, 198, 19556, 905, 30];

/// How far two computations of the same log-probs may differ.
const SAME: f32 = 1e-4;

/// A sequence longer than two KV pages (64 positions each).
pub fn long_seq(n: usize) -> Vec<u32> {
    std::iter::once(1)
        .chain((1..n).map(|i| ((17 + 37 * i) % 40000 + 100) as u32))
        .collect()
}

pub fn fwd<Bk: Backend>(b: &mut Bk, steps: &[RowStep<'_>]) -> Vec<LogProbs> {
    pollster::block_on(b.forward(steps)).unwrap()
}

pub fn one<Bk: Backend>(b: &mut Bk, row: RowId, tokens: &[u32], readout: Readout) -> LogProbs {
    fwd(
        b,
        &[RowStep {
            row,
            tokens,
            readout,
        }],
    )
    .remove(0)
}

pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Two rows in one call (prefill, then decode steps of different lengths)
/// equal each row run alone.
pub fn batched_rows_equal_rows_alone(b: &mut impl Backend) {
    let (ra, rb) = (b.new_row().unwrap(), b.new_row().unwrap());
    let together = fwd(
        b,
        &[
            RowStep {
                row: ra,
                tokens: A,
                readout: Readout::All,
            },
            RowStep {
                row: rb,
                tokens: B,
                readout: Readout::Last,
            },
        ],
    );
    let (sa, sb) = (b.new_row().unwrap(), b.new_row().unwrap());
    let alone_a = one(b, sa, A, Readout::All);
    let alone_b = one(b, sb, B, Readout::Last);
    assert_eq!(together[0].positions(), A.len());
    assert!(max_diff(&together[0].data, &alone_a.data) < SAME);
    assert!(max_diff(&together[1].data, &alone_b.data) < SAME);
    // Decode steps of different lengths in one call.
    let step = fwd(
        b,
        &[
            RowStep {
                row: ra,
                tokens: &[42],
                readout: Readout::Last,
            },
            RowStep {
                row: rb,
                tokens: &[43, 44],
                readout: Readout::All,
            },
        ],
    );
    let one_a = one(b, sa, &[42], Readout::Last);
    let one_b = one(b, sb, &[43, 44], Readout::All);
    assert!(max_diff(&step[0].data, &one_a.data) < SAME);
    assert!(max_diff(&step[1].data, &one_b.data) < SAME);
    for r in [ra, rb, sa, sb] {
        b.free_row(r);
    }
}

/// `seq` cached and three more positions read, truncated to `keep` and
/// re-fed: the same log-probs as a fresh row fed `seq[..keep]` and the
/// new tokens. Run with `keep` = the whole prompt, and across pages (150
/// cached, truncated to 70).
pub fn truncate_and_refeed_equals_fresh_run(b: &mut impl Backend) {
    for (seq, keep) in [(A.to_vec(), A.len()), (long_seq(150), 70)] {
        let row = b.new_row().unwrap();
        one(b, row, &seq, Readout::None);
        one(b, row, &[500, 501, 502], Readout::All);
        b.truncate_row(row, keep).unwrap();
        assert_eq!(b.row_len(row).unwrap(), keep);
        let again = one(b, row, &[600, 601], Readout::All);
        let fresh_row = b.new_row().unwrap();
        let mut fresh_seq = seq[..keep].to_vec();
        fresh_seq.extend([600, 601]);
        let fresh = one(b, fresh_row, &fresh_seq, Readout::All);
        let tail = &fresh.data[keep * fresh.vocab..];
        assert!(max_diff(&again.data, tail) < SAME, "truncated to {keep}");
        b.free_row(row);
        b.free_row(fresh_row);
    }
}

/// Forks of a cached row (inside the first page and across pages)
/// continue like the whole sequence fed to a fresh row; a fork cannot
/// reach past the cached length, and the original row is untouched.
pub fn fork_continues_like_the_original(b: &mut impl Backend) {
    for (seq, ats) in [(A.to_vec(), &[8][..]), (long_seq(140), &[8, 64, 100][..])] {
        let row = b.new_row().unwrap();
        one(b, row, &seq, Readout::None);
        for &at in ats {
            let fork = b.fork_row(row, at).unwrap();
            assert_eq!(b.row_len(fork).unwrap(), at);
            let from_fork = one(b, fork, &seq[at..], Readout::Last);
            let fresh = b.new_row().unwrap();
            let direct = one(b, fresh, &seq, Readout::Last);
            assert!(
                max_diff(&from_fork.data, &direct.data) < SAME,
                "fork at {at} of {}",
                seq.len()
            );
            b.free_row(fork);
            b.free_row(fresh);
        }
        assert!(
            b.fork_row(row, seq.len() + 1).is_err(),
            "cannot fork past the cached length"
        );
        // The original row is untouched by its forks.
        let cont = one(b, row, &[42], Readout::Last);
        let fresh = b.new_row().unwrap();
        let mut s2 = seq.clone();
        s2.push(42);
        let direct = one(b, fresh, &s2, Readout::Last);
        assert!(max_diff(&cont.data, &direct.data) < SAME);
        b.free_row(row);
        b.free_row(fresh);
    }
}

/// A row twice in one call, a token outside the vocabulary and a row that
/// does not exist are refused, and the row keeps its length.
pub fn bad_steps_are_rejected_and_leave_rows_intact(b: &mut impl Backend) {
    let row = b.new_row().unwrap();
    one(b, row, B, Readout::None);
    let mut err = |steps: &[RowStep<'_>]| {
        pollster::block_on(b.forward(steps))
            .unwrap_err()
            .to_string()
    };
    let twice = [
        RowStep {
            row,
            tokens: &[1],
            readout: Readout::Last,
        },
        RowStep {
            row,
            tokens: &[2],
            readout: Readout::Last,
        },
    ];
    assert!(err(&twice).contains("twice"));
    assert!(err(&[RowStep {
        row,
        tokens: &[60000],
        readout: Readout::Last
    }])
    .contains("outside the vocabulary"));
    assert!(err(&[RowStep {
        row: RowId(99),
        tokens: &[1],
        readout: Readout::Last
    }])
    .contains("does not exist"));
    assert_eq!(b.row_len(row).unwrap(), B.len());
    b.free_row(row);
}

/// Views started from the prefix cache (earlier runs' rows, taken or
/// forked) read the same next-token log-probs as a fresh prefill, as do
/// deferred views once ensured: three views sharing a prefix, one past two
/// KV pages.
pub fn cached_views_equal_a_fresh_prefill<Bk: Backend>(b: &mut Bk) {
    use persona::engine::RunCache;
    use persona::steer::{EngineViews, ViewModel, ViewSpec};
    let config = b.config().clone();
    let specs: Vec<ViewSpec> = [A.to_vec(), [A, B].concat(), long_seq(150)]
        .into_iter()
        .map(|prompt| ViewSpec {
            prompt,
            mix: vec![],
        })
        .collect();
    let rows = |b: &mut Bk, cache: &mut RunCache, deferred: bool| {
        let mut v = if deferred {
            pollster::block_on(EngineViews::new_deferred(b, cache, &specs)).unwrap()
        } else {
            pollster::block_on(EngineViews::new(b, cache, &specs, &[])).unwrap()
        };
        pollster::block_on(v.ensure(&[0, 1, 2])).unwrap();
        let next: Vec<Vec<f32>> = (0..3).map(|i| v.next(i).to_vec()).collect();
        (next, v.prefill)
    };
    let fresh = rows(b, &mut RunCache::new(&config, 0), false).0;
    let mut cache = RunCache::new(&config, 64 << 20);
    rows(b, &mut cache, false);
    for deferred in [false, true] {
        let (again, prefill) = rows(b, &mut cache, deferred);
        assert_eq!(prefill.positions, 3, "one position per view ({deferred})");
        for (x, y) in fresh.iter().zip(&again) {
            let d = max_diff(x, y);
            assert!(d < SAME, "cached vs fresh: {d} (deferred: {deferred})");
        }
    }
    cache.prefix.clear(b);
}
