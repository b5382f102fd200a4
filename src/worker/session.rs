//! One answer: build the chat prompt, then stream tokens to the page,
//! yielding to the event loop between tokens so a `cancel` message can land
//! (the caller runs it on a yielding engine too, for the device-loss hook).
//! Generic over the backend.

use std::cell::Cell;

use super::engine_error::WorkerError;
use super::protocol::{ErrorKind, Event, GenerateRequest};
use super::yield_now::yield_now;
use crate::backend::Backend;
use crate::engine::clock::now_ms;
use crate::engine::{Engine, GenerateParams};
use crate::model::{ChatMessage, Role};

/// The prompt ids for a request: the whole conversation when `messages` is
/// given, else one user turn. A blank system prompt means "none".
pub(crate) fn build_prompt<B: Backend>(
    engine: &Engine<B>,
    req: &GenerateRequest,
) -> Result<Vec<u32>, WorkerError> {
    let system = req.system.as_deref().filter(|s| !s.trim().is_empty());
    match &req.messages {
        Some(turns) => {
            let mut messages = Vec::with_capacity(turns.len() + 1);
            if let Some(s) = system {
                messages.push(ChatMessage::new(Role::System, s));
            }
            for turn in turns {
                if turn.role == Role::System {
                    return Err(WorkerError::new(
                        ErrorKind::InvalidInput,
                        "a message has role 'system'; only 'user' and 'assistant' are allowed (the system prompt is its own setting)",
                    ));
                }
                messages.push(turn.clone());
            }
            Ok(engine.chat_prompt_messages(&messages)?)
        }
        None => Ok(engine.chat_prompt(system, req.user.as_deref().unwrap_or(""))?),
    }
}

/// Runs one generation to its end, posting `started`, `token`s and `done`.
pub(crate) async fn run<B: Backend>(
    engine: &mut Engine<B>,
    req: GenerateRequest,
    cancel: &Cell<bool>,
    post: &dyn Fn(&Event),
) -> Result<(), WorkerError> {
    let prompt = build_prompt(engine, &req)?;
    let params = GenerateParams {
        max_tokens: req.max_tokens,
        sampling: req.sampling,
    };
    post(&Event::Started {
        prompt_tokens: prompt.len(),
    });
    let mut generation = engine.generate(prompt, params)?;
    let mut first_token_at: Option<f64> = None;
    loop {
        // Let a pending `cancel` (or anything else) run before the next forward.
        yield_now().await;
        if cancel.get() {
            generation.cancel();
        }
        let Some(token) = generation.next_token().await? else {
            break;
        };
        let now = now_ms();
        let start = *first_token_at.get_or_insert(now);
        let tokens_per_second =
            (token.index > 0 && now > start).then(|| token.index as f64 * 1000.0 / (now - start));
        post(&Event::Token {
            index: token.index,
            id: token.id,
            text: token.text,
            logprob: token.logprob,
            tokens_per_second,
        });
    }
    post(&Event::Done {
        summary: generation.summary(),
    });
    Ok(())
}
