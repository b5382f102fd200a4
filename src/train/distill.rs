//! The distillation context of a pole (issue "LoRA experts", `make-pairs`):
//! its expert system prompt followed by few-shot exchanges written in the
//! pole's style (`assets/prompts/distill.toml`). A 135M model barely follows
//! a style instruction but imitates earlier assistant turns closely, so the
//! shots are what make chosen and rejected answers differ by the pole.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{ChatMessage, Role};
use crate::steer::persona::PromptExpert;
use crate::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shot {
    pub user: String,
    pub assistant: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoleShots {
    pub name: String,
    #[serde(default)]
    pub shot: Vec<Shot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DistillFile {
    #[serde(default)]
    pole: Vec<PoleShots>,
}

/// The shipped shots file.
pub fn shots_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/prompts/distill.toml")
}

/// Parses a shots file; every shot needs a non-empty question and answer.
pub fn shots_from_toml_str(text: &str) -> Result<Vec<PoleShots>> {
    let file: DistillFile = toml::from_str(text)
        .map_err(|e| Error::InvalidInput(format!("shots file is not valid: {e}")))?;
    for pole in &file.pole {
        if pole
            .shot
            .iter()
            .any(|s| s.user.trim().is_empty() || s.assistant.trim().is_empty())
        {
            return Err(Error::InvalidInput(format!(
                "pole \"{}\" has a shot with an empty user or assistant text",
                pole.name
            )));
        }
    }
    Ok(file.pole)
}

pub fn load_shots(path: &Path) -> Result<Vec<PoleShots>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidInput(format!("cannot read shots file {}: {e}", path.display()))
    })?;
    shots_from_toml_str(&text).map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))
}

/// The conversation an answer in `expert`'s style is generated after: its
/// system prompt, then its shots (none if the file has no entry for it).
pub fn pole_context(expert: &PromptExpert, shots: &[PoleShots]) -> Vec<ChatMessage> {
    let mut messages = vec![ChatMessage::new(Role::System, &expert.prompt)];
    if let Some(pole) = shots.iter().find(|p| p.name.trim() == expert.name.trim()) {
        for shot in &pole.shot {
            messages.push(ChatMessage::new(Role::User, &shot.user));
            messages.push(ChatMessage::new(Role::Assistant, &shot.assistant));
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expert(name: &str) -> PromptExpert {
        PromptExpert {
            name: name.into(),
            axis: "E-I".into(),
            opposite: if name == "E" { "I" } else { "E" }.into(),
            prompt: format!("You are {name}."),
        }
    }

    #[test]
    fn context_is_system_prompt_then_the_pole_shots() {
        let shots = shots_from_toml_str(
            "[[pole]]\nname = \"E\"\n[[pole.shot]]\nuser = \"Q?\"\nassistant = \"Yay!\"\n",
        )
        .unwrap();
        let ctx = pole_context(&expert("E"), &shots);
        let roles: Vec<&str> = ctx.iter().map(|m| m.role.name()).collect();
        assert_eq!(roles, ["system", "user", "assistant"]);
        assert_eq!(ctx[2].content, "Yay!");
        assert_eq!(pole_context(&expert("I"), &shots).len(), 1);
    }

    #[test]
    fn empty_shots_and_unknown_fields_are_refused() {
        let err = shots_from_toml_str(
            "[[pole]]\nname = \"E\"\n[[pole.shot]]\nuser = \"Q?\"\nassistant = \" \"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("empty"), "{err}");
        assert!(shots_from_toml_str("[[pole]]\nnom = \"E\"\n").is_err());
    }

    #[test]
    fn shipped_shots_cover_every_shipped_expert() {
        let shots = load_shots(&shots_path()).unwrap();
        for e in crate::steer::persona::load_experts(crate::steer::persona::experts_path()).unwrap()
        {
            let pole = shots.iter().find(|p| p.name == e.name).expect(&e.name);
            assert!(pole.shot.len() >= 2, "{}", e.name);
        }
    }
}
