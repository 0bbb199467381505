"""What `start` does with --role, --map, -f, --context-budget and --profile: build the prompt and settings
before the job is planned, and report on stderr what went in and what was left out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_agent import config, prompt_files, prompt_roles, prompts
from codex_agent.cli.common import echo, note, read_text_argument
from codex_agent.errors import UsageError
from codex_agent.store import find_project_root


@dataclass(slots=True)
class Prepared:
    prompt: prompts.AssembledPrompt
    settings: config.Settings


def print_template() -> None:
    echo(prompt_roles.TEMPLATE.rstrip("\n"))
    note(
        "codex-agent: fill it in and save it, then `codex-agent start @FILE` "
        "(with --role, --map, -f as needed)"
    )


def read_task(prompt: str | None) -> str:
    if prompt is None:
        raise UsageError(
            "no task given",
            "pass it as text, `-` for standard input or @FILE (`start --template` prints a skeleton)",
        )
    task = read_text_argument(prompt)
    if not task.strip():
        raise UsageError("the prompt is empty", "say what the agent should do")
    return task


def prepare(
    directory: Path | None,
    task: str,
    *,
    role: str | None,
    use_map: bool,
    file_globs: list[str],
    budget: int | None,
    profile: str | None,
    model: str | None,
    reasoning: str | None,
    sandbox: str | None,
) -> Prepared:
    base = (directory or Path.cwd()).resolve()
    if not base.is_dir():
        raise UsageError(f"not a directory: {base}", "pass an existing directory with --dir")
    chosen_role = prompt_roles.get_role(role) if role is not None else None
    settings = config.resolve_settings(
        find_project_root(base),
        profile=profile,
        role=chosen_role,
        model=model,
        reasoning=reasoning,
        sandbox=sandbox,
    )
    codebase_map = None
    if use_map:
        found = prompts.find_codebase_map(base)
        if found is None:
            note(
                f"codex-agent: no codebase map found (looked for {', '.join(prompts.MAP_CANDIDATES)}); "
                "going on without one — `codex-agent map` writes a first one"
            )
        else:
            codebase_map = prompts.read_codebase_map(found, base)
            note(f"codex-agent: codebase map: {codebase_map[0]}")
    selection = prompt_files.select_files(base, file_globs) if file_globs else prompt_files.FileSelection()
    for skipped in selection.skipped:
        note(f"codex-agent: skipped {skipped.path}: {skipped.reason}")
    # Loading the real tokenizer takes a moment: only a budget needs exact counts; otherwise the count
    # shown by --dry-run is the (stated) estimate.
    counter = prompts.token_counter() if budget is not None else None
    assembled = prompts.assemble(
        task,
        role=chosen_role,
        codebase_map=codebase_map,
        files=selection.files,
        skipped=selection.skipped,
        budget=budget,
        counter=counter,
    )
    if file_globs:
        note(f"codex-agent: files: {len(assembled.included)} included, {len(selection.skipped)} skipped")
    if budget is not None:
        note(
            f"codex-agent: prompt is {assembled.tokens} tokens of a budget of {budget} "
            f"(counted with {assembled.counter})"
        )
        for item in assembled.cut:
            note(f"codex-agent: cut {item.describe()}")
    return Prepared(assembled, settings)


def plan_json(prepared: Prepared) -> dict[str, Any]:
    data = prepared.prompt.to_json()
    data["settings"] = config.settings_json(prepared.settings)
    return data


def plan_lines(prepared: Prepared) -> list[str]:
    assembled, settings = prepared.prompt, prepared.settings
    sources = ", ".join(
        f"{name} from {settings.sources.get(name, 'default')}" for name in ("model", "reasoning", "sandbox")
    )
    lines = [f"settings:  {sources}"]
    budget = f" of a budget of {assembled.budget}" if assembled.budget is not None else ""
    lines.append(f"tokens:    {assembled.tokens}{budget}, counted with {assembled.counter}")
    if assembled.role:
        lines.append(f"role:      {assembled.role}")
    if assembled.map_path:
        lines.append(f"map:       {assembled.map_path}")
    if assembled.included:
        lines.append(f"files:     {', '.join(assembled.included)}")
    for skipped in assembled.skipped:
        lines.append(f"skipped:   {skipped.path}: {skipped.reason}")
    for item in assembled.cut:
        lines.append(f"cut:       {item.describe()}")
    return lines
