"""The boto3 child of ward's identity tests (see main.go): it calls STS
GetCallerIdentity every INTERVAL seconds for DURATION seconds with
boto3's default credential chain, and prints "ok ARN" or "fail ERROR" per
call, after "start" and before "done CALLS FAILURES". It never prints a
key.

    python3 child.py DURATION INTERVAL

botocore learned AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE in 1.33 (2023,
with EKS Pod Identity); Debian 12's python3-botocore is 1.29 and reads
only AWS_CONTAINER_AUTHORIZATION_TOKEN. With such a botocore the child
does what its user would: it gives botocore's own container provider the
token from the file, in this process only, ahead of the stock one. The
endpoint goes to the client as endpoint_url: botocore 1.29 predates
AWS_ENDPOINT_URL too.
"""

import os
import sys
import time

import boto3
import botocore
import botocore.session
from botocore.config import Config
from botocore.credentials import ContainerProvider


def session():
    bs = botocore.session.get_session()
    token_file = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    mode = "default-chain"
    if token_file and not hasattr(ContainerProvider, "ENV_VAR_AUTH_TOKEN_FILE"):
        mode = "token-file-shim"

        class TokenFileEnviron(dict):
            # The environment, with the token read from its file when
            # botocore asks for it.
            def get(self, key, default=None):
                if key == ContainerProvider.ENV_VAR_AUTH_TOKEN:
                    with open(token_file) as f:
                        return f.read()
                return os.environ.get(key, default)

            def __contains__(self, key):
                return key in os.environ

            def __getitem__(self, key):
                return os.environ[key]

        resolver = bs.get_component("credential_provider")
        resolver.insert_before("container-role", ContainerProvider(environ=TokenFileEnviron()))
    return boto3.session.Session(botocore_session=bs), mode


def main():
    duration, interval = float(sys.argv[1]), float(sys.argv[2])
    sess, mode = session()
    print(f"start {os.getpid()} boto3-{boto3.__version__} botocore-{botocore.__version__} {mode}", flush=True)
    client = sess.client(
        "sts",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
        config=Config(retries={"total_max_attempts": 1}),
    )
    calls = failures = 0
    end = time.monotonic() + duration
    nxt = time.monotonic()
    while nxt < end:
        time.sleep(max(0.0, nxt - time.monotonic()))  # the pace of the calls
        nxt += interval
        calls += 1
        try:
            out = client.get_caller_identity()
            print("ok " + out["Arn"], flush=True)
        except Exception as e:  # every failure counts, whatever its kind
            failures += 1
            print("fail " + type(e).__name__ + ": " + str(e).replace("\n", " "), flush=True)
    print(f"done {calls} {failures}", flush=True)


main()
