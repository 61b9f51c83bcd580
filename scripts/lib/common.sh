# Shared by scripts/run and scripts/test: installing what is missing.
# Sourced, not executed. Every step checks before it acts, so running the
# scripts again is cheap and changes nothing.

# Debian packages the server needs at run time and to build.
# Keep in step with the Dockerfile (when it exists) and docs/operations.md.
AETHEX_BUILD_PACKAGES=(
  pkg-config gcc libc6-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  ffmpeg ca-certificates curl
)
# Extra packages for the test suite: PostgreSQL (and psql for set-up), python3
# (finding free ports).
AETHEX_TEST_PACKAGES=(postgresql postgresql-client python3)

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
