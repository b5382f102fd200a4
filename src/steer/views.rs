//! The prompts of a run's views: the whole conversation (earlier turns and
//! the new message) under each view's system prompt, with its adapter mix.
//! Methods compose their views from these pieces (`DecodingMethod::views`).

use super::config::{ExpertKind, Reference, RunConfig};
use super::view_model::ViewSpec;
use crate::backend::{AdapterId, Backend};
use crate::engine::Engine;
use crate::model::{ChatMessage, Role};
use crate::Result;

/// Builds view prompts for one configuration.
pub(crate) struct ViewPrompts<'a> {
    cfg: &'a RunConfig,
    render: &'a dyn Fn(&[ChatMessage]) -> Result<Vec<u32>>,
}

impl<'a> ViewPrompts<'a> {
    pub(crate) fn new(
        cfg: &'a RunConfig,
        render: &'a dyn Fn(&[ChatMessage]) -> Result<Vec<u32>>,
    ) -> Self {
        Self { cfg, render }
    }

    /// The conversation under `system` (none: the template's default), on
    /// the base model with adapters `mix`.
    pub(crate) fn chat(
        &self,
        system: Option<&str>,
        mix: Vec<(AdapterId, f32)>,
    ) -> Result<ViewSpec> {
        let mut messages: Vec<ChatMessage> = system
            .map(|s| ChatMessage::new(Role::System, s))
            .into_iter()
            .collect();
        messages.extend(self.cfg.history.iter().cloned());
        messages.push(ChatMessage::new(Role::User, &self.cfg.user));
        Ok(ViewSpec {
            prompt: (self.render)(&messages)?,
            mix,
        })
    }

    /// The plain model: no system prompt, no adapter.
    pub(crate) fn plain(&self) -> Result<ViewSpec> {
        self.chat(None, vec![])
    }

    /// Under the persona's system prompt (all attributes).
    pub(crate) fn persona(&self) -> Result<ViewSpec> {
        self.chat(Some(&self.persona_config().system_prompt()), vec![])
    }

    /// Under the persona's system prompt without attribute `i`.
    pub(crate) fn persona_without(&self, i: usize) -> Result<ViewSpec> {
        self.chat(
            Some(&self.persona_config().system_prompt_without(i)),
            vec![],
        )
    }

    fn persona_config(&self) -> &super::persona::Persona {
        self.cfg
            .persona
            .as_ref()
            .expect("validated: the method needs a persona")
    }

    /// The adapter experts merged with their α (DPO Soups' one row).
    pub(crate) fn adapter_mix(&self) -> Vec<(AdapterId, f32)> {
        self.cfg
            .experts
            .iter()
            .zip(self.cfg.alpha())
            .filter_map(|(e, alpha)| match e.kind {
                ExpertKind::Adapter { adapter } => Some((AdapterId(adapter), alpha as f32)),
                ExpertKind::Prompt { .. } | ExpertKind::Plain => None,
            })
            .collect()
    }

    /// The proposal / reference view of the MPG methods.
    pub(crate) fn reference(&self) -> Result<ViewSpec> {
        match self.cfg.reference {
            Reference::Plain => self.plain(),
            Reference::Persona => self.persona(),
            Reference::Soup => self.chat(None, self.adapter_mix()),
        }
    }

    /// One view per expert, in `experts` order: its system prompt, its
    /// adapter, or the plain model.
    pub(crate) fn experts(&self) -> Result<Vec<ViewSpec>> {
        self.cfg
            .experts
            .iter()
            .map(|e| match &e.kind {
                ExpertKind::Prompt { prompt } => self.chat(Some(prompt), vec![]),
                ExpertKind::Adapter { adapter } => {
                    self.chat(None, vec![(AdapterId(*adapter), 1.0)])
                }
                ExpertKind::Plain => self.plain(),
            })
            .collect()
    }

    /// The reference, then every expert (the MPG methods' views).
    pub(crate) fn reference_and_experts(&self) -> Result<Vec<ViewSpec>> {
        let mut v = vec![self.reference()?];
        v.extend(self.experts()?);
        Ok(v)
    }
}

/// The method's views for `cfg` on `engine`'s template and tokenizer.
pub(crate) fn view_specs<B: Backend>(engine: &Engine<B>, cfg: &RunConfig) -> Result<Vec<ViewSpec>> {
    let render = |messages: &[ChatMessage]| engine.chat_prompt_messages(messages);
    cfg.method.views(cfg, &ViewPrompts::new(cfg, &render))
}
