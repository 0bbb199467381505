"""codex-agent: supervise Codex agents and plain commands in named tmux sessions."""

__version__ = "0.1.0"
