// Browser (wasm) vs native decode/prefill speed, side by side.
//
// Builds nothing: serves the dist/ that tests/e2e/build.sh made, loads the
// page in headless Chromium and, for ROUNDS rounds, alternately (a) asks the
// page for a greedy answer of MAX_TOKENS tokens in a fresh chat and reads the
// engine's own final tokens/s and prefill tokens/s from the stats line under
// the answer, and (b) runs `persona generate --user <same> --max-tokens
// MAX_TOKENS --greedy --json` and reads tokens_per_second and
// prefill_tokens_per_second. Both engines are single-threaded. Prints every
// round, the medians and the wasm/native ratios, and writes (or replaces) the
// section "## Browser (wasm simd128) vs native, side by side" in
// docs/BENCHMARKS.md, leaving the rest of the file as it is.
//
// Run: node tests/e2e/bench.mjs [--no-write]     (env: ROUNDS=3, DIST, CHROMIUM, PERSONA_BIN)
// Not part of the test run.

import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import {
  DIST,
  MODEL_PATH,
  ROOT,
  INIT_SCRIPT,
  ask,
  cliGenerate,
  launchBrowser,
  parseStats,
  serve,
  setMaxTokens,
  waitReady,
} from "./lib.mjs";

const PROMPT = "Write a long story about a lighthouse keeper.";
const MAX_TOKENS = 128;
const ROUNDS = Number(process.env.ROUNDS || 3);
const WRITE = !process.argv.includes("--no-write");
const DOC = join(ROOT, "docs/BENCHMARKS.md");
const HEADING = "## Browser (wasm simd128) vs native, side by side";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f1 = (x) => x.toFixed(1);

/** One greedy answer in a fresh chat; the engine's own figures from its stats line. */
async function browserRound(page) {
  if (await page.isEnabled('header button:has-text("New chat")')) {
    await page.click('header button:has-text("New chat")');
    await page.waitForFunction(() => document.querySelectorAll(".turn").length === 0, null, { timeout: 5_000 });
  }
  const got = await ask(page, PROMPT, { ref: 15 });
  const stats = parseStats(got.meta);
  return { ...stats, tokensPerSecond: got.tps || stats.tokensPerSecond, stop: got.stop, text: got.text, meta: got.meta };
}

async function nativeRound() {
  const out = await cliGenerate(PROMPT, MAX_TOKENS, { ref: 15 });
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
  const rows = [];
  const loadBefore = loadavg()[0];
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 820 } });
    const page = await context.newPage();
    await page.addInitScript(INIT_SCRIPT);
    // No prefix cache: every round prefills the whole prompt, as the CLI does.
    await page.goto(`${base}?cache_mb=0`);
    const ready = await waitReady(page);
    console.log(`page: ${ready.text}`);
    if (!(await page.isChecked("#greedy"))) await page.check("#greedy");

    // Warm-up (not counted): one short answer each.
    await setMaxTokens(page, 8);
    await browserRound(page);
    await cliGenerate(PROMPT, 8);
    await setMaxTokens(page, MAX_TOKENS);

    for (let r = 1; r <= ROUNDS; r++) {
      const wasm = await browserRound(page);
      const native = await nativeRound();
      rows.push({ wasm, native });
      console.log(
        `round ${r}: wasm ${wasm.tokens} tokens at ${f1(wasm.tokensPerSecond)} tok/s, prefill ${wasm.promptTokens} tokens at ${f1(wasm.prefillTokensPerSecond)} tok/s (${wasm.stop}) | ` +
          `native ${native.tokens} tokens at ${f1(native.tokensPerSecond)} tok/s, prefill ${native.promptTokens} tokens at ${f1(native.prefillTokensPerSecond)} tok/s (${native.stop})`,
      );
    }
    await context.close();
  } finally {
    await browser.close().catch(() => {});
    server.close();
  }

  const loadAfter = loadavg()[0];
  const w = rows.map((r) => r.wasm);
  const n = rows.map((r) => r.native);
  const wDecode = median(w.map((x) => x.tokensPerSecond));
  const nDecode = median(n.map((x) => x.tokensPerSecond));
  const wPrefill = median(w.map((x) => x.prefillTokensPerSecond));
  const nPrefill = median(n.map((x) => x.prefillTokensPerSecond));
  const wTokens = w.map((x) => x.tokens);
  const nTokens = n.map((x) => x.tokens);
  const allFull = [...wTokens, ...nTokens].every((t) => t === MAX_TOKENS);
  const sameText = w.every((x) => x.text === n[0].text) && n.every((x) => x.text === n[0].text);
  const backendNative = n[0].backend;
  const cpu = cpus()[0]?.model || "unknown CPU";
  const date = new Date().toISOString().slice(0, 10);

  console.log("");
  console.log(`medians over ${ROUNDS} alternating rounds (${MAX_TOKENS}-token greedy answer to ${JSON.stringify(PROMPT)}):`);
  console.log(`  wasm   (Chromium ${chromiumVersion}, cpu (simd128)): decode ${f1(wDecode)} tok/s, prefill ${f1(wPrefill)} tok/s`);
  console.log(`  native (${backendNative}): decode ${f1(nDecode)} tok/s, prefill ${f1(nPrefill)} tok/s`);
  console.log(`  ratio wasm/native: decode ${(wDecode / nDecode).toFixed(2)}x, prefill ${(wPrefill / nPrefill).toFixed(2)}x`);
  console.log(
    `  tokens produced: wasm ${wTokens.join(", ")}; native ${nTokens.join(", ")}${allFull ? ` (all ${MAX_TOKENS})` : ` — NOT all ${MAX_TOKENS}`}`,
  );
  console.log(`  same greedy text in both: ${sameText ? "yes" : "no"}`);
  console.log(`  1-minute load average: ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`);

  const table = rows
    .map(
      (r, i) =>
        `| ${i + 1} | ${f1(r.wasm.tokensPerSecond)} | ${f1(r.wasm.prefillTokensPerSecond)} | ${f1(r.native.tokensPerSecond)} | ${f1(r.native.prefillTokensPerSecond)} |`,
    )
    .join("\n");
  const body = `${HEADING}

The same ${MAX_TOKENS}-token greedy answer to "${PROMPT}" (${w[0].promptTokens}-token prompt with the chat template), generated ${ROUNDS} times by the page in headless Chromium ${chromiumVersion} (the model worker, wasm \`cpu (simd128)\`, figures from the engine's own stats line under the answer) and ${ROUNDS} times by the native CLI (\`persona generate --greedy --json\`, \`${backendNative}\`), the two runs alternating (wasm, native, wasm, ...) after one short warm-up answer each. Both are single-threaded. Machine: a shared 2-core VM (${cpu}; 1-minute load average ${loadBefore.toFixed(1)} before and ${loadAfter.toFixed(1)} after; other jobs share the cores), so only the side-by-side ratio is meaningful. Measured ${date} with \`node tests/e2e/bench.mjs\`.

| round | wasm decode tok/s | wasm prefill tok/s | native decode tok/s | native prefill tok/s |
|---:|---:|---:|---:|---:|
${table}
| **median** | **${f1(wDecode)}** | **${f1(wPrefill)}** | **${f1(nDecode)}** | **${f1(nPrefill)}** |

Ratio wasm / native: decode **${(wDecode / nDecode).toFixed(2)}x**, prefill **${(wPrefill / nPrefill).toFixed(2)}x**. Tokens produced: ${allFull ? `${MAX_TOKENS} in every run` : `wasm ${wTokens.join(", ")}, native ${nTokens.join(", ")}`}; the browser's text ${sameText ? "equals" : "differs from"} the CLI's.
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
