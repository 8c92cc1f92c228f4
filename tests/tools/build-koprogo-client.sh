#!/usr/bin/env bash
# Build (or reuse) tests/tools/koprogo-client, the S3 client probe set up like KoproGo's backend,
# from its committed Cargo.lock; print the binary's path on stdout. The cargo target directory
# lives outside the clone so later runs and fresh clones reuse the compiled dependencies.
set -euo pipefail
here=$(cd "$(dirname "$0")/koprogo-client" && pwd)
export CARGO_TARGET_DIR=${KOPROGO_CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/koprogo-storage/cargo-target}
export PATH=$PATH:$HOME/.cargo/bin
if ! command -v cargo >/dev/null; then
  echo "cargo not found: a Rust toolchain (rustup, Rust >= 1.82) is needed to build $here" >&2
  exit 1
fi
mkdir -p "$CARGO_TARGET_DIR"
exec 9>"$CARGO_TARGET_DIR/.koprogo-client.lock"
flock 9
# Cargo rebuilds a crate whose path or source mtimes changed, so every fresh clone paid a rebuild
# (about a minute). Build from a copy at a fixed path under the cache instead, and copy only the
# files whose content differs, so unchanged sources keep their mtime and nothing is rebuilt.
src="$CARGO_TARGET_DIR/../koprogo-client-src"
mkdir -p "$src/src"
for file in Cargo.toml Cargo.lock $(cd "$here" && echo src/*.rs); do
  cmp -s "$here/$file" "$src/$file" || cp "$here/$file" "$src/$file"
done
for file in "$src"/src/*.rs; do  # a source file removed from the clone leaves the copy too
  [ -e "$here/src/$(basename "$file")" ] || rm -f "$file"
done
cargo build --release --locked --quiet --manifest-path "$src/Cargo.toml" >&2
echo "$CARGO_TARGET_DIR/release/koprogo-client"
