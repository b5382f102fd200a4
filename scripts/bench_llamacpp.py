"""llama.cpp side of `persona bench`: one repeat per line read from stdin.

Loads the same GGUF with llama-cpp-python (argv[2] threads, default 1), then for every line
`PREFILL_TOKENS DECODE_TOKENS` on stdin prints one JSON line with the prefill
and decode times in milliseconds. Greedy decode, one token per eval, as ours.
"""
import json
import sys
import time

import llama_cpp
import llama_cpp.llama_cpp as llama_cpp_c
import numpy as np

# No "extra buffer types": on these VMs the CPU advertises AMX that the kernel
# does not let a process use (SIGILL in tilezero). Q4_1 has no repacked CPU
# kernel either way, so this changes nothing for the comparison.
_default_params = llama_cpp_c.llama_model_default_params


def _params_without_extra_bufts():
    p = _default_params()
    p.use_extra_bufts = False
    return p


llama_cpp_c.llama_model_default_params = _params_without_extra_bufts

threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=1024, n_threads=threads, n_threads_batch=threads,
                      n_batch=512, logits_all=False, verbose=False, seed=0)
print(json.dumps({"ready": True, "version": llama_cpp.__version__}), flush=True)
for line in sys.stdin:
    n_prefill, n_decode = map(int, line.split())
    prompt = [1] + [(17 + 37 * i) % 40000 + 100 for i in range(n_prefill - 1)]
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    t1 = time.perf_counter()
    token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    for _ in range(n_decode):
        llm.eval([token])
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    t2 = time.perf_counter()
    print(json.dumps({"prefill_ms": (t1 - t0) * 1e3, "decode_ms": (t2 - t1) * 1e3}), flush=True)
