//! Personas and prompt experts: the text that the steering views are made of.
//!
//! A [`Persona`] is a name, a one-line summary for the UI, and 1 to 16
//! attribute lines `"Name: value"` (the shipped presets have 5 to 8). It
//! serves PDD (docs/ALGORITHMS.md, "PDD"): [`Persona::system_prompt`] is the
//! view `T` (also the PP baseline's prompt) and
//! [`Persona::system_prompt_without`]`(i)` is the view `T_i`, the same text with
//! attribute line i removed and every other byte identical, so that
//! `log P(G | T) − log P(G | T_i)` measures attribute i and nothing else.
//!
//! A [`PromptExpert`] is one MBTI pole written as a system prompt ("You are
//! strongly extraverted: ..."). It serves training-free MPG/SCR
//! (docs/ALGORITHMS.md, "MPG with SCR": "an expert may instead be a prompt
//! view"). Each expert names its axis `"FIRST-SECOND"` (a positive α on the
//! axis pushes toward the first pole) and its opposite pole.
//!
//! The assets live in `assets/personas/`: one `*.toml` per persona and
//! `experts.toml`. Native code can read them from disk
//! ([`Persona::list_presets`], [`load_experts`]); the browser build gets the
//! same files compiled in ([`Persona::builtin`], [`builtin_experts`]).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The most attribute lines a persona may have (the tiny model's context,
/// and one row per ablated prompt during PIE, make more pointless).
pub(crate) const MAX_ATTRIBUTES: usize = 16;

/// The file in the presets directory that holds the prompt experts, not a persona.
pub(crate) const EXPERTS_FILE: &str = "experts.toml";

/// Directory of the shipped persona and expert files (absolute, from the build).
const PRESETS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/personas");

/// `(file name, contents)` of one compiled-in asset file.
macro_rules! asset {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/personas/",
                $file
            )),
        )
    };
}

/// Every shipped persona file, sorted by file name (the order of
/// [`Persona::list_presets`]; a test checks that this list matches the directory).
const BUILTIN_PERSONAS: &[(&str, &str)] = &[
    asset!("captain_mara_vey.toml"),
    asset!("chef_lulu_fontaine.toml"),
    asset!("jack_calloway.toml"),
    asset!("kai_nakamura.toml"),
    asset!("mrs_agatha_thornbury.toml"),
    asset!("priya_raman.toml"),
    asset!("rex_malone.toml"),
    asset!("sir_aldric.toml"),
    asset!("unit_k7.toml"),
    asset!("zoe_park.toml"),
];

/// The shipped `experts.toml`.
const BUILTIN_EXPERTS: (&str, &str) = asset!("experts.toml");

/// A character to steer toward: the PDD attributes `w_1..w_n`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    /// Who the model plays ("Captain Mara Vey"); goes into the prompt preamble.
    pub name: String,
    /// One line for the UI; not part of any prompt.
    #[serde(default)]
    pub summary: String,
    /// One line each, `"Name: value"`, e.g. `"Speech: short sentences, nautical slang"`.
    pub attributes: Vec<String>,
}

impl Persona {
    /// Parses and validates one persona file's text (`name`, `summary`, `attributes`).
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let persona: Persona = toml::from_str(text)
            .map_err(|e| Error::InvalidInput(format!("persona file is not valid: {e}")))?;
        persona.validate()?;
        Ok(persona)
    }

    /// Reads, parses and validates one persona file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidInput(format!("cannot read persona file {}: {e}", path.display()))
        })?;
        Self::from_toml_str(&text).map_err(|e| in_file(path, e))
    }

    /// The directory of the shipped presets (`assets/personas` in the source tree).
    pub fn presets_dir() -> &'static Path {
        Path::new(PRESETS_DIR)
    }

    /// Loads every shipped persona from [`Persona::presets_dir`], sorted by file name.
    pub fn list_presets() -> Result<Vec<Self>> {
        Self::list_dir(Self::presets_dir())
    }

    /// Loads every `*.toml` in `dir` except `experts.toml`, sorted by file name.
    /// The first file that fails to load fails the whole listing (its path is in the message).
    pub fn list_dir(dir: impl AsRef<Path>) -> Result<Vec<Self>> {
        let dir = dir.as_ref();
        let entries = std::fs::read_dir(dir).map_err(|e| {
            Error::InvalidInput(format!(
                "cannot read persona directory {}: {e}",
                dir.display()
            ))
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| {
                Error::InvalidInput(format!(
                    "cannot read persona directory {}: {e}",
                    dir.display()
                ))
            })?;
            let path = entry.path();
            let is_toml = path.extension().is_some_and(|ext| ext == "toml");
            let is_experts = path.file_name().is_some_and(|name| name == EXPERTS_FILE);
            if is_toml && !is_experts && path.is_file() {
                files.push(path);
            }
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        files.iter().map(Self::load).collect()
    }

    /// The shipped personas, compiled into the binary (no I/O; for the browser),
    /// in the same order as [`Persona::list_presets`].
    pub fn builtin() -> Vec<Self> {
        BUILTIN_PERSONAS
            .iter()
            .map(|(file, text)| {
                Self::from_toml_str(text)
                    .unwrap_or_else(|e| panic!("shipped persona {file} is invalid: {e}"))
            })
            .collect()
    }

    /// Number of attributes `n`.
    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    /// True when the persona has no attributes (never true after [`Persona::validate`]).
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// The name of attribute i: the text before the first ':' trimmed
    /// ("Occupation"); the whole trimmed line if it has no ':'.
    ///
    /// Panics if `i >= self.len()`, like indexing.
    pub fn attribute_name(&self, i: usize) -> &str {
        let line = self.attributes[i].trim();
        match line.split_once(':') {
            Some((name, _)) => name.trim(),
            None => line,
        }
    }

    /// The value of attribute i: the text after the first ':' trimmed
    /// ("retired merchant-navy captain"); empty if the line has no ':'.
    ///
    /// Panics if `i >= self.len()`, like indexing.
    pub fn attribute_value(&self, i: usize) -> &str {
        match self.attributes[i].split_once(':') {
            Some((_, value)) => value.trim(),
            None => "",
        }
    }

    /// All attribute names, in order (slider labels).
    pub fn attribute_names(&self) -> Vec<&str> {
        (0..self.len()).map(|i| self.attribute_name(i)).collect()
    }

    /// The PDD view `T` (and the PP baseline's system prompt): a one-line
    /// preamble, then every attribute, one per line, no trailing newline:
    ///
    /// ```text
    /// You are Captain Mara Vey. Stay in character.
    /// Occupation: retired merchant-navy captain
    /// Age: 68
    /// ```
    pub fn system_prompt(&self) -> String {
        self.render(None)
    }

    /// The PDD view `T_i`: [`Persona::system_prompt`] with attribute line i
    /// (and the one newline that introduced it) removed; every other byte is
    /// identical, so `T` = `T_i` with `"\n" + line_i` inserted back.
    ///
    /// Panics if `i >= self.len()`, like indexing.
    pub fn system_prompt_without(&self, i: usize) -> String {
        assert!(
            i < self.len(),
            "attribute index {i} out of range: persona \"{}\" has {} attributes",
            self.name,
            self.len()
        );
        self.render(Some(i))
    }

    /// `[T_0, T_1, ..., T_{n-1}]`: every ablated prompt, in attribute order (PIE's batch).
    pub fn ablated_prompts(&self) -> Vec<String> {
        (0..self.len())
            .map(|i| self.system_prompt_without(i))
            .collect()
    }

    fn render(&self, skip: Option<usize>) -> String {
        let mut text = format!("You are {}. Stay in character.", self.name.trim());
        for (j, line) in self.attributes.iter().enumerate() {
            if Some(j) != skip {
                text.push('\n');
                text.push_str(line.trim());
            }
        }
        text
    }

    /// Checks everything the prompts rely on; the error says what to fix:
    /// an empty or multi-line name or summary, no attributes, more than
    /// [`MAX_ATTRIBUTES`], a line that is not one line of the form
    /// `"Name: value"` (empty name or empty value included), or two attributes
    /// with the same name (compared case-insensitively).
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidInput(msg));
        let name = self.name.trim();
        if name.is_empty() {
            return bad("the persona name is empty; give the character a name".into());
        }
        if name.contains(['\n', '\r']) {
            return bad(format!("the persona name \"{name}\" must be one line"));
        }
        if self.summary.contains(['\n', '\r']) {
            return bad(format!(
                "the summary of persona \"{name}\" must be one line"
            ));
        }
        if self.attributes.is_empty() {
            return bad(format!(
                "persona \"{name}\" has no attributes; add at least one line like \"Occupation: ...\""
            ));
        }
        if self.attributes.len() > MAX_ATTRIBUTES {
            return bad(format!(
                "persona \"{name}\" has {} attributes, more than the maximum of {MAX_ATTRIBUTES}; \
                 remove some",
                self.attributes.len()
            ));
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, raw) in self.attributes.iter().enumerate() {
            let line = raw.trim();
            let n = i + 1;
            if line.contains(['\n', '\r']) {
                return bad(format!(
                    "attribute {n} of persona \"{name}\" must be one line (\"Name: value\")"
                ));
            }
            let Some((attr_name, value)) = line.split_once(':') else {
                return bad(format!(
                    "attribute {n} of persona \"{name}\" (\"{line}\") is not of the form \
                     \"Name: value\"; write e.g. \"Temperament: gruff but kind\""
                ));
            };
            let (attr_name, value) = (attr_name.trim(), value.trim());
            if attr_name.is_empty() {
                return bad(format!(
                    "attribute {n} of persona \"{name}\" (\"{line}\") has an empty name before ':' \
                     (expected \"Name: value\")"
                ));
            }
            if value.is_empty() {
                return bad(format!(
                    "attribute {n} of persona \"{name}\" (\"{line}\") has an empty value after ':' \
                     (expected \"Name: value\")"
                ));
            }
            if let Some(first) = seen.insert(attr_name.to_lowercase(), n) {
                return bad(format!(
                    "persona \"{name}\" has a duplicate attribute name \"{attr_name}\" \
                     (attributes {first} and {n}); names must be unique, ignoring case"
                ));
            }
        }
        Ok(())
    }
}

/// One MBTI pole as a prompt view, for training-free MPG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptExpert {
    /// The pole ("E").
    pub name: String,
    /// `"FIRST-SECOND"` ("E-I"); a positive α on the axis pushes toward the first pole.
    pub axis: String,
    /// The other pole of the same axis ("I").
    pub opposite: String,
    /// The system prompt of this expert's view.
    pub prompt: String,
}

impl PromptExpert {
    /// The two poles of the axis, `("E", "I")` for `"E-I"`; `None` if the axis
    /// is not two non-empty poles joined by one '-'.
    pub fn poles(&self) -> Option<(&str, &str)> {
        let (first, second) = self.axis.split_once('-')?;
        let (first, second) = (first.trim(), second.trim());
        let ok = !first.is_empty() && !second.is_empty() && !second.contains('-');
        ok.then_some((first, second))
    }

    /// +1 if this expert is its axis's first pole (a positive α on the axis
    /// pushes toward it), −1 if it is the second.
    pub fn pole_sign(&self) -> f32 {
        match self.poles() {
            Some((first, _)) if first == self.name.trim() => 1.0,
            _ => -1.0,
        }
    }

    /// Checks one expert: non-empty name and prompt, a well-formed axis that
    /// has this expert as one pole and `opposite` as the other.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidInput(msg));
        let name = self.name.trim();
        if name.is_empty() {
            return bad("an expert has an empty name; use the pole's letter, e.g. \"E\"".into());
        }
        if self.prompt.trim().is_empty() {
            return bad(format!("expert \"{name}\" has an empty prompt"));
        }
        let Some((first, second)) = self.poles() else {
            return bad(format!(
                "expert \"{name}\" has axis \"{}\", which is not of the form \"FIRST-SECOND\" \
                 (e.g. \"E-I\")",
                self.axis
            ));
        };
        let opposite = self.opposite.trim();
        let consistent =
            (name == first && opposite == second) || (name == second && opposite == first);
        if !consistent || first == second {
            return bad(format!(
                "expert \"{name}\" with opposite \"{opposite}\" does not match its axis \"{}\": \
                 the name must be one pole and the opposite the other",
                self.axis
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpertsFile {
    #[serde(default)]
    expert: Vec<PromptExpert>,
}

/// Parses and validates an experts file (`[[expert]]` tables).
pub(crate) fn experts_from_toml_str(text: &str) -> Result<Vec<PromptExpert>> {
    let file: ExpertsFile = toml::from_str(text)
        .map_err(|e| Error::InvalidInput(format!("experts file is not valid: {e}")))?;
    validate_experts(&file.expert)?;
    Ok(file.expert)
}

/// Reads, parses and validates an experts file.
pub fn load_experts(path: impl AsRef<Path>) -> Result<Vec<PromptExpert>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidInput(format!("cannot read experts file {}: {e}", path.display()))
    })?;
    experts_from_toml_str(&text).map_err(|e| in_file(path, e))
}

/// Checks a set of experts: at least one, each valid, no two with the same
/// name (ignoring case).
pub(crate) fn validate_experts(experts: &[PromptExpert]) -> Result<()> {
    if experts.is_empty() {
        return Err(Error::InvalidInput(
            "no experts; add at least one [[expert]] table".into(),
        ));
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, expert) in experts.iter().enumerate() {
        expert.validate()?;
        let name = expert.name.trim();
        if let Some(first) = seen.insert(name.to_lowercase(), i + 1) {
            return Err(Error::InvalidInput(format!(
                "duplicate expert name \"{name}\" (experts {first} and {}); names must be unique",
                i + 1
            )));
        }
    }
    Ok(())
}

/// The shipped prompt experts (the eight MBTI poles), compiled in (no I/O).
pub fn builtin_experts() -> Vec<PromptExpert> {
    let (file, text) = BUILTIN_EXPERTS;
    experts_from_toml_str(text).unwrap_or_else(|e| panic!("shipped {file} is invalid: {e}"))
}

/// The shipped experts file on disk (`assets/personas/experts.toml`).
pub fn experts_path() -> std::path::PathBuf {
    Persona::presets_dir().join(EXPERTS_FILE)
}

/// Prefixes an input error with the file it came from.
fn in_file(path: &Path, e: Error) -> Error {
    match e {
        Error::InvalidInput(msg) => Error::InvalidInput(format!("{}: {msg}", path.display())),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn persona(attributes: &[&str]) -> Persona {
        Persona {
            name: "Test Person".into(),
            summary: "Someone to test with.".into(),
            attributes: attributes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn err_msg(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(Error::InvalidInput(msg)) => msg,
            Err(other) => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn every_shipped_persona_loads_and_validates() {
        let presets = Persona::list_presets().unwrap();
        assert!(presets.len() >= 8, "only {} presets", presets.len());
        for p in &presets {
            p.validate().unwrap();
            assert!(
                (5..=8).contains(&p.len()),
                "{}: {} attributes",
                p.name,
                p.len()
            );
            assert!(!p.summary.trim().is_empty(), "{} has no summary", p.name);
            let mut names: Vec<String> = p
                .attribute_names()
                .iter()
                .map(|n| n.to_lowercase())
                .collect();
            names.sort();
            names.dedup();
            assert_eq!(
                names.len(),
                p.len(),
                "{}: duplicate attribute names",
                p.name
            );
            for i in 0..p.len() {
                assert!(!p.attribute_name(i).is_empty());
                assert!(!p.attribute_value(i).is_empty());
            }
        }
        let mut names: Vec<&str> = presets.iter().map(|p| p.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), presets.len(), "two presets share a name");
    }

    #[test]
    fn builtin_matches_the_directory() {
        let mut files: Vec<String> = std::fs::read_dir(Persona::presets_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".toml") && f != EXPERTS_FILE)
            .collect();
        files.sort();
        let builtin_files: Vec<&str> = BUILTIN_PERSONAS.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            files, builtin_files,
            "update BUILTIN_PERSONAS to match assets/personas"
        );
        assert_eq!(Persona::builtin(), Persona::list_presets().unwrap());
        assert_eq!(builtin_experts(), load_experts(experts_path()).unwrap());
    }

    #[test]
    fn attribute_name_and_value() {
        let p = persona(&["  Occupation :  retired captain ", "Speech: a: b"]);
        assert_eq!(p.attribute_name(0), "Occupation");
        assert_eq!(p.attribute_value(0), "retired captain");
        assert_eq!(p.attribute_name(1), "Speech");
        assert_eq!(p.attribute_value(1), "a: b");
        assert_eq!(p.attribute_names(), vec!["Occupation", "Speech"]);
    }

    #[test]
    fn system_prompt_has_preamble_and_every_line() {
        let p = persona(&["Occupation: captain", "Age: 68"]);
        assert_eq!(
            p.system_prompt(),
            "You are Test Person. Stay in character.\nOccupation: captain\nAge: 68"
        );
    }

    #[test]
    fn system_prompt_without_removes_exactly_one_line() {
        for p in Persona::builtin() {
            let full = p.system_prompt();
            let lines: Vec<&str> = full.split('\n').collect();
            assert_eq!(lines.len(), p.len() + 1, "{}", p.name);
            let ablated = p.ablated_prompts();
            assert_eq!(ablated.len(), p.len());
            for (i, from_batch) in ablated.iter().enumerate() {
                let without = p.system_prompt_without(i);
                assert_eq!(&without, from_batch);
                let mut expected = lines.clone();
                let removed = expected.remove(i + 1);
                assert_eq!(removed, p.attributes[i].trim());
                assert_eq!(without, expected.join("\n"), "{} without {i}", p.name);
                // Byte identity: T = T_i with "\n" + line_i put back at one place.
                let cut = full.find(&format!("\n{removed}")).unwrap();
                assert_eq!(&full[..cut], &without[..cut]);
                assert_eq!(&full[cut + 1 + removed.len()..], &without[cut..]);
            }
        }
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn system_prompt_without_out_of_range_panics() {
        persona(&["A: b"]).system_prompt_without(1);
    }

    #[test]
    fn error_no_attributes() {
        let msg = err_msg(persona(&[]).validate());
        assert!(msg.contains("no attributes"), "{msg}");
        let msg = err_msg(Persona::from_toml_str("name = \"X\"\nattributes = []\n"));
        assert!(msg.contains("no attributes"), "{msg}");
    }

    #[test]
    fn error_too_many_attributes() {
        let lines: Vec<String> = (0..17).map(|i| format!("A{i}: v")).collect();
        let refs: Vec<&str> = lines.iter().map(|s| s.as_str()).collect();
        let msg = err_msg(persona(&refs).validate());
        assert!(
            msg.contains("17 attributes") && msg.contains("maximum of 16"),
            "{msg}"
        );
        persona(&refs[..16]).validate().unwrap();
    }

    #[test]
    fn error_empty_attribute_name() {
        let msg = err_msg(persona(&["Age: 3", "  : gruff"]).validate());
        assert!(
            msg.contains("empty name") && msg.contains("attribute 2"),
            "{msg}"
        );
    }

    #[test]
    fn error_duplicate_attribute_name() {
        let msg = err_msg(persona(&["Speech: a", "Age: 3", "speech : b"]).validate());
        assert!(msg.contains("duplicate attribute name"), "{msg}");
        assert!(msg.contains("attributes 1 and 3"), "{msg}");
    }

    #[test]
    fn error_not_name_value() {
        let msg = err_msg(persona(&["Age: 3", "gruff but kind"]).validate());
        assert!(msg.contains("not of the form \"Name: value\""), "{msg}");
        let msg = err_msg(persona(&["Age:   "]).validate());
        assert!(msg.contains("empty value"), "{msg}");
        let msg = err_msg(persona(&["Age: 3\nSpeech: x"]).validate());
        assert!(msg.contains("one line"), "{msg}");
    }

    #[test]
    fn error_empty_persona_name() {
        let mut p = persona(&["Age: 3"]);
        p.name = "   ".into();
        let msg = err_msg(p.validate());
        assert!(msg.contains("persona name is empty"), "{msg}");
    }

    #[test]
    fn error_bad_toml_and_unknown_field() {
        let msg = err_msg(Persona::from_toml_str(
            "name = \"X\"\nattributes = [\"A: b\"",
        ));
        assert!(msg.contains("persona file is not valid"), "{msg}");
        let msg = err_msg(Persona::from_toml_str(
            "name = \"X\"\nattribute = [\"A: b\"]\n",
        ));
        assert!(msg.contains("not valid"), "{msg}");
    }

    #[test]
    fn load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("persona-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "name = \"X\"\nattributes = [\"oops\"]\n").unwrap();
        let msg = err_msg(Persona::load(&path));
        assert!(
            msg.contains("bad.toml") && msg.contains("Name: value"),
            "{msg}"
        );
        let msg = err_msg(Persona::list_dir(&dir));
        assert!(msg.contains("bad.toml"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
        let msg = err_msg(Persona::load(dir.join("missing.toml")));
        assert!(msg.contains("cannot read persona file"), "{msg}");
    }

    #[test]
    fn shipped_experts_cover_four_mbti_and_two_role_play_axes() {
        let experts = load_experts(experts_path()).unwrap();
        assert_eq!(experts.len(), 12);
        for axis in [
            "E-I",
            "S-N",
            "T-F",
            "J-P",
            "formal-casual",
            "cheerful-gloomy",
        ] {
            let (first, second) = axis.split_once('-').unwrap();
            let on_axis: Vec<&PromptExpert> = experts.iter().filter(|e| e.axis == axis).collect();
            assert_eq!(on_axis.len(), 2, "{axis}");
            let a = on_axis.iter().find(|e| e.name == first).expect(first);
            let b = on_axis.iter().find(|e| e.name == second).expect(second);
            assert_eq!(a.opposite, second);
            assert_eq!(b.opposite, first);
            assert_eq!(a.pole_sign(), 1.0);
            assert_eq!(b.pole_sign(), -1.0);
            assert!(a.prompt.starts_with("You are strongly"), "{}", a.prompt);
            assert!(b.prompt.starts_with("You are strongly"), "{}", b.prompt);
        }
    }

    fn expert(name: &str, axis: &str, opposite: &str, prompt: &str) -> PromptExpert {
        PromptExpert {
            name: name.into(),
            axis: axis.into(),
            opposite: opposite.into(),
            prompt: prompt.into(),
        }
    }

    #[test]
    fn expert_errors() {
        let e = expert("E", "E-I", "I", "You are extraverted.");
        let i = expert("I", "E-I", "E", "You are introverted.");
        validate_experts(&[e.clone(), i.clone()]).unwrap();

        let msg = err_msg(validate_experts(&[e.clone(), i, e.clone()]));
        assert!(msg.contains("duplicate expert name \"E\""), "{msg}");
        let msg = err_msg(validate_experts(&[expert("E", "E-I", "I", "  ")]));
        assert!(msg.contains("empty prompt"), "{msg}");
        let msg = err_msg(validate_experts(&[]));
        assert!(msg.contains("no experts"), "{msg}");
        let msg = err_msg(validate_experts(&[expert("", "E-I", "I", "x")]));
        assert!(msg.contains("empty name"), "{msg}");
        let msg = err_msg(validate_experts(&[expert("E", "EI", "I", "x")]));
        assert!(msg.contains("FIRST-SECOND"), "{msg}");
        let msg = err_msg(validate_experts(&[expert("E", "S-N", "N", "x")]));
        assert!(msg.contains("does not match its axis"), "{msg}");

        let text = "[[expert]]\nname = \"E\"\naxis = \"E-I\"\nopposite = \"I\"\nprompt = \"\"\n";
        let msg = err_msg(experts_from_toml_str(text));
        assert!(msg.contains("empty prompt"), "{msg}");
        let msg = err_msg(experts_from_toml_str("[[expert]]\nname = \"E\"\n"));
        assert!(msg.contains("experts file is not valid"), "{msg}");
    }
}
