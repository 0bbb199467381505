"""codex_agent/protocol.py reads fields that each pinned codex declares in its own protocol schema
(`codex app-server generate-json-schema`), under the same names and with compatible types."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from codex_agent import protocol

# Our model, the schema file, and the definition in it that describes the same message.
MODELS: list[tuple[type[BaseModel], str, str]] = [
    (protocol.TurnEvent, "ServerNotification.json", "TurnCompletedNotification"),
    (protocol.TurnEvent, "ServerNotification.json", "TurnStartedNotification"),
    (protocol.Turn, "ServerNotification.json", "Turn"),
    (protocol.TurnError, "ServerNotification.json", "TurnError"),
    (protocol.ItemEvent, "ServerNotification.json", "ItemCompletedNotification"),
    (protocol.ItemEvent, "ServerNotification.json", "ItemStartedNotification"),
    (protocol.TokenUsageUpdated, "ServerNotification.json", "ThreadTokenUsageUpdatedNotification"),
    (protocol.TokenUsage, "ServerNotification.json", "ThreadTokenUsage"),
    (protocol.TokenBreakdown, "ServerNotification.json", "TokenUsageBreakdown"),
    (protocol.ErrorEvent, "ServerNotification.json", "ErrorNotification"),
    (protocol.ServerRequestResolved, "ServerNotification.json", "ServerRequestResolvedNotification"),
    (protocol.ThreadStatusChanged, "ServerNotification.json", "ThreadStatusChangedNotification"),
    (protocol.ThreadStarted, "ServerNotification.json", "ThreadStartedNotification"),
    (protocol.ApprovalRequest, "CommandExecutionRequestApprovalParams.json", ""),
]
# The requests that wait on a person share one model: it may read a field of any of them.
APPROVAL_FILES = (
    "CommandExecutionRequestApprovalParams.json",
    "FileChangeRequestApprovalParams.json",
    "ToolRequestUserInputParams.json",
)
# Sent by the real codex (tests/fixtures/protocol/approval_*.jsonl) but not declared in its schema.
OBSERVED_NOT_DECLARED = {"availableDecisions"}
ITEM_FIELDS = {  # Item is a union in the schema: each field we read belongs to the item types that have it
    "text": "agentMessage",
    "clientId": "userMessage",
    "content": "userMessage",
    "command": "commandExecution",
    "cwd": "commandExecution",
    "exitCode": "commandExecution",
    "changes": "fileChange",
    "status": "fileChange",
}


@pytest.fixture(scope="module")
def schema_dir(real_codex: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schema")
    subprocess.run(
        [real_codex, "app-server", "generate-json-schema", "--out", str(out)], check=True, timeout=60
    )
    return out


def definition(schema_dir: Path, file: str, name: str) -> dict[str, Any]:
    data = json.loads((schema_dir / file).read_text())
    found = data["definitions"][name] if name else data
    assert isinstance(found, dict)
    return found


@pytest.mark.parametrize(("model", "file", "name"), MODELS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_each_field_we_read_is_in_the_schema(
    schema_dir: Path, model: type[BaseModel], file: str, name: str
) -> None:
    files = APPROVAL_FILES if model is protocol.ApprovalRequest else (file,)
    properties: dict[str, Any] = {}
    for each in files:
        properties.update(definition(schema_dir, each, name).get("properties", {}))
    required = set(definition(schema_dir, file, name).get("required", []))
    for field_name, info in model.model_fields.items():
        wire = info.alias or field_name
        if wire in OBSERVED_NOT_DECLARED:
            continue
        assert wire in properties, f"{model.__name__}.{field_name}: {wire!r} is not in {name or file}"
        if info.is_required():
            assert wire in required, f"{model.__name__}.{field_name}: {wire!r} may be missing"


def test_the_item_fields_belong_to_their_item_types(schema_dir: Path) -> None:
    items = definition(schema_dir, "ServerNotification.json", "ThreadItem")["oneOf"]
    by_type = {variant["properties"]["type"]["enum"][0]: variant["properties"] for variant in items}
    for wire, item_type in ITEM_FIELDS.items():
        assert wire in by_type[item_type], f"{item_type} has no {wire!r}"
    assert set(protocol.APPROVAL_METHODS) >= {"item/commandExecution/requestApproval"}
    methods = json.loads((schema_dir / "ServerRequest.json").read_text())["oneOf"]
    declared = {variant["properties"]["method"]["enum"][0] for variant in methods}
    assert {"item/commandExecution/requestApproval", "item/fileChange/requestApproval"} <= declared
