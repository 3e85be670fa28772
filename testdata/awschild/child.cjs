// The JavaScript v3 SDK child of ward's identity tests (see main.go): it
// calls STS GetCallerIdentity every INTERVAL seconds for DURATION seconds
// with the SDK's default credential chain and AWS_ENDPOINT_URL, and
// prints "ok ARN" or "fail ERROR" per call, after "start" and before
// "done CALLS FAILURES". It never prints a key.
//
//   NODE_PATH=.../node_modules node child.cjs DURATION INTERVAL
"use strict";
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
const version = require("@aws-sdk/client-sts/package.json").version;

async function main() {
  const duration = Number(process.argv[2]) * 1000;
  const interval = Number(process.argv[3]) * 1000;
  console.log(`start ${process.pid} client-sts-${version}`);
  const client = new STSClient({ maxAttempts: 1 });
  let calls = 0;
  let failures = 0;
  const end = Date.now() + duration;
  for (let next = Date.now(); next < end; next += interval) {
    // The pace of the calls, not a wait for an event.
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    calls++;
    try {
      const out = await client.send(new GetCallerIdentityCommand({}));
      console.log("ok " + out.Arn);
    } catch (e) {
      failures++;
      console.log("fail " + e.name + ": " + String(e.message).replace(/\n/g, " "));
    }
  }
  console.log(`done ${calls} ${failures}`);
}

main().catch((e) => {
  console.log("fail " + e.name + ": " + e.message);
  console.log("done 0 1");
  process.exit(1);
});
