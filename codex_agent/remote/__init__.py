"""Remote machines: a per-user registry, an SSH transport, installing codex-agent on a host, forwarding.

On a host, the same codex-agent runs the jobs in that host's tmux and keeps that host's state. The local
command reaches it over the system `ssh` client with one fixed remote command line; the request (argv and
any input) travels as data on ssh's standard input, never as shell text.
"""
