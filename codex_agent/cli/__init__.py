"""The command line: parse, call the services, render. The only package that imports typer."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

DEBUG_ENV = "CODEX_AGENT_DEBUG"


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status. Every error becomes one line on stderr."""
    from codex_agent.errors import INTERNAL_ERROR_EXIT, INTERRUPTED_EXIT, CodexAgentError

    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["remote-call"]:  # the host end of a remote call (codex_agent/remote/protocol.py)
        from codex_agent.cli.remote_call import serve

        return serve()
    try:
        from codex_agent.cli.fast import try_run

        fast = try_run(args)  # `jobs --json` and `status ID --json` without building the typer app
        if fast is not None:
            return fast
        from codex_agent.cli.app import click_command

        return click_command().run(args)
    except CodexAgentError as exc:
        _say(exc.one_line())
        return exc.exit_code
    except KeyboardInterrupt:
        _say("interrupted")
        return INTERRUPTED_EXIT
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours. Keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        usage = _usage_error_line(exc, args)
        if usage is not None:
            _say(usage)
            return int(getattr(exc, "exit_code", 2))
        if os.environ.get(DEBUG_ENV):
            raise
        _say(f"internal error: {type(exc).__name__}: {exc} — rerun with {DEBUG_ENV}=1 for details")
        return INTERNAL_ERROR_EXIT


def _usage_error_line(exc: Exception, args: list[str]) -> str | None:
    """typer's own parse errors (click's ClickException family), folded into one line."""
    format_message = getattr(exc, "format_message", None)
    if format_message is None or not isinstance(getattr(exc, "exit_code", None), int):
        return None
    command = " ".join(arg for arg in args[:2] if not arg.startswith("-"))
    message = " ".join(str(format_message()).split())
    return f"{message} — see `codex-agent {command} --help`".replace("  ", " ")


def _say(line: str) -> None:
    from codex_agent.display import plain  # an error may quote a file name or an agent's words

    sys.stderr.write(f"codex-agent: {plain(line)}\n")
    sys.stderr.flush()


def main() -> None:
    code = run()
    # Everything is written and closed by now. Skip the interpreter's teardown of typer and pydantic, which
    # takes 100-200 ms of CPU: `wait` must return within 100 ms of the change it waited for.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)
