//! libFuzzer driver for `persona::fuzzing::weights_check` (see fuzz/run.sh).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: persona::fuzzing::init(),
    |data: &[u8]| persona::fuzzing::weights_check(data)
);
