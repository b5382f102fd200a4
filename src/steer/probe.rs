//! Axis probes (MPG paper §4, its MBTI evaluation; issue "LoRA experts",
//! `persona probe`): items of a prompt and two completions, one per pole of
//! an axis, scored by teacher-forced log-likelihood under a method's
//! distribution. Accuracy is the share of items whose first-pole completion
//! is the more likely one; the margin is the mean log-likelihood difference.
//!
//! Each method's distribution: Base, PP, Soups — the view itself; MOD — the
//! per-token normalised `exp(Σ α_i log π_di)`; SCR, Token-RS, Seq-RS — the MPG
//! target `π_ref(y) · max(0, Σ α_i r_i(y))` (unnormalised: the normaliser
//! depends on the prompt only, so it cancels between the two completions);
//! PDD — its reweighted per-token distribution, with importance from PIE.
//! Best-of-N has no closed form (its description says so).

use serde::{Deserialize, Serialize};

use super::config::RunConfig;
use super::engine_views::EngineViews;
use super::method::{Probe, ProbeCompletions};
use super::views::view_specs;
use crate::backend::Backend;
use crate::engine::Engine;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeItem {
    pub axis: String,
    pub prompt: String,
    /// The completion in the axis's first pole's style.
    pub a: String,
    /// The same content in the second pole's style.
    pub b: String,
}

/// Items from JSON lines.
pub fn items_from_jsonl(text: &str) -> Result<Vec<ProbeItem>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::InvalidInput(format!("probe item on line {}: {e}", i + 1)))
        })
        .collect()
}

/// The shipped MBTI items (assets/probe/mbti.jsonl), compiled in for the browser.
pub fn builtin_items() -> Vec<ProbeItem> {
    items_from_jsonl(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/probe/mbti.jsonl"
    )))
    .expect("shipped probe items parse")
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AxisScore {
    pub axis: String,
    pub items: usize,
    /// Share of items where the first pole's completion is more likely.
    pub accuracy: f64,
    /// Mean of `log p(a) − log p(b)`, nats.
    pub margin: f64,
}

/// Log-likelihood of each completion under the method's distribution, for
/// one prompt (each method's formula: its `DecodingMethod::probe`).
pub async fn score_item<B: Backend>(
    engine: &mut Engine<B>,
    cfg: &RunConfig,
    item: &ProbeItem,
) -> Result<(f64, f64)> {
    let cfg = RunConfig {
        user: item.prompt.clone(),
        ..cfg.clone()
    };
    cfg.validate()?;
    if let Probe::Unavailable(why) = cfg.method.info().probe {
        return Err(Error::InvalidInput(format!(
            "the probe cannot score {}: {why}",
            cfg.method.info().label
        )));
    }
    let views = view_specs(engine, &cfg)?;
    let completions = [
        engine.tokenizer.encode(&item.a)?,
        engine.tokenizer.encode(&item.b)?,
    ];
    if completions.iter().any(|c| c.is_empty()) {
        return Err(Error::InvalidInput(format!(
            "probe item '{}' has an empty completion",
            item.prompt
        )));
    }
    let eos = engine.tokenizer.eos_id;
    let mut m = EngineViews::new(&mut engine.backend, &mut engine.cache, &views, &[]).await?;
    let item = ProbeCompletions {
        completions: [&completions[0], &completions[1]],
        eos,
    };
    let [a, b] = cfg.method.probe(&cfg, &mut m, item).await?;
    Ok((a, b))
}

/// Accuracy and margin per axis over `items`.
pub async fn probe<B: Backend>(
    engine: &mut Engine<B>,
    cfg: &RunConfig,
    items: &[ProbeItem],
    on_item: &mut dyn FnMut(usize),
) -> Result<Vec<AxisScore>> {
    let mut axes: Vec<AxisScore> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (a, b) = score_item(engine, cfg, item).await?;
        let k = match axes.iter().position(|s| s.axis == item.axis) {
            Some(k) => k,
            None => {
                axes.push(AxisScore {
                    axis: item.axis.clone(),
                    ..AxisScore::default()
                });
                axes.len() - 1
            }
        };
        let s = &mut axes[k];
        s.items += 1;
        s.accuracy += f64::from(u8::from(a > b));
        // An empty MPG target (−∞ for both) counts as no margin.
        s.margin += if (a - b).is_finite() { a - b } else { 0.0 };
        on_item(i);
    }
    for s in &mut axes {
        s.accuracy /= s.items as f64;
        s.margin /= s.items as f64;
    }
    Ok(axes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_items_cover_four_axes_with_at_least_40_each() {
        let items = builtin_items();
        for axis in ["E-I", "S-N", "T-F", "J-P"] {
            let n = items.iter().filter(|i| i.axis == axis).count();
            assert!(n >= 40, "{axis}: {n} items");
        }
        let mut prompts: Vec<&str> = items.iter().map(|i| i.prompt.as_str()).collect();
        prompts.sort_unstable();
        prompts.dedup();
        assert_eq!(prompts.len(), items.len(), "prompts are distinct");
    }

    #[test]
    fn bad_lines_name_their_line() {
        let err = items_from_jsonl(
            "{\"axis\":\"E-I\",\"prompt\":\"p\",\"a\":\"x\",\"b\":\"y\"}\nnot json",
        )
        .unwrap_err();
        assert!(err.to_string().contains("line 2"));
    }
}
