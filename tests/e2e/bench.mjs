// Browser (wasm) vs native decode/prefill speed at 1 and 2 threads, side by
// side (issue 13's page goals: wasm 2 threads / wasm 1 thread, wasm 1 thread /
// native 1 thread), and the page's own build (relaxed-simd where the browser
// has it) against its simd128 build (`?simd=simd128`).
//
// Builds nothing: serves the dist/ that tests/e2e/build.sh made (with the
// COOP/COEP headers, so the page may run its threaded worker), opens one page
// per thread count in headless Chromium (`?backend=cpu&threads=N&cache_mb=0`:
// no prefix cache, every round prefills the whole prompt as the CLI does) and,
// for ROUNDS rounds, runs in turn: each page's greedy answer of MAX_TOKENS
// tokens in a fresh chat (the engine's own tokens/s and prefill tokens/s from
// the stats line under the answer), and `persona generate --greedy --json
// --threads N` for each N. Prints every round, the medians and the ratios, and
// writes (or replaces) the section "## Browser (wasm) vs native, side by
// side" in docs/BENCHMARKS.md, leaving the rest of the file as it is.
//
// Run: node tests/e2e/bench.mjs [--no-write]     (env: ROUNDS=3, THREADS=1,2, DIST, CHROMIUM, PERSONA_BIN,
// PROMPT: another user message, e.g. a long one to weigh attention)
// Not part of the test run.

import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { DIST, MODEL_PATH, ROOT, INIT_SCRIPT, ask, cliGenerate, launchBrowser, parseStats, serve, setMaxTokens, waitReady } from "./lib.mjs";

const PROMPT = process.env.PROMPT || "Write a long story about a lighthouse keeper.";
const MAX_TOKENS = 128;
const ROUNDS = Number(process.env.ROUNDS || 3);
const THREADS = (process.env.THREADS || "1,2").split(",").map(Number);
const WRITE = !process.argv.includes("--no-write");
const DOC = join(ROOT, "docs/BENCHMARKS.md");
const HEADING = "## Browser (wasm) vs native, side by side";
/** The page's builds: its own pick, and simd128 forced. */
const PAGE_ENGINES = [
  { engine: "wasm", query: "" },
  { engine: "wasm simd128", query: "&simd=simd128" },
];
/** The CLI: its own pick (AVX-512 VNNI here), and its AVX2 kernels forced
 * (`PERSONA_CPU_KERNELS=avx2`: the byte dots the page's relaxed build lowers
 * to, `vpmaddubsw`, on vectors twice as wide), to tell what wasm costs from
 * what VNNI gains. */
const NATIVE_ENGINES = [
  { engine: "native", env: {} },
  { engine: "native avx2", env: { PERSONA_CPU_KERNELS: "avx2" } },
];
const ENGINES = [...PAGE_ENGINES.map((e) => e.engine), ...NATIVE_ENGINES.map((e) => e.engine)];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f1 = (x) => x.toFixed(1);
const x2 = (a, b) => `${(a / b).toFixed(2)}x`;

/** One greedy answer in a fresh chat; the engine's own figures from its stats line. */
async function browserRound(page) {
  if (await page.isEnabled('header button:has-text("New chat")')) {
    await page.click('header button:has-text("New chat")');
    await page.waitForFunction(() => document.querySelectorAll(".turn").length === 0, null, { timeout: 5_000 });
  }
  const got = await ask(page, PROMPT, { ref: 15 });
  const stats = parseStats(got.meta);
  return { ...stats, tokensPerSecond: got.tps || stats.tokensPerSecond, stop: got.stop, text: got.text };
}

async function nativeRound(threads, env, maxTokens = MAX_TOKENS) {
  const out = await cliGenerate(PROMPT, maxTokens, { ref: 15, threads, env });
  return {
    tokens: out.generated_ids.length,
    promptTokens: out.prompt_ids.length,
    tokensPerSecond: out.tokens_per_second,
    prefillTokensPerSecond: out.prefill_tokens_per_second,
    stop: out.stop_reason,
    text: out.text,
    backend: out.backend,
  };
}

function writeSection(body) {
  const old = existsSync(DOC) ? readFileSync(DOC, "utf8") : "# Benchmarks\n";
  const lines = old.split("\n");
  const start = lines.findIndex((l) => l.trim() === HEADING);
  let next;
  if (start < 0) {
    next = `${old.replace(/\n*$/, "")}\n\n${body}`;
  } else {
    let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
    if (end < 0) end = lines.length;
    const before = lines.slice(0, start).join("\n").replace(/\n*$/, "");
    const after = lines.slice(end).join("\n").replace(/^\n*/, "");
    next = `${before}\n\n${body}${after ? `\n${after}` : ""}`;
  }
  writeFileSync(DOC, next.replace(/\n*$/, "\n"));
}

async function main() {
  if (!existsSync(join(DIST, "index.html")) || !existsSync(join(DIST, MODEL_PATH))) {
    console.error("bench: dist/ is not built; run tests/e2e/build.sh first");
    process.exit(1);
  }
  const { server, port } = await serve(DIST);
  const base = `http://127.0.0.1:${port}/`;
  const browser = await launchBrowser();
  const chromiumVersion = browser.version();
  // runs[engine][threads] = rounds
  const runs = Object.fromEntries(ENGINES.map((e) => [e, {}]));
  const labels = {};
  const loadBefore = loadavg()[0];
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 820 } });
    await context.addInitScript(INIT_SCRIPT);
    const pages = {};
    for (const n of THREADS) {
      for (const { engine, query } of PAGE_ENGINES) {
        const page = await context.newPage();
        await page.goto(`${base}?cache_mb=0&backend=cpu&threads=${n}${query}`);
        const ready = await waitReady(page);
        if (ready.threads !== n) throw new Error(`the page asked for ${n} threads runs ${ready.threads}: ${ready.threadsNote}`);
        labels[`${engine}:${n}`] = ready.text.split(" SmolLM2")[0];
        console.log(`page (${engine}, ${n} threads): ${ready.text}`);
        if (!(await page.isChecked("#greedy"))) await page.check("#greedy");
        // Warm-up (not counted): one short answer each.
        await setMaxTokens(page, 8);
        await browserRound(page);
        await setMaxTokens(page, MAX_TOKENS);
        pages[`${engine}:${n}`] = page;
      }
      for (const { env } of NATIVE_ENGINES) await nativeRound(n, env, 8);
      for (const e of ENGINES) runs[e][n] = [];
    }
    for (let r = 1; r <= ROUNDS; r++) {
      const line = [];
      for (const n of THREADS) {
        for (const { engine } of PAGE_ENGINES) {
          const got = await browserRound(pages[`${engine}:${n}`]);
          runs[engine][n].push(got);
          line.push(`${n}t ${engine} ${f1(got.tokensPerSecond)} / ${f1(got.prefillTokensPerSecond)}`);
        }
        for (const { engine, env } of NATIVE_ENGINES) {
          const native = await nativeRound(n, env);
          runs[engine][n].push(native);
          line.push(`${n}t ${engine} ${f1(native.tokensPerSecond)} / ${f1(native.prefillTokensPerSecond)}`);
        }
      }
      console.log(`round ${r} (decode / prefill tok/s): ${line.join(" | ")}`);
    }
    await context.close();
  } finally {
    await browser.close().catch(() => {});
    server.close();
  }

  const loadAfter = loadavg()[0];
  const med = (engine, n, key) => median(runs[engine][n].map((x) => x[key]));
  const all = Object.values(runs).flatMap((byN) => Object.values(byN).flat());
  const allFull = all.every((x) => x.tokens === MAX_TOKENS);
  const sameText = all.every((x) => x.text === all[0].text);
  const backendNative = runs.native[THREADS[0]][0].backend;
  const promptTokens = runs.native[THREADS[0]][0].promptTokens;
  const cpu = cpus()[0]?.model || "unknown CPU";
  const date = new Date().toISOString().slice(0, 10);

  const rows = [];
  for (const n of THREADS) {
    for (const engine of ENGINES) {
      rows.push(`| ${engine} | ${n} | ${f1(med(engine, n, "tokensPerSecond"))} | ${f1(med(engine, n, "prefillTokensPerSecond"))} | ${runs[engine][n].map((x) => `${f1(x.tokensPerSecond)} / ${f1(x.prefillTokensPerSecond)}`).join(", ")} |`);
    }
  }
  const ratios = [];
  const lo = THREADS[0];
  for (const n of THREADS) {
    const d = (e, m) => med(e, m, "tokensPerSecond");
    const p = (e, m) => med(e, m, "prefillTokensPerSecond");
    ratios.push(`wasm / native at ${n} thread${n > 1 ? "s" : ""}: decode **${x2(d("wasm", n), d("native", n))}**, prefill **${x2(p("wasm", n), p("native", n))}**`);
    ratios.push(`wasm / native avx2 at ${n} thread${n > 1 ? "s" : ""}: decode **${x2(d("wasm", n), d("native avx2", n))}**, prefill **${x2(p("wasm", n), p("native avx2", n))}**`);
    ratios.push(`wasm / wasm simd128 at ${n} thread${n > 1 ? "s" : ""}: decode **${x2(d("wasm", n), d("wasm simd128", n))}**, prefill **${x2(p("wasm", n), p("wasm simd128", n))}**`);
    if (n !== lo) {
      ratios.push(`wasm ${n} threads / wasm ${lo}: decode **${x2(d("wasm", n), d("wasm", lo))}**, prefill **${x2(p("wasm", n), p("wasm", lo))}**`);
      ratios.push(`native ${n} threads / native ${lo}: decode **${x2(d("native", n), d("native", lo))}**, prefill **${x2(p("native", n), p("native", lo))}**`);
    }
  }
  console.log("");
  console.log(rows.join("\n"));
  console.log(ratios.join("\n"));
  console.log(`same greedy text everywhere: ${sameText ? "yes" : "no"}; all ${MAX_TOKENS} tokens: ${allFull ? "yes" : "no"}`);
  console.log(`1-minute load average: ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`);

  const body = `${HEADING}

The same ${MAX_TOKENS}-token greedy answer to "${PROMPT}" (${promptTokens}-token prompt with the chat template), generated ${ROUNDS} times per thread count by the page in headless Chromium ${chromiumVersion} (${Object.entries(labels).map(([k, l]) => { const [e, n] = k.split(":"); return `${e}, ${n} thread${n === "1" ? "" : "s"}: \`${l}\``; }).join("; ")}; the model worker, \`?backend=cpu&threads=N&cache_mb=0\` for *wasm* (the build the page picks) and the same with \`&simd=simd128\` for *wasm simd128*, served cross-origin isolated; figures from the engine's own stats line under the answer) and by the native CLI (\`persona generate --greedy --json --threads N\`: *native*, \`${backendNative}\`, and *native avx2* with \`PERSONA_CPU_KERNELS=avx2\`, \`${runs["native avx2"][THREADS[0]][0].backend}\`), in turn within each round (wasm N, wasm simd128 N, native N, native avx2 N, for each N) after one short warm-up answer each. Machine: a shared 2-core VM (${cpu}; 1-minute load average ${loadBefore.toFixed(1)} before and ${loadAfter.toFixed(1)} after; other jobs share the cores), so only the side-by-side ratios mean something. Measured ${date} with \`node tests/e2e/bench.mjs\`.

| engine | threads | median decode tok/s | median prefill tok/s | rounds (decode / prefill) |
|---|---:|---:|---:|---|
${rows.join("\n")}

${ratios.map((r) => `- ${r}`).join("\n")}

Tokens produced: ${allFull ? `${MAX_TOKENS} in every run` : "NOT all runs reached the limit"}; the text is ${sameText ? "the same in every run (page and CLI, every thread count)" : "NOT the same in every run"}.
`;
  if (WRITE) {
    writeSection(body);
    console.log(`\nwrote "${HEADING}" in ${DOC}`);
  }
}

main().catch((e) => {
  console.error(`bench failed: ${e.stack || e}`);
  process.exit(1);
});
