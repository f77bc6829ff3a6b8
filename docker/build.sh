#!/usr/bin/env bash
# Builds airlock's container image from this repository alone (the engine needs no registry):
#
#   docker/build.sh            # a static release binary, then the image `airlock:local`
#
# AIRLOCK_IMAGE names the image (default airlock:local). AIRLOCK_BINARY uses an airlock binary
# already built instead of building one: a static one is copied alone, a dynamically linked one
# with the shared libraries and loader `ldd` lists, so the image still starts from scratch.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
image="${AIRLOCK_IMAGE:-airlock:local}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"

binary="${AIRLOCK_BINARY:-}"
if [ -z "$binary" ]; then
  # glibc linked statically (no musl target needed): the binary runs on an empty filesystem.
  # airlock resolves no host names through NSS, so static glibc's NSS caveat does not apply.
  started=$(date +%s)
  (cd "$repo" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin airlock)
  echo "build.sh: release binary built in $(( $(date +%s) - started ))s"
  binary="$target_dir/x86_64-unknown-linux-gnu/release/airlock"
fi
[ -x "$binary" ] || { echo "build.sh: no executable at $binary" >&2; exit 1; }

context="$(mktemp -d "${TMPDIR:-/tmp}/airlock-image.XXXXXX")"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/rootfs/etc/airlock" "$context/rootfs/tmp" "$context/state"
chmod 1777 "$context/rootfs/tmp"
cp "$binary" "$context/rootfs/airlock"
# The default stack, where a user's own stack file is mounted over it (docker-compose.yml).
cp "$repo/fixtures/default-stack.yaml" "$context/rootfs/etc/airlock/stack.yaml"
# Dynamically linked: every library at the path the loader looks for it, and the loader. (For a
# static binary ldd names no path; a static-pie one even exits 0, saying "statically linked".)
libs="$(ldd "$binary" 2>/dev/null | grep -o '/[^ ]*' | sort -u || true)"
for lib in $libs; do
  mkdir -p "$context/rootfs$(dirname "$lib")"
  cp -L "$lib" "$context/rootfs$lib"
done
cp "$repo/docker/Dockerfile" "$context/Dockerfile"
started=$(date +%s)
docker build --quiet --tag "$image" "$context" >/dev/null
echo "build.sh: image $image built in $(( $(date +%s) - started ))s"
