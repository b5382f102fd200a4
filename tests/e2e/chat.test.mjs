// End-to-end test of the playground in headless Chromium.
//
// Serves dist/ (built by tests/e2e/build.sh) on 127.0.0.1 with its own tiny
// static server, drives the page with playwright-core (Debian's chromium, no
// browser download), and checks: the model loads with visible progress and
// is stored in the Cache API; a greedy answer streams token by token and
// equals the CLI's answer for the same prompt; the main thread has no long
// tasks while streaming; the log follows a streaming answer until the
// reader scrolls up, then stays; Cancel stops an answer; an empty message shows a
// readable error and the page keeps working (multi-turn); a reload reads the
// model from the Cache API, not the network; a missing model shows an error;
// a truncated model and a file that is not a GGUF show readable errors, are
// never kept in the Cache API, and the page recovers (Try again, a new load).
//
// Run: node tests/e2e/chat.test.mjs      (env: CHROMIUM, PERSONA_BIN, HEADFUL=1)
// Prints one line per check and a final `N passed, M failed`; exits 1 on failure.

import { mkdirSync, mkdtempSync, rmSync, existsSync, openSync, readSync, closeSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ARTIFACTS,
  DIST,
  MODEL_PATH,
  ROOT,
  ask,
  cachedUrls,
  pace,
  cliGenerate,
  launchBrowser,
  oneLine,
  serve,
  setMaxTokens,
  turnCount,
  waitAnswerDone,
  waitReady,
  INIT_SCRIPT,
} from "./lib.mjs";
import { assert, createChecks } from "./checks.mjs";

const PROMPT = "What is the capital of France?";
const MAX_TOKENS = 32;
/** The whole run on the reference machine (budget: × scale × SAFETY). */
const DEADLINE_REF_S = 70;

// ---------------------------------------------------------------- reporting

const { check, fail, finish, abort } = createChecks();
const facts = {};

// ------------------------------------------------------------ damaged models

/** The first half of the real model file: a GGUF whose tensors run past its end. */
function truncatedModel() {
  const path = existsSync(join(ROOT, "assets", MODEL_PATH)) ? join(ROOT, "assets", MODEL_PATH) : join(DIST, MODEL_PATH);
  const half = Math.floor(statSync(path).size / 2);
  const buf = Buffer.alloc(half);
  const fd = openSync(path, "r");
  try {
    readSync(fd, buf, 0, half, 0);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** Some text bytes served as a .gguf: not a GGUF file at all. */
const NOT_A_MODEL = Buffer.from("<!doctype html><title>Not found</title>\nThis is a web page, not a model.\n".repeat(20));
const NOT_A_MODEL_PATH = "/models/not-a-model.gguf";

// ------------------------------------------------------------------- main

async function main() {
  const started = Date.now();
  pace.deadline(DEADLINE_REF_S, abort);

  if (!existsSync(join(DIST, "index.html")) || !existsSync(join(DIST, MODEL_PATH))) {
    abort("dist/index.html or the model is missing; run tests/e2e/build.sh first");
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const cliPromise = cliGenerate(PROMPT, MAX_TOKENS);
  cliPromise.catch(() => {});
  const { server, hits, routes, port } = await serve(DIST);
  const base = `http://127.0.0.1:${port}/`;
  const profile = mkdtempSync(join(tmpdir(), "persona-e2e-"));
  const browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1200, height: 820 } });
  const page = await context.newPage();
  const pageErrors = [];
  const consoleErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  await page.addInitScript(INIT_SCRIPT);

  try {
    // 1. First visit: download with progress, store in the Cache API.
    await check("first visit loads the model from the network with progress", async () => {
      await page.goto(base);
      const ready = await waitReady(page);
      const texts = await page.evaluate(() => window.__statusTexts);
      const progress = texts.find((t) => /Downloading the model.*MB of .*MB · \d+%/.test(t));
      assert(progress, `no progress text with bytes and percent was shown; saw: ${texts.slice(0, 5).join(" | ")}`);
      assert(hits.get(MODEL_PATH) === 1, `the model was requested ${hits.get(MODEL_PATH) || 0} times`);
      assert(ready.cache === "stored", `ready.cache = ${ready.cache} (want "stored")`);
      facts.backend = ready.backend;
      facts.firstLoad = ready.text;
      const tasks = (await page.evaluate(() => window.__longTasks)) || [];
      const longest = tasks.reduce((m, t) => Math.max(m, t.duration), 0);
      return `"${progress}"; "${ready.text}"; longest main-thread task during start-up ${longest.toFixed(0)} ms`;
    });
    // The model is in the Cache API now: measure this run's speed in a second page.
    await pace.calibrate(context, base);

    // 2. Greedy answer, streamed, equal to the CLI.
    let first;
    await check(`greedy answer to "${PROMPT}" (${MAX_TOKENS} tokens) equals the CLI's`, async () => {
      assert(await page.isChecked("#greedy"), "greedy decoding is not the default");
      await setMaxTokens(page, MAX_TOKENS);
      first = await ask(page, PROMPT, { ref: 6 });
      const cli = await cliPromise;
      facts.cli = cli;
      assert(
        first.text === cli.text,
        `browser: ${JSON.stringify(first.text)}\n       cli:     ${JSON.stringify(cli.text)}`,
      );
      assert(first.stop === cli.stop_reason, `stop ${first.stop} vs CLI ${cli.stop_reason}`);
      return JSON.stringify(first.text);
    });

    if (first) {
      await check("the answer streamed token by token with live tokens/s", async () => {
        // One render per token that completed text (a few tokens complete none).
        const growing = first.lengths.filter((l) => l > 0).length;
        const tokens = facts.cli ? facts.cli.generated_ids.length : 8;
        assert(
          growing >= Math.min(5, tokens - 2),
          `only ${growing} renders for ${tokens} tokens: ${first.lengths.join(",")}`,
        );
        assert(first.lives.length > 0, "no live tokens/s was shown while streaming");
        facts.tps = first.tps;
        facts.liveTps = first.lives[first.lives.length - 1];
        return `${growing} renders for ${tokens} tokens (lengths ${first.lengths.join(",")}); live ${facts.liveTps.toFixed(1)} tokens/s; final: ${first.meta}`;
      });

      await check("no long main-thread task while streaming", async () => {
        const tasks = first.longTasks;
        assert(tasks !== null, "PerformanceObserver longtask is not supported");
        const longest = tasks.reduce((m, t) => Math.max(m, t.duration), 0);
        facts.longestTask = longest;
        assert(longest < 200, `longest task ${longest.toFixed(0)} ms`);
        return `${tasks.length} long tasks (>50 ms), longest ${longest.toFixed(0)} ms`;
      });
    }

    await page.screenshot({ path: join(ARTIFACTS, "answer.png") });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.waitForTimeout(400); // let the colour transitions settle
    await page.screenshot({ path: join(ARTIFACTS, "answer-dark.png") });
    await page.emulateMedia({ colorScheme: "light" });

    // 3. Empty message: readable error, then the page still works (second turn).
    await check("an empty message shows a readable error and the page keeps working", async () => {
      const before = await turnCount(page);
      await page.fill("#message", "");
      await page.press("#message", "Enter");
      const banner = page.locator(".banner[role=alert]");
      await pace.wait("empty-message banner", 1, (timeout) => banner.waitFor({ timeout }));
      const text = (await banner.innerText()).replace(/\s*\n+\s*/g, " / ").trim();
      assert(/empty/i.test(text), `banner text: ${text}`);
      assert(/type/i.test(text), `banner gives no advice: ${text}`);
      assert((await turnCount(page)) === before, "the failed message stayed in the conversation");
      await page.screenshot({ path: join(ARTIFACTS, "error.png") });
      await setMaxTokens(page, 12);
      const second = await ask(page, "And of Germany?", { ref: 4 });
      assert(second.text.length > 0, "no answer after the error");
      assert((await banner.count()) === 0, "the banner did not go away after a successful send");
      assert((await turnCount(page)) === before + 2, "the follow-up is not a new turn");
      return `banner: "${text}"; follow-up answer: ${JSON.stringify(second.text)}`;
    });

    // 4. A long answer: the log follows it until the reader scrolls away; Cancel.
    await check("the log follows a streaming answer, stays where the reader scrolls, and Cancel stops it mid-stream", async () => {
      await setMaxTokens(page, 400);
      await page.fill("#message", "Write a long story about a lighthouse keeper.");
      await page.press("#message", "Enter");
      const answer = page.locator(".turn.assistant").last();
      await pace.wait("240 characters of a long story", 6, (timeout) =>
        page.waitForFunction(
          () => {
            const a = [...document.querySelectorAll(".turn.assistant")].pop();
            return a && a.querySelector(".text").textContent.length > 240;
          },
          null,
          { timeout },
        ),
      );
      const live = Number(await answer.locator(".meta.live").getAttribute("data-tps"));
      facts.sustainedTps = live;
      await page.screenshot({ path: join(ARTIFACTS, "streaming.png") });
      // Following: once the log overflows, its end stays in view.
      const logState = () =>
        page.evaluate(() => {
          const log = document.getElementById("log");
          const text = [...document.querySelectorAll(".turn.assistant")].pop().querySelector(".text").textContent;
          return { top: log.scrollTop, gap: log.scrollHeight - log.scrollTop - log.clientHeight, over: log.scrollHeight - log.clientHeight, chars: text.length };
        });
      await pace.until(page, "the log overflows", 10, () => {
        const log = document.getElementById("log");
        return log.scrollHeight > log.clientHeight + 200;
      });
      await pace.until(page, "the log's end in view", 1, () => {
        const log = document.getElementById("log");
        return log.scrollHeight - log.scrollTop - log.clientHeight < 96;
      });
      // The reader scrolls up: new text must not pull the view back down.
      await page.evaluate(() => document.getElementById("log").scrollTo(0, 0));
      const up = await logState();
      await pace.until(page, "80 more characters", 3, (n) => {
        const a = [...document.querySelectorAll(".turn.assistant")].pop();
        return a.querySelector(".text").textContent.length > n;
      }, up.chars + 80);
      const later = await logState();
      assert(later.top < 50, `the log scrolled back down to ${later.top} px while the reader was at the top (${later.chars} characters)`);
      const t0 = Date.now();
      await page.click("button.danger");
      await waitAnswerDone(page, "the cancelled answer stops", 1);
      const ms = Date.now() - t0;
      const stop = await answer.locator(".meta").getAttribute("data-stop");
      assert(stop === "cancelled", `stop reason ${stop}`);
      assert(await page.isVisible("button[type=submit]"), "Send did not come back");
      return `followed to the end, stayed at ${later.top} px after scrolling up (${up.chars} → ${later.chars} characters); stopped ${ms} ms after the click; live speed before it ${live.toFixed(1)} tokens/s`;
    });

    // 5. Reload: the model comes from the Cache API.
    await check("a reload reads the model from the Cache API, not the network", async () => {
      const before = hits.get(MODEL_PATH) || 0;
      await page.reload();
      const ready = await waitReady(page, { ref: 8 });
      const texts = await page.evaluate(() => window.__statusTexts);
      assert(ready.cache === "hit", `ready.cache = ${ready.cache} (want "hit")`);
      assert((hits.get(MODEL_PATH) || 0) === before, "the model was downloaded again");
      assert(
        texts.some((t) => /browser cache/.test(t)),
        "the page never said the model came from the browser cache",
      );
      facts.secondLoad = ready.text;
      return ready.text;
    });

    // 6. A worker that dies is replaced; the model comes back from the cache.
    await check("a crashed worker is replaced and the chat goes on", async () => {
      // The model worker (not one of its pool threads, which run wasm for good).
      const workers = page.workers().filter((w) => /\/worker(_mt(_relaxed)?)?_loader\.js$/.test(w.url()));
      assert(workers.length > 0, `Playwright sees no model worker: ${page.workers().map((w) => w.url()).join(", ")}`);
      const before = hits.get(MODEL_PATH) || 0;
      await workers[workers.length - 1].evaluate(() => {
        setTimeout(() => {
          throw new Error("simulated crash");
        }, 0);
      });
      const banner = page.locator('.banner[data-kind="worker_crashed"]');
      await pace.wait("worker_crashed banner", 1, (timeout) => banner.waitFor({ timeout }));
      const text = (await banner.innerText()).replace(/\s*\n+\s*/g, " / ").trim();
      await page.screenshot({ path: join(ARTIFACTS, "crash.png") });
      const ready = await waitReady(page, { ref: 8 });
      assert(ready.cache === "hit", `the new worker got the model from ${ready.cache}`);
      assert((hits.get(MODEL_PATH) || 0) === before, "the model was downloaded again");
      await pace.wait("the crash banner goes", 1, (timeout) => banner.waitFor({ state: "detached", timeout }));
      await setMaxTokens(page, 8);
      const after = await ask(page, "Hello!", { ref: 4 });
      assert(after.text.length > 0, "no answer from the new worker");
      return `banner: "${text}"; then answered ${JSON.stringify(after.text)}`;
    });

    // 7. A slow download shows bytes, percent and time left.
    await check("a slow download shows bytes, percent and time left", async () => {
      const p3 = await context.newPage();
      await p3.goto(`${base}?model=${encodeURIComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf?slow=1")}`);
      await pace.wait("time left shown", 4, (timeout) =>
        p3.waitForFunction(() => /left/.test(document.querySelector(".model-status")?.textContent || ""), null, { timeout }),
      );
      const text = (await p3.innerText(".model-status")).replace(/\s*\n+\s*/g, " ").trim();
      const value = await p3.getAttribute(".model-status progress", "value");
      assert(/MB of 98\.4 MB · \d+% · about .* left/.test(text), `status: ${text}`);
      assert(Number(value) >= 0, `progress value ${value}`);
      await p3.screenshot({ path: join(ARTIFACTS, "loading.png") });
      await p3.close();
      return `"${text}"`;
    });

    // 8. A missing model file: an error that says what to do.
    await check("a missing model file shows an error with a retry", async () => {
      const p2 = await context.newPage();
      await p2.goto(`${base}?model=models/missing.gguf`);
      const banner = p2.locator('.banner[data-kind="model_fetch"]');
      await pace.wait("model_fetch banner", 5, (timeout) => banner.waitFor({ timeout }));
      const text = (await banner.innerText()).replace(/\s*\n+\s*/g, " / ").trim();
      assert(/404/.test(text), `banner: ${text}`);
      assert(await p2.isVisible("text=Try again"), "no Try again button");
      await p2.screenshot({ path: join(ARTIFACTS, "load-error.png") });
      await p2.close();
      return `"${text}"`;
    });

    // 9. A truncated model at the real model URL (fresh profile, so nothing is
    // cached yet): a readable error, nothing kept in the Cache API, and once
    // the server has the whole file again "Try again" loads it.
    await check("a truncated model file shows a readable error, is not cached, and Try again recovers", async () => {
      const ctx = await browser.newContext({ viewport: { width: 1200, height: 820 } });
      try {
        const p5 = await ctx.newPage();
        p5.on("pageerror", (e) => pageErrors.push(String(e)));
        routes.set(MODEL_PATH, truncatedModel());
        await p5.goto(base);
        const banner = p5.locator(".banner[role=alert]");
        await pace.wait("truncated-model banner", 8, (timeout) => banner.waitFor({ timeout }));
        const kind = await banner.getAttribute("data-kind");
        const text = await oneLine(banner);
        assert(kind === "model_file", `banner kind ${kind}: ${text}`);
        assert(/truncated/.test(text), `the banner does not say the file is truncated: ${text}`);
        assert(/Try again/.test(text), `the banner does not say what to do: ${text}`);
        assert((await p5.getAttribute(".model-status", "data-status")) === "failed", "the status is not 'failed'");
        await p5.screenshot({ path: join(ARTIFACTS, "truncated.png") });
        const modelUrl = new URL(MODEL_PATH, base).href;
        const stored = await cachedUrls(p5);
        assert(!stored.includes(modelUrl), `the truncated file was kept in the Cache API as ${modelUrl}`);
        routes.delete(MODEL_PATH);
        await p5.click('.banner button:has-text("Try again")');
        const ready = await waitReady(p5, { ref: 15 });
        assert(ready.cache === "stored", `after Try again ready.cache = ${ready.cache} (want "stored")`);
        await pace.wait("the truncated banner goes", 1, (timeout) => banner.waitFor({ state: "detached", timeout }));
        await setMaxTokens(p5, 8);
        const after = await ask(p5, "Hello!", { ref: 4 });
        assert(after.text.length > 0, "no answer after Try again");
        return `banner: "${text}"; then Try again: "${ready.text}", answered ${JSON.stringify(after.text)}`;
      } finally {
        routes.delete(MODEL_PATH);
        await ctx.close();
      }
    });

    // 10. A file that is not a GGUF at all: a readable error, not cached; the
    // real model still loads afterwards (from the cache, intact).
    await check("a file that is not a GGUF shows a readable error and a valid load works afterwards", async () => {
      const p6 = await context.newPage();
      try {
        routes.set(NOT_A_MODEL_PATH, NOT_A_MODEL);
        await p6.goto(`${base}?model=${encodeURIComponent(NOT_A_MODEL_PATH.slice(1))}`);
        const banner = p6.locator(".banner[role=alert]");
        await pace.wait("not-a-GGUF banner", 5, (timeout) => banner.waitFor({ timeout }));
        const kind = await banner.getAttribute("data-kind");
        const text = await oneLine(banner);
        assert(kind === "model_file", `banner kind ${kind}: ${text}`);
        assert(/not a GGUF file/.test(text), `the banner does not say it is not a GGUF file: ${text}`);
        assert(/Try again/.test(text), `the banner does not say what to do: ${text}`);
        await p6.screenshot({ path: join(ARTIFACTS, "not-gguf.png") });
        const modelUrl = new URL(MODEL_PATH, base).href;
        const stored = await cachedUrls(p6);
        assert(
          !stored.includes(new URL(NOT_A_MODEL_PATH, base).href),
          `the text file was kept in the Cache API: ${stored.join(", ")}`,
        );
        const cachedSize = await p6.evaluate(async (url) => {
          const hit = await (await caches.open("persona-models")).match(url);
          return hit ? (await hit.arrayBuffer()).byteLength : -1;
        }, modelUrl);
        const realSize = statSync(join(DIST, MODEL_PATH)).size;
        assert(cachedSize === realSize, `the cached model has ${cachedSize} bytes, the file ${realSize}`);
        await p6.goto(base);
        const ready = await waitReady(p6, { ref: 8 });
        assert(ready.cache === "hit", `ready.cache = ${ready.cache} (want "hit")`);
        assert((await p6.locator(".banner").count()) === 0, "the banner stayed after a valid load");
        await setMaxTokens(p6, 8);
        const after = await ask(p6, "Hello!", { ref: 4 });
        assert(after.text.length > 0, "no answer after the valid load");
        return `banner: "${text}"; then the real model: "${ready.text}"`;
      } finally {
        routes.delete(NOT_A_MODEL_PATH);
        await p6.close();
      }
    });

    // 11. No room in the Cache API: the model still loads, from memory, and the page says so.
    await check("a full storage quota keeps the model in memory and says so", async () => {
      const ctx = await browser.newContext({ viewport: { width: 1200, height: 820 } });
      const p4 = await ctx.newPage();
      const cdp = await ctx.newCDPSession(p4);
      await cdp.send("Storage.overrideQuotaForOrigin", {
        origin: base.replace(/\/$/, ""),
        quotaSize: 8 * 1024 * 1024,
      });
      await p4.goto(base);
      const ready = await waitReady(p4, { ref: 15 });
      assert(ready.cache === "memory-only", `ready.cache = ${ready.cache}`);
      assert(/not saved/.test(ready.text), `status: ${ready.text}`);
      await ctx.close();
      return `"${ready.text}"`;
    });

    await page.setViewportSize({ width: 420, height: 860 });
    await page.waitForTimeout(200);
    await page.screenshot({ path: join(ARTIFACTS, "narrow.png"), fullPage: true });

    await check("no uncaught page errors", async () => {
      assert(pageErrors.length === 0, pageErrors.join("\n"));
      return consoleErrors.length ? `${consoleErrors.length} console errors (expected: the 404)` : "";
    });
  } catch (e) {
    fail("unexpected", e);
  } finally {
    await browser.close().catch(() => {});
    server.close();
    rmSync(profile, { recursive: true, force: true });
    pace.stop();
  }

  console.log("");
  if (facts.backend) console.log(`backend: ${facts.backend}`);
  if (facts.tps) console.log(`browser decode speed: ${facts.tps.toFixed(1)} tokens/s (live display ${facts.liveTps?.toFixed(1)})`);
  if (facts.sustainedTps) console.log(`browser decode speed on a long answer (~60 tokens): ${facts.sustainedTps.toFixed(1)} tokens/s`);
  if (facts.cli) console.log(`CLI (${facts.cli.backend}) decode speed: ${facts.cli.tokens_per_second.toFixed(1)} tokens/s`);
  if (facts.longestTask !== undefined) console.log(`longest main-thread task while streaming: ${facts.longestTask.toFixed(0)} ms`);
  console.log(pace.summary());
  console.log(`runtime: ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${ARTIFACTS}`);
  finish();
}

main().catch((e) => {
  abort(e.stack || e);
});
