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

# Prints the path of a pinned tool. Order: the npm bin link, the npm
# package's own binary (when bin links are off), else npx's copy. npx runs
# from an empty folder so that it cannot pick the project's unlinked package
# and fail with "not found".
#   $1 name  $2 version  $3 binary inside node_modules  $4... arguments that
#   make the tool print its own path
resolve_tool() {
  local name=$1 version=$2 pkg_bin=$3 candidate tmp
  shift 3
  for candidate in "node_modules/.bin/$name" "$pkg_bin"; do
    if [[ -x "$candidate" ]] && "$candidate" --version >/dev/null 2>&1; then
      echo "$PWD/$candidate"
      return 0
    fi
  done
  tmp=$(mktemp -d)
  (cd "$tmp" && npx -y "$name@$version" "$@" 2>/dev/null | tail -n 1)
  rm -rf "$tmp"
}

if [[ ! -f "$ENTRY" ]]; then
  echo "compile.sh: $ENTRY not found" >&2
  exit 1
fi

mkdir -p dist
rm -f "$OUT"

deno=$(resolve_tool deno "$DENO_VERSION" node_modules/@deno/linux-x64-glibc/deno \
  eval 'console.log(Deno.execPath())' || true)
if [[ -n "$deno" ]]; then
  echo "compile.sh: trying deno compile with $deno (timeout ${DENO_TIMEOUT}s)"
  if timeout "$DENO_TIMEOUT" "$deno" compile -A --unstable-net --output "$OUT" "$ENTRY" &&
    [[ -x "$OUT" ]]; then
    echo "compile.sh: built $OUT with deno compile"
    exit 0
  fi
  echo "compile.sh: deno compile failed; falling back to bun build --compile"
else
  echo "compile.sh: deno $DENO_VERSION not found; falling back to bun build --compile"
fi
rm -f "$OUT" "$OUT".tmp-*

bun=$(resolve_tool bun "$BUN_VERSION" node_modules/bun/bin/bun.exe \
  -e 'console.log(process.execPath)' || true)
if [[ -z "$bun" ]]; then
  echo "compile.sh: bun $BUN_VERSION not found (run npm ci)" >&2
  exit 1
fi
echo "compile.sh: building with $bun"
"$bun" build --compile --minify "$ENTRY" --outfile "$OUT"
if [[ ! -x "$OUT" ]]; then
  echo "compile.sh: bun build produced no $OUT" >&2
  exit 1
fi
echo "compile.sh: built $OUT with bun build --compile"
