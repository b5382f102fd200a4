//! The values the page's address carries (`?alpha=E:0.5,T:-1&w=1,0.5`, ...),
//! parsed without the browser: `crate::app::url_state` reads the query with
//! `UrlSearchParams` and hands each value here. A value that is not a finite
//! number is refused with a message, never stored (NaN would poison every
//! later computation).

/// The largest |α| a link may set (the sliders' range).
pub(crate) const ALPHA_LIMIT: f64 = 1.0;

/// `captain_mara_vey` for "Captain Mara Vey" (the preset's file stem).
pub(crate) fn slug(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect()
}

/// The α of each expert in `names` from a list like `E:0.5,T:-1`: unnamed
/// experts get 0, values past ±[`ALPHA_LIMIT`] are set to the nearest end.
/// Parts that name no expert or carry no finite number are left out; the
/// message (if any) says which, and which values were moved into range.
pub(crate) fn parse_alphas(list: &str, names: &[&str]) -> (Vec<f64>, Option<String>) {
    let mut alphas = vec![0.0; names.len()];
    let mut skipped = Vec::new();
    let mut clamped = Vec::new();
    let short = |part: &str| part.trim().chars().take(40).collect::<String>();
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        let parsed = part.split_once(':').and_then(|(name, value)| {
            let i = names.iter().position(|e| *e == name.trim())?;
            let v = value.trim().parse::<f64>().ok().filter(|v| v.is_finite())?;
            Some((i, v))
        });
        match parsed {
            Some((i, v)) => {
                alphas[i] = v.clamp(-ALPHA_LIMIT, ALPHA_LIMIT);
                if alphas[i] != v {
                    clamped.push(format!("{} set to {}", short(part), alphas[i]));
                }
            }
            None => skipped.push(short(part)),
        }
    }
    let mut problems = Vec::new();
    if !skipped.is_empty() {
        problems.push(format!(
            "the link's alpha list has {} that the page ignored ({}): each part is EXPERT:NUMBER with an expert of {} and a finite number",
            if skipped.len() == 1 { "a part" } else { "parts" },
            skipped.join(", "),
            names.join(", ")
        ));
    }
    if !clamped.is_empty() {
        problems.push(format!(
            "the link's alpha list has {} outside the sliders' range -{ALPHA_LIMIT}..{ALPHA_LIMIT} ({}), moved to the nearest end",
            if clamped.len() == 1 { "a value" } else { "values" },
            clamped.join(", ")
        ));
    }
    (alphas, (!problems.is_empty()).then(|| problems.join("; ")))
}

/// The prefix cache's budget in MiB from `?cache_mb=`: a number the engine
/// accepts (`engine::prefix_cache::parse_budget_mb`).
pub(crate) fn parse_cache_mb(value: &str) -> Result<f64, String> {
    let mb = value.trim().parse::<f64>().map_err(|_| {
        format!(
            "the link's cache_mb={} is not a number; the page keeps the default prefix cache",
            value.chars().take(20).collect::<String>()
        )
    })?;
    crate::engine::prefix_cache::parse_budget_mb(mb)
        .map(|_| mb)
        .map_err(|e| format!("the link's cache_mb: {e}; the page keeps the default"))
}

/// PDD's slider weights from a list like `1,0.5,0`: every part a finite number.
pub(crate) fn parse_weights(list: &str) -> Result<Vec<f64>, String> {
    let weights: Option<Vec<f64>> = list
        .split(',')
        .map(|x| x.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect();
    match weights {
        Some(w) if !w.is_empty() => Ok(w),
        _ => Err(format!(
            "the link's importance weights w={} are not a list of finite numbers; the page uses the computed importance instead",
            list.chars().take(60).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["E", "I", "T"];

    #[test]
    fn alphas_are_read_clamped_and_bad_parts_reported() {
        let (a, msg) = parse_alphas("E:0.5, T : -1", &NAMES);
        assert_eq!((a, msg), (vec![0.5, 0.0, -1.0], None));
        let (a, msg) = parse_alphas("E:NaN,I:inf,T:1e300,X:1,oops", &NAMES);
        assert_eq!(a, vec![0.0, 0.0, 1.0]);
        let msg = msg.unwrap();
        assert!(
            msg.contains("E:NaN") && msg.contains("I:inf") && msg.contains("X:1"),
            "{msg}"
        );
        assert!(msg.contains("T:1e300 set to 1"), "{msg}");
        let (a, msg) = parse_alphas("E:-3", &NAMES);
        assert_eq!(a, vec![-1.0, 0.0, 0.0]);
        assert!(msg.unwrap().contains("E:-3 set to -1"));
        assert!(a.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn weights_must_be_finite_numbers() {
        assert_eq!(parse_weights("1, 0.5,0"), Ok(vec![1.0, 0.5, 0.0]));
        for bad in ["", "1,NaN", "inf", "1,,2", "x"] {
            assert!(parse_weights(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cache_budgets_are_numbers_the_engine_accepts() {
        assert_eq!(parse_cache_mb(" 64 "), Ok(64.0));
        assert_eq!(parse_cache_mb("0"), Ok(0.0));
        for bad in ["", "lots", "-1", "NaN", "inf", "1e9"] {
            let err = parse_cache_mb(bad).unwrap_err();
            assert!(err.contains("cache_mb"), "{bad}: {err}");
        }
    }

    #[test]
    fn slugs_are_file_stems() {
        assert_eq!(slug("Captain Mara Vey"), "captain_mara_vey");
        assert_eq!(slug("Unit K-7"), "unit_k_7");
    }
}
