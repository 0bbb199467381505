"""How each kind of job is launched and read: the codex TUI, `codex exec`, and plain commands."""
