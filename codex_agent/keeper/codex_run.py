"""A codex job under its keeper: a private app-server, the keeper as its first client, the TUI as the second.

    keeper ──(WebSocket, JOB_DIR/app.sock)──> codex app-server <── codex --remote … resume THREAD (the pane)

The keeper starts the thread and the first turn through the protocol (the prompt byte-exact, of any size),
then runs the real TUI in the pane so that a person can watch and type. Everything either side does arrives
at the keeper as protocol messages, which `Tracker` turns into the job's state and `Recorder` writes down.
An exec job is the same without the TUI: it ends when its turn does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from codex_agent import protocol
from codex_agent.agents import codex
from codex_agent.agents.launch import PROMPT_FILE, socket_path
from codex_agent.appclient import AppClient, Incoming, ProtocolError
from codex_agent.keeper.children import die_with_parent, exit_ending, wait_for_path
from codex_agent.keeper.codex_requests import serve_control
from codex_agent.keeper.control import MAX_REQUEST_BYTES, control_path
from codex_agent.keeper.record import Ending, Recorder
from codex_agent.keeper.tracker import Tracker, TurnRecord
from codex_agent.models import JobStatus, now_ms

APP_SERVER_LOG = "app-server.log"
SERVER_START_TIMEOUT_S = 30.0
SEND_RECEIPT_TIMEOUT_S = 30.0
INTERRUPT_GRACE_S = 5.0


class CodexKeeper:
    def __init__(self, recorder: Recorder, spec: dict[str, Any], env: dict[str, str]) -> None:
        self.recorder = recorder
        self.spec = spec
        self.env = env
        self.job_dir = recorder.job_dir
        self.cwd = str(spec["cwd"])
        self.with_tui = bool(spec.get("tui"))
        self.stall_after_s = float(spec.get("stall_after_s") or 300)
        self.client: AppClient | None = None
        self.tracker: Tracker | None = None
        self.server: asyncio.subprocess.Process | None = None
        self.tui: asyncio.subprocess.Process | None = None
        self.ending: Ending | None = None
        self.done = asyncio.Event()
        self.ready = asyncio.Event()  # codex is up, the thread is open
        self.changed = asyncio.Event()
        self.last_message_at = now_ms()
        self.stalled = False

    # --- the whole life -------------------------------------------------------------------------------------

    async def run(self) -> Ending:
        # Listening from the start: a `send` right after `start` waits here until codex is up.
        control_socket = control_path(self.job_dir)
        control_socket.unlink(missing_ok=True)
        control = await asyncio.start_unix_server(
            partial(serve_control, self), path=str(control_socket), limit=MAX_REQUEST_BYTES
        )
        try:
            await self._start()
        except (ProtocolError, OSError, TimeoutError) as exc:
            control.close()
            await self._stop_children()
            return Ending(JobStatus.FAILED, 1, f"codex did not start: {exc}{self._server_log_tail()}")
        self.ready.set()
        tasks = [
            asyncio.create_task(self._read_messages()),
            asyncio.create_task(self._watch_stall()),
            asyncio.create_task(self._watch_server()),
        ]
        if self.tui is not None:
            tasks.append(asyncio.create_task(self._watch_tui()))
        await self.done.wait()
        assert self.ending is not None
        control.close()
        for task in tasks:
            task.cancel()
        await self._stop_children()
        assert self.ending is not None
        return self.ending

    def end(self, ending: Ending) -> None:
        if self.ending is None:
            self.ending = ending
            self.done.set()

    async def _start(self) -> None:
        app_socket = socket_path(self.job_dir, codex.APP_SOCKET)
        app_socket.unlink(missing_ok=True)
        log = os.open(self.job_dir / APP_SERVER_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            self.server = await asyncio.create_subprocess_exec(
                *codex.app_server_argv(self.spec["codex"], self.job_dir),
                cwd=self.cwd, env=self.env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=die_with_parent,
            )  # fmt: skip
        finally:
            os.close(log)
        self.client = await self._connect(app_socket)
        thread_id = await self._open_thread()
        self.tracker = Tracker(thread_id)
        self.recorder.started(thread_id, self.server.pid)
        prompt = self._prompt()
        if prompt is not None:
            await self._start_turn(prompt, f"prompt-{uuid.uuid4()}")
        else:
            view = self.tracker.view()
            self.recorder.observe(view, view)  # idle: waiting for a first message
        if self.with_tui:
            await self._start_tui(thread_id)

    async def _connect(self, socket_path: Path) -> AppClient:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SERVER_START_TIMEOUT_S
        while True:
            if self.server is not None and self.server.returncode is not None:
                raise OSError(f"codex app-server exited with code {self.server.returncode}")
            try:
                return await AppClient.connect(socket_path, str(self.spec.get("version", "0")))
            except OSError:
                if loop.time() > deadline:
                    raise TimeoutError(
                        f"codex app-server did not listen within {SERVER_START_TIMEOUT_S:.0f}s"
                    ) from None
            # The server creates its socket shortly after it starts: wait for the file, not a fixed time.
            await wait_for_path(socket_path, deadline - loop.time(), self.server)

    async def _open_thread(self) -> str:
        assert self.client is not None
        settings: dict[str, Any] = {
            "cwd": self.cwd,
            "model": self.spec.get("model"),
            "sandbox": self.spec.get("sandbox"),
            "approvalPolicy": self.spec.get("approval"),
            "config": {"model_reasoning_effort": self.spec.get("reasoning")}
            if self.spec.get("reasoning")
            else None,
        }
        settings = {key: value for key, value in settings.items() if value is not None}
        resume = self.spec.get("resume_thread")
        if resume:
            result = await self.client.request("thread/resume", {"threadId": resume, **settings})
        else:
            result = await self.client.request("thread/start", settings)
        return protocol.ThreadStartResult.model_validate(result).thread.id

    def _prompt(self) -> str | None:
        if self.spec.get("prompt_via") != "protocol":
            return None
        return (self.job_dir / PROMPT_FILE).read_bytes().decode("utf-8", errors="surrogateescape")

    async def _start_tui(self, thread_id: str) -> None:
        argv = codex.tui_argv(self.spec["codex"], self.job_dir, thread_id)
        self.tui = await asyncio.create_subprocess_exec(
            *argv, cwd=self.cwd, env=self.env, preexec_fn=die_with_parent
        )

    # --- turns ----------------------------------------------------------------------------------------------

    async def _start_turn(self, text: str, client_id: str) -> str:
        assert self.client is not None and self.tracker is not None
        params: dict[str, Any] = {
            "threadId": self.tracker.thread_id,
            "input": [{"type": "text", "text": text}],
            "clientUserMessageId": client_id,
        }
        if self.spec.get("reasoning"):
            params["effort"] = self.spec["reasoning"]
        result = await self.client.request("turn/start", params)
        turn_id = protocol.TurnStartResult.model_validate(result).turn.id
        # Running from the moment codex accepted the turn, whether or not turn/started was read yet.
        if self.tracker.turn is None or self.tracker.turn.id != turn_id:
            before = self.tracker.view()
            self.tracker.turn = TurnRecord(turn_id, now_ms())
            self.recorder.observe(before, self.tracker.view(), interactive=self.with_tui)
        return turn_id

    async def _steer(self, text: str, client_id: str, turn_id: str) -> None:
        assert self.client is not None and self.tracker is not None
        await self.client.request(
            "turn/steer",
            {
                "threadId": self.tracker.thread_id,
                "expectedTurnId": turn_id,
                "input": [{"type": "text", "text": text}],
                "clientUserMessageId": client_id,
            },
        )

    async def send(self, text: str, client_id: str) -> dict[str, Any]:
        """Start a turn, or steer the running one; answered once codex echoes the message back."""
        assert self.tracker is not None
        began = asyncio.get_running_loop().time()
        turn = self.tracker.turn
        steered = turn is not None and turn.status == "inProgress"
        if steered:
            assert turn is not None
            try:
                await self._steer(text, client_id, turn.id)
            except ProtocolError:
                steered = False  # the turn ended meanwhile: start a new one
        if not steered:
            await self._start_turn(text, client_id)
        await self._until(lambda: client_id in self.tracker.client_ids, SEND_RECEIPT_TIMEOUT_S)
        waited_ms = int((asyncio.get_running_loop().time() - began) * 1000)
        self.recorder.event(
            "message_confirmed", {"by": "protocol", "steered": steered, "waited_ms": waited_ms}
        )
        return {"steered": steered, "turn_id": self.tracker.client_ids[client_id], "waited_ms": waited_ms}

    async def answer(self, decision: str, request_id: Any) -> dict[str, Any]:
        assert self.client is not None and self.tracker is not None
        questions = self.tracker.questions
        key = str(request_id) if request_id is not None else next(iter(questions), None)
        question = questions.get(key) if key is not None else None
        if question is None:
            raise LookupError("codex is not waiting for an answer")
        if question.answers and decision not in question.answers:
            raise ValueError(f"codex accepts {', '.join(question.answers)} here, not {decision!r}")
        await self.client.respond(question.request_id, {"decision": decision})
        # Codex confirms with serverRequest/resolved, which clears the question for every client.
        await self._until(lambda: key not in self.tracker.questions, SEND_RECEIPT_TIMEOUT_S)
        self.recorder.event("answered", {"decision": decision, "question": question.question})
        return {"question": question.to_json(), "decision": decision}

    async def interrupt(self) -> bool:
        assert self.client is not None and self.tracker is not None
        turn = self.tracker.turn
        if turn is None or turn.status != "inProgress":
            return False
        with contextlib.suppress(ProtocolError):
            await self.client.request(
                "turn/interrupt", {"threadId": self.tracker.thread_id, "turnId": turn.id}, INTERRUPT_GRACE_S
            )
            await self._until(lambda: turn.status != "inProgress", INTERRUPT_GRACE_S)
        return True

    async def _until(self, condition: Any, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not condition():
            self.changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    # --- what codex says ------------------------------------------------------------------------------------

    async def _read_messages(self) -> None:
        assert self.client is not None and self.tracker is not None
        while True:
            message = await self.client.incoming.get()
            if message is None:
                self.end(await self._server_gone())
                return
            self.last_message_at = now_ms()
            self._on_message(message)

    def _on_message(self, message: Incoming) -> None:
        assert self.tracker is not None
        before = self.tracker.view()
        if not self.tracker.apply(message, now_ms()) and not self.stalled:
            return
        self.stalled = False
        after = self.tracker.view()
        job = self.recorder.observe(before, after, interactive=self.with_tui)
        self.changed.set()
        if (
            self.with_tui
            and after.turns_completed > before.turns_completed
            and after.status is JobStatus.IDLE
        ):
            from codex_agent import oncomplete

            with contextlib.suppress(OSError):
                oncomplete.notify(self.recorder.trusted(job), self.job_dir, "turn", self.env)
        turn = after.turn
        if self.with_tui or turn is None or turn.status == "inProgress":
            return
        # An exec job is one turn: it ends with it.
        if turn.status == "completed":
            self.end(Ending(JobStatus.COMPLETED, 0, None))
        else:
            self.end(Ending(JobStatus.FAILED, 1, turn.error or f"the turn was {turn.status}"))

    async def _watch_stall(self) -> None:
        assert self.tracker is not None
        while True:
            quiet_s = (now_ms() - self.last_message_at) / 1000
            turn = self.tracker.turn
            active = turn is not None and turn.status == "inProgress" and not self.tracker.questions
            if active and not self.stalled and quiet_s >= self.stall_after_s:
                self.stalled = True
                self.recorder.stalled(quiet_s)
            # Sleeping until the threshold comes due is the event here: nothing happens while codex is quiet.
            await asyncio.sleep(max(0.05, self.stall_after_s - quiet_s) if active else self.stall_after_s)

    async def _server_gone(self) -> Ending:
        """The connection closed: when the server itself is exiting, its exit code is the job's."""
        assert self.server is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.server.wait(), INTERRUPT_GRACE_S)
        code = self.server.returncode
        if code is None:
            return Ending(JobStatus.FAILED, 1, "the connection to codex's app-server closed")
        return exit_ending(code, f"codex's app-server exited (code {code}){self._server_log_tail()}")

    async def _watch_server(self) -> None:
        assert self.server is not None
        code = await self.server.wait()
        self.end(exit_ending(code, f"codex's app-server exited (code {code}){self._server_log_tail()}"))

    async def _watch_tui(self) -> None:
        assert self.tui is not None and self.tracker is not None
        code = await self.tui.wait()
        turn = self.tracker.turn
        self.end(exit_ending(code, f"the codex TUI exited with code {code}"))
        if turn is not None and turn.status == "inProgress":
            await self.interrupt()

    async def _stop_children(self) -> None:
        for child in (self.tui, self.server):
            if child is not None and child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.terminate()
                try:
                    await asyncio.wait_for(child.wait(), INTERRUPT_GRACE_S)
                except asyncio.TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        child.kill()
        if self.client is not None:
            await self.client.close()

    def _server_log_tail(self) -> str:
        try:
            with open(self.job_dir / APP_SERVER_LOG, "rb") as handle:
                handle.seek(max(0, os.fstat(handle.fileno()).st_size - 400))
                tail = handle.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return f": {tail[-1][:200]}" if tail else ""
