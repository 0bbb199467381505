#!/usr/bin/env bash
# Install codex-agent for the current user from the checkout this script sits in. Never uses sudo.
#
#   git clone <repository URL> codex-agent && cd codex-agent && bash scripts/install.sh
#
# - tmux and git: as root, installs a missing one with the system's package manager (apt-get, dnf, yum,
#   zypper, pacman, apk); otherwise prints the exact command for this machine.
# - The Codex CLI: when missing and npm is there, installs the tested version with npm into your user
#   prefix (~/.local, so codex is ~/.local/bin/codex); never globally. Says when `codex login` is needed.
# - codex-agent: pipx or `uv tool` when present, else a private virtual environment in
#   ${XDG_DATA_HOME:-~/.local/share}/codex-agent/venv; either way the command is ~/.local/bin/codex-agent.
# - Idempotent: when this checkout is already installed, nothing is changed. Re-run it after `git pull`.
# - Exits 0 when codex-agent is installed and runs with tmux and git; 6 when tmux or git is still missing.
#
# Settings (environment): CODEX_AGENT_INSTALL_METHOD=pipx|uv|venv (default: the first available),
# CODEX_AGENT_HOME (default ${XDG_DATA_HOME:-~/.local/share}/codex-agent), CODEX_AGENT_BIN_DIR (default
# ~/.local/bin), CODEX_AGENT_SYSTEM_PACKAGES=auto|yes|no (install tmux/git; auto: only as root),
# CODEX_AGENT_INSTALL_CODEX=yes|no (default yes), PYTHON (default python3).
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
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
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
    for pm in apt-get dnf yum zypper pacman apk brew; do
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
    dnf | yum) say "sudo $(package_manager) install -y $dnf_name" ;;
    zypper) say "sudo zypper install $dnf_name" ;;
    apk) say "sudo apk add $pacman_name" ;;
    pacman) say "sudo pacman -S --needed $pacman_name" ;;
    brew) say "brew install $brew_name" ;;
    *) say "one of: sudo apt-get install -y $apt_name | sudo dnf install -y $dnf_name |" \
        "sudo pacman -S --needed $pacman_name | brew install $brew_name" ;;
    esac
}

is_root=0
[ "$(id -u)" = 0 ] && is_root=1
system_packages=${CODEX_AGENT_SYSTEM_PACKAGES:-auto}
case $system_packages in
auto) [ $is_root = 1 ] && system_packages=yes || system_packages=no ;;
yes | no) ;;
*) die "CODEX_AGENT_SYSTEM_PACKAGES must be auto, yes or no, not '$system_packages'" ;;
esac

# Install system packages with this machine's package manager (root only: this script never calls sudo).
system_install() {
    local pm
    pm=$(package_manager)
    say "installing $* with $pm"
    case $pm in
    apt-get) DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" ;;
    dnf) dnf install -y -q "$@" ;;
    yum) yum install -y -q "$@" ;;
    zypper) zypper --non-interactive install "$@" ;;
    pacman) pacman -S --needed --noconfirm "$@" ;;
    apk) apk add --no-cache "$@" ;;
    *) return 1 ;;
    esac
}

wanted_packages=()
command -v tmux >/dev/null 2>&1 || wanted_packages+=(tmux)
command -v git >/dev/null 2>&1 || wanted_packages+=(git)
if [ ${#wanted_packages[@]} -gt 0 ] && [ "$system_packages" = yes ] && [ "$(package_manager)" != brew ]; then
    system_install "${wanted_packages[@]}" >&2 || warn "could not install ${wanted_packages[*]} with $(package_manager)"
fi

missing=0
if ! command -v tmux >/dev/null 2>&1; then
    warn "tmux is missing (every job runs in a tmux session). Install it: $(package_hint tmux tmux tmux tmux)"
    missing=1
fi
if ! command -v git >/dev/null 2>&1; then
    warn "git is missing (used for worktrees, claims and change reports). Install it: $(package_hint git git git git)"
    missing=1
fi

# The Codex CLI: the version the test suite runs against, into the user's own npm prefix.
codex_version=$(cat "$here/scripts/codex-version" 2>/dev/null || say latest)
codex_prefix=$HOME/.local
codex_found() {
    if [ -n "${CODEX_AGENT_CODEX_BIN:-}" ]; then
        [ -x "$CODEX_AGENT_CODEX_BIN" ] || command -v "$CODEX_AGENT_CODEX_BIN" >/dev/null 2>&1
        return
    fi
    command -v codex >/dev/null 2>&1 || [ -x "$codex_prefix/bin/codex" ]
}
codex_ok=1
if ! codex_found; then
    if [ "${CODEX_AGENT_INSTALL_CODEX:-yes}" != no ] && command -v npm >/dev/null 2>&1; then
        say "installing the Codex CLI $codex_version with npm into $codex_prefix (no sudo)"
        if npm install --global --prefix "$codex_prefix" --no-audit --no-fund --loglevel=error \
            "@openai/codex@$codex_version" >&2 && [ -x "$codex_prefix/bin/codex" ]; then
            say "installed codex as $codex_prefix/bin/codex"
        else
            warn "npm could not install @openai/codex@$codex_version; install it yourself: npm install --global --prefix $codex_prefix @openai/codex"
            codex_ok=0
        fi
    elif command -v npm >/dev/null 2>&1; then
        warn "the Codex CLI is missing. Install it: npm install --global --prefix $codex_prefix @openai/codex@$codex_version"
        codex_ok=0
    else
        warn "the Codex CLI is missing (agents need it; plain commands do not). Install Node.js first ($(package_hint nodejs\ npm nodejs\ npm nodejs\ npm node)), then: npm install --global --prefix $codex_prefix @openai/codex@$codex_version"
        codex_ok=0
    fi
fi
if [ $codex_ok = 1 ] && [ -z "${CODEX_AGENT_CODEX_BIN:-}" ]; then
    codex_home=${CODEX_HOME:-$HOME/.codex}
    if [ ! -s "$codex_home/auth.json" ]; then
        warn "codex has no stored login ($codex_home/auth.json): run \`codex login\` once before starting agents"
    fi
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
tool_exe="$tool_bin/codex-agent"
exe="$bin_dir/codex-agent" # the one path the README and these messages name, whatever the method

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
            if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
                rm -rf "$venv"
                # Debian and Ubuntu ship venv support separately (python3-venv); as root, add it and retry.
                if [ "$system_packages" = yes ] && [ "$(package_manager)" = apt-get ]; then
                    system_install python3-venv >&2 || true
                fi
                "$python" -m venv "$venv" \
                    || die "could not create a virtual environment. Install venv support: $(package_hint python3-venv python3 python python)"
            fi
        fi
        say "installing codex-agent from $here into $venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$here"
        mkdir -p "$bin_dir"
        ln -sfn "$venv/bin/codex-agent" "$exe"
        ;;
    esac
    if [ "$tool_exe" != "$exe" ]; then
        mkdir -p "$bin_dir"
        ln -sfn "$tool_exe" "$exe"
    fi
    "$exe" --version >/dev/null || die "the installed $exe does not run"
    printf '%s\n' "$wanted" >"$stamp.tmp" && mv -f "$stamp.tmp" "$stamp"
    say "installed $("$exe" --version) as $exe"
    changed=1
fi

# --- PATH -------------------------------------------------------------------------------------------------

case ":$PATH:" in
*":$bin_dir:"*) ;;
*)
    case ${SHELL##*/} in
    zsh) rc="$HOME/.zshrc" ;;
    fish) rc="" ;;
    *) rc="$HOME/.bashrc" ;;
    esac
    say "$bin_dir is not on your PATH. In this shell: export PATH=\"$bin_dir:\$PATH\""
    if [ -n "$rc" ]; then
        say "  and for new shells: echo 'export PATH=\"$bin_dir:\$PATH\"' >> $rc"
    else
        say "  and for new shells: fish_add_path $bin_dir"
    fi
    ;;
esac

# --- check ------------------------------------------------------------------------------------------------

# health reports tmux and codex; the install itself is usable when codex-agent runs with tmux and git.
PATH="$bin_dir:$PATH" "$exe" health || true
if [ $missing -ne 0 ]; then
    warn "codex-agent is installed as $exe, but tmux or git is missing: see the hints above"
    exit 6
fi
if [ $codex_ok = 0 ]; then
    warn "codex-agent is installed as $exe; plain commands work, agents need the Codex CLI (see above)"
fi
say "ready: $exe"
exit 0
