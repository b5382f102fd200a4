//! Teacher forcing for the probe: every view's log-prob of each token of a
//! given completion (and, when a method renormalises over the vocabulary,
//! every view's whole next-token distribution before each token), read in
//! one batched call; the views are put back at the prompt's end afterwards.

use super::method::ProbeCompletions;
use super::view_model::ViewModel;
use crate::backend::Readout;
use crate::Result;

/// What the views said of one completion.
pub(crate) struct Forced {
    /// `token_lp[v][t]`: view `v`'s log-prob of completion token `t`.
    pub token_lp: Vec<Vec<f64>>,
    /// `dists[v][t]`: view `v`'s distribution before token `t` (dense only).
    pub dists: Vec<Vec<Vec<f32>>>,
}

/// Feeds `ids` to every view (whose next rows are known) and reads back
/// the completion's log-probs; `dense`: whole distributions too (a
/// vocabulary per position, where a GPU would send a few bytes otherwise).
pub(crate) async fn teacher_forced<M: ViewModel>(
    m: &mut M,
    ids: &[u32],
    dense: bool,
) -> Result<Forced> {
    let n = m.views();
    let start: Vec<Vec<f32>> = (0..n).map(|v| m.next(v).to_vec()).collect();
    let mut dists: Vec<Vec<Vec<f32>>> = (0..n).map(|v| vec![start[v].clone()]).collect();
    let mut token_lp: Vec<Vec<f64>> = (0..n)
        .map(|v| vec![start[v][ids[0] as usize] as f64])
        .collect();
    if ids.len() > 1 {
        if dense {
            let items: Vec<(usize, &[u32])> = (0..n).map(|v| (v, &ids[..ids.len() - 1])).collect();
            let lps = m.append(&items, Readout::All).await?;
            for v in 0..n {
                for t in 1..ids.len() {
                    let d = lps[v].position(t - 1).to_vec();
                    token_lp[v].push(d[ids[t] as usize] as f64);
                    dists[v].push(d);
                }
            }
        } else {
            let items: Vec<(usize, &[u32])> = (0..n).map(|v| (v, ids)).collect();
            let lps = m.append(&items, Readout::Score).await?;
            for v in 0..n {
                token_lp[v].extend(lps[v].scores.iter().map(|&x| x as f64));
            }
        }
    }
    for (v, next) in start.into_iter().enumerate() {
        m.truncate(v, 0, next)?;
    }
    Ok(Forced { token_lp, dists })
}

/// The completion's log-likelihood under view `v` alone.
pub(crate) fn sum_of_view(f: &Forced, v: usize) -> f64 {
    f.token_lp[v].iter().sum()
}

/// Both completions of a probe item forced through the views, each scored
/// by `score` from what the views said of it (the method's likelihood).
pub(crate) async fn score_completions<M: ViewModel>(
    m: &mut M,
    item: &ProbeCompletions<'_>,
    dense: bool,
    mut score: impl FnMut(&Forced, &[u32]) -> f64,
) -> Result<[f64; 2]> {
    let mut out = [0.0; 2];
    for (c, ids) in item.completions.iter().enumerate() {
        out[c] = score(&teacher_forced(m, ids, dense).await?, ids);
    }
    Ok(out)
}
