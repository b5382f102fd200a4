// Shared pieces of the browser scripts (chat.test.mjs, bench.mjs, ...): paths, the
// tiny static server for dist/, the headless Chromium and Firefox launches, the
// CLI runner, the pace (every wait's budget scaled to this run's measured
// speed) and the page helpers (wait for the model, set max tokens, ask and
// wait). The page helpers use only what Playwright and Puppeteer pages share
// (`evaluate`, `focus`, `keyboard`), so the Firefox suite calls the same ones.

import { createRequire } from "node:module";
import { execFile } from "node:child_process";
import { statSync, createReadStream } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, "../..");
export const DIST = resolve(process.env.DIST || join(ROOT, "dist"));
export const ARTIFACTS = join(HERE, "artifacts");
export const MODEL_PATH = "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
export const CHROMIUM = process.env.CHROMIUM || "/usr/lib/chromium/chromium";
export const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";
export const PERSONA_BIN = process.env.PERSONA_BIN || join(ROOT, "target/release/persona");
/** The Cache API bucket the worker keeps the model in (src/worker/loader.rs). */
export const CACHE_NAME = "persona-models";

/**
 * The CPU backend's label on a page served cross-origin isolated (the
 * default of `serve`): the threaded build, with relaxed-simd where the
 * browser has it (both browsers here do; `hasRelaxedSimd` asks), else
 * simd128. `int8`: the default kernel family; false: `?kernels=exact`.
 */
export function cpuLabel({ relaxed = true, int8 = true } = {}) {
  return `CPU (wasm ${relaxed ? "relaxed-simd" : "simd128"}${int8 ? " int8" : ""})`;
}

/** Whether `page`'s browser validates a relaxed-simd module (as the page does to pick its build). */
export function hasRelaxedSimd(page) {
  return page.evaluate(() => {
    const v128 = [0xfd, 0x0c, ...new Array(16).fill(0)];
    const body = [0x00, ...v128, ...v128, ...v128, 0xfd, 0x93, 0x02, 0x0b];
    const head = [0x00, 0x61, 0x73, 0x6d, 0x01, 0, 0, 0, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00];
    return WebAssembly.validate(new Uint8Array([...head, 0x0a, body.length + 2, 0x01, body.length, ...body]));
  });
}

// The drivers live in .tools/ (scripts/setup.sh browser, firefox); each is
// loaded when its browser is launched, so a suite needs only its own.
const require = createRequire(join(ROOT, ".tools/node_modules/"));

// ------------------------------------------------------------ static server

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".gguf": "application/octet-stream",
};

/**
 * Serves `root` on 127.0.0.1 (random port). `routes` (path → Buffer) answers
 * those paths with the given bytes instead, ahead of the files; the caller may
 * add and remove entries while the server runs. `hits` counts requests per path.
 * `?slow=1` on a file streams it at about 6 MB/s. `isolate` (default on, as
 * `trunk serve` does) sends the COOP/COEP headers that make the page
 * cross-origin isolated, so its worker may run threads on shared memory; off,
 * the server is a plain static host.
 */
export function serve(root, routes = new Map(), { isolate = true } = {}) {
  const hits = new Map();
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const path = decodeURIComponent(url.pathname);
    hits.set(path, (hits.get(path) || 0) + 1);
    if (isolate) {
      res.setHeader("cross-origin-opener-policy", "same-origin");
      res.setHeader("cross-origin-embedder-policy", "require-corp");
    }
    const headers = (type, length) => ({
      "content-type": type,
      "content-length": length,
      // Only the Cache API may keep the model: the HTTP cache must not hide a refetch.
      "cache-control": "no-store",
    });
    if (routes.has(path)) {
      const body = routes.get(path);
      res.writeHead(200, headers(MIME[extname(path)] || "application/octet-stream", body.length));
      res.end(req.method === "HEAD" ? undefined : body);
      return;
    }
    let file = normalize(join(root, path === "/" ? "index.html" : path));
    if (!file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    let size;
    try {
      const st = statSync(file);
      if (st.isDirectory()) file = join(file, "index.html");
      size = statSync(file).size;
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, headers(MIME[extname(file)] || "application/octet-stream", size));
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const slow = url.searchParams.has("slow");
    const stream = createReadStream(file, slow ? { highWaterMark: 1 << 16 } : {});
    res.on("close", () => stream.destroy());
    if (slow) {
      // About 6 MB/s, so the progress bar can be seen (and photographed).
      stream.on("data", (chunk) => {
        stream.pause();
        res.write(chunk);
        setTimeout(() => stream.resume(), 10);
      });
      stream.on("end", () => res.end());
    } else {
      stream.pipe(res);
    }
  });
  return new Promise((ok) =>
    server.listen(0, "127.0.0.1", () => ok({ server, hits, routes, port: server.address().port })),
  );
}

// ------------------------------------------------------------ pace

// Every wait of a suite gets a budget scaled to the measured speed of this
// run, not a fixed window: a wait is written as the seconds it takes on the
// reference machine (an idle 2-core CI box), and its budget is that times the
// run's slowness (`scale`, at least 1) times SAFETY. The slowness is measured
// twice: at start, a short CPU workload in Node against its reference time;
// then, once the page can answer, the page's own decode tokens/s on a short
// greedy CPU answer against REF_PAGE_TPS (`pace.calibrate`), which then
// replaces the first (it measures what the waits wait for). A machine twice as slow as measured, or a core taken away after
// the calibration, still passes (SAFETY 3); a wait that never ends fails
// within SAFETY × scale × its reference time, and the suite's deadline is
// scaled the same way.

/** The page's decode tokens/s on the calibration answer, reference machine, idle. */
const REF_PAGE_TPS = 38;
/** Milliseconds of `cpuWorkload()` on the reference machine, idle. */
const REF_CPU_MS = 100;
export const SAFETY = 3;
/** No budget is shorter than this (a UI reaction, a banner). */
const MIN_BUDGET_MS = 5_000;
const CALIBRATION_PROMPT = "Count from one to twenty in words.";
const CALIBRATION_TOKENS = 32;

/** A fixed single-threaded workload (floating point and an array walk); its time in ms. */
function cpuWorkload() {
  const t0 = performance.now();
  const a = new Float64Array(1 << 16);
  let x = 1;
  for (let i = 0; i < 12_000_000; i++) {
    x = (x * 1.000_000_1 + a[i & 0xffff]) % 1e6;
    a[(i * 7) & 0xffff] = x;
  }
  if (!Number.isFinite(x)) throw new Error("unreachable");
  return performance.now() - t0;
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

class Pace {
  constructor() {
    // Best of three: a CPU workload measures the machine, not one unlucky slice.
    this.cpuMs = Math.min(cpuWorkload(), cpuWorkload(), cpuWorkload());
    this.cpuScale = Math.max(1, this.cpuMs / REF_CPU_MS);
    this.pageScale = null;
    this.pageTps = null;
    this.waits = [];
    this.deadlineTimer = null;
    console.log(
      `pace: CPU workload ${this.cpuMs.toFixed(0)} ms (reference ${REF_CPU_MS} ms): scale ${this.cpuScale.toFixed(2)}; budgets = reference × scale × ${SAFETY}`,
    );
  }

  /** The run's slowness against the reference machine (≥ 1): the page's once measured. */
  get scale() {
    return this.pageScale ?? this.cpuScale;
  }

  /** The budget in ms of a wait that takes `refSeconds` on the reference machine. */
  ms(refSeconds) {
    return Math.max(MIN_BUDGET_MS, Math.round(refSeconds * 1000 * this.scale * SAFETY));
  }

  /**
   * Runs `fn(budgetMs)` (which must give up by itself after budgetMs, as
   * Playwright's and Puppeteer's timeouts do), prints the budget and the time
   * it used, and turns a timeout into "LABEL: nothing within N s".
   */
  async wait(label, refSeconds, fn) {
    const budget = this.ms(refSeconds);
    const t0 = Date.now();
    let ok = false;
    try {
      const value = await fn(budget);
      ok = true;
      return value;
    } catch (e) {
      const used = Date.now() - t0;
      if (used >= budget * 0.98 || /timeout|timed out|exceeded/i.test(String(e && e.message))) {
        throw new Error(`${label}: nothing within its budget of ${secs(budget)} (reference ${refSeconds} s × scale ${this.scale.toFixed(2)} × ${SAFETY})`);
      }
      throw e;
    } finally {
      const used = Date.now() - t0;
      this.waits.push({ label, used, budget, ok });
      console.log(`  wait ${label}: ${secs(used)} of ${secs(budget)}${ok ? "" : " (failed)"}`);
    }
  }

  /** Polls `fn(arg)` in the page (every `every` ms) until it is truthy; resolves to its value. */
  until(page, label, refSeconds, fn, arg, every = 100) {
    return this.wait(label, refSeconds, async (budget) => {
      const end = Date.now() + budget;
      for (;;) {
        const value = await page.evaluate(fn, arg);
        if (value) return value;
        if (Date.now() > end) throw new Error("timeout");
        await new Promise((ok) => setTimeout(ok, every));
      }
    });
  }

  /**
   * Arms the suite's deadline: `onMiss(why)` once the run has taken longer
   * than `refSeconds` × scale × SAFETY; re-armed when a calibration changes the scale.
   */
  deadline(refSeconds, onMiss) {
    this.deadlineArgs = { refSeconds, onMiss, started: this.deadlineArgs?.started ?? Date.now() };
    clearTimeout(this.deadlineTimer);
    const budget = this.ms(refSeconds);
    const left = Math.max(0, this.deadlineArgs.started + budget - Date.now());
    this.deadlineTimer = setTimeout(() => onMiss(`the run took more than its deadline of ${secs(budget)} (reference ${refSeconds} s × scale ${this.scale.toFixed(2)} × ${SAFETY})`), left);
    this.deadlineTimer.unref?.();
    this.deadlineBudget = budget;
  }

  /** Stops the deadline timer (the suite is done). */
  stop() {
    clearTimeout(this.deadlineTimer);
  }

  /**
   * Measures the page: a new page of `context` at `base` on the CPU backend
   * answers CALIBRATION_PROMPT greedily (CALIBRATION_TOKENS); its decode
   * tokens/s against REF_PAGE_TPS sets the page scale. The page is closed.
   */
  async calibrate(context, base) {
    const page = await context.newPage();
    try {
      await page.goto(`${base}?backend=cpu&max=${CALIBRATION_TOKENS}`);
      await waitReady(page, { ref: 15 });
      const r = await ask(page, CALIBRATION_PROMPT, { ref: 8 });
      const stats = parseStats(r.meta);
      this.pageTps = stats.tokensPerSecond;
      this.pageScale = Math.max(1, REF_PAGE_TPS / this.pageTps);
      console.log(
        `pace: calibration answer ${stats.tokens} tokens at ${this.pageTps.toFixed(1)} tokens/s decode (reference ${REF_PAGE_TPS}): page scale ${this.pageScale.toFixed(2)}; scale now ${this.scale.toFixed(2)}`,
      );
      if (this.deadlineArgs) this.deadline(this.deadlineArgs.refSeconds, this.deadlineArgs.onMiss);
    } finally {
      await page.close();
    }
  }

  /** One line for the end of a suite: the calibration and the closest wait. */
  summary() {
    const closest = [...this.waits].sort((a, b) => b.used / b.budget - a.used / a.budget)[0];
    const page = this.pageTps ? `page ${this.pageTps.toFixed(1)} tokens/s` : "page not calibrated";
    const near = closest ? `; closest wait "${closest.label}" used ${((100 * closest.used) / closest.budget).toFixed(0)}% of ${secs(closest.budget)}` : "";
    const deadline = this.deadlineBudget ? `; deadline ${secs(this.deadlineBudget)}` : "";
    return `pace: scale ${this.scale.toFixed(2)} (CPU workload ${this.cpuMs.toFixed(0)} ms, ${page}); ${this.waits.length} waits${near}${deadline}`;
  }
}

/** The one pace of this process (every suite is its own process). */
export const pace = new Pace();

// ------------------------------------------------------------ browsers, CLI

/** Headless Chromium; `extraArgs` e.g. ["--enable-unsafe-webgpu"] (SwiftShader WebGPU). */
export function launchBrowser(extraArgs = []) {
  const { chromium } = require("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: !process.env.HEADFUL,
    args: [
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      ...extraArgs,
    ],
  });
}

/** Headless Firefox (Debian's firefox-esr) over WebDriver BiDi, through puppeteer-core. */
export function launchFirefox() {
  const puppeteer = require("puppeteer-core");
  return puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    protocol: "webDriverBiDi",
    headless: !process.env.HEADFUL,
    defaultViewport: { width: 1200, height: 820 },
    extraPrefsFirefox: {
      // No updates, telemetry or first-run pages in a test profile.
      "app.update.enabled": false,
      "datareporting.policy.dataSubmissionEnabled": false,
      "browser.shell.checkDefaultBrowser": false,
    },
  });
}

/** Runs the CLI (`target/release/persona ARGS`) and resolves to its stdout. */
export function runCli(label, args, { ref = 10, env = {} } = {}) {
  return pace.wait(label, ref, (timeout) =>
    new Promise((ok, ko) => {
      execFile(PERSONA_BIN, args, { cwd: ROOT, maxBuffer: 1 << 24, timeout, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
        if (err && err.killed) return ko(new Error("timeout"));
        if (err) return ko(new Error(`${PERSONA_BIN} ${args[0]} failed: ${err.message}\n${stderr}`));
        ok(stdout);
      });
    }),
  );
}

/** Runs `persona generate ... --greedy --json [--threads N]` (with `env` added) and resolves to its parsed JSON. */
export async function cliGenerate(prompt, maxTokens, { ref = 10, threads = null, env = {} } = {}) {
  const args = ["generate", "--user", prompt, "--max-tokens", String(maxTokens), "--greedy", "--json"];
  if (threads) args.push("--threads", String(threads));
  const stdout = await runCli(`CLI answer (${maxTokens} tokens)`, args, { ref, env });
  try {
    return JSON.parse(stdout);
  } catch (e) {
    throw new Error(`CLI output is not JSON: ${stdout.slice(0, 200)}`);
  }
}

// ------------------------------------------------------------ page helpers

// Installed before any page script: records long tasks and model-status texts.
export const INIT_SCRIPT = () => {
  window.__longTasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: "longtask", buffered: true });
  } catch (e) {
    window.__longTasks = null;
  }
  // Lengths of the newest answer's text, one entry per change (token renders).
  window.__answerLengths = [];
  window.__liveRates = [];
  new MutationObserver(() => {
    const answers = document.querySelectorAll(".turn.assistant");
    const last = answers[answers.length - 1];
    if (!last) return;
    const len = last.querySelector(".text").textContent.length;
    const all = window.__answerLengths;
    if (all[all.length - 1] !== len) all.push(len);
    const live = last.querySelector(".meta.live");
    if (live && live.dataset.tps) window.__liveRates.push(Number(live.dataset.tps));
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  window.__statusTexts = [];
  new MutationObserver(() => {
    const el = document.querySelector(".model-status");
    if (!el) return;
    const t = el.textContent.trim();
    const all = window.__statusTexts;
    if (all[all.length - 1] !== t) all.push(t);
  }).observe(document, { subtree: true, childList: true, characterData: true });
};

/**
 * An init script that keeps every Worker the page starts in `window.__workers`,
 * so a test can post a message straight to the model worker (the `lose_device`
 * test hook, or a hostile command the page itself would never send).
 */
export const KEEP_WORKERS = () => {
  const Native = window.Worker;
  window.__workers = [];
  window.Worker = class extends Native {
    constructor(...args) {
      super(...args);
      window.__workers.push(this);
    }
  };
};

/** Playwright's pages have `context()`; Puppeteer's do not. */
const isPlaywright = (page) => typeof page.context === "function";

/** Visible text on one line, its blocks joined by `sep` (`target`: a Playwright locator, or a selector). */
export async function oneLine(target, sep = " / ", page = null) {
  const text =
    typeof target === "string" ? await page.evaluate((sel) => document.querySelector(sel)?.innerText ?? "", target) : await target.innerText();
  return text.replace(/\s*\n+\s*/g, sep).trim();
}

/** The error banner now shown: its kind and its text on one line, or null. */
export function bannerNow(page) {
  return page.evaluate(() => {
    const b = document.querySelector(".banner[role=alert]");
    return b ? { kind: b.dataset.kind, text: b.innerText.replace(/\s*\n+\s*/g, " / ").trim() } : null;
  });
}

/** Waits for an error banner (of `kind` if given); resolves to bannerNow()'s value. */
export function waitBanner(page, kind = null, { ref = 2 } = {}) {
  return pace.until(
    page,
    `banner${kind ? ` ${kind}` : ""}`,
    ref,
    (kind) => {
      const b = document.querySelector(kind ? `.banner[role=alert][data-kind="${kind}"]` : ".banner[role=alert]");
      return b ? { kind: b.dataset.kind, text: b.innerText.replace(/\s*\n+\s*/g, " / ").trim() } : null;
    },
    kind,
  );
}

export async function waitReady(page, { ref = 15 } = {}) {
  const status = await pace
    .until(page, "model ready", ref, () => {
      const s = document.querySelector(".model-status")?.dataset.status;
      return s === "ready" || s === "failed" ? s : null;
    })
    .catch(async (e) => {
      // Where it stopped: the last few texts the status line showed.
      const seen = await page.evaluate(() => (window.__statusTexts || []).slice(-3)).catch(() => []);
      throw new Error(`${e.message}; the status line last read: ${seen.map((t) => `"${t}"`).join(" → ") || "(nothing)"}`);
    });
  if (status !== "ready") {
    const banner = await bannerNow(page);
    throw new Error(`model failed to load: ${banner ? banner.text : ""}`);
  }
  return page.evaluate(() => {
    const el = document.querySelector(".model-status");
    return {
      cache: el.dataset.cache ?? null,
      backend: el.dataset.backend ?? null,
      label: el.dataset.backendLabel ?? null,
      notGpu: el.dataset.notGpu ?? null,
      threads: el.dataset.threads ? Number(el.dataset.threads) : null,
      threadsNote: el.dataset.threadsNote ?? null,
      text: el.innerText.replace(/\s*\n+\s*/g, " ").trim(),
    };
  });
}

/** URLs held in the page's model cache (Cache API bucket `persona-models`). */
export function cachedUrls(page) {
  return page.evaluate(async (name) => {
    const cache = await caches.open(name);
    return (await cache.keys()).map((r) => r.url);
  }, CACHE_NAME);
}

/** Sets an input's value as typing would (an `input` event the page listens to). */
export function fillIn(page, selector, value) {
  return page.evaluate(
    ([selector, value]) => {
      const el = document.querySelector(selector);
      if (!el) throw new Error(`no ${selector}`);
      el.value = value;
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
    },
    [selector, String(value)],
  );
}

export async function setMaxTokens(page, n) {
  await page.evaluate(() => {
    const d = document.querySelector("details.advanced");
    if (!d.open) d.querySelector("summary").click();
  });
  await fillIn(page, "#max-tokens", n);
}

export async function turnCount(page) {
  return page.evaluate(() => document.querySelectorAll(".turn").length);
}

/** Types `text` into the message box and presses Enter. */
export async function sendMessage(page, text) {
  await fillIn(page, "#message", text);
  await page.focus("#message");
  await page.keyboard.press("Enter");
}

/** Waits for the newest answer to be finished (`ref`: its seconds on the reference machine). */
export function waitAnswerDone(page, label, ref) {
  return pace.until(page, label, ref, () => [...document.querySelectorAll(".turn.assistant")].pop()?.dataset.state === "done");
}

/**
 * Sends `text` with Enter and waits for the new answer to finish; returns
 * what was seen. `ref`: the seconds the answer takes on the reference machine.
 */
export async function ask(page, text, { ref = 10 } = {}) {
  const before = await turnCount(page);
  await page.evaluate(() => {
    window.__longTasks && (window.__longTasks.length = 0);
    window.__answerLengths = [];
    window.__liveRates = [];
  });
  await sendMessage(page, text);
  const label = `answer to ${JSON.stringify(text.length > 32 ? `${text.slice(0, 30)}…` : text)}`;
  await pace.until(page, `${label} starts`, 1, (n) => document.querySelectorAll(".turn").length >= n + 2, before);
  // Done, or taken back (the page removes an answer that failed before its
  // first token and shows why): then fail at once with the page's reason.
  const outcome = await pace.until(
    page,
    label,
    ref,
    (n) => {
      if (document.querySelectorAll(".turn").length < n + 2) {
        const b = document.querySelector(".banner[role=alert]");
        return `refused: ${b ? b.innerText.replace(/\s*\n+\s*/g, " / ") : "the answer was removed"}`;
      }
      return [...document.querySelectorAll(".turn.assistant")].pop()?.dataset.state === "done" && "done";
    },
    before,
  );
  if (outcome !== "done") throw new Error(`${label}: ${outcome}`);
  const seen = await page.evaluate(() => {
    const a = [...document.querySelectorAll(".turn.assistant")].pop();
    const meta = a.querySelector(".meta");
    return {
      lengths: window.__answerLengths,
      lives: window.__liveRates,
      text: a.querySelector(".text").textContent,
      tps: Number(meta?.dataset.tps),
      stop: meta?.dataset.stop ?? null,
      meta: (meta?.textContent ?? "").trim(),
      method: a.dataset.method ?? null,
      longTasks: window.__longTasks,
    };
  });
  return { ...seen, answer: isPlaywright(page) ? page.locator(".turn.assistant").last() : null };
}

/**
 * Reads the final stats line under an answer ("128 tokens · 27.1 tokens/s ·
 * prompt 40 tokens (0 cached), prefill at 55.0 tokens/s · stopped at the
 * token limit"); the prefill rate counts the positions computed.
 */
export function parseStats(meta) {
  const m = /^(\d+) tokens · ([\d.]+) tokens\/s · prompt (\d+) tokens \((\d+) cached\), prefill at ([\d.]+) tokens\/s/.exec(meta);
  if (!m) throw new Error(`unexpected stats line: ${meta}`);
  return {
    tokens: Number(m[1]),
    tokensPerSecond: Number(m[2]),
    promptTokens: Number(m[3]),
    cachedTokens: Number(m[4]),
    prefillTokensPerSecond: Number(m[5]),
  };
}
