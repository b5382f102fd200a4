//! The shipped preference pairs (assets/pairs/*.jsonl) parse as training
//! data and keep every probe item out: no pair's prompt is a probe prompt
//! of either probe file, so the probe stays a held-out measure of the
//! adapters trained on them. Hand-written pairs also come with their card.

use std::path::Path;

use persona::steer::items_from_jsonl;
use persona::train::pairs::pairs_from_jsonl;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn shipped_pairs_parse_and_leave_the_probe_items_out() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let probe: Vec<String> = ["mbti.jsonl", "roleplay.jsonl"]
        .iter()
        .flat_map(|f| items_from_jsonl(&read(&root.join("probe").join(f))).unwrap())
        .map(|item| item.prompt)
        .collect();
    assert!(probe.len() >= 200, "{} probe prompts", probe.len());
    let mut files: Vec<_> = std::fs::read_dir(root.join("pairs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "{files:?}");
    for file in files {
        let pairs = pairs_from_jsonl(&read(&file)).unwrap();
        assert!(
            pairs.len() >= 50,
            "{}: {} pairs",
            file.display(),
            pairs.len()
        );
        for pair in &pairs {
            assert!(
                !probe.iter().any(|p| p == pair.user()),
                "{}: '{}' is a probe prompt",
                file.display(),
                pair.user()
            );
        }
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        if name.ends_with("-written") {
            let card = read(&file.with_extension("card.md"));
            assert!(
                card.contains(&format!("{} pairs", pairs.len())),
                "{name}: the card's count disagrees with the file"
            );
        }
    }
}
