#!/usr/bin/env bash
# Builds bench/native/{mock_upstream,loadgen}.rs (std only, no crates; both include
# netbuf.rs) into bench/.build/, only when a source is newer than its binary. Prints the
# binary paths.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(cd "$here/.." && pwd)/.build"

RUSTC="${RUSTC:-}"
if [ -z "$RUSTC" ]; then
  if command -v rustc >/dev/null 2>&1; then
    RUSTC="$(command -v rustc)"
  elif [ -x "$HOME/.cargo/bin/rustc" ]; then
    RUSTC="$HOME/.cargo/bin/rustc"
  else
    echo "build.sh: rustc not found (neither on PATH nor at ~/.cargo/bin/rustc); install Rust (rustup) to build the benchmark tools" >&2
    exit 1
  fi
fi

mkdir -p "$out"
for name in mock_upstream loadgen; do
  src="$here/$name.rs"
  bin="$out/$name"
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$here/netbuf.rs" -nt "$bin" ]; then
    echo "building $name ..." >&2
    "$RUSTC" -O --edition 2021 "$src" -o "$bin"
  fi
  echo "$bin"
done
