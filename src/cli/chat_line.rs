//! What one line of `persona chat` means: a user turn, or a slash command
//! that changes a setting (and re-runs the last answer with it) or resets
//! the conversation. Parsed and applied here, without the engine, so the
//! rules are tested on their own.

use crate::steer::{Knob, RunConfig};
use crate::{Error, Result};

/// One line of input.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ChatLine {
    /// A user turn.
    User(String),
    /// `/alpha NAME=V …`: experts' weights.
    Alpha(Vec<(String, f64)>),
    /// `/beta V`: PDD's reward strength.
    Beta(f64),
    /// `/k N`: the method's k (SCR's chunk size, PDD's K).
    K(usize),
    /// `/weights a,b,…` (PDD's importance by hand) or `/weights off` (PIE's).
    Weights(Option<Vec<f64>>),
    /// `/reset`: forget the conversation (the settings stay).
    Reset,
    Help,
    Quit,
}

pub(super) const HELP: &str =
    "a line is a user turn; commands re-run the last answer with the change:
  /alpha NAME=V …   experts' weights (e.g. /alpha E=1 I=-0.5)
  /beta V           PDD's reward strength β
  /k N              SCR's chunk size k, or PDD's number of attributes K
  /weights a,b,…    PDD's importance weights by hand (/weights off: PIE's)
  /reset            forget the conversation
  /help, /quit";

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

fn number(s: &str, what: &str) -> Result<f64> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| bad(format!("{what}: '{s}' is not a number")))?;
    if !v.is_finite() {
        return Err(bad(format!("{what}: '{s}' is not a finite number")));
    }
    Ok(v)
}

/// The meaning of `line`; `None` for a blank line.
pub(super) fn parse_line(line: &str) -> Result<Option<ChatLine>> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let Some(command) = line.strip_prefix('/') else {
        return Ok(Some(ChatLine::User(line.to_string())));
    };
    let (name, rest) = command
        .split_once(char::is_whitespace)
        .map_or((command, ""), |(n, r)| (n, r.trim()));
    let parsed = match name {
        "alpha" => {
            if rest.is_empty() {
                return Err(bad("/alpha needs NAME=V pairs, e.g. /alpha E=1 I=-0.5"));
            }
            let pairs = rest
                .split_whitespace()
                .map(|p| {
                    let (n, v) = p
                        .split_once('=')
                        .ok_or_else(|| bad(format!("/alpha: '{p}': write NAME=V")))?;
                    Ok((n.to_string(), number(v, "/alpha")?))
                })
                .collect::<Result<Vec<_>>>()?;
            ChatLine::Alpha(pairs)
        }
        "beta" => ChatLine::Beta(number(rest, "/beta")?),
        "k" => ChatLine::K(
            rest.parse()
                .map_err(|_| bad(format!("/k: '{rest}' is not a whole number")))?,
        ),
        "weights" if rest == "off" => ChatLine::Weights(None),
        "weights" => {
            let w = rest
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| number(s, "/weights"))
                .collect::<Result<Vec<_>>>()?;
            if w.is_empty() {
                return Err(bad("/weights needs numbers (a,b,…) or 'off'"));
            }
            ChatLine::Weights(Some(w))
        }
        "reset" => ChatLine::Reset,
        "help" => ChatLine::Help,
        "quit" | "exit" => ChatLine::Quit,
        _ => return Err(bad(format!("unknown command /{name}; /help lists them"))),
    };
    Ok(Some(parsed))
}

/// Applies a setting to `cfg` (checked with the whole configuration: a
/// refused change leaves `cfg` as it was).
pub(super) fn apply(cfg: &mut RunConfig, line: &ChatLine) -> Result<()> {
    let mut next = cfg.clone();
    let knobs = next.method.info().knobs;
    match line {
        ChatLine::Alpha(pairs) => {
            for (name, v) in pairs {
                let e = next
                    .experts
                    .iter_mut()
                    .find(|e| e.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        let names: Vec<&str> = cfg.experts.iter().map(|e| e.name.as_str()).collect();
                        bad(format!(
                            "no expert named '{name}' in this chat; experts: {} (start with --alpha NAME=V to add one)",
                            if names.is_empty() { "none".to_string() } else { names.join(", ") }
                        ))
                    })?;
                e.alpha = *v;
            }
        }
        ChatLine::Beta(b) if knobs.contains(&Knob::Beta) => next.pdd.beta = *b,
        ChatLine::K(k) if knobs.contains(&Knob::ChunkSize) => next.scr.k = *k,
        ChatLine::K(k) if knobs.contains(&Knob::TopK) => next.pdd.top_k = *k,
        ChatLine::Weights(w) if knobs.contains(&Knob::ImportanceWeights) => {
            next.pdd.weights = w.clone()
        }
        ChatLine::Beta(_) | ChatLine::K(_) | ChatLine::Weights(_) => {
            return Err(bad(format!(
                "{} has no such setting",
                next.method.info().label
            )))
        }
        _ => return Ok(()),
    }
    next.validate()?;
    *cfg = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steer::{Method, Persona, WeightedExpert};

    #[test]
    fn lines_parse_to_turns_and_commands() {
        let p = |s| parse_line(s).unwrap();
        assert_eq!(p("  "), None);
        assert_eq!(p("Hi there"), Some(ChatLine::User("Hi there".into())));
        assert_eq!(
            p("/alpha E=1 i=-0.5"),
            Some(ChatLine::Alpha(vec![("E".into(), 1.0), ("i".into(), -0.5)]))
        );
        assert_eq!(p("/beta 2.5"), Some(ChatLine::Beta(2.5)));
        assert_eq!(p("/k 3"), Some(ChatLine::K(3)));
        assert_eq!(
            p("/weights 0.5, 0 1"),
            Some(ChatLine::Weights(Some(vec![0.5, 0.0, 1.0])))
        );
        assert_eq!(p("/weights off"), Some(ChatLine::Weights(None)));
        assert_eq!(p("/reset"), Some(ChatLine::Reset));
        for bad in [
            "/alpha",
            "/alpha E",
            "/alpha E=x",
            "/beta nan",
            "/k -1",
            "/weights",
            "/nope",
        ] {
            let err = parse_line(bad).unwrap_err().to_string();
            assert!(err.contains('/'), "{bad}: {err}");
        }
    }

    #[test]
    fn settings_apply_only_where_the_method_has_them_and_stay_valid() {
        let mut scr = RunConfig {
            method: "scr".parse::<Method>().unwrap(),
            experts: vec![WeightedExpert::prompt("E", "Be outgoing.", 1.0)],
            user: "Hi".into(),
            ..RunConfig::default()
        };
        apply(&mut scr, &ChatLine::Alpha(vec![("e".into(), -0.5)])).unwrap();
        assert_eq!(scr.experts[0].alpha, -0.5);
        apply(&mut scr, &ChatLine::K(2)).unwrap();
        assert_eq!(scr.scr.k, 2);
        let before = scr.clone();
        for refused in [
            ChatLine::Alpha(vec![("T".into(), 1.0)]),
            ChatLine::Alpha(vec![("E".into(), 1e6)]),
            ChatLine::Beta(2.0),
            ChatLine::K(0),
        ] {
            assert!(apply(&mut scr, &refused).is_err(), "{refused:?}");
            assert_eq!(scr, before, "{refused:?} left the settings as they were");
        }
        let mut pdd = RunConfig {
            method: "pdd".parse::<Method>().unwrap(),
            persona: Some(Persona::builtin().into_iter().next().unwrap()),
            user: "Hi".into(),
            ..RunConfig::default()
        };
        let n = pdd.persona.as_ref().unwrap().len();
        apply(&mut pdd, &ChatLine::K(1)).unwrap();
        assert_eq!(pdd.pdd.top_k, 1);
        apply(&mut pdd, &ChatLine::Beta(0.5)).unwrap();
        apply(&mut pdd, &ChatLine::Weights(Some(vec![1.0; n]))).unwrap();
        assert!(apply(&mut pdd, &ChatLine::Weights(Some(vec![1.0; n + 1]))).is_err());
        apply(&mut pdd, &ChatLine::Weights(None)).unwrap();
        assert_eq!((pdd.pdd.beta, pdd.pdd.weights.clone()), (0.5, None));
    }
}
