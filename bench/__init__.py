"""Benchmarks of what an orchestrator feels when it drives codex-agent.

Run from the repository root with the project's Python:  python -m bench   (see docs/benchmarks.md).
Every figure comes from whole-process runs of the real command line against real state: a SQLite database
filled through codex_agent.store, and live jobs started through codex-agent on a private tmux server.
"""
