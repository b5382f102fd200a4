//! libFuzzer driver for `persona::fuzzing::pairs_jsonl` (see fuzz/run.sh).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: persona::fuzzing::init(),
    |data: &[u8]| persona::fuzzing::pairs_jsonl(data)
);
