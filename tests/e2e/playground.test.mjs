// End-to-end test of the playground's research tools in headless Chromium.
//
// Serves dist/ (tests/e2e/build.sh) and checks, from the UI: PDD's importance
// bars with override sliders (moving one re-runs the answer with the same
// seed); an α slider re-runs an SCR answer deterministically (same α, same
// answer; another α, another answer); a two-turn steered conversation (the
// second run carries the first turn); compare mode streams two answers at
// once (no long main-thread task meanwhile); a trace exported from the page
// and imported again draws the same tokens, bars and chunks without the
// model; bad adapter files (another base model, wrong shapes, NaN, a missing
// file) give readable errors and the page keeps working, while a good one
// (shipped in the listing, or picked from disk) becomes an expert with its
// own α slider; the settings survive a round trip through the URL; the axis
// probe panel draws four bars; the pole contrast answers one question with
// one expert at α = −1, 0, +1 side by side, a probe bar each. Screenshots land in tests/e2e/artifacts/
// (playground-*.png).
//
// Run: node tests/e2e/playground.test.mjs      (env: CHROMIUM, HEADFUL=1)
// Prints one line per check and a final `N passed, M failed`; exits 1 on failure.

import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ARTIFACTS, DIST, INIT_SCRIPT, ask, fillIn, launchBrowser, pace, serve, setMaxTokens, waitAnswerDone, waitReady } from "./lib.mjs";
import { assert, createChecks } from "./checks.mjs";
import { adapterFiles } from "./adapters.mjs";

/** The whole run on the reference machine (budget: × scale × SAFETY). */
const DEADLINE_REF_S = 240;
/** A steered answer of up to 24 tokens (or a re-run) on the reference machine. */
const STEERED_REF_S = 20;
const PROMPT = "Tell me about your weekend.";

const { check, fail, finish, abort } = createChecks();

async function setRange(page, selector, value) {
  await page.$eval(
    selector,
    (el, v) => {
      el.value = String(v);
      el.dispatchEvent(new Event("input", { bubbles: true }));
    },
    value,
  );
}

/** Marks the newest answer, so a re-run (a new answer element) can be told apart. */
async function markAnswer(page) {
  await page.evaluate(() => {
    const a = [...document.querySelectorAll(".turn.assistant")].pop();
    if (a) a.dataset.stale = "1";
  });
}

/** Waits for the newest answer to be a fresh one and finished; returns its token texts. */
async function waitRerun(page, label = "re-run") {
  await pace.until(page, label, STEERED_REF_S, () => {
    const a = [...document.querySelectorAll(".turn.assistant")].pop();
    return a && !a.dataset.stale && a.dataset.state === "done";
  });
  return tokensOf(page.locator(".turn.assistant").last());
}

async function tokensOf(scope) {
  return scope.locator(".tok").evaluateAll((els) => els.map((e) => e.textContent));
}

/** Each token's reward as the answer shows it (`data-reward`, 4 decimals). */
async function rewardsOf(scope) {
  return scope.locator(".tok").evaluateAll((els) => els.map((e) => e.dataset.reward ?? ""));
}

async function pick(page, method, lane = "") {
  await page.check(`#${lane}method-${method}`);
}

/** Waits until nothing runs: the sliders rested, no answer is written, Send is back. */
async function idle(page) {
  await page.waitForTimeout(500);
  await pace.until(
    page,
    "idle",
    STEERED_REF_S,
    () =>
      ![...document.querySelectorAll(".turn.assistant")].some((a) => a.dataset.state === "streaming") &&
      document.querySelector("button[type=submit]:not([disabled])"),
  );
}

/** Starts over (when there is a conversation to clear). */
async function newChat(page) {
  const button = page.locator("button", { hasText: "New chat" });
  if (await button.isEnabled()) await button.click();
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(ARTIFACTS, `${name}-dark.png`) });
  await page.emulateMedia({ colorScheme: "light" });
}

async function main() {
  const started = Date.now();
  pace.deadline(DEADLINE_REF_S, abort);
  mkdirSync(ARTIFACTS, { recursive: true });
  // A "shipped" adapter served as if the build had listed it.
  const good = adapterFiles.good();
  const routes = new Map([
    [
      "/adapters/index.json",
      Buffer.from(
        JSON.stringify([
          {
            name: "demo-warm",
            card: "# demo-warm\n\nA tiny rank-2 LoRA made by the test (q_proj and v_proj).\n\n- base: SmolLM2-135M-Instruct\n- r = 2, lora_alpha = 4",
          },
        ]),
      ),
    ],
    ["/adapters/demo-warm/adapter_config.json", good.config],
    ["/adapters/demo-warm/adapter_model.safetensors", good.weights],
  ]);
  const { server, port } = await serve(DIST, routes);
  const base = `http://127.0.0.1:${port}/`;
  const browser = await launchBrowser();
  const pageErrors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
    await context.addInitScript(INIT_SCRIPT);
    const page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(base);
    const ready = await waitReady(page);
    console.log(`model: ${ready.text}`);
    await pace.calibrate(context, base);
    await setMaxTokens(page, 12);

    await check("PDD: importance bars with override sliders; moving one re-runs with the same seed", async () => {
      await pick(page, "pdd");
      await page.selectOption("#persona", { label: "Captain Mara Vey" });
      const r = await ask(page, "What do you do on a rainy day?", { ref: STEERED_REF_S });
      const before = await tokensOf(r.answer);
      const rewardsBefore = await rewardsOf(r.answer);
      const sliders = r.answer.locator(".imp-slider");
      const n = await sliders.count();
      const bars = await r.answer.locator(".imp-row").count();
      assert(n === bars && n > 0, `${n} sliders for ${bars} bars`);
      // Put all weight on the least important attribute.
      const weights = await r.answer.locator(".imp-num").allTextContents();
      const last = weights.map(Number).reduce((m, w, i, a) => (w < a[m] ? i : m), 0);
      await markAnswer(page);
      // All sliders in one task, as one gesture (the re-run waits for the sliders to rest).
      await r.answer.locator(".imp-slider").evaluateAll((els, last) => {
        els.forEach((el, i) => {
          el.value = i === last ? "1" : "0";
          el.dispatchEvent(new Event("input", { bubbles: true }));
        });
      }, last);
      const after = await waitRerun(page, "PDD re-run with the slider weights");
      const answer = page.locator(".turn.assistant").last();
      const override = await answer.locator(".importance").getAttribute("data-override");
      const selected = await answer.locator(".imp-row.selected").count();
      assert(override === "true", "the re-run does not use the slider weights");
      assert(selected === 1, `${selected} attributes selected, want the one with weight 1`);
      // The override reaches the decoder: each token's reward R is
      // recomputed with the new weights, whether or not a greedy token flips.
      const rewardsAfter = await rewardsOf(answer);
      assert(
        after.join("") !== before.join("") || rewardsAfter.join() !== rewardsBefore.join(),
        `neither the answer nor its rewards changed: ${JSON.stringify(after.join(""))}, rewards ${rewardsAfter.join(" ")}`,
      );
      await answer.scrollIntoViewIfNeeded();
      await shot(page, "playground-pdd-override");
      // The same override again: the same answer (same seed).
      await markAnswer(page);
      await setRange(page, `.turn.assistant:last-child .imp-row:nth-child(${last + 1}) .imp-slider`, 1);
      const again = await waitRerun(page, "PDD re-run, same weights");
      assert(again.join("") === after.join(""), `same weights, different answer: ${JSON.stringify(again.join(""))}`);
      const rewardsAgain = await rewardsOf(page.locator(".turn.assistant").last());
      assert(rewardsAgain.join() === rewardsAfter.join(), `same weights, different rewards: ${rewardsAgain.join(" ")}`);
      return `${n} sliders; PIE answer ${JSON.stringify(before.join(""))} (rewards ${rewardsBefore.join(" ")}) → override ${JSON.stringify(after.join(""))} (rewards ${rewardsAfter.join(" ")})`;
    });

    await check("SCR: moving an α slider re-runs the answer; the same α gives the same answer, another α another", async () => {
      await pick(page, "scr");
      await page.click("text=Reset weights");
      await setMaxTokens(page, 16);
      const r = await ask(page, PROMPT, { ref: STEERED_REF_S });
      const first = await tokensOf(r.answer);
      await markAnswer(page);
      await setRange(page, "#alpha-E", -1);
      await setRange(page, "#alpha-I", 1);
      const moved = await waitRerun(page, "SCR re-run, α moved");
      assert(moved.join("") !== first.join(""), `α moved, same answer: ${JSON.stringify(first.join(""))}`);
      await markAnswer(page);
      await setRange(page, "#alpha-E", 0.6);
      await setRange(page, "#alpha-I", 0);
      const back = await waitRerun(page, "SCR re-run, α back");
      assert(back.join("") === first.join(""), `α back, answer ${JSON.stringify(back.join(""))} vs ${JSON.stringify(first.join(""))}`);
      return `${JSON.stringify(first.join(""))} → ${JSON.stringify(moved.join(""))} → back to the first`;
    });

    await check("a two-turn steered conversation: the second run carries the first turn", async () => {
      await newChat(page);
      await pick(page, "pp");
      await setMaxTokens(page, 10);
      const one = await ask(page, "My name is Ada. Where do you sail?", { ref: STEERED_REF_S });
      const two = await ask(page, "What is my name?", { ref: STEERED_REF_S });
      assert(one.text.length > 0 && two.text.length > 0, "an empty answer");
      assert((await page.locator(".turn").count()) === 4, "not four turns");
      const download = page.waitForEvent("download");
      await two.answer.locator("button.export").click();
      const file = await (await download).path();
      const trace = JSON.parse(readFileSync(file, "utf8"));
      const h = trace.config.history;
      assert(h.length === 2 && h[0].role === "user" && h[1].role === "assistant", `history: ${JSON.stringify(h)}`);
      assert(h[0].content === "My name is Ada. Where do you sail?", `first turn: ${h[0].content}`);
      assert(h[1].content === one.text, `answer in history ${JSON.stringify(h[1].content)} vs ${JSON.stringify(one.text)}`);
      await shot(page, "playground-multiturn");
      return `turn 2 answered ${JSON.stringify(two.text)} with ${h.length} earlier turns`;
    });

    await check("trace export then import redraws the same tokens, bars and chunks without the model", async () => {
      await pick(page, "scr");
      await setMaxTokens(page, 16);
      const r = await ask(page, PROMPT, { ref: STEERED_REF_S });
      const tokens = await tokensOf(r.answer);
      const chunks = await r.answer.locator(".chunk").count();
      const rewards = await r.answer.locator(".tok[data-reward]").evaluateAll((els) => els.map((e) => e.dataset.reward));
      const download = page.waitForEvent("download");
      await r.answer.locator("button.export").click();
      const dl = await download;
      const path = await dl.path();
      const trace = JSON.parse(readFileSync(path, "utf8"));
      assert(trace.version === 1 && trace.events.length > 0, "not a trace");
      assert(trace.text === tokens.join(""), "the trace's text differs from the tokens");
      await page.setInputFiles("#import-trace", { name: dl.suggestedFilename(), mimeType: "application/json", buffer: readFileSync(path) });
      await pace.wait("the replay drawn", 2, (timeout) => page.waitForSelector(".turn.assistant .stats-row .meta", { timeout }));
      const replay = page.locator(".turn.assistant").last();
      const turns = await page.locator(".turn").count();
      assert(turns === trace.config.history.length + 2, `the replay has ${turns} turns for ${trace.config.history.length} earlier ones`);
      const again = await tokensOf(replay);
      const againRewards = await replay.locator(".tok[data-reward]").evaluateAll((els) => els.map((e) => e.dataset.reward));
      assert(again.join("|") === tokens.join("|"), `tokens differ: ${again.join("|")}`);
      assert(againRewards.join() === rewards.join(), "rewards differ");
      assert((await replay.locator(".chunk").count()) === chunks, "chunk strip differs");
      const meta = await replay.locator(".steer-stats").textContent();
      assert(/replayed from/.test(meta), `stats: ${meta}`);
      await replay.locator(".tok").nth(1).hover();
      await pace.wait("replay tooltip", 1, (timeout) => replay.locator(".tooltip").waitFor({ timeout }));
      await shot(page, "playground-replay");
      await page.mouse.move(0, 0);
      // A file that is not a trace: a readable error, the replay stays.
      await page.setInputFiles("#import-trace", { name: "notes.json", mimeType: "application/json", buffer: Buffer.from('{"hello": 1}') });
      const banner = page.locator('.banner[data-kind="trace_file"]');
      await pace.wait("trace_file banner", 1, (timeout) => banner.waitFor({ timeout }));
      const text = (await banner.innerText()).replace(/\s*\n+\s*/g, " / ");
      await page.click('.banner button:has-text("Dismiss")');
      return `${tokens.length} tokens, ${chunks} chunks replayed (${dl.suggestedFilename()}); bad file: "${text.slice(0, 90)}…"`;
    });

    await check("compare mode streams two answers side by side at once", async () => {
      await newChat(page);
      await pick(page, "scr");
      await page.click("text=Reset weights");
      await page.check("#compare");
      await pace.wait("lane B ready", 10, (timeout) => page.waitForSelector('.model-status .lane-b[data-status="ready"]', { timeout }));
      await pick(page, "mod", "b-");
      await setMaxTokens(page, 24);
      await page.evaluate(() => {
        window.__longTasks && (window.__longTasks.length = 0);
        window.__both = false;
        const watch = setInterval(() => {
          const cols = document.querySelectorAll(".turn.assistant:last-child .steered-answer");
          // Both workers busy, and one already writing while the other works.
          const streaming = [...cols].every((c) => c.dataset.state === "streaming");
          if (cols.length === 2 && streaming && [...cols].some((c) => c.querySelector(".tok"))) {
            window.__both = true;
            clearInterval(watch);
          }
        }, 20);
      });
      await page.fill("#message", "Describe your ideal holiday.");
      await page.press("#message", "Enter");
      await pace.until(page, "both lanes streaming", 10, () => window.__both);
      await page.locator(".side").evaluate((el) => el.scrollTo(0, 0));
      await page.screenshot({ path: join(ARTIFACTS, "playground-compare-streaming.png") });
      await waitAnswerDone(page, "compare answers (SCR and MOD, 24 tokens)", 2 * STEERED_REF_S);
      const cols = page.locator(".turn.assistant").last().locator(".steered-answer");
      assert((await cols.count()) === 2, "not two columns");
      const a = (await tokensOf(cols.nth(0))).join("");
      const b = (await tokensOf(cols.nth(1))).join("");
      const methods = await cols.evaluateAll((els) => els.map((e) => e.dataset.method));
      assert(methods.join() === "scr,mod", `columns ${methods}`);
      assert(a.length > 0 && b.length > 0, "a column is empty");
      const stats = await cols.locator(".steer-stats").allTextContents();
      assert(stats.every((s) => /decode/.test(s) && /evaluations\/token/.test(s) && /calls\/token/.test(s)), stats.join(" | "));
      const tasks = (await page.evaluate(() => window.__longTasks)) || [];
      const longest = tasks.reduce((m, t) => Math.max(m, t.duration), 0);
      assert(longest < 200, `longest main-thread task ${longest.toFixed(0)} ms`);
      await page.evaluate(() => {
        const answer = [...document.querySelectorAll(".turn.assistant")].pop();
        const log = document.querySelector("#log");
        log.scrollTop += answer.getBoundingClientRect().top - log.getBoundingClientRect().top - 12;
      });
      await page.locator(".side").evaluate((el) => el.scrollTo(0, 0));
      await shot(page, "playground-compare");
      return `A (SCR) ${JSON.stringify(a)} | B (MOD) ${JSON.stringify(b)}; longest main-thread task ${longest.toFixed(0)} ms; ${stats[0]}`;
    });

    await check("the settings survive a round trip through the URL", async () => {
      // Compare is on: A = SCR, B = MOD. Change a few more settings.
      await page.click("#lane-tab-A");
      await setRange(page, "#alpha-E", -0.5);
      await setRange(page, "#alpha-T", 0.3);
      await page.fill("#seed", "7");
      await page.fill("#max-tokens", "20");
      await page.click("#lane-tab-B");
      await setRange(page, "#b-alpha-N", 0.8);
      await page.waitForTimeout(200);
      const url = page.url();
      assert(/method=scr/.test(url) && /b_method=mod/.test(url) && /seed=7/.test(url), `url: ${url}`);
      const p2 = await context.newPage();
      await p2.goto(url);
      await waitReady(p2, { ref: 8 });
      assert(await p2.isChecked("#compare"), "compare mode not restored");
      await p2.click("#lane-tab-A");
      assert(await p2.isChecked("#method-scr"), "lane A method not restored");
      const e = await p2.textContent('.alpha[data-expert="E"] output');
      const t = await p2.textContent('.alpha[data-expert="T"] output');
      assert(/−0\.5/.test(e) && /\+0\.3/.test(t), `α E ${e}, T ${t}`);
      assert((await p2.inputValue("#seed")) === "7", "seed not restored");
      assert((await p2.inputValue("#max-tokens")) === "20", "max tokens not restored");
      await p2.click("#lane-tab-B");
      assert(await p2.isChecked("#b-method-mod"), "lane B method not restored");
      const n = await p2.textContent('.alpha[data-expert="N"] output');
      assert(/\+0\.8/.test(n), `B's α N ${n}`);
      await p2.close();
      // Back to one lane for the rest.
      await idle(page);
      await page.uncheck("#compare");
      return url.replace(base, "/");
    });

    await check("bad adapter files give readable errors and the page keeps working; good ones become experts", async () => {
      await newChat(page);
      const errors = [];
      for (const [what, files, needle] of [
        ["another base model", adapterFiles.otherBase(), /trained for/],
        ["wrong shapes", adapterFiles.wrongShapes(), /needs A/],
        ["a NaN weight", adapterFiles.nan(), /non-finite/],
        ["a missing file", [adapterFiles.good().files[0]], /missing/],
      ]) {
        await page.fill("#adapter-name", `bad-${errors.length}`);
        await page.setInputFiles("#adapter-files", files);
        const banner = page.locator('.banner[data-kind="adapter"]');
        await pace.wait(`adapter banner (${what})`, 2, (timeout) => banner.waitFor({ timeout }));
        const text = (await banner.innerText()).replace(/\s*\n+\s*/g, " / ");
        assert(needle.test(text), `${what}: ${text}`);
        errors.push(`${what}: "${text.split(" / ")[1]}"`);
        if (errors.length === 2) await shot(page, "playground-adapter-error");
        await page.click('.banner button:has-text("Dismiss")');
        await pace.until(page, "adapter check over", 1, () => !document.querySelector(".checking"));
      }
      assert((await page.locator(".loaded-adapters .chip").count()) === 0, "a bad adapter was kept");
      // The page still answers.
      await pick(page, "base");
      await setMaxTokens(page, 6);
      const r = await ask(page, "Hello!", { ref: 4 });
      assert(r.text.length > 0, "no answer after the bad adapters");
      // A shipped adapter (from the listing) and one from disk.
      const card = await page.locator('.adapter[data-adapter="demo-warm"] .card').innerText();
      await page.click('.adapter[data-adapter="demo-warm"] button');
      await pace.wait("demo-warm adapter loaded", 3, (timeout) =>
        page.waitForSelector('.loaded-adapters .chip[data-adapter="demo-warm"]', { timeout }),
      );
      await page.fill("#adapter-name", "mine");
      await page.setInputFiles("#adapter-files", adapterFiles.good(0.02).files);
      await pace.wait("adapter from disk loaded", 3, (timeout) => page.waitForSelector('.loaded-adapters .chip[data-adapter="mine"]', { timeout }));
      assert(!(await page.isDisabled("#method-soups")), "Soups is still disabled");
      await pick(page, "soups");
      await setRange(page, "#alpha-mine", 0.8);
      await setMaxTokens(page, 8);
      const soup = await ask(page, PROMPT, { ref: STEERED_REF_S });
      assert(soup.text.length > 0, "Soups gave no answer");
      await pick(page, "scr");
      await setRange(page, "#alpha-demo-warm", 1);
      await idle(page); // the slider re-ran the last answer
      const scr = await ask(page, PROMPT, { ref: STEERED_REF_S });
      assert(scr.text.length > 0, "SCR with an adapter expert gave no answer");
      await scr.answer.locator(".tok[data-reward]").first().hover();
      const tip = await scr.answer.locator(".tooltip").innerText();
      assert(/demo-warm/.test(tip), `the tooltip names no adapter expert: ${tip}`);
      await page.mouse.move(0, 0);
      await page.locator(".side").evaluate((el) => el.scrollTo(0, 0));
      await shot(page, "playground-adapters");
      return `${errors.join("; ")}; card "${card.replace(/\s+/g, " ").slice(0, 60)}…"; Soups: ${JSON.stringify(soup.text)}`;
    });

    await check("the axis probe panel draws one bar per MBTI axis", async () => {
      await pick(page, "scr");
      await page.click("text=Reset weights");
      await page.selectOption("#probe-items", "2");
      await page.click("#probe-run");
      await pace.wait("probe progress shown", 1, (timeout) => page.waitForSelector(".probe progress", { timeout }));
      await pace.until(page, "probe's first item", 10, () => Number(document.querySelector(".probe progress")?.value) > 0);
      await page.locator(".probe").scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTIFACTS, "playground-probe-running.png") });
      const t0 = Date.now();
      await pace.wait("probe bars (8 items)", 60, (timeout) => page.waitForSelector(".probe-row", { timeout }));
      const seconds = (Date.now() - t0) / 1000;
      const rows = await page.locator(".probe-row").evaluateAll((els) => els.map((e) => `${e.dataset.axis} ${Number(e.dataset.accuracy).toFixed(2)}`));
      assert(rows.length === 4, `${rows.length} bars`);
      await shot(page, "playground-probe");
      return `${rows.join(", ")} (8 items, ${seconds.toFixed(0)} s after the first)`;
    });

    await check("the pole contrast answers one question at α = −1, 0, +1 side by side, each with its E-I probe bar", async () => {
      await newChat(page);
      await pick(page, "mod");
      await page.click("text=Reset weights");
      await setMaxTokens(page, 8);
      await page.selectOption("#contrast-expert", { label: "E" });
      await fillIn(page, "#message", "I have a free evening. What should I do?");
      await page.click("#contrast-run");
      const view = page.locator('[data-testid="contrast"]');
      await pace.wait("contrast shown", 1, (timeout) => view.waitFor({ timeout }));
      await pace.until(page, "first column written", 10, () => document.querySelector('.contrast-col[data-answered="true"]'));
      await view.scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTIFACTS, "playground-contrast-running.png") });
      await pace.until(page, "contrast done", 120, () =>
        document.querySelectorAll('.contrast-col[data-probed="true"]').length === 3 && document.querySelector("#contrast-run"),
      );
      const cols = await view.locator(".contrast-col").evaluateAll((els) =>
        els.map((e) => ({
          alpha: Number(e.dataset.alpha),
          head: e.querySelector(".contrast-alpha").textContent,
          label: e.querySelector(".contrast-label").textContent,
          text: e.querySelector(".contrast-text").textContent,
          axis: e.querySelector(".probe-row")?.dataset.axis,
          accuracy: Number(e.querySelector(".probe-row")?.dataset.accuracy),
        })),
      );
      assert(cols.map((c) => c.alpha).join(",") === "-1,0,1", `columns ${cols.map((c) => c.alpha)}`);
      assert(cols.every((c) => c.text.trim().length > 0 && c.text !== "…"), `an empty answer: ${JSON.stringify(cols)}`);
      assert(cols.every((c) => c.axis === "E-I"), `probe axes ${cols.map((c) => c.axis)}`);
      assert(/MOD · E −1\.0, plain \+2\.0/.test(cols[0].label) && cols[1].label === "Base" && /MOD · E \+1\.0/.test(cols[2].label), `labels ${cols.map((c) => c.label)}`);
      assert(cols.every((c) => c.accuracy >= 0 && c.accuracy <= 1), `E-I accuracy ${cols.map((c) => c.accuracy)}`);
      // Steering moved the answer (how far the probe moves is the model's
      // business: docs/EVALUATION.md measures it on all 48 items).
      assert(cols[0].text !== cols[2].text, `the same answer at α = −1 and +1: ${JSON.stringify(cols[0].text)}`);
      assert((await page.locator(".turn").count()) === 0, "the contrast wrote into the conversation");
      await shot(page, "playground-contrast");
      return cols.map((c) => `${c.head}: ${c.accuracy.toFixed(2)} E, ${JSON.stringify(c.text)}`).join("; ");
    });

    await check("keyboard: arrow keys pick methods and move sliders; tabs reach the lane tabs", async () => {
      await page.focus("#method-base");
      await page.keyboard.press("ArrowRight");
      assert(await page.isChecked("#method-pp"), "ArrowRight did not pick PP");
      await page.keyboard.press("ArrowRight");
      await page.keyboard.press("ArrowRight");
      assert(await page.isChecked("#method-scr"), "arrows did not reach SCR");
      await page.focus("#alpha-S");
      const before = await page.textContent('.alpha[data-expert="S"] output');
      await page.keyboard.press("ArrowRight");
      const after = await page.textContent('.alpha[data-expert="S"] output');
      assert(before !== after, `the S slider did not move (${before})`);
      await idle(page);
      return `method SCR by arrows; α S ${before} → ${after}`;
    });

    await check("no uncaught page errors", async () => {
      assert(pageErrors.length === 0, pageErrors.join("\n"));
      return "";
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
