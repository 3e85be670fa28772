// The loop both JavaScript children of ward's identity tests run
// (testdata/awschild/child.cjs, testdata/cloudchild/child.cjs): it prints
// "start PID WHAT", then calls read every INTERVAL seconds for DURATION
// seconds and prints "ok[ DETAIL]" or "fail ERROR" per call, then "done
// CALLS FAILURES". read returns what the "ok" line shows (never a key, a
// token or a value), or nothing.
"use strict";

function failLine(e) {
  return "fail " + e.name + ": " + String(e.message).replace(/\n/g, " ");
}

async function paced(durationS, intervalS, what, read) {
  const duration = Number(durationS) * 1000;
  const interval = Number(intervalS) * 1000;
  console.log(`start ${process.pid} ${what}`);
  let calls = 0;
  let failures = 0;
  const end = Date.now() + duration;
  for (let next = Date.now(); next < end; next += interval) {
    // The pace of the calls, not a wait for an event.
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    calls++;
    try {
      const detail = await read();
      console.log(detail ? "ok " + detail : "ok");
    } catch (e) {
      failures++;
      console.log(failLine(e));
    }
  }
  console.log(`done ${calls} ${failures}`);
}

// run runs main, and reports a failure before the loop as one failed call.
function run(main) {
  main().catch((e) => {
    console.log(failLine(e));
    console.log("done 0 1");
    process.exit(1);
  });
}

module.exports = { paced, run };
