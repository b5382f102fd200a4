// The pass/fail bookkeeping every end-to-end suite shares: named checks with
// their time and a one-line detail, the "N passed, M failed" summary, and the
// exit code (failures, a missed deadline or a harness crash exit 1).

export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

export function createChecks() {
  const results = [];
  function report(name, ok, detail, ms) {
    results.push({ name, ok });
    const time = ms === undefined ? "" : ` [${(ms / 1000).toFixed(1)} s]`;
    console.log(`${ok ? "PASS" : "FAIL"} ${name}${time}${detail ? ` — ${detail}` : ""}`);
  }
  const message = (e) => (e && e.message ? e.message : String(e));
  return {
    /** Runs one named check; its return value is the detail printed. */
    async check(name, fn) {
      const t0 = Date.now();
      try {
        report(name, true, await fn(), Date.now() - t0);
        return true;
      } catch (e) {
        report(name, false, message(e), Date.now() - t0);
        return false;
      }
    },
    /** Records a failure found outside a check. */
    fail(name, detail) {
      report(name, false, message(detail));
    },
    /** Prints the summary and exits (1 if anything failed). */
    finish() {
      const passed = results.filter((r) => r.ok).length;
      const failed = results.length - passed;
      console.log(`${passed} passed, ${failed} failed`);
      process.exit(failed ? 1 : 0);
    },
    /** Stops the run now: one more failure (`why`), summary, exit 1. */
    abort(why) {
      console.log(`FAIL harness — ${why}`);
      const passed = results.filter((r) => r.ok).length;
      console.log(`${passed} passed, ${results.length - passed + 1} failed`);
      process.exit(1);
    },
  };
}
