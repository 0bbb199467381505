#!/usr/bin/env bash
# Install codex-agent for the current user from the checkout this script sits in. No sudo.
#
#   git clone <repository URL> codex-agent && cd codex-agent && bash scripts/install.sh
#
# - Checks tmux, git and codex, and prints the exact install command for each one that is missing.
# - Installs codex-agent into an isolated environment: pipx or `uv tool` when present, else a private
#   virtual environment in ${XDG_DATA_HOME:-~/.local/share}/codex-agent/venv linked into ~/.local/bin.
# - Idempotent: when this checkout is already installed, nothing is changed. Re-run it after `git pull`.
# - Ends with `codex-agent health`, and exits with its status (6 when tmux or codex is still missing).
#
# Settings (environment): CODEX_AGENT_INSTALL_METHOD=pipx|uv|venv (default: the first available),
# CODEX_AGENT_HOME (default ${XDG_DATA_HOME:-~/.local/share}/codex-agent),
# CODEX_AGENT_BIN_DIR (default ~/.local/bin; the venv method only), PYTHON (default python3).
# Uninstall: `pipx uninstall codex-agent`, `uv tool uninstall codex-agent`, or remove the venv folder and
# the codex-agent link in the bin folder.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data_dir=${CODEX_AGENT_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/codex-agent}
bin_dir=${CODEX_AGENT_BIN_DIR:-$HOME/.local/bin}
python=${PYTHON:-python3}
stamp="$data_dir/installed-from"

say() { printf '%s\n' "$*"; }
warn() { printf 'install.sh: %s\n' "$*" >&2; }
die() {
    warn "$*"
    exit 1
}

case "${1:-}" in
-h | --help)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
"") ;;
*) die "unknown argument: $1 (see bash scripts/install.sh --help)" ;;
esac

[ -f "$here/pyproject.toml" ] && [ -d "$here/codex_agent" ] \
    || die "run this script from a codex-agent checkout: $here has no pyproject.toml and codex_agent/"

# --- prerequisites ---------------------------------------------------------------------------------------

package_manager() {
    local pm
    for pm in brew apt-get dnf pacman; do
        if command -v "$pm" >/dev/null 2>&1; then
            say "$pm"
            return
        fi
    done
    say ""
}

# The install command for a system package, for this machine's package manager (all four when unknown).
package_hint() {
    local apt_name=$1 dnf_name=$2 pacman_name=$3 brew_name=$4
    case $(package_manager) in
    apt-get) say "sudo apt-get install -y $apt_name" ;;
    dnf) say "sudo dnf install -y $dnf_name" ;;
    pacman) say "sudo pacman -S --needed $pacman_name" ;;
    brew) say "brew install $brew_name" ;;
    *) say "one of: sudo apt-get install -y $apt_name | sudo dnf install -y $dnf_name |" \
        "sudo pacman -S --needed $pacman_name | brew install $brew_name" ;;
    esac
}

missing=0
if ! command -v tmux >/dev/null 2>&1; then
    warn "tmux is missing (every job runs in a tmux session). Install it: $(package_hint tmux tmux tmux tmux)"
    missing=1
fi
if ! command -v git >/dev/null 2>&1; then
    warn "git is missing (used for worktrees, claims and change reports). Install it: $(package_hint git git git git)"
    missing=1
fi
if [ -n "${CODEX_AGENT_CODEX_BIN:-}" ] && [ -x "${CODEX_AGENT_CODEX_BIN}" ]; then
    :
elif ! command -v codex >/dev/null 2>&1; then
    if command -v npm >/dev/null 2>&1; then
        warn "the Codex CLI is missing. Install it: npm install -g @openai/codex (then run: codex login)"
    else
        warn "the Codex CLI is missing. Install Node.js first ($(package_hint nodejs\ npm nodejs\ npm nodejs\ npm node)), then: npm install -g @openai/codex (then run: codex login)"
    fi
    missing=1
fi

if ! command -v "$python" >/dev/null 2>&1; then
    die "python3 (3.10 or newer) is missing. Install it: $(package_hint python3\ python3-venv python3 python python)"
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    die "codex-agent needs Python 3.10 or newer; $python is $("$python" -c 'import platform; print(platform.python_version())'). Set PYTHON=/path/to/python3.x"
fi

# --- what to install ---------------------------------------------------------------------------------------

# A fingerprint of the source: the same checkout installs to the same thing, so a second run can stop early.
fingerprint() {
    local hasher="sha256sum"
    command -v sha256sum >/dev/null 2>&1 || hasher="shasum -a 256"
    (
        cd "$here"
        find pyproject.toml README.md codex_agent -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print \
            | LC_ALL=C sort | while IFS= read -r file; do
                printf '%s\n' "$file"
                cat "$file"
            done
    ) | $hasher | cut -d' ' -f1
}

method=${CODEX_AGENT_INSTALL_METHOD:-}
if [ -z "$method" ]; then
    if command -v pipx >/dev/null 2>&1; then
        method=pipx
    elif command -v uv >/dev/null 2>&1; then
        method=uv
    else
        method=venv
    fi
fi
case $method in
pipx | uv | venv) ;;
*) die "CODEX_AGENT_INSTALL_METHOD must be pipx, uv or venv, not '$method'" ;;
esac
command -v "$method" >/dev/null 2>&1 || [ "$method" = venv ] || die "$method is not installed"

case $method in
pipx) tool_bin=$(pipx environment --value PIPX_BIN_DIR 2>/dev/null || say "$HOME/.local/bin") ;;
uv) tool_bin=$(uv tool dir --bin 2>/dev/null || say "$HOME/.local/bin") ;;
venv) tool_bin=$bin_dir ;;
esac
exe="$tool_bin/codex-agent"

wanted="$method $(fingerprint)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && "$exe" --version >/dev/null 2>&1; then
    say "codex-agent is up to date: $("$exe" --version) from $here ($method); nothing changed"
    changed=0
else
    mkdir -p "$data_dir"
    case $method in
    pipx)
        say "installing codex-agent from $here with pipx"
        pipx install --force "$here" >/dev/null
        ;;
    uv)
        say "installing codex-agent from $here with uv tool"
        uv tool install --force --reinstall "$here" >/dev/null
        ;;
    venv)
        venv="$data_dir/venv"
        if [ ! -x "$venv/bin/python" ]; then
            say "creating a private environment in $venv"
            "$python" -m venv "$venv" \
                || die "could not create a virtual environment. Install venv support: $(package_hint python3-venv python3 python python)"
        fi
        say "installing codex-agent from $here into $venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$here"
        mkdir -p "$bin_dir"
        ln -sfn "$venv/bin/codex-agent" "$exe"
        ;;
    esac
    "$exe" --version >/dev/null || die "the installed $exe does not run"
    printf '%s\n' "$wanted" >"$stamp.tmp" && mv -f "$stamp.tmp" "$stamp"
    say "installed $("$exe" --version) as $exe"
    changed=1
fi

# --- PATH -------------------------------------------------------------------------------------------------

on_path=0
case ":$PATH:" in
*":$tool_bin:"*) on_path=1 ;;
esac
if [ $on_path = 0 ]; then
    case ${SHELL##*/} in
    zsh) rc="$HOME/.zshrc" ;;
    fish) rc="" ;;
    *) rc="$HOME/.bashrc" ;;
    esac
    if [ -n "$rc" ]; then
        say "$tool_bin is not on your PATH. Add it, then open a new shell:"
        say "  echo 'export PATH=\"$tool_bin:\$PATH\"' >> $rc"
    else
        say "$tool_bin is not on your PATH. Add it: fish_add_path $tool_bin"
    fi
fi

# --- check ------------------------------------------------------------------------------------------------

set +e
"$exe" health
status=$?
set -e
if [ $status -ne 0 ]; then
    warn "codex-agent is installed, but health found a problem (exit $status): see the hints above"
fi
exit $status
