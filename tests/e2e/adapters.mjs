// PEFT LoRA adapter files made by the tests (SmolLM2-135M: 30 layers, hidden
// 576, 3 KV heads of 64): a good tiny one (rank 2 on q_proj and v_proj) and
// bad ones — another base model, wrong shapes, a NaN weight. Each is a list
// of files for playwright's setInputFiles ({name, mimeType, buffer}).

const LAYERS = 30;
const HIDDEN = 576;
const KV_DIM = 192;

/** A safetensors file of F32 tensors: {name: {shape, data: Float32Array}}. */
export function safetensors(tensors) {
  const header = {};
  const parts = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    parts.push(bytes);
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ...parts]);
}

function config(base = "HuggingFaceTB/SmolLM2-135M-Instruct") {
  return Buffer.from(
    JSON.stringify({
      peft_type: "LORA",
      base_model_name_or_path: base,
      r: 2,
      lora_alpha: 4,
      target_modules: ["q_proj", "v_proj"],
    }),
  );
}

function fill(n, scale, phase) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * Math.sin(0.37 * i + phase);
  return a;
}

function weights({ scale = 0.05, qIn = HIDDEN, nanAt = -1 } = {}) {
  const t = {};
  for (let l = 0; l < LAYERS; l++) {
    for (const [m, out, inp] of [
      ["q_proj", HIDDEN, qIn],
      ["v_proj", KV_DIM, HIDDEN],
    ]) {
      const key = (ab) => `base_model.model.model.layers.${l}.self_attn.${m}.lora_${ab}.weight`;
      t[key("A")] = { shape: [2, inp], data: fill(2 * inp, scale, l) };
      t[key("B")] = { shape: [out, 2], data: fill(out * 2, scale, l + 1) };
    }
  }
  if (nanAt >= 0) t[`base_model.model.model.layers.${nanAt}.self_attn.v_proj.lora_B.weight`].data[3] = NaN;
  return safetensors(t);
}

const file = (name, buffer) => ({ name, mimeType: "application/octet-stream", buffer });

export const adapterFiles = {
  /** A valid adapter: {config, weights, files}. */
  good(scale = 0.05) {
    const c = config();
    const w = weights({ scale });
    return { config: c, weights: w, files: [file("adapter_config.json", c), file("adapter_model.safetensors", w)] };
  },
  otherBase() {
    return [file("adapter_config.json", config("meta-llama/Llama-2-7b-hf")), file("adapter_model.safetensors", weights())];
  },
  wrongShapes() {
    return [file("adapter_config.json", config()), file("adapter_model.safetensors", weights({ qIn: 768 }))];
  },
  nan() {
    return [file("adapter_config.json", config()), file("adapter_model.safetensors", weights({ nanAt: 7 }))];
  },
};
