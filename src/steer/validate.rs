//! Every check of a run's settings that does not need the model, before any
//! compute: the shared ones (the message, the turns, the limits, sampling,
//! the persona and experts the method's description says it takes), then
//! the method's own (`DecodingMethod::validate`).

use super::config::{ExpertKind, Reference, Role, RunConfig, MAX_ABS_ALPHA};
use super::method::Experts;
use crate::{Error, Result};

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

impl RunConfig {
    /// Every check that does not need the model, before any compute.
    pub fn validate(&self) -> Result<()> {
        if self.user.trim().is_empty() {
            return Err(invalid("the message is empty; type something to send"));
        }
        self.validate_turns()?;
        if self.max_tokens == 0 {
            return Err(invalid("max tokens must be at least 1"));
        }
        self.sampling.validate()?;
        let info = self.method.info();
        if info.needs_persona(self) {
            let p = self.persona.as_ref().ok_or_else(|| {
                invalid(format!("{} needs a persona (--persona FILE)", info.name))
            })?;
            p.validate()?;
        }
        if info.uses_experts() {
            self.validate_experts()?;
        }
        let merges = info.experts == Experts::AdaptersOnly
            || info.reference && self.reference == Reference::Soup;
        if merges
            && self
                .experts
                .iter()
                .any(|e| matches!(e.kind, ExpertKind::Prompt { .. }))
        {
            return Err(invalid(
                "DPO Soups merges LoRA adapters (one row with Σ α_i B_i A_i); prompt experts cannot be merged: load adapters with --adapter NAME=DIR and weight those",
            ));
        }
        self.method.validate_own(self)
    }

    fn validate_turns(&self) -> Result<()> {
        for (i, turn) in self.history.iter().enumerate() {
            let want = if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            };
            if turn.role != want {
                return Err(invalid(format!(
                    "the conversation's turn {} is from the {} but should be from the {}: turns alternate user, assistant, ..., and the new message is the user's",
                    i + 1,
                    turn.role.name(),
                    want.name()
                )));
            }
        }
        if self.history.len() % 2 == 1 {
            return Err(invalid(
                "the conversation ends with a user turn that has no answer; the new message must follow an answer",
            ));
        }
        Ok(())
    }

    fn validate_experts(&self) -> Result<()> {
        if self.experts.is_empty() {
            return Err(invalid(format!(
                "{} needs experts with weights (--alpha NAME=VALUE)",
                self.method.name()
            )));
        }
        if let Some(e) = self
            .experts
            .iter()
            .find(|e| !(e.alpha.is_finite() && e.alpha.abs() <= MAX_ABS_ALPHA))
        {
            return Err(invalid(format!(
                "α = {:?} for expert \"{}\" is out of range: every α must be a number \
                 between -{MAX_ABS_ALPHA} and {MAX_ABS_ALPHA}",
                e.alpha, e.name
            )));
        }
        if self.experts.iter().all(|e| e.alpha == 0.0) {
            return Err(invalid("all α are zero: the MPG target is empty; give at least one expert a non-zero weight"));
        }
        let sum: f64 = self.experts.iter().map(|e| e.alpha).sum();
        if self.normalize_alpha && sum <= 0.0 {
            return Err(invalid(format!(
                "normalising α divides by their sum, which is {sum}: give the weights a positive sum, or turn normalisation off"
            )));
        }
        Ok(())
    }

    /// The settings of the MPG samplers (SCR, the RS methods, Best-of-N):
    /// the bound, the proposal, the tries.
    pub(crate) fn validate_mpg_sampler(&self) -> Result<()> {
        let s = &self.scr;
        if s.bound.window == 0
            || s.bound.gamma.is_nan()
            || s.bound.gamma < 1.0
            || s.bound.tau.is_nan()
            || s.bound.tau < 0.0
            || s.bound.log_m0.is_some_and(|m| !m.is_finite())
        {
            return Err(invalid(
                "bound settings: window >= 1, γ >= 1, τ >= 0, finite log M0",
            ));
        }
        s.proposal.validate()?;
        if s.max_fallback_tries == 0 || self.max_seq_tries == 0 {
            return Err(invalid("fallback and sequence tries must be at least 1"));
        }
        Ok(())
    }
}
