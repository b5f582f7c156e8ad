"""The dashboard's writes: audit events, and background tasks run as ``python -m forecasting`` subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from dashboards.contracts import Account
from forecasting.errors import InputError


class StoreRecorder:
    """Writes audit events and starts background tasks as subprocesses of ``python -m forecasting``.

    Parameters
    ----------
    factory : sessionmaker
    database_url : str
        Passed to the subprocess so it writes into the same database.
    commands : dict, optional
        Task kind -> argument list after ``python -m forecasting`` (``--task-id N`` is appended).
    """

    def __init__(self, factory, database_url: str, commands: dict[str, list[str]] | None = None) -> None:
        self.factory = factory
        self.database_url = database_url
        self.commands = commands or {"train": ["train"], "backtest": ["backtest"]}

    def audit(self, username, action, target=None, details=None) -> None:
        from forecasting.store.governance import record_audit
        from forecasting.store.session import transaction

        with transaction(self.factory) as s:
            record_audit(session=s, username=username, action=action, target=target, details=details)

    def authenticate(self, username: str, password: str) -> Account | None:
        from forecasting.store.governance import authenticate
        from forecasting.store.session import transaction

        with transaction(self.factory) as s:
            u = authenticate(session=s, username=username, password=password)
            return None if u is None else Account(u.username, u.role, bool(u.disabled), "",
                                                  u.session_generation or 0)

    def end_sessions(self, username: str) -> None:
        from forecasting.store.governance import end_sessions
        from forecasting.store.session import transaction

        with transaction(self.factory) as s:
            end_sessions(session=s, username=username)

    def start_task(self, kind: str, params: dict, username: str) -> int:
        from forecasting.store.session import transaction
        from forecasting.store.tasks import create_task

        if kind not in self.commands:
            raise InputError(f"kind must be one of {list(self.commands)}; got {kind!r}")
        with transaction(self.factory) as s:
            task_id = create_task(session=s, kind=kind, params=params, created_by=username)
        args = [sys.executable, "-m", "forecasting", *self.commands[kind], *_task_args({**params, "user": username}),
                "--task-id", str(task_id)]
        env = {**os.environ, "CRIMECAST_DATABASE_URL": self.database_url}
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        threading.Thread(target=self._watch, args=(proc, task_id), daemon=True, name=f"task-{task_id}").start()
        return task_id

    def _watch(self, proc: subprocess.Popen, task_id: int) -> None:
        """Mark the task failed if the process dies without saying so (bad arguments, crash)."""
        from forecasting.store.session import transaction
        from forecasting.store.tasks import get_task, update_task

        _, err = proc.communicate()
        with transaction(self.factory) as s:
            task = get_task(session=s, task_id=task_id)
            if task is not None and task.status not in ("succeeded", "failed"):
                tail = (err or b"").decode(errors="replace").strip().splitlines()[-3:]
                status = "succeeded" if proc.returncode == 0 else "failed"
                update_task(session=s, task_id=task_id, status=status, progress=1.0 if status == "succeeded" else None,
                            message=" | ".join(tail) or f"exit code {proc.returncode}")


def _task_args(params: dict) -> list[str]:
    out = []
    for k, v in params.items():
        if v is None or v == "":
            continue
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out
