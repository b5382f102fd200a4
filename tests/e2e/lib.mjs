// Shared pieces of the browser scripts (chat.test.mjs, bench.mjs, ...): paths, the
// tiny static server for dist/, the headless Chromium launch, the CLI runner
// and the page helpers (wait for the model, set max tokens, ask and wait).

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
export const PERSONA_BIN = process.env.PERSONA_BIN || join(ROOT, "target/release/persona");
/** The Cache API bucket the worker keeps the model in (src/worker/loader.rs). */
export const CACHE_NAME = "persona-models";

const require = createRequire(join(ROOT, ".tools/node_modules/"));
export const { chromium } = require("playwright-core");

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
 * `?slow=1` on a file streams it at about 6 MB/s.
 */
export function serve(root, routes = new Map()) {
  const hits = new Map();
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const path = decodeURIComponent(url.pathname);
    hits.set(path, (hits.get(path) || 0) + 1);
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

// ------------------------------------------------------------ browser, CLI

/** Headless Chromium; `extraArgs` e.g. ["--enable-unsafe-webgpu"] (SwiftShader WebGPU). */
export function launchBrowser(extraArgs = []) {
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

/** Runs `persona generate ... --greedy --json` and resolves to its parsed JSON. */
export function cliGenerate(prompt, maxTokens, { timeout = 120_000 } = {}) {
  return new Promise((ok, ko) => {
    execFile(
      PERSONA_BIN,
      ["generate", "--user", prompt, "--max-tokens", String(maxTokens), "--greedy", "--json"],
      { cwd: ROOT, maxBuffer: 1 << 24, timeout },
      (err, stdout, stderr) => {
        if (err) return ko(new Error(`${PERSONA_BIN} failed: ${err.message}\n${stderr}`));
        try {
          ok(JSON.parse(stdout));
        } catch (e) {
          ko(new Error(`CLI output is not JSON: ${stdout.slice(0, 200)}`));
        }
      },
    );
  });
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

/** Visible text on one line, its blocks joined by `sep`. */
export async function oneLine(locator, sep = " / ") {
  return (await locator.innerText()).replace(/\s*\n+\s*/g, sep).trim();
}

export async function waitReady(page, timeout = 120_000) {
  await page.waitForSelector('.model-status[data-status="ready"], .model-status[data-status="failed"]', {
    timeout,
  });
  const status = await page.getAttribute(".model-status", "data-status");
  if (status !== "ready") {
    const banner = await page.textContent(".banner").catch(() => "");
    throw new Error(`model failed to load: ${banner}`);
  }
  return {
    cache: await page.getAttribute(".model-status", "data-cache"),
    backend: await page.getAttribute(".model-status", "data-backend"),
    text: await oneLine(page.locator(".model-status"), " "),
  };
}

/** URLs held in the page's model cache (Cache API bucket `persona-models`). */
export function cachedUrls(page) {
  return page.evaluate(async (name) => {
    const cache = await caches.open(name);
    return (await cache.keys()).map((r) => r.url);
  }, CACHE_NAME);
}

export async function setMaxTokens(page, n) {
  const open = await page.$eval("details.advanced", (d) => d.open);
  if (!open) await page.click("details.advanced summary");
  await page.fill("#max-tokens", String(n));
}

export async function turnCount(page) {
  return page.$$eval(".turn", (ts) => ts.length);
}

/** Sends `text` with Enter and waits for the new answer to finish; returns what was seen. */
export async function ask(page, text, { timeout = 120_000 } = {}) {
  const before = await turnCount(page);
  await page.fill("#message", text);
  await page.evaluate(() => {
    window.__longTasks && (window.__longTasks.length = 0);
    window.__answerLengths = [];
    window.__liveRates = [];
  });
  await page.press("#message", "Enter");
  await page.waitForFunction((n) => document.querySelectorAll(".turn").length >= n + 2, before, {
    timeout: 10_000,
  });
  const answer = page.locator(".turn.assistant").last();
  await page
    .waitForFunction(
      () => [...document.querySelectorAll(".turn.assistant")].pop().dataset.state === "done",
      null,
      { timeout, polling: 100 },
    )
    .catch(() => {
      throw new Error(`no answer within ${timeout / 1000} s`);
    });
  return {
    answer,
    lengths: await page.evaluate(() => window.__answerLengths),
    lives: await page.evaluate(() => window.__liveRates),
    text: await answer.locator(".text").textContent(),
    tps: Number(await answer.locator(".meta").getAttribute("data-tps")),
    stop: await answer.locator(".meta").getAttribute("data-stop"),
    meta: (await answer.locator(".meta").textContent()).trim(),
    longTasks: await page.evaluate(() => window.__longTasks),
  };
}

/**
 * Reads the final stats line under an answer ("128 tokens · 27.1 tokens/s ·
 * prompt 40 tokens at 55.0 tokens/s · stopped at the token limit").
 */
export function parseStats(meta) {
  const m = /^(\d+) tokens · ([\d.]+) tokens\/s · prompt (\d+) tokens at ([\d.]+) tokens\/s/.exec(meta);
  if (!m) throw new Error(`unexpected stats line: ${meta}`);
  return {
    tokens: Number(m[1]),
    tokensPerSecond: Number(m[2]),
    promptTokens: Number(m[3]),
    prefillTokensPerSecond: Number(m[4]),
  };
}
