# Shared by scripts/run and scripts/test: installing what is missing.
# Sourced, not executed. Every step checks before it acts, so running the
# scripts again is cheap and changes nothing.

# Debian packages the server needs at run time and to build.
# Keep in step with the Dockerfile (when it exists) and docs/operations.md.
# make: jemalloc (the server's allocator) is built from source by tikv-jemalloc-sys.
AETHEX_BUILD_PACKAGES=(
  pkg-config gcc libc6-dev make
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  ffmpeg ca-certificates curl
)
# Extra packages for the test suite: PostgreSQL (and psql for set-up), python3
# (finding free ports), Chromium (the browser tests, scripts/test-browser).
AETHEX_TEST_PACKAGES=(postgresql postgresql-client python3 python3-venv chromium)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

# ensure_packages PKG... : installs the Debian packages that are not installed.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them (Debian 12 is supported)"
  say "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_rust: cargo with rustfmt and clippy.
ensure_rust() {
  if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null; then
    say "installing the Rust toolchain (rustup)"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt -c clippy \
      || die "cannot install Rust; install it from https://rustup.rs and run again"
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  # Edition 2024 with let-chains needs Rust 1.88 or newer (Debian's own
  # cargo package is older: use rustup's).
  local ver
  ver=$(cargo --version | awk '{print $2}')
  if [ "$(printf '%s\n1.88.0\n' "$ver" | sort -V | head -n1)" != "1.88.0" ]; then
    die "cargo $ver is too old: Rust 1.88 or newer is needed (install from https://rustup.rs, or 'rustup update')"
  fi
  if command -v rustup >/dev/null; then
    for c in rustfmt clippy; do
      rustup component list --installed 2>/dev/null | grep -q "^$c" || { say "adding rust component $c"; rustup component add "$c"; }
    done
  fi
}

# ensure_web: the web UI (web/, TypeScript + React + Vite) built into
# web/dist, which the aethex binary embeds. Installs Node.js and npm from
# Debian when npm is missing; runs `npm ci` when web/node_modules is missing
# or web/package-lock.json changed since the last install; then `npm run
# build` when a source changed or web/dist is missing.
ensure_web() {
  if ! command -v npm >/dev/null; then
    ensure_packages nodejs npm
  fi
  local stamp=web/node_modules/.aethex-lock.sha256 sum
  sum=$(sha256sum web/package-lock.json | awk '{print $1}')
  if [ ! -d web/node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    say "installing the web UI's npm packages (npm ci)"
    (cd web && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in web/"
    echo "$sum" > "$stamp"
  fi
  # Rebuild only when a source changed (a rebuild rewrites web/dist, which
  # makes cargo re-embed it).
  local src_stamp=web/node_modules/.aethex-build.sha256 src_sum
  src_sum=$(find web/src web/public web/index.html web/package-lock.json web/vite.config.ts web/tsconfig.json \
      -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum | sha256sum | awk '{print $1}')
  if [ ! -f web/dist/index.html ] || [ ! -d web/dist/assets ] || [ "$(cat "$src_stamp" 2>/dev/null)" != "$src_sum" ]; then
    say "building the web UI (npm run build in web/)"
    (cd web && npm run --silent build >/dev/null) || die "the web UI does not build: run 'npm run build' in web/ to see why"
    echo "$src_sum" > "$src_stamp"
  fi
}
