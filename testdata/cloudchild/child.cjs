// The JavaScript child of ward's Google Cloud and Azure identity tests
// (see main.go, the Go child, for the protocol): with each cloud's own
// library and its default credential chain, unmodified, it reads a secret
// every INTERVAL seconds for DURATION seconds and prints "ok" or
// "fail ERROR" per read, after "start" and before "done CALLS FAILURES".
// It never prints a token or a value.
//
//   NODE_PATH=.../node_modules node child.cjs gcp DURATION INTERVAL SECRET_MANAGER_URL SECRET_VERSION_NAME
//   NODE_PATH=.../node_modules node child.cjs azure DURATION INTERVAL VAULT_URL SECRET_NAME
//
// gcp reads with google-auth-library's Application Default Credentials
// (with ward's identity.gcp: the metadata server at GCE_METADATA_HOST)
// through its own authorised HTTP client; azure reads with
// @azure/keyvault-secrets and @azure/identity's DefaultAzureCredential
// (with ward's identity.azure: the managed identity at IDENTITY_ENDPOINT).
"use strict";
const { paced, run } = require("../childloop.cjs");

async function gcpReader(endpoint, name) {
  const { GoogleAuth } = require("google-auth-library");
  const version = require("google-auth-library/package.json").version;
  const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
  const client = await auth.getClient();
  const url = endpoint.replace(/\/$/, "") + "/v1/" + name + ":access";
  return {
    what: `google-auth-library-${version}`,
    read: async () => {
      const res = await client.request({ url, retry: false });
      if (!res.data || !res.data.payload || !res.data.payload.data) {
        throw new Error("no payload");
      }
    },
  };
}

async function azureReader(vaultURL, name) {
  const { DefaultAzureCredential } = require("@azure/identity");
  const { SecretClient } = require("@azure/keyvault-secrets");
  const version = require("@azure/identity/package.json").version;
  const client = new SecretClient(vaultURL, new DefaultAzureCredential(), {
    // The vault is reached by IP address, outside the domain its
    // challenge names, as a private endpoint's custom host name is.
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
  });
  return {
    what: `@azure/identity-${version}`,
    read: async () => {
      const out = await client.getSecret(name);
      if (!out.value) {
        throw new Error("no value");
      }
    },
  };
}

async function main() {
  const [cloud, durationS, intervalS, url, secret] = process.argv.slice(2);
  const reader = cloud === "gcp" ? await gcpReader(url, secret) : await azureReader(url, secret);
  await paced(durationS, intervalS, reader.what, reader.read);
}

run(main);
