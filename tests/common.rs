//! Helpers shared by the integration tests: the model file and the fixtures.

#![allow(dead_code)]

use persona::model::GgufFile;

/// The model fetched by `scripts/setup.sh model` (the test command runs it first).
pub fn model_file() -> GgufFile {
    let path = persona::model::default_model_path();
    GgufFile::open(&path)
        .unwrap_or_else(|e| panic!("{e} (the test command runs scripts/setup.sh first)"))
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("id list")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}
