// Where the page's CPU time goes, against the native CLI's, function by
// function (issue 13: why wasm at 1 thread runs below native). Linux `perf`
// samples the whole machine while the page answers (Chromium started with
// V8's `--perf-basic-prof`, so JIT-compiled wasm functions get their names
// from /tmp/perf-PID.map), then while `persona generate` answers the same
// prompt; each report lists the functions with the most self time, in the
// model worker's threads only (the page's own thread and the browser's are
// left out).
//
// The worker's names survive only in a build that keeps wasm's name section:
// PERSONA_WASM_NAMES=1 tests/e2e/build.sh (web/threaded_worker.sh passes -g
// to wasm-opt, which otherwise drops the names; the code is the same). Run:
//   node tests/e2e/profile.mjs [decode|prefill]   (env: THREADS=1, SIMD= (page's pick) | simd128,
//   ROUNDS=3, DIST, CHROMIUM, PERSONA_BIN, TOP=25)
// decode: ROUNDS answers of 128 tokens to a short prompt; prefill: ROUNDS
// answers of one token to a long prompt. Needs `perf` and the rights to
// sample every process (root, or kernel.perf_event_paranoid ≤ 0).
// Not part of the test run.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DIST, INIT_SCRIPT, MODEL_PATH, PERSONA_BIN, ROOT, ask, launchBrowser, parseStats, serve, setMaxTokens, waitReady } from "./lib.mjs";

const PHASE = process.argv[2] || "decode";
const BIN = resolve(ROOT, PERSONA_BIN);
const THREADS = Number(process.env.THREADS || 1);
const ROUNDS = Number(process.env.ROUNDS || 3);
const TOP = Number(process.env.TOP || 25);
const ANNOTATE = Boolean(process.env.ANNOTATE);
const SIMD = process.env.SIMD ? `&simd=${process.env.SIMD}` : "";
const SHORT = "Write a long story about a lighthouse keeper.";
const LONG = `${"The keeper climbed the stairs each night, trimmed the wick, wiped the salt from the glass and wrote the weather in his book. ".repeat(8)}Summarise this.`;
const { prompt, maxTokens } = {
  decode: { prompt: SHORT, maxTokens: 128 },
  prefill: { prompt: LONG, maxTokens: 1 },
}[PHASE] ?? (() => { throw new Error(`phase must be decode or prefill, not ${PHASE}`); })();

/** Starts `perf record` (every CPU, or one command); resolves once it samples. */
function perfRecord(out, command = null) {
  const clock = ANNOTATE ? ["-k", "mono"] : [];
  const args = ["record", "-F", "1999", ...clock, "-o", out, "-q", ...(command ? ["--", ...command] : ["-a"])];
  const perf = spawn("perf", args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  perf.stderr.on("data", (d) => { err += d; });
  const done = new Promise((res, rej) => perf.on("exit", (code, signal) =>
    code === 0 || signal === "SIGINT" || code === 130 || (code === null && signal) ? res() : rej(new Error(`perf record failed (${code}): ${err}`))));
  return { perf, done };
}

/** Self time by function, for the threads whose name matches `comm` (a regex). */
function report(data, comm) {
  const r = spawnSync("perf", ["report", "-i", data, "--stdio", "--no-children", "--sort", "comm,sym", "--percent-limit", "0.3"], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`perf report failed: ${r.stderr}`);
  const rows = [];
  for (const line of r.stdout.split("\n")) {
    const m = line.match(/^\s+([\d.]+)%\s+(\S.*?)\s{2,}\[(.)\]\s+(.*)$/);
    if (m && new RegExp(comm).test(m[2])) rows.push({ pct: Number(m[1]), comm: m[2], sym: m[4].trim() });
  }
  const total = rows.reduce((s, x) => s + x.pct, 0);
  return { total, rows: rows.slice(0, TOP) };
}

function print(title, { total, rows }) {
  console.log(`\n${title}: ${total.toFixed(1)}% of the samples above 0.3% each; the top ${rows.length}, share of those:`);
  for (const x of rows) console.log(`${(100 * x.pct / total).toFixed(1).padStart(6)}%  ${x.sym.slice(0, 110)}  (${x.comm})`);
}

async function main() {
  if (!existsSync(join(DIST, "index.html")) || !existsSync(join(DIST, MODEL_PATH))) {
    throw new Error("dist/ is not built; run PERSONA_WASM_NAMES=1 tests/e2e/build.sh first");
  }
  const dir = mkdtempSync(join(tmpdir(), "persona-profile-"));
  // Chromium's V8 writes its logs and jitdumps into the working folder:
  // keep them with the perf data, out of the repository.
  process.chdir(dir);
  const { server, port } = await serve(DIST);
  const jsFlags = ANNOTATE ? "--perf-prof --no-wasm-lazy-compilation" : "--perf-basic-prof --no-wasm-lazy-compilation";
  const browser = await launchBrowser([`--js-flags=${jsFlags}`]);
  let stats = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
    await page.addInitScript(INIT_SCRIPT);
    await page.goto(`http://127.0.0.1:${port}/?cache_mb=0&backend=cpu&threads=${THREADS}${SIMD}`);
    const ready = await waitReady(page);
    console.log(`page: ${ready.text}`);
    if (!(await page.isChecked("#greedy"))) await page.check("#greedy");
    await setMaxTokens(page, maxTokens);
    await ask(page, prompt, { ref: 15 }); // warm-up: every hot function tiered up
    const rec = perfRecord(join(dir, "page.data"));
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < ROUNDS; i++) {
      await page.click('header button:has-text("New chat")');
      const got = await ask(page, prompt, { ref: 15 });
      stats.push(parseStats(got.meta));
    }
    rec.perf.kill("SIGINT");
    await rec.done;
  } finally {
    await browser.close().catch(() => {});
    server.close();
  }
  const rate = (key) => stats.map((s) => s[key]?.toFixed(1)).join(", ");
  console.log(`page rounds: decode ${rate("tokensPerSecond")} tok/s, prefill ${rate("prefillTokensPerSecond")} tok/s`);

  const args = ["generate", "--user", prompt, "--max-tokens", String(maxTokens), "--greedy", "--threads", String(THREADS)];
  const loop = ["sh", "-c", `for i in $(seq ${ROUNDS}); do "$0" "$@" > /dev/null; done`, BIN, ...args];
  const native = perfRecord(join(dir, "native.data"), loop);
  await native.done;

  // Chromium names its dedicated workers' threads "DedicatedWorker"; the
  // pool's helpers are dedicated workers too.
  print(`page, ${THREADS} thread(s), ${PHASE} (model worker threads)`, report(join(dir, "page.data"), "^DedicatedWorker"));
  print(`native, ${THREADS} thread(s), ${PHASE}`, report(join(dir, "native.data"), "^(persona|spin|rayon)"));
  console.log(`\nperf data in ${dir}`);
}

main().catch((e) => {
  console.error(`profile failed: ${e.stack || e}`);
  process.exit(1);
});
