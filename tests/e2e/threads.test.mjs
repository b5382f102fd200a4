// End-to-end test of threads in the page (issue 13): the model worker's
// threaded build (wasm atomics, shared memory, a pool of Web Workers) on a
// cross-origin isolated page, and the single-threaded fallback elsewhere.
//
// Checks: served with COOP/COEP (as `trunk serve` does), the page runs the
// threaded build with the machine's cores (capped) and the badge says how
// many, and loads the relaxed-simd build where the browser validates it;
// the same greedy question, plain chat and an SCR run, gets the same answer
// with 2 threads as with 1 (the products split by weight rows, the logits
// bit-identical) and with relaxed-simd as without (`?simd=simd128`: the
// plain threaded build; the byte dots are exact); served by a plain static host, the page installs
// its service worker, reloads once and runs isolated with 2 threads; with
// service workers blocked it runs one thread and says why in the page; a
// pool thread that cannot start leaves the worker on one thread, said in
// the page, still answering; `?threads=0` and `?simd=avx` are refused with
// a message.
// Screenshots: threads-*.png in tests/e2e/artifacts/.
//
// Run: node tests/e2e/threads.test.mjs      (env: CHROMIUM, HEADFUL=1)
// Prints one line per check and a final `N passed, M failed`; exits 1 on failure.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ARTIFACTS, DIST, INIT_SCRIPT, ask, bannerNow, cpuLabel, hasRelaxedSimd, launchBrowser, pace, serve, setMaxTokens, waitReady } from "./lib.mjs";
import { assert, createChecks } from "./checks.mjs";

/** The whole run on the reference machine (budget: × scale × SAFETY). */
const DEADLINE_REF_S = 150;
const QUESTION = "Give me three tips for a good night's sleep.";
const TOKENS = 40;

const { check, fail, finish, abort } = createChecks();

async function main() {
  pace.deadline(DEADLINE_REF_S, abort);
  mkdirSync(ARTIFACTS, { recursive: true });
  const isolated = await serve(DIST);
  const plainRoutes = new Map();
  const plain = await serve(DIST, plainRoutes, { isolate: false });
  const browser = await launchBrowser();
  const errors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 820 } });
    await context.addInitScript(INIT_SCRIPT);
    const base = `http://127.0.0.1:${isolated.port}/`;

    /** A new page of `ctx` at `url`, the model ready on the CPU. */
    async function open(ctx, url) {
      const page = await ctx.newPage();
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(url);
      return { page, ready: await waitReady(page, { ref: 15 }) };
    }

    /** The greedy answer to QUESTION with `method` ("base" or "scr"). */
    async function answer(page, method) {
      await page.check(`#method-${method}`);
      await setMaxTokens(page, TOKENS);
      const r = await ask(page, QUESTION, { ref: method === "base" ? 4 : 12 });
      assert(r.text.length > 0, `empty answer (${r.meta})`);
      return r;
    }

    // The first page fills the Cache API; then the run's speed is measured.
    await (await open(context, `${base}?backend=cpu`)).page.close();
    await pace.calibrate(context, base);

    let relaxed = true;
    await check("isolated: the threaded build runs the machine's cores (capped at 8), the badge says so", async () => {
      const { page, ready } = await open(context, `${base}?backend=cpu`);
      relaxed = await hasRelaxedSimd(page);
      assert(ready.label === cpuLabel({ relaxed }), `label ${ready.label} (relaxed-simd validates: ${relaxed})`);
      const cores = await page.evaluate(() => [navigator.hardwareConcurrency, self.crossOriginIsolated]);
      assert(cores[1] === true, "the page is not cross-origin isolated under COOP/COEP");
      const want = Math.min(Math.max(cores[0], 1), 8);
      assert(ready.threads === want, `data-threads ${ready.threads}, want ${want} (${cores[0]} cores)`);
      assert(ready.text.includes(`${want} thread`), `the badge does not show the count: ${ready.text}`);
      assert(!ready.threadsNote, `a note on an isolated page: ${ready.threadsNote}`);
      await page.screenshot({ path: join(ARTIFACTS, "threads-isolated.png") });
      await page.close();
      return `${ready.label}; ${ready.text.slice(0, 60)}`;
    });

    for (const method of ["base", "scr"]) {
      await check(`${method}: the answer with 2 threads equals the answer with 1, and relaxed-simd's equals simd128's`, async () => {
        const runs = [];
        for (const [n, simd] of [[1, "relaxed"], [2, "relaxed"], [2, "simd128"]]) {
          const { page, ready } = await open(context, `${base}?backend=cpu&threads=${n}&simd=${simd}`);
          assert(ready.threads === n, `asked for ${n} threads, runs ${ready.threads}`);
          const label = cpuLabel({ relaxed: relaxed && simd === "relaxed" });
          assert(ready.label === label, `simd=${simd}: label ${ready.label}, want ${label}`);
          runs.push({ what: `${n} thread${n > 1 ? "s" : ""}, ${label}`, ...(await answer(page, method)) });
          await page.close();
        }
        for (const r of runs.slice(1)) {
          assert(r.text === runs[0].text, `answers differ:\n ${runs[0].what}: ${JSON.stringify(runs[0].text)}\n ${r.what}: ${JSON.stringify(r.text)}`);
        }
        return `${JSON.stringify(runs[0].text.slice(0, 40))}…; ${runs.map((r) => `${r.what}: ${r.tps}`).join(", ")} tokens/s`;
      });
    }

    const plainBase = `http://127.0.0.1:${plain.port}/`;
    await check("a plain static host: the service worker adds isolation, one reload, 2 threads", async () => {
      const ctx = await browser.newContext({ viewport: { width: 1200, height: 820 } });
      try {
        const page = await ctx.newPage();
        page.on("pageerror", (e) => errors.push(String(e)));
        await page.goto(`${plainBase}?backend=cpu&threads=2`);
        // The page reloads itself once under the service worker.
        let isolatedNow = false;
        for (const t0 = Date.now(); !isolatedNow && Date.now() - t0 < 20_000; ) {
          isolatedNow = await page.evaluate(() => self.crossOriginIsolated).catch(() => false);
          if (!isolatedNow) await new Promise((r) => setTimeout(r, 200));
        }
        assert(isolatedNow, "not cross-origin isolated 20 s after opening the page");
        const ready = await waitReady(page, { ref: 15 });
        assert(ready.threads === 2 && !ready.threadsNote, `threads ${ready.threads}, note ${ready.threadsNote}`);
        const r = await answer(page, "base");
        return `${ready.text.slice(0, 50)}; ${r.tps} tokens/s`;
      } finally {
        await ctx.close();
      }
    });

    await check("not isolated (service workers blocked): one thread, and the page says why", async () => {
      const ctx = await browser.newContext({ viewport: { width: 1200, height: 820 }, serviceWorkers: "block" });
      try {
        const { page, ready } = await open(ctx, `${plainBase}?backend=cpu`);
        assert(ready.threads === 1, `threads ${ready.threads}`);
        assert(ready.label === cpuLabel({ relaxed: false }), `not isolated, so the plain build; label ${ready.label}`);
        assert(/not cross-origin isolated/.test(ready.threadsNote || ""), `note: ${ready.threadsNote}`);
        assert(ready.text.includes("not cross-origin isolated"), `the page does not say why: ${ready.text}`);
        await page.screenshot({ path: join(ARTIFACTS, "threads-not-isolated.png") });
        const r = await answer(page, "base");
        return `${ready.threadsNote.slice(0, 60)}…; answers (${r.tps} tokens/s)`;
      } finally {
        await ctx.close();
      }
    });

    await check("a pool thread that cannot start: one thread, said in the page, still answering", async () => {
      isolated.routes.set("/pool_thread.js", Buffer.from('throw new Error("this pool thread is broken on purpose");'));
      try {
        const { page, ready } = await open(context, `${base}?backend=cpu&threads=2`);
        assert(ready.threads === 1, `threads ${ready.threads}`);
        assert(/pool thread failed to start/.test(ready.threadsNote || ""), `note: ${ready.threadsNote}`);
        assert(!(await bannerNow(page)), "a banner after a pool thread failed");
        const r = await answer(page, "base");
        await page.close();
        return `${ready.threadsNote.slice(0, 50)}…; answers ${JSON.stringify(r.text.slice(0, 24))}`;
      } finally {
        isolated.routes.delete("/pool_thread.js");
      }
    });

    await check("?threads=0 is refused with a message; the page picks the count itself", async () => {
      const { page, ready } = await open(context, `${base}?backend=cpu&threads=0`);
      const banner = await bannerNow(page);
      assert(banner && /threads=0/.test(banner.text), `banner: ${banner && banner.text}`);
      assert(ready.threads >= 1, `threads ${ready.threads}`);
      await page.close();
      return banner.text.slice(0, 70);
    });

    await check("?simd=avx is refused with a message; the page picks the build itself", async () => {
      const { page, ready } = await open(context, `${base}?backend=cpu&simd=avx`);
      const banner = await bannerNow(page);
      assert(banner && /simd=avx/.test(banner.text) && /simd=simd128/.test(banner.text), `banner: ${banner && banner.text}`);
      assert(ready.label === cpuLabel({ relaxed }), `label ${ready.label}`);
      await page.close();
      return banner.text.slice(0, 90);
    });

    if (errors.length) fail("page errors", errors.join(" | "));
  } catch (e) {
    fail("harness", e);
  } finally {
    await browser.close();
    isolated.server.close();
    plain.server.close();
  }
  console.log(pace.summary());
  finish();
}

main();
