#!/usr/bin/env bash
# Install codex-agent for the current user, without sudo, in a private virtual environment.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix=${CODEX_AGENT_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/codex-agent}
bin_dir=${CODEX_AGENT_BIN_DIR:-$HOME/.local/bin}
python3 -m venv "$prefix/venv"
"$prefix/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$here"
mkdir -p "$bin_dir"
ln -sfn "$prefix/venv/bin/codex-agent" "$bin_dir/codex-agent"
"$bin_dir/codex-agent" health || true
