#!/usr/bin/env bash
# Builds dist/gatehouse: one self-contained Linux x86_64 executable.
#
# `deno compile` is tried first; it downloads a `denort` runtime, which fails
# where that host is unreachable, so `bun build --compile` is the fallback
# (Bun's npm package already contains the runtime it embeds).
#
# Env: COMPILE_DENO_TIMEOUT (seconds, default 120) bounds the deno attempt.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

readonly DENO_VERSION="2.9.6"
readonly BUN_VERSION="1.4.5"
readonly ENTRY="main.ts"
readonly OUT="dist/gatehouse"
readonly DENO_TIMEOUT="${COMPILE_DENO_TIMEOUT:-120}"

if [[ ! -f "$ENTRY" ]]; then
  echo "compile.sh: $ENTRY not found" >&2
  exit 1
fi

# Prefer the binaries pinned in package.json (installed by `npm ci`).
deno_cmd=(npx -y "deno@${DENO_VERSION}")
if [[ -x node_modules/deno/deno ]]; then deno_cmd=(node_modules/deno/deno); fi
bun_cmd=(npx -y "bun@${BUN_VERSION}")
if [[ -x node_modules/bun/bin/bun.exe ]]; then bun_cmd=(node_modules/bun/bin/bun.exe); fi

mkdir -p dist
rm -f "$OUT"

echo "compile.sh: trying deno compile (timeout ${DENO_TIMEOUT}s)"
if timeout "$DENO_TIMEOUT" "${deno_cmd[@]}" compile -A --unstable-net --output "$OUT" "$ENTRY" &&
  [[ -x "$OUT" ]]; then
  echo "compile.sh: built $OUT with deno compile"
  exit 0
fi

echo "compile.sh: deno compile failed; falling back to bun build --compile"
rm -f "$OUT" "$OUT".tmp-*
"${bun_cmd[@]}" build --compile --minify "$ENTRY" --outfile "$OUT"
if [[ ! -x "$OUT" ]]; then
  echo "compile.sh: bun build produced no $OUT" >&2
  exit 1
fi
echo "compile.sh: built $OUT with bun build --compile"
