// Runs the kernel checks of each wasm module named on the command line
// (tests/wasm_kernels/src/lib.rs) in the page's browsers, headless Chromium
// and Firefox (the engines whose relaxed-simd results matter), and exits
// non-zero if any comparison failed anywhere.
import { readFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { launchBrowser, launchFirefox } from "../e2e/lib.mjs";

/** In the browser: instantiate the module, run `check`, read the report. */
const runInPage = async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  if (!WebAssembly.validate(bytes)) return { skipped: "this browser does not validate the module" };
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const e = instance.exports;
  const failures = e.check();
  const report = new TextDecoder().decode(new Uint8Array(e.memory.buffer, e.report_ptr(), e.report_len()));
  return { failures, report, rows8: e.has_rows8() === 1 };
};

const modules = process.argv.slice(2).map((path) => ({
  name: basename(dirname(dirname(dirname(path)))),
  b64: readFileSync(path).toString("base64"),
}));
let failed = false;
for (const [engine, launch] of [["Chromium", launchBrowser], ["Firefox", launchFirefox]]) {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    for (const m of modules) {
      const r = await page.evaluate(runInPage, m.b64);
      if (r.skipped) {
        // The page itself loads a build only where the browser validates it.
        console.log(`SKIP ${engine} ${m.name}: ${r.skipped}`);
        continue;
      }
      const [name, ...lines] = r.report.trimEnd().split("\n");
      const rows8 = r.rows8 ? ", eight-row kernels included" : "";
      if (r.failures === 0) {
        console.log(`PASS ${engine} ${m.name}: ${name}, every kernel equals the scalar reference and attention's simd128 dots the plain ones, bit for bit${rows8}`);
      } else {
        failed = true;
        console.log(`FAIL ${engine} ${m.name}: ${name}, ${r.failures} comparisons differ${rows8}\n  ${lines.join("\n  ")}`);
      }
    }
  } finally {
    await browser.close();
  }
}
process.exit(failed ? 1 : 0);
