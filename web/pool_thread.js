// One thread of the model worker's pool (src/worker/thread_pool.rs): the
// worker's own wasm module instantiated on its shared memory, then one rayon
// worker run until the pool ends. The first message brings the glue script's
// address, the module and the memory; the second the thread's work.
self.onmessage = async ({ data }) => {
  self.onmessage = ({ data: builder }) => wasm_bindgen.pool_thread_run(builder);
  try {
    importScripts(data.glue);
    await wasm_bindgen({ module_or_path: data.module, memory: data.memory });
    self.postMessage({ ready: true });
  } catch (e) {
    self.postMessage({ error: String(e && e.stack ? e.stack : e) });
  }
};
