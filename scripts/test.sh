#!/usr/bin/env bash
# test.sh: run every test ward has, installing and starting what they need.
#
#   ./scripts/test.sh            # what CI runs (.ci/run adds WARD_REQUIRE_INTEGRATION=1)
#
# It installs Debian's PostgreSQL (and git, util-linux) when missing, builds the
# real Vault test server once into $HOME/.cache/ward/vault-<version>/ (20 to 30
# minutes and 4 GB of modules the first time, seconds after), starts both on
# loopback in a temporary directory, runs gofmt, go vet, staticcheck, the tests
# (unit, CLI scripts, processes, real Vault, real PostgreSQL, the AWS protocol
# emulator), short fuzz runs, cross-builds for every platform the README
# names (go vet for 386 and s390x, some package tests on 386) and the
# container image (scripts/image.sh, with buildah); then stops the servers.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf '\n== %s\n' "$*" >&2; }

# Debian packages the tests use.
need=()
command -v git >/dev/null || need+=(git)
# Files Git LFS tracks, searched by ward scan (launcher/scan/lfs_test.go),
# and the pre-commit framework running it (scan_pre_commit.txtar).
command -v git-lfs >/dev/null || need+=(git-lfs)
command -v pre-commit >/dev/null || need+=(pre-commit)
command -v unshare >/dev/null || need+=(util-linux)
# A terminal for a CI job's command, its input ended before ward makes it
# raw (TestMaskInputEndedBeforeRaw): Debian's bsdutils holds script.
command -v script >/dev/null || need+=(bsdutils)
# Holds ward in one system call while a test signals it (stopmatrix_test.go).
command -v strace >/dev/null || need+=(strace)
command -v buildah >/dev/null || need+=(buildah)
command -v sh >/dev/null || need+=(dash)
# The identity tests' SDK children: boto3 for Debian's python3, and npm for
# the JavaScript SDK (with Node.js; the SDK needs 18 or later).
/usr/bin/python3 -c 'import boto3' 2>/dev/null || need+=(python3-boto3)
command -v npm >/dev/null || need+=(npm)
# The reference dotenv readers `ward import` is compared with
# (dotenv_libs_test.go): python-dotenv here, the npm dotenv package below.
/usr/bin/python3 -c 'import dotenv' 2>/dev/null || need+=(python3-dotenv)
# Readers of what templates render (templates_test.go): YAML, and
# SQLAlchemy's URLs.
/usr/bin/python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
/usr/bin/python3 -c 'import sqlalchemy' 2>/dev/null || need+=(python3-sqlalchemy)
# Real servers behind ward (servers_test.go).
command -v gunicorn >/dev/null || need+=(gunicorn)
command -v nginx >/dev/null || need+=(nginx)
command -v java >/dev/null || need+=(default-jre-headless)
# Key material in secret files, loaded by its programs (keyfiles_test.go).
command -v openssl >/dev/null || need+=(openssl)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
# Developers' tools behind ward (devtools_test.go): make -j's recipes.
command -v make >/dev/null || need+=(make)
# Full-screen programs under --mask (mask_pty_test.go).
command -v less >/dev/null || need+=(less)
command -v tmux >/dev/null || need+=(tmux)
# A value printed in hex, by openssl base64 (installed above), and by
# PHP's and Gson's JSON encoders, under --mask (values_test.go).
command -v xxd >/dev/null || need+=(xxd)
command -v php >/dev/null || need+=(php-cli)
[[ -e /usr/share/java/gson.jar ]] || need+=(libgoogle-gson-java)
# MarkupSafe, as a value in HTML, and PyYAML (installed above), as one in
# YAML's single quotes (values_test.go).
/usr/bin/python3 -c 'import markupsafe' 2>/dev/null || need+=(python3-markupsafe)
# Process managers in front of ward (supervisors_test.go).
command -v s6-supervise >/dev/null || need+=(s6)
command -v dumb-init >/dev/null || need+=(dumb-init)
command -v runsv >/dev/null || need+=(runit)
# The completion scripts, as zsh and fish run them (completion.txtar,
# TestCompletionThroughAPath).
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
# The race detector (below) needs cgo: a C compiler and libc's headers.
command -v gcc >/dev/null || need+=(gcc)
[[ -e /usr/include/stdlib.h ]] || need+=(libc6-dev)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# qemu-user, for a few package tests on a big-endian platform (s390x)
# and with 64 KiB pages (ppc64le), run with go test -exec: no
# binfmt_misc handler is needed, and binfmt-support (a Recommends) is
# left out, which would register handlers for the whole kernel.
if ! command -v qemu-s390x-static >/dev/null; then
  log "installing qemu-user-static"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi
# The identity tests' JavaScript children's libraries (the AWS v3 SDK;
# Google's and Azure's) and the npm dotenv package, once per content of
# their package.json, where the root tests look (identity_test.go,
# npmPackage).
for child in awschild cloudchild dotenvchild; do
  pkg="testdata/$child/package.json"
  dir="$HOME/.cache/ward/npm/$child-$(sha256sum "$pkg" | cut -c1-12)"
  if [ ! -f "$dir/.installed" ]; then
    log "npm: $child's libraries"
    mkdir -p "$dir"
    cp "$pkg" "$dir/package.json"
    npm install --no-audit --no-fund --silent --prefix "$dir" >/dev/null
    touch "$dir/.installed"
  fi
done
scripts/postgres.sh install

log "go modules"
go mod download

log "vault test server"
scripts/vault-server.sh build >/dev/null

servers=$(mktemp -d /tmp/ward-servers.XXXXXX)
cleanup() {
  scripts/vault-server.sh stop "$servers" >/dev/null 2>&1 || true
  scripts/postgres.sh stop "$servers" >/dev/null 2>&1 || true
  rm -rf "$servers"
}
trap cleanup EXIT
scripts/postgres.sh start "$servers" >/dev/null
scripts/vault-server.sh start "$servers" >/dev/null
# shellcheck disable=SC1091
. "$servers/postgres.env"
# shellcheck disable=SC1091
. "$servers/vault.env"
export PG_TEST_PORT PG_TEST_URL PG_TEST_BINDIR VAULT_TEST_ADDR VAULT_TEST_TOKEN VAULT_TEST_BIN

# Everything below builds ward as users install it (README: every build
# line sets CGO_ENABLED=0): the tests' ward is the test binary, which the
# default, cgo where a C compiler is installed, would make another program
# (libc's resolver and user lookup, pthread_create for its threads).
export CGO_ENABLED=0

log "gofmt, go vet, staticcheck"
unformatted=$(git ls-files -z '*.go' | grep -zv '^testdata/vaultserver/' | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
# ./... skips testdata; the test helper programs and the benchmark harness
# are named so they are checked too.
extra=(./testdata/helper/ ./testdata/awschild/ ./testdata/cloudchild/ ./testdata/urlchild/ ./testdata/bench/)
go vet ./... "${extra[@]}"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./... "${extra[@]}"

log "cross-builds: ward and its store helpers for every platform the README names"
# What ships (README: Installing). 32-bit ones (386, arm) catch a
# constant or a struct field that overflows int32 there; the compiler
# alone finds those. Everything for the most used other platform
# (arm64), a 32-bit one (386) and a big-endian one (s390x): about 2
# minutes each on 2 cores the first time (the standard library and the
# SDKs for that platform), seconds once Go's build cache holds them. ward
# alone, where its own code is, for the others: under a minute each (the
# helpers are ward's store code and pure-Go SDKs, built above for both
# word sizes and byte orders).
shipped=(. ./resolve/vault/ward-vault ./resolve/aws/ward-aws ./resolve/gcp/ward-gcp ./resolve/azure/ward-azure)
for platform in linux/amd64 linux/arm64 linux/386 linux/s390x; do
  GOOS=${platform%/*} GOARCH=${platform#*/} go build -o /dev/null "${shipped[@]}"
done
for platform in linux/arm linux/ppc64le linux/riscv64; do
  GOOS=${platform%/*} GOARCH=${platform#*/} GOARM=7 go build -o /dev/null .
done
# macOS, where many develop: ward and all of resolve/ (ward's stores).
for arch in arm64 amd64; do
  GOOS=darwin GOARCH=$arch go build -o /dev/null . ./resolve/...
done
# go vet, tests included, for a 32-bit platform and a big-endian one:
# a test file that does not compile there hides every test of its
# package (resolve/local's did, on 386).
GOARCH=386 go vet ./... "${extra[@]}"
GOARCH=s390x go vet ./... "${extra[@]}"

# Where a 32-bit fault was found or could hide: sizes and counts near
# 2^31, statfs and rlimit fields, signal sets, the store's numbers. The
# root package's tests are left out: TestWard386RunsWithSecretFiles runs
# a 386 ward from them. A kernel without IA32 emulation (gVisor's, some
# cloud kernels) runs no 32-bit x86 program, and qemu-i386 fails under
# such a sandbox too: there the run is left out, saying so (go vet above
# compiled every package for 386).
probe386=$(mktemp -d)
GOARCH=386 go build -tags urfave_cli_no_docs -o "$probe386/ward" .
if "$probe386/ward" version >/dev/null 2>&1; then
  log "package tests on linux/386 (natively: a word of 32 bits)"
  GOARCH=386 go test -count=1 -timeout 10m ./signals/ ./launcher/secretdir/ ./launcher/plan/ ./launcher/manifest/ ./launcher/mask/ ./resolve/local/ ./resolve/ ./internal/...
else
  log "package tests on linux/386: NOT RUN: this kernel runs no 32-bit x86 program (no IA32 emulation); go vet compiled them for 386"
fi
rm -rf "$probe386"

log "package tests on linux/s390x under qemu-user (big-endian)"
# Where ward reads what the kernel writes in its own byte order: ioctls'
# ints (the foreground group, FIONREAD), signal sets, the store's
# numbers. Skipped, as qemu-user does not emulate them: sched_setaffinity
# of other threads and PR_SET_CHILD_SUBREAPER (EINVAL). The packages
# whose tests start their own binary again are left out: without
# binfmt_misc the kernel cannot run it, and so are TestExecLook,
# TestStopSelfAndGroupContinuedAtOnce and TestStartUnderCtrlZs (with
# garbage or without), whose child is the test binary run again.
GOARCH=s390x go test -count=1 -timeout 10m -exec qemu-s390x-static \
  -skip '^(TestOnOneCPU|TestReapDoesNotStealStatuses|TestReapWithoutLockStealsStatuses|TestExecLook|TestStopSelfAndGroupContinuedAtOnce|TestStartUnderCtrlZs|TestStartUnderCtrlZsWithGarbage)$' \
  ./signals/ ./launcher/supervise/ ./launcher/plan/
GOARCH=s390x go test -count=1 -exec qemu-s390x-static -run '^TestVersionNumbersBeyond32Bits$' ./resolve/local/
# A kernel with 64 KiB pages (ppc64le's, RHEL's arm64 kernel-64k), as
# qemu-user shows it to a program: an environment string may be 2 MiB.
QEMU_PAGESIZE=65536 GOARCH=ppc64le go test -count=1 -exec qemu-ppc64le-static \
  -run '^(TestValueUpToThirtyTwoPages|TestValueOfThePageSizesLimit|TestValuesRunWouldRefuse)$' ./launcher/plan/ ./launcher/manifest/

log "container image: the Dockerfile's build stage as a shell step, its final stage with buildah"
scripts/image.sh

log "fuzzing (short, bounded)"
# Budgets are execution counts, about 10 s each on 2 cores: a duration
# (-fuzztime 10s) races Go's fuzz coordinator at its deadline and fails
# with a bare "context deadline exceeded" under load (go.dev/issue/75804,
# fixed in Go 1.27; seen here with go1.26). WARD_FUZZTIME overrides every
# budget (a count such as 1000x, or a duration).
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "${WARD_FUZZTIME:-$3}" "$1"; }
fuzz ./resolve/stores FuzzParseRef 500000x
fuzz ./launcher/manifest FuzzParseManifest 150000x
fuzz ./launcher/manifest FuzzReferencePattern 150000x
fuzz ./launcher/dotenv FuzzDotenv 350000x
fuzz ./launcher/mask FuzzWriter 200000x
fuzz ./resolve/local FuzzDecodeDocument 60000x
fuzz ./launcher/identity FuzzIdentityRequestHead 60000x

log "tests"
# The root package takes about 20 minutes on two cores; 40 leaves room
# for a slower machine (a run here beside other work took 30).
go test -count=1 -timeout 40m ./...

log "race detector: where ward's goroutines meet, in its packages and in the real binary"
# Every package but the root's and signals' (TestSpareThreadsSettled
# counts the process's threads, which the detector's runtime changes):
# the store helpers' code (Vault's renewers and logins, the cloud
# stores, the protocol), the identity endpoints, masking, supervision.
# The root tests' ward is the test binary, and so are its store helpers,
# so they run with the race detector too; GORACE keeps the report of
# every ward and helper they start. Left out: TestMaskCertificateBundle
# measures ward's peak RSS, which the detector multiplies. About 9
# minutes on 2 cores.
races=$(mktemp -d /tmp/ward-races.XXXXXX)
CGO_ENABLED=1 GORACE="log_path=$races/race" go test -race -count=1 -timeout 20m \
  $(go list ./launcher/... ./resolve/... ./internal/...)
CGO_ENABLED=1 GORACE="log_path=$races/race" go test -race -count=1 -timeout 20m \
  -run 'TestMask|TestSyscalls|TestStopMatrix' -skip '^TestMaskCertificateBundle$' .
if compgen -G "$races/race.*" >/dev/null; then
  cat "$races"/race.* >&2
  echo "the race detector reported the data races above" >&2
  exit 1
fi
rm -rf "$races"
