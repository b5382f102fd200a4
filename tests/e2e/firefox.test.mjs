// End-to-end test of the playground's CPU path in Firefox: Debian's
// firefox-esr, headless, driven over WebDriver BiDi by puppeteer-core (no
// browser download; scripts/setup.sh firefox).
//
// Checks: the first visit downloads the model with progress and stores it in
// the Cache API; Firefox offers no WebGPU here, and the page says so (the
// badge reads "CPU (wasm relaxed-simd int8)" and its tooltip gives the reason) and runs
// on the CPU; the greedy answer to "What is the capital of France?" equals
// the CLI's text exactly; an SCR answer streams with rewards and a chunk
// strip, and the same seed gives it again; Cancel stops a long answer; a
// reload reads the model from the Cache API (the server sees no second
// download). Screenshots: firefox-answer.png, firefox-scr.png in
// tests/e2e/artifacts/.
//
// Run: node tests/e2e/firefox.test.mjs      (env: FIREFOX, PERSONA_BIN, HEADFUL=1)
// Prints one line per check and a final `N passed, M failed`; exits 1 on failure.

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  ARTIFACTS,
  DIST,
  INIT_SCRIPT,
  MODEL_PATH,
  ask,
  cliGenerate,
  cpuLabel,
  hasRelaxedSimd,
  launchFirefox,
  pace,
  sendMessage,
  serve,
  setMaxTokens,
  waitAnswerDone,
  waitReady,
} from "./lib.mjs";
import { assert, createChecks } from "./checks.mjs";

const PROMPT = "What is the capital of France?";
const MAX_TOKENS = 32;
const SCR_TOKENS = 8;
/** The whole run on the reference machine (budget: × scale × SAFETY). */
const DEADLINE_REF_S = 90;

const { check, fail, finish, abort } = createChecks();

/** Starts over, so an answer does not see (and copy) an earlier one. */
async function newChat(page) {
  await page.evaluate(() => {
    const b = [...document.querySelectorAll("button")].find((b) => b.textContent.trim() === "New chat");
    if (b && !b.disabled) b.click();
  });
  await pace.until(page, "new chat", 1, () => document.querySelectorAll(".turn").length === 0);
}

/** The newest answer's steered tokens, rewards and chunk facts. */
function steeredAnswer(page) {
  return page.evaluate(() => {
    const a = [...document.querySelectorAll(".turn.assistant")].pop();
    return {
      method: a.dataset.method,
      tokens: [...a.querySelectorAll(".tok")].map((t) => t.textContent),
      tinted: a.querySelectorAll(".tok[data-reward]").length,
      chunks: a.querySelectorAll(".chunk").length,
      logM: a.querySelector(".log-m")?.textContent ?? "",
      stats: a.querySelector(".steer-stats")?.textContent.trim() ?? "",
    };
  });
}

async function main() {
  const started = Date.now();
  pace.deadline(DEADLINE_REF_S, abort);
  if (!existsSync(join(DIST, "index.html")) || !existsSync(join(DIST, MODEL_PATH))) {
    abort("dist/index.html or the model is missing; run tests/e2e/build.sh first");
  }
  if (!existsSync("/usr/bin/firefox-esr") && !process.env.FIREFOX) abort("no firefox-esr; run scripts/setup.sh firefox");
  mkdirSync(ARTIFACTS, { recursive: true });
  const cliPromise = cliGenerate(PROMPT, MAX_TOKENS);
  cliPromise.catch(() => {});
  const { server, hits, port } = await serve(DIST);
  const base = `http://127.0.0.1:${port}/`;
  const browser = await launchFirefox();
  console.log(`browser: ${await browser.version()} (WebDriver BiDi)`);
  const errors = [];
  const page = await browser.newPage();
  page.on("pageerror", (e) => errors.push(String(e && e.message ? e.message : e)));
  await page.evaluateOnNewDocument(INIT_SCRIPT);

  try {
    let ready;
    let relaxed = true;
    await check("first visit loads the model from the network with progress and stores it", async () => {
      await page.goto(base);
      ready = await waitReady(page);
      const texts = await page.evaluate(() => window.__statusTexts);
      const progress = texts.find((t) => /Downloading the model.*MB of .*MB · \d+%/.test(t));
      assert(progress, `no progress text with bytes and percent; saw: ${texts.slice(0, 5).join(" | ")}`);
      assert(hits.get(MODEL_PATH) === 1, `the model was requested ${hits.get(MODEL_PATH) || 0} times`);
      assert(ready.cache === "stored", `ready.cache = ${ready.cache} (want "stored")`);
      return `"${progress}"; "${ready.text}"`;
    });

    await check("no WebGPU in Firefox here: the page says so and runs on the CPU", async () => {
      assert(ready, "the model did not load");
      // Firefox validates relaxed-simd here, so the page loads that build.
      relaxed = await hasRelaxedSimd(page);
      assert(ready.label === cpuLabel({ relaxed }), `backend label ${ready.label}`);
      assert(ready.notGpu && /WebGPU/.test(ready.notGpu), `no reason recorded: ${ready.notGpu}`);
      const badge = await page.evaluate(() => {
        const b = document.querySelector(".backend-badge");
        return { text: b.innerText.trim(), title: b.title };
      });
      assert(badge.text.startsWith(`${cpuLabel({ relaxed })} · `) && /· \d+ threads?$/.test(badge.text), `badge: ${badge.text}`);
      assert(badge.title.includes(ready.notGpu), `the badge's tooltip does not give the reason: ${badge.title}`);
      assert(ready.text.includes(`Not on WebGPU: ${ready.notGpu}`), `the status does not say why: ${ready.text}`);
      const banner = await page.evaluate(() => document.querySelector(".banner[role=alert]")?.dataset.kind ?? null);
      assert(banner === null, `an unasked-for banner: ${banner}`);
      return `badge "${badge.text}"; status "${ready.text}"`;
    });

    await pace.calibrate(browser, base);
    await page.bringToFront();

    let first;
    await check(`greedy answer to "${PROMPT}" (${MAX_TOKENS} tokens) equals the CLI's`, async () => {
      await setMaxTokens(page, MAX_TOKENS);
      first = await ask(page, PROMPT, { ref: 6 });
      const cli = await cliPromise;
      assert(first.text === cli.text, `Firefox: ${JSON.stringify(first.text)}\n       CLI:     ${JSON.stringify(cli.text)}`);
      assert(first.stop === cli.stop_reason, `stop ${first.stop} vs CLI ${cli.stop_reason}`);
      assert(first.meta.includes(cpuLabel({ relaxed })), `stats line: ${first.meta}`);
      await page.screenshot({ path: join(ARTIFACTS, "firefox-answer.png") });
      return `${JSON.stringify(first.text)}; ${first.meta}`;
    });

    await check(`an SCR answer (${SCR_TOKENS} tokens) streams with rewards and chunks; the same seed gives it again`, async () => {
      await page.click("#method-scr");
      await setMaxTokens(page, SCR_TOKENS);
      const runs = [];
      for (let i = 0; i < 2; i++) {
        await newChat(page);
        const r = await ask(page, "Tell me about your weekend.", { ref: 15 });
        runs.push({ ...(await steeredAnswer(page)), text: r.text });
      }
      const [a, b] = runs;
      assert(a.method === "scr", `answer method ${a.method}`);
      assert(a.tokens.length > 0 && a.tokens.length <= SCR_TOKENS, `${a.tokens.length} tokens`);
      assert(a.tinted > 0, "no token carries a reward");
      assert(a.chunks > 0 && /log M = -?[\d.]+/.test(a.logM), `chunks ${a.chunks}, "${a.logM}"`);
      assert(/calls\/token/.test(a.stats), `stats: ${a.stats}`);
      assert(a.tokens.join("|") === b.tokens.join("|"), `same seed, other tokens: ${a.tokens.join("|")} vs ${b.tokens.join("|")}`);
      await page.screenshot({ path: join(ARTIFACTS, "firefox-scr.png") });
      return `${JSON.stringify(a.text)} twice; ${a.chunks} chunks, ${a.logM}; ${a.stats}`;
    });

    await check("Cancel stops an answer mid-stream", async () => {
      await page.click("#method-base");
      await newChat(page);
      await setMaxTokens(page, 400);
      await sendMessage(page, "Write a long story about a lighthouse keeper.");
      await pace.until(page, "120 characters of a long story", 6, () => {
        const a = [...document.querySelectorAll(".turn.assistant")].pop();
        return a && a.querySelector(".text").textContent.length > 120;
      });
      const t0 = Date.now();
      await page.click("button.danger");
      await waitAnswerDone(page, "the cancelled answer stops", 1);
      const ms = Date.now() - t0;
      const after = await page.evaluate(() => ({
        stop: [...document.querySelectorAll(".turn.assistant")].pop().querySelector(".meta").dataset.stop,
        send: !!document.querySelector("button[type=submit]"),
      }));
      assert(after.stop === "cancelled", `stop reason ${after.stop}`);
      assert(after.send, "Send did not come back");
      return `stopped ${ms} ms after the click`;
    });

    await check("a reload reads the model from the Cache API, not the network", async () => {
      const before = hits.get(MODEL_PATH) || 0;
      await page.reload();
      const again = await waitReady(page, { ref: 8 });
      const texts = await page.evaluate(() => window.__statusTexts);
      assert(again.cache === "hit", `ready.cache = ${again.cache} (want "hit")`);
      assert((hits.get(MODEL_PATH) || 0) === before, "the model was downloaded again");
      assert(texts.some((t) => /browser cache/.test(t)), "the page never said the model came from the browser cache");
      await setMaxTokens(page, 8);
      const r = await ask(page, "Hello!", { ref: 4 });
      assert(r.text.length > 0, "no answer after the reload");
      return `"${again.text}"; then answered ${JSON.stringify(r.text)}`;
    });

    await check("no uncaught page errors", async () => {
      assert(errors.length === 0, errors.join("\n"));
    });
  } catch (e) {
    fail("unexpected", e.stack || String(e));
  } finally {
    await browser.close().catch(() => {});
    server.close();
    pace.stop();
  }
  console.log("");
  console.log(pace.summary());
  console.log(`runtime: ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${ARTIFACTS}`);
  finish();
}

main().catch((e) => {
  abort(e.stack || e);
});
