//! Text hygiene of generated answers (`persona make-pairs`, `persona
//! eval-steering`): how much an answer repeats itself, whether it loops, and
//! cutting an answer that ran out of tokens back to its last finished
//! sentence.

/// Share of an answer's word trigrams that repeat an earlier one (0 for
/// fresh text, near 1 for a loop): pairs with a degenerate answer teach the
/// adapter to loop, not the pole.
pub fn repetition(text: &str) -> f64 {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .collect();
    if words.len() < 4 {
        return 0.0;
    }
    let trigrams: Vec<&[String]> = words.windows(3).collect();
    let distinct: std::collections::HashSet<&[String]> = trigrams.iter().copied().collect();
    1.0 - distinct.len() as f64 / trigrams.len() as f64
}

/// Cuts an answer that ran out of tokens back to its last finished sentence
/// (when that keeps at least half of it), so no pair ends mid-word.
pub fn trim_to_sentence(text: &str) -> String {
    let text = text.trim();
    let end = text
        .char_indices()
        .rev()
        .find(|&(_, c)| matches!(c, '.' | '!' | '?' | '\n'))
        .map(|(i, c)| i + c.len_utf8());
    match end {
        Some(end) if end == text.len() || end * 2 >= text.len() => text[..end].trim().to_string(),
        _ => text.to_string(),
    }
}

/// Whether an answer has a repeated n-gram loop: some trigram of its words,
/// or of its tokens (which catches "....." and other loops without words),
/// occurs three times or more ("It. It. It. It." is one; a phrase said
/// twice is not).
pub fn has_loop(text: &str, ids: &[u32]) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    thrice(&words) || thrice(ids)
}

/// Whether some trigram of `items` occurs three times.
fn thrice<T: Eq + std::hash::Hash>(items: &[T]) -> bool {
    let mut counts = std::collections::HashMap::<&[T], usize>::new();
    items.windows(3).any(|t| {
        let n = counts.entry(t).or_default();
        *n += 1;
        *n >= 3
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_is_a_trigram_said_three_times() {
        assert!(has_loop(
            "The best way to start. It's a day. It. It. It. It. It.",
            &[]
        ));
        assert!(!has_loop("Go outside, go outside and read a book.", &[]));
        assert!(!has_loop(
            "Take a long walk, then cook a slow dinner at home.",
            &[1, 2, 3, 1, 2, 3]
        ));
        assert!(has_loop("The. .........", &[504, 30, 9, 9, 9, 9, 9]));
    }

    #[test]
    fn trims_to_the_last_sentence_when_it_keeps_half() {
        assert_eq!(
            trim_to_sentence("The first sentence is long. Then it is cu"),
            "The first sentence is long."
        );
        assert_eq!(
            trim_to_sentence("Short. And then a very long tail that goes on"),
            "Short. And then a very long tail that goes on"
        );
        assert_eq!(trim_to_sentence("  Done.  "), "Done.");
        assert_eq!(trim_to_sentence("no end at all"), "no end at all");
    }

    #[test]
    fn repetition_separates_loops_from_prose() {
        assert_eq!(
            repetition("Take the train early and bring a good book along."),
            0.0
        );
        let looped = "Good. Good. Good. Good. Good. Good. Good. Good.";
        assert!(repetition(looped) > 0.6, "{}", repetition(looped));
        assert_eq!(repetition("Hi there"), 0.0);
    }
}
