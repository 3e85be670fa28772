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
const { paced, run } = require("../childloop.cjs");

async function main() {
  const client = new STSClient({ maxAttempts: 1 });
  await paced(process.argv[2], process.argv[3], `client-sts-${version}`, async () => {
    const out = await client.send(new GetCallerIdentityCommand({}));
    return out.Arn;
  });
}

run(main);
