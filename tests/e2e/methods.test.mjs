// End-to-end test of the persona-steering methods in the playground.
//
// Serves dist/ (tests/e2e/build.sh), opens the page in headless Chromium and
// checks, from the UI: every method (Base, PP, PDD, SCR, MOD, Token-RS,
// Seq-RS) streams an answer (each in a new chat, so no answer sees and
// copies an earlier one); Soups is shown but disabled until an adapter
// is loaded; PDD shows one
// importance bar per persona attribute with the top-K highlighted, tinted
// tokens and a tooltip with rewards and base/steered probabilities; an SCR
// answer is the same twice with the same seed and α and changes after an α
// slider moves (the slider re-runs it in place), and shows its chunk strip;
// all α at zero gives a readable
// error; Cancel stops a steering run. Screenshots (light and dark):
// methods-pdd.png, methods-pdd-dark.png, methods-scr.png,
// methods-scr-dark.png, methods-panel.png in tests/e2e/artifacts/.
//
// Run: node tests/e2e/methods.test.mjs      (env: CHROMIUM, HEADFUL=1)
// Prints one line per check and a final `N passed, M failed`; exits 1 on failure.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ARTIFACTS, DIST, INIT_SCRIPT, ask, launchBrowser, pace, serve, setMaxTokens, waitAnswerDone, waitReady } from "./lib.mjs";
import { assert, createChecks } from "./checks.mjs";

const PROMPT = "Tell me about your weekend.";
const MAX_TOKENS = 12;
/** The whole run on the reference machine (budget: × scale × SAFETY). */
const DEADLINE_REF_S = 150;
/** A steered answer of up to 16 tokens on the reference machine (PDD's PIE pass and Seq-RS are the slowest). */
const STEERED_REF_S = 20;

const { check, fail, finish, abort } = createChecks();

async function pickMethod(page, name) {
  await page.check(`#method-${name}`);
}

async function setAlpha(page, expert, value) {
  await page.$eval(
    `#alpha-${expert}`,
    (el, v) => {
      el.value = String(v);
      el.dispatchEvent(new Event("input", { bubbles: true }));
    },
    value,
  );
}

/**
 * Starts timing in the page: resolves with the ms from now to the first token
 * drawn in a fresh (not stale) last answer, and that answer's state.
 */
function firstTokenTimer(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const t0 = performance.now();
        const seen = () => {
          const a = [...document.querySelectorAll(".turn.assistant")].pop();
          if (a && !a.dataset.stale && a.querySelector(".tok")) {
            obs.disconnect();
            resolve(performance.now() - t0);
          }
        };
        const obs = new MutationObserver(seen);
        obs.observe(document.body, { subtree: true, childList: true, attributes: true });
      }),
  );
}

/** The last answer's statistics line: prefill and cache figures. */
async function lastStats(page) {
  const s = page.locator(".turn.assistant").last().locator(".steer-stats");
  return {
    text: (await s.textContent()).trim(),
    prefill: Number(await s.getAttribute("data-prefill")),
    cached: Number(await s.getAttribute("data-cached")),
    ttft: Number(await s.getAttribute("data-ttft")),
    reusedImportance: (await s.getAttribute("data-reused-importance")) === "true",
  };
}

/** Starts over, so the next answer does not see (and copy) earlier ones. */
async function newChat(page) {
  const button = page.locator("button", { hasText: "New chat" });
  if (await button.isEnabled()) await button.click();
}

/** Asks with the current method in a new chat; returns ask()'s result plus the answer's trace facts. */
async function askSteered(page, text = PROMPT) {
  await newChat(page);
  const r = await ask(page, text, { ref: STEERED_REF_S });
  const a = r.answer;
  r.method = await a.getAttribute("data-method");
  r.tokens = await a.locator(".tok").count();
  r.tinted = await a.locator(".tok[data-reward]").count();
  return r;
}

async function main() {
  const started = Date.now();
  pace.deadline(DEADLINE_REF_S, abort);
  mkdirSync(ARTIFACTS, { recursive: true });
  const { server, port } = await serve(DIST);
  const base = `http://127.0.0.1:${port}/`;
  const profile = mkdtempSync(join(tmpdir(), "persona-methods-"));
  const browser = await launchBrowser();
  const pageErrors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(INIT_SCRIPT);
    const page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(base);
    const ready = await waitReady(page);
    console.log(`model: ${ready.text}`);
    await pace.calibrate(context, base);
    await setMaxTokens(page, MAX_TOKENS);

    await check("the method picker lists every method; Soups is disabled and says why", async () => {
      const names = await page.$$eval(".method-option .method-name", (els) => els.map((e) => e.textContent));
      assert(names.join(",") === "Base,PP,PDD,SCR,MOD,Token-RS,Seq-RS,Best-of-N,Soups", `methods: ${names}`);
      assert(await page.isDisabled("#method-soups"), "Soups is not disabled");
      const soups = await page.getAttribute('label[for="method-soups"]', "title");
      assert(/LoRA adapter/.test(soups), `Soups text: ${soups}`);
      const helps = await page.$$eval(".method-option", (els) => els.map((e) => (e.title || "").length));
      assert(helps.every((n) => n > 20), "a method has no explanation");
      await page.check("#method-scr");
      const shown = await page.textContent("#method-help");
      assert(/chunk/.test(shown), `the picked method's explanation: ${shown}`);
      return names.join(", ");
    });

    await check("Base is the plain chat and still answers", async () => {
      await pickMethod(page, "base");
      const r = await ask(page, PROMPT, { ref: 4 });
      assert(r.text.length > 0, "empty answer");
      assert((await r.answer.getAttribute("class")).indexOf("steered") < 0, "Base answer is drawn as steered");
      return JSON.stringify(r.text);
    });

    for (const m of ["pp", "pdd", "scr", "mod", "token-rs", "seq-rs", "best-of-n"]) {
      await check(`${m} streams an answer from the UI`, async () => {
        await pickMethod(page, m);
        const r = await askSteered(page);
        assert(r.method === m, `answer method ${r.method}`);
        assert(r.text.length > 0 && r.tokens > 0, `no tokens (${r.tokens})`);
        assert(r.tokens <= MAX_TOKENS, `${r.tokens} tokens for max ${MAX_TOKENS}`);
        const stats = await r.answer.locator(".steer-stats").textContent();
        assert(/tokens\/s/.test(stats) && /calls\/token/.test(stats) && /evaluations\/token/.test(stats), stats);
        if (["pdd", "scr", "token-rs", "seq-rs", "best-of-n"].includes(m)) assert(r.tinted > 0, "no token carries a reward");
        assert(/token evaluations\/token/.test(stats), stats);
        if (["scr", "token-rs", "seq-rs"].includes(m)) assert(/bound violations \d+ of \d+ tests/.test(stats), `no bound violations count: ${stats}`);
        const samples = (await page.locator("[data-testid=method-samples]").first().textContent()).trim();
        assert(samples.startsWith("Samples: ") && samples.length > 30, `what ${m} samples: ${JSON.stringify(samples)}`);
        if (m === "scr") assert(/mixture/.test(samples) && /exact preset/.test(samples), samples);
        return `${r.tokens} tokens ${JSON.stringify(r.text)} · ${stats.trim()}`;
      });
    }

    await check("PDD shows importance bars for a preset, the top-K highlighted, and a token tooltip", async () => {
      await pickMethod(page, "pdd");
      await page.selectOption("#persona", { label: "Captain Mara Vey" });
      const attrs = await page.locator(".persona-card .attributes li").count();
      const r = await askSteered(page, "What do you do on a rainy day?");
      const rows = await r.answer.locator(".imp-row").count();
      const selected = await r.answer.locator(".imp-row.selected").count();
      const k = Number(await page.inputValue("#top-k"));
      assert(rows === attrs && rows > 0, `${rows} bars for ${attrs} attributes`);
      assert(selected === k, `${selected} highlighted, K = ${k}`);
      const tok = r.answer.locator(".tok[data-reward]").nth(2);
      await tok.hover();
      const tip = r.answer.locator(".tooltip");
      await pace.wait("PDD tooltip", 1, (timeout) => tip.waitFor({ timeout }));
      const tipText = await tip.innerText();
      assert(/reward per attribute/i.test(tipText), `tooltip: ${tipText}`);
      assert(/base/i.test(tipText) && /steered/i.test(tipText), `tooltip has no alternatives: ${tipText}`);
      await r.answer.scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTIFACTS, "methods-pdd.png") });
      await page.emulateMedia({ colorScheme: "dark" });
      await page.waitForTimeout(300);
      await tok.hover();
      await page.screenshot({ path: join(ARTIFACTS, "methods-pdd-dark.png") });
      await page.emulateMedia({ colorScheme: "light" });
      await page.mouse.move(0, 0);
      // Keyboard: focusing a token opens the tooltip too.
      await tok.focus();
      assert(await tip.isVisible(), "focus does not open the tooltip");
      await tok.blur();
      // An importance slider re-runs the answer from the prefix cache with
      // PIE's importance kept: at most one position per view, no PIE token.
      await page.evaluate(() => ([...document.querySelectorAll(".turn.assistant")].pop().dataset.stale = "1"));
      const timer = firstTokenTimer(page);
      await page.locator(".turn.assistant").last().locator(".imp-slider").first().evaluate((el) => {
        el.value = "0.5";
        el.dispatchEvent(new Event("input", { bubbles: true }));
      });
      const toFirst = await pace.wait("PDD slider re-run's first token", STEERED_REF_S, (budget) =>
        Promise.race([timer, new Promise((_, fail) => setTimeout(() => fail(new Error("timeout")), budget))]),
      );
      await waitAnswerDone(page, "the PDD slider re-run", STEERED_REF_S);
      const st = await lastStats(page);
      assert(st.reusedImportance, `importance computed again: ${st.text}`);
      assert(st.prefill > 0 && st.prefill <= attrs + 1 && st.cached > 0, `re-run prefill: ${st.text}`);
      assert(/prefill: \d+ new positions, \d+ cached/.test(st.text), st.text);
      return `${rows} bars, ${selected} selected; tooltip "${tipText.replace(/\s*\n+\s*/g, " / ").slice(0, 160)}…"; slider re-run: first token ${toFirst.toFixed(0)} ms after the slider moved (350 ms debounce included; engine ${st.ttft.toFixed(0)} ms), ${st.prefill} positions computed, ${st.cached} cached`;
    });

    await check("SCR: same seed and α give the same answer; moving a slider changes it; chunk strip shown", async () => {
      await pickMethod(page, "scr");
      await page.click("text=Reset weights");
      await setMaxTokens(page, 16);
      const a = await askSteered(page);
      const b = await askSteered(page);
      assert(a.text === b.text, `two runs differ: ${JSON.stringify(a.text)} vs ${JSON.stringify(b.text)}`);
      // The second asks what the first did: its views start from the cache.
      const bs = await lastStats(page);
      assert(bs.prefill === 3 && bs.cached > 0, `second run's prefill: ${bs.text}`);
      const chunks = await b.answer.locator(".chunk").count();
      assert(chunks > 0, "no chunk strip");
      const logM = await b.answer.locator(".log-m").textContent();
      assert(/log M = -?[\d.]+/.test(logM), `log M: ${logM}`);
      await b.answer.scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTIFACTS, "methods-scr.png") });
      await page.emulateMedia({ colorScheme: "dark" });
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(ARTIFACTS, "methods-scr-dark.png") });
      await page.emulateMedia({ colorScheme: "light" });
      // Moving the sliders re-runs the last answer (same seed) in place.
      await page.evaluate(() => ([...document.querySelectorAll(".turn.assistant")].pop().dataset.stale = "1"));
      await setAlpha(page, "E", -1);
      await setAlpha(page, "I", 1);
      const shown = await page.textContent('.alpha[data-expert="E"] output');
      assert(/−1\.0/.test(shown), `slider shows ${shown}`);
      await pace.until(page, "SCR re-run after the sliders moved", STEERED_REF_S, () => {
        const a = [...document.querySelectorAll(".turn.assistant")].pop();
        return !a.dataset.stale && a.dataset.state === "done";
      });
      const c = { text: await page.locator(".turn.assistant").last().locator(".text").textContent() };
      assert(c.text !== b.text, `the answer did not change: ${JSON.stringify(c.text)}`);
      // A slider moved on the same experts: every view from the cache but
      // its last prompt token (I, new above, computed its prompt then).
      const views = 1 + (await page.$$eval('input[id^="alpha-"]', (els) => els.filter((e) => Number(e.value) !== 0).length));
      await page.evaluate(() => ([...document.querySelectorAll(".turn.assistant")].pop().dataset.stale = "1"));
      const timer = firstTokenTimer(page);
      await setAlpha(page, "E", -0.5);
      const toFirst = await pace.wait("SCR α re-run's first token", STEERED_REF_S, (budget) =>
        Promise.race([timer, new Promise((_, fail) => setTimeout(() => fail(new Error("timeout")), budget))]),
      );
      await waitAnswerDone(page, "the SCR α re-run", STEERED_REF_S);
      const cs = await lastStats(page);
      assert(cs.prefill === views && cs.cached > 0, `the α re-run computes one position per view (${views}): ${cs.text}`);
      return `${chunks} chunks, ${logM}; same: ${JSON.stringify(a.text)}; after α: ${JSON.stringify(c.text)}; α re-run: first token ${toFirst.toFixed(0)} ms after the slider moved (350 ms debounce included; engine ${cs.ttft.toFixed(0)} ms, of which prefill ${views} positions), ${cs.cached} positions cached`;
    });

    await check("all α at zero gives a readable error and the page keeps working", async () => {
      for (const e of ["E", "I", "S", "N", "T", "F", "J", "P"]) {
        if (await page.locator(`#alpha-${e}`).count()) await setAlpha(page, e, 0);
      }
      const before = await page.locator(".turn").count();
      await page.fill("#message", PROMPT);
      await page.press("#message", "Enter");
      const banner = page.locator(".banner[role=alert]");
      await pace.wait("all-α-zero banner", 2, (timeout) => banner.waitFor({ timeout }));
      const text = (await banner.innerText()).replace(/\s*\n+\s*/g, " / ");
      assert(/α/.test(text) && /zero/.test(text), `banner: ${text}`);
      await pace.until(page, "no turn added", 1, (n) => document.querySelectorAll(".turn").length === n, before);
      await page.click('.banner button:has-text("Dismiss")');
      await page.click("text=Reset weights");
      return `"${text}"`;
    });

    await check("the probe panel says it cannot score Best-of-N (from the method's description)", async () => {
      await pickMethod(page, "best-of-n");
      await page.click("#probe-run");
      const banner = page.locator(".banner[role=alert]");
      await pace.wait("probe refusal banner", 2, (timeout) => banner.waitFor({ timeout }));
      const text = (await banner.innerText()).replace(/\s*\n+\s*/g, " / ");
      assert(/cannot score Best-of-N/.test(text) && /closed-form/.test(text), `banner: ${text}`);
      await page.click('.banner button:has-text("Dismiss")');
      return `"${text}"`;
    });

    await check("Cancel stops a steering run", async () => {
      await pickMethod(page, "scr");
      await setMaxTokens(page, 300);
      await page.fill("#message", "Write a long story about a lighthouse keeper.");
      await page.press("#message", "Enter");
      await pace.until(page, "six SCR tokens of a long story", 10, () => [...document.querySelectorAll(".turn.assistant")].pop()?.querySelectorAll(".tok").length >= 6);
      const t0 = Date.now();
      await page.click("button.danger");
      await waitAnswerDone(page, "the cancelled SCR run stops", 2);
      const ms = Date.now() - t0;
      const stop = await page.locator(".turn.assistant").last().locator(".meta").getAttribute("data-stop");
      assert(stop === "cancelled", `stop ${stop}`);
      await setMaxTokens(page, MAX_TOKENS);
      const after = await askSteered(page, "Hello!");
      assert(after.text.length > 0, "no answer after the cancel");
      return `stopped ${ms} ms after the click; then answered ${JSON.stringify(after.text)}`;
    });

    await page.evaluate(() => document.querySelector(".side").scrollTo(0, 0));
    await pickMethod(page, "scr");
    await page.screenshot({ path: join(ARTIFACTS, "methods-panel.png") });

    await check("no uncaught page errors", async () => {
      assert(pageErrors.length === 0, pageErrors.join("\n"));
      return "";
    });
  } catch (e) {
    fail("unexpected", e.stack || String(e));
  } finally {
    await browser.close().catch(() => {});
    server.close();
    rmSync(profile, { recursive: true, force: true });
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
