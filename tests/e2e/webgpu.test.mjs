// End-to-end test of the page's backend choice: WebGPU (Chromium's
// SwiftShader, with --enable-unsafe-webgpu) against the CPU (wasm relaxed-simd).
//
// Checks: with SwiftShader's software adapter the page picks the CPU by
// default (faster; its integer-dot kernels, "CPU (wasm relaxed-simd int8)") and
// records why; `?backend=webgpu` runs on WebGPU and shows it;
// `?backend=cpu&kernels=exact` forces the CPU with the exact kernels (the
// math WebGPU computes); the greedy answer to the same prompt is
// the same text on both (and an SCR answer too); a GPU device lost in the
// middle of an answer (the worker's `lose_device` test hook, posted straight
// to the worker) switches the worker to the CPU's exact kernels: the answer still arrives,
// equal to the CPU's answer to the same conversation, a banner says the GPU
// was lost, the earlier turn is kept; `?backend=bogus` gives a clear message
// and the automatic choice; without a WebGPU adapter the default is the
// CPU with the reason recorded, and a forced `?backend=webgpu` falls back to
// the CPU with a visible message. A device lost while idle with two LoRA
// adapters loaded: the CPU gets them again in order (an SCR answer with an
// adapter expert equals a CPU-only page's). Compare mode's second worker
// makes the same choice. Prints decode tokens/s on both backends
// (SwiftShader says nothing about real GPU speed). Screenshots:
// webgpu-ready.png, webgpu-lost.png, webgpu-bogus.png,
// webgpu-unavailable.png in tests/e2e/artifacts/.
//
// Run: node tests/e2e/webgpu.test.mjs      (env: CHROMIUM, HEADFUL=1)
// Prints one line per check and a final `N passed, M failed`; exits 1 on failure.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  ARTIFACTS,
  DIST,
  INIT_SCRIPT,
  KEEP_WORKERS,
  ask,
  cpuLabel,
  launchBrowser,
  oneLine,
  pace,
  parseStats,
  serve,
  setMaxTokens,
  waitAnswerDone,
  waitReady,
} from "./lib.mjs";
import { assert, createChecks } from "./checks.mjs";

const PROMPT = "What is the capital of France?";
const FOLLOW_UP = "What about Italy?";
const MAX_TOKENS = 8;
/** Longer, so the device is lost while the answer still streams. */
const FOLLOW_UP_TOKENS = 16;
/**
 * SCR's comparison on SwiftShader (a CPU rasterizer, about 1 token/s of
 * prefill here, so each view's prompt dominates): 4 tokens (a chunk decision
 * and its accepted prefix) with one prompt expert (two views, not three).
 */
const SCR_TOKENS = 4;
const SCR_QUERY = "&method=scr&alpha=E:1";
/** The whole run on the reference machine (budget: × scale × SAFETY). */
const DEADLINE_REF_S = 240;
/** Reference seconds: a page ready on WebGPU (weights uploaded, shaders built), an answer of MAX_TOKENS on each. */
const REF = { ready: 20, gpuAnswer: 30, cpuAnswer: 5, scrGpu: 60, scrCpu: 10 };

const { check, fail, finish, abort } = createChecks();
const facts = {};

async function status(page) {
  const el = page.locator(".model-status");
  return {
    backend: await el.getAttribute("data-backend"),
    label: await el.getAttribute("data-backend-label"),
    notGpu: await el.getAttribute("data-not-gpu"),
    text: await oneLine(el, " "),
  };
}

async function banner(page) {
  const b = page.locator(".banner[role=alert]");
  if ((await b.count()) === 0) return null;
  return { kind: await b.getAttribute("data-kind"), text: await oneLine(b) };
}

/** Opens `query` in a new page of `context` and waits for the model. */
async function open(context, base, query, errors) {
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${base}?max=${MAX_TOKENS}${query}`);
  await waitReady(page, { ref: REF.ready });
  return page;
}

/** Opens the page with the automatic choice and checks it runs on the CPU,
 * with a reason matching `why` in the badge's tooltip and no banner; the reason. */
async function runsOnCpuSaying(context, base, errors, why) {
  const page = await open(context, base, "", errors);
  const s = await status(page);
  assert(s.label === cpuLabel(), `label ${s.label}`);
  assert(s.notGpu && why.test(s.notGpu), `reason: ${s.notGpu}`);
  const b = await banner(page);
  assert(b === null, `an unasked-for banner: ${b && b.text}`);
  const title = await page.getAttribute(".backend-badge", "title");
  assert(title.includes(s.notGpu), `badge tooltip: ${title}`);
  await page.close();
  return s.notGpu;
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

/** The tokens of the last steered answer, as drawn. */
function steeredTokens(page) {
  return page.$$eval(".turn.assistant:last-child .tok", (els) => els.map((e) => e.textContent));
}

async function main() {
  const started = Date.now();
  pace.deadline(DEADLINE_REF_S, abort);
  mkdirSync(ARTIFACTS, { recursive: true });
  const { server, port } = await serve(DIST);
  const base = `http://127.0.0.1:${port}/`;
  const errors = [];
  const gpuBrowser = await launchBrowser(["--enable-unsafe-webgpu"]);
  const plainBrowser = await launchBrowser();
  try {
    const context = await gpuBrowser.newContext({ viewport: { width: 1200, height: 820 } });
    await context.addInitScript(INIT_SCRIPT);
    await context.addInitScript(KEEP_WORKERS);
    await pace.calibrate(context, base);

    // 0. A software adapter: the automatic choice is the CPU, and says why.
    await check("with only a software adapter (SwiftShader) the page runs on the CPU and says why", async () => {
      const reason = await runsOnCpuSaying(context, base, errors, /software renderer/);
      assert(/SwiftShader/.test(reason), `reason: ${reason}`);
      return `reason: "${reason}"`;
    });

    // 1. WebGPU when asked for, and its greedy answer.
    const t0 = Date.now();
    const gpu = await open(context, base, "&backend=webgpu", errors);
    facts.gpuLoadMs = Date.now() - t0;
    let gpuFirst;
    await check("?backend=webgpu runs on WebGPU (SwiftShader) and says so", async () => {
      const s = await status(gpu);
      assert(/^webgpu/.test(s.backend), `backend ${s.backend}`);
      assert(s.label === "WebGPU (SwiftShader)", `label ${s.label}`);
      assert(s.notGpu === null, `a reason not to use WebGPU: ${s.notGpu}`);
      const badge = await gpu.locator(".backend-badge").innerText();
      assert(badge === s.label, `the badge says ${badge}`);
      await gpu.screenshot({ path: join(ARTIFACTS, "webgpu-ready.png") });
      return `"${s.text}" (${s.backend}); page ready after ${(facts.gpuLoadMs / 1000).toFixed(1)} s`;
    });
    await check(`greedy answer to "${PROMPT}" (${MAX_TOKENS} tokens) on WebGPU`, async () => {
      gpuFirst = await ask(gpu, PROMPT, { ref: REF.gpuAnswer });
      assert(gpuFirst.text.length > 0, "empty answer");
      assert(/WebGPU \(SwiftShader\)/.test(gpuFirst.meta), `stats line: ${gpuFirst.meta}`);
      facts.gpu = parseStats(gpuFirst.meta);
      return `${JSON.stringify(gpuFirst.text)}; ${gpuFirst.meta}`;
    });

    // 2. ?backend=cpu: the same answer, and the CPU's answer to the follow-up.
    const cpu = await open(context, base, "&backend=cpu&kernels=exact", errors);
    let cpuFollowUp;
    await check("?backend=cpu runs on the CPU and gives the same greedy answer", async () => {
      const s = await status(cpu);
      assert(s.label === cpuLabel({ int8: false }), `label ${s.label}`);
      assert(s.notGpu === null, `reason recorded for a forced CPU: ${s.notGpu}`);
      const first = await ask(cpu, PROMPT, { ref: REF.cpuAnswer });
      facts.cpu = parseStats(first.meta);
      assert(gpuFirst, "no WebGPU answer to compare with");
      assert(
        first.text === gpuFirst.text,
        `CPU: ${JSON.stringify(first.text)}\n       WebGPU: ${JSON.stringify(gpuFirst.text)}`,
      );
      assert(facts.cpu.tokens === facts.gpu.tokens, `${facts.cpu.tokens} vs ${facts.gpu.tokens} tokens`);
      await setMaxTokens(cpu, FOLLOW_UP_TOKENS);
      cpuFollowUp = await ask(cpu, FOLLOW_UP, { ref: REF.cpuAnswer });
      return `${JSON.stringify(first.text)} on both; follow-up on the CPU: ${JSON.stringify(cpuFollowUp.text)}`;
    });
    await cpu.close();

    // 3. A lost device mid-answer: the worker switches to the CPU and answers there.
    await check("a GPU lost mid-answer: the answer arrives from the CPU, banner shown, earlier turn kept", async () => {
      assert(cpuFollowUp, "no CPU answer to compare with");
      await setMaxTokens(gpu, FOLLOW_UP_TOKENS);
      await gpu.fill("#message", FOLLOW_UP);
      await gpu.press("#message", "Enter");
      // The first token arrived: lose the device while the answer streams.
      await pace.wait("first WebGPU token of the follow-up", REF.gpuAnswer, (timeout) =>
        gpu.waitForFunction(
          () => {
            const answers = document.querySelectorAll(".turn.assistant");
            return answers.length === 2 && answers[1].querySelector(".text").textContent.length > 0;
          },
          null,
          { timeout, polling: 50 },
        ),
      );
      const before = await gpu.evaluate(() => {
        const a = [...document.querySelectorAll(".turn.assistant")].pop();
        for (const w of window.__workers) w.postMessage({ type: "lose_device" });
        return { text: a.querySelector(".text").textContent, state: a.dataset.state };
      });
      assert(before.state === "streaming", "the answer had finished before the device was lost");
      await pace.wait("gpu_lost banner", REF.gpuAnswer, (timeout) => gpu.waitForSelector('.banner[data-kind="gpu_lost"]', { timeout }));
      await waitAnswerDone(gpu, "the follow-up, again on the CPU", REF.cpuAnswer);
      const answers = await gpu.$$eval(".turn.assistant .text", (els) => els.map((e) => e.textContent));
      assert((await gpu.$$eval(".turn", (t) => t.length)) === 4, "the conversation does not hold 4 turns");
      assert(answers[0] === gpuFirst.text, `the first answer changed: ${JSON.stringify(answers[0])}`);
      assert(
        answers[1] === cpuFollowUp.text,
        `after the loss: ${JSON.stringify(answers[1])}\n       CPU page: ${JSON.stringify(cpuFollowUp.text)}`,
      );
      const meta = (await gpu.locator(".turn.assistant").last().locator(".meta").textContent()).trim();
      assert(meta.includes(cpuLabel({ int8: false })), `stats line: ${meta}`);
      const s = await status(gpu);
      assert(s.label === cpuLabel({ int8: false }), `status label after the loss: ${s.label}`);
      const b = await banner(gpu);
      assert(b && /GPU/.test(b.text) && /CPU/.test(b.text) && /destroyed/.test(b.text), `banner: ${b && b.text}`);
      await gpu.screenshot({ path: join(ARTIFACTS, "webgpu-lost.png") });
      return `lost after ${JSON.stringify(before.text)}; banner "${b.text}"; answer ${JSON.stringify(answers[1])}`;
    });
    await gpu.close();

    // 4. A steered method (SCR) gives the same answer on both backends.
    await check(`an SCR answer (${SCR_TOKENS} tokens) on WebGPU equals the CPU's`, async () => {
      const answers = {};
      for (const [name, query, ref] of [
        ["webgpu", `${SCR_QUERY}&backend=webgpu`, REF.scrGpu],
        ["cpu", `${SCR_QUERY}&backend=cpu&kernels=exact`, REF.scrCpu],
      ]) {
        const page = await open(context, base, query, errors);
        const s = await status(page);
        assert(s.label.toLowerCase().startsWith(name), `${name} page runs on ${s.label}`);
        await setMaxTokens(page, SCR_TOKENS);
        const r = await ask(page, PROMPT, { ref });
        assert((await r.answer.getAttribute("data-method")) === "scr", "not an SCR answer");
        answers[name] = { text: r.text, tokens: await steeredTokens(page) };
        await page.close();
      }
      assert(answers.webgpu.tokens.length > 0, "no tokens drawn");
      assert(
        JSON.stringify(answers.webgpu) === JSON.stringify(answers.cpu),
        `WebGPU: ${JSON.stringify(answers.webgpu.tokens)}\n       CPU: ${JSON.stringify(answers.cpu.tokens)}`,
      );
      return `${answers.cpu.tokens.length} tokens: ${JSON.stringify(answers.cpu.text)}`;
    });

    // 5. Lost while idle, with two adapters: they are added again on the CPU, in order.
    await check("a GPU lost with adapters loaded: the CPU gets them again, same ids (SCR with an adapter expert)", async () => {
      const answers = {};
      for (const [name, query] of [
        ["webgpu", "&method=scr&backend=webgpu"],
        ["cpu", "&method=scr&backend=cpu&kernels=exact"],
      ]) {
        const page = await open(context, base, query, errors);
        for (const adapter of ["E-I", "T-F"]) {
          await page.click(`.adapter[data-adapter="${adapter}"] button`);
          await pace.wait(`adapter ${adapter} on ${name}`, 10, (timeout) =>
            page.waitForSelector(`.loaded-adapters .chip[data-adapter="${adapter}"]`, { timeout }),
          );
        }
        await setAlpha(page, "T-F", 1);
        if (name === "webgpu") {
          assert((await status(page)).label === "WebGPU (SwiftShader)", "not on WebGPU");
          await page.evaluate(() => window.__workers.forEach((w) => w.postMessage({ type: "lose_device" })));
        }
        await setMaxTokens(page, SCR_TOKENS);
        const r = await ask(page, PROMPT, { ref: REF.scrCpu });
        if (name === "webgpu") {
          const b = await banner(page);
          assert(b && b.kind === "gpu_lost", `banner: ${b && b.text}`);
          assert((await status(page)).label === cpuLabel({ int8: false }), "not on the CPU after the loss");
        }
        const chips = await page.$$eval(".loaded-adapters .chip", (els) => els.map((e) => e.dataset.adapter));
        assert(chips.join(",") === "E-I,T-F", `adapters: ${chips}`);
        answers[name] = { text: r.text, tokens: await steeredTokens(page) };
        await page.close();
      }
      assert(
        JSON.stringify(answers.webgpu) === JSON.stringify(answers.cpu),
        `after the loss: ${JSON.stringify(answers.webgpu.tokens)}\n       CPU page: ${JSON.stringify(answers.cpu.tokens)}`,
      );
      return `${JSON.stringify(answers.cpu.text)} on both`;
    });

    // 6. Compare mode: both workers make the same choice.
    await check("compare mode: both workers run on WebGPU", async () => {
      const page = await open(context, base, "&compare=1&backend=webgpu", errors);
      await pace.wait("lane B ready on WebGPU", REF.ready, (timeout) =>
        page.waitForSelector('.status-line.lane-b[data-status="ready"]', { timeout }),
      );
      const b = await page.locator(".status-line.lane-b").innerText();
      assert(/WebGPU \(SwiftShader\)/.test(b), `lane B: ${b}`);
      assert((await status(page)).label === "WebGPU (SwiftShader)", "lane A is not on WebGPU");
      await page.close();
      return `lane B: "${b.replace(/\s+/g, " ").trim()}"`;
    });

    // 7. A value that is no backend.
    await check("?backend=bogus gives a clear message and the automatic choice", async () => {
      const page = await open(context, base, "&backend=bogus", errors);
      const b = await banner(page);
      assert(b && b.kind === "backend_param", `banner: ${b && b.kind}`);
      assert(/bogus/.test(b.text) && /backend=webgpu/.test(b.text) && /backend=cpu/.test(b.text), `banner: ${b.text}`);
      const s = await status(page);
      assert(s.label === cpuLabel(), `automatic choice: ${s.label}`);
      await page.screenshot({ path: join(ARTIFACTS, "webgpu-bogus.png") });
      await page.close();
      return `"${b.text}"`;
    });

    // 8. No WebGPU adapter (Chromium without the flag).
    const plain = await plainBrowser.newContext({ viewport: { width: 1200, height: 820 } });
    await check("without an adapter the default is the CPU, with the reason recorded", async () => {
      return `reason: "${await runsOnCpuSaying(plain, base, errors, /adapter/)}"`;
    });
    await check("a forced ?backend=webgpu without an adapter falls back to the CPU and says why", async () => {
      // The exact kernels, so the fallback's greedy answer must be the GPU's
      // (the int8 family's log-probs differ by hundredths of a nat and may
      // pick another token).
      const page = await open(plain, base, "&backend=webgpu&kernels=exact", errors);
      const s = await status(page);
      assert(s.label === cpuLabel({ int8: false }), `label ${s.label}`);
      await pace.wait("webgpu_unavailable banner", 1, (timeout) =>
        page.waitForSelector('.banner[data-kind="webgpu_unavailable"]', { timeout }),
      );
      const b = await banner(page);
      assert(/CPU/.test(b.text) && /adapter/.test(b.text), `banner: ${b.text}`);
      await page.screenshot({ path: join(ARTIFACTS, "webgpu-unavailable.png") });
      const r = await ask(page, PROMPT, { ref: REF.cpuAnswer });
      assert(gpuFirst && r.text === gpuFirst.text, `answer ${JSON.stringify(r.text)}`);
      await page.close();
      return `"${b.text}"`;
    });

    await check("no uncaught page errors", async () => {
      assert(errors.length === 0, errors.join("\n"));
    });
  } catch (e) {
    fail("unexpected", e.stack || String(e));
  } finally {
    await gpuBrowser.close().catch(() => {});
    await plainBrowser.close().catch(() => {});
    server.close();
    pace.stop();
  }

  console.log("");
  const rate = (s) => `decode ${s.tokensPerSecond.toFixed(1)} tokens/s, prefill ${s.prefillTokensPerSecond.toFixed(1)} tokens/s`;
  if (facts.gpu) console.log(`WebGPU (SwiftShader): ${rate(facts.gpu)} (${facts.gpu.tokens} tokens)`);
  if (facts.cpu) console.log(`${cpuLabel({ int8: false })}, exact: ${rate(facts.cpu)} (${facts.cpu.tokens} tokens)`);
  console.log(pace.summary());
  console.log(`runtime: ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${ARTIFACTS}`);
  finish();
}

main().catch((e) => {
  abort(e.stack || e);
});
