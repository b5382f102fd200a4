// One thread of the model worker's pool (src/worker/thread_pool.rs): the
// worker's own wasm module instantiated on its shared memory, then the pool's
// helper loop for good. The first message brings the glue script's address,
// the module and the memory; the second the thread's task.
self.onmessage = async ({ data }) => {
  self.onmessage = ({ data: task }) => wasm_bindgen.pool_thread_run(task);
  try {
    importScripts(data.glue);
    await wasm_bindgen({ module_or_path: data.module, memory: data.memory });
    self.postMessage({ ready: true });
  } catch (e) {
    self.postMessage({ error: String(e && e.stack ? e.stack : e) });
  }
};
