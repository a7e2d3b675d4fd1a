"""The JSON log formatter (workers/log_json.py) on records: its fields, the task context
it reads, what it leaves out, the trace id; and LOG_FORMAT's reading (workers/logs.py)."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from workers import log_json, logs
from workers.log_json import say_json, set_worker


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger("tests.log_json")
    handler = log_json.json_handler(stream)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    set_worker(None)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        set_worker(None)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_plain_line_has_the_four_fields(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("hello %s", "wörld")
    (line,) = lines(stream)
    assert list(line) == ["time", "level", "logger", "message"]
    assert line["level"] == "INFO" and line["logger"] == "tests.log_json"
    assert line["message"] == "hello wörld" and line["time"].endswith("+00:00")


def test_celery_task_lines_name_the_task_but_not_its_arguments(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    set_worker("w1@host")
    data = {"id": "t-1", "name": "agents.quiz_generator", "args": "'secret input'"}
    logger.info("Task %(name)s[%(id)s] received", data, extra={"data": data})
    (line,) = lines(stream)
    assert line["task_id"] == "t-1" and line["agent_type"] == "quiz_generator"
    assert line["worker"] == "w1@host"
    assert "data" not in line and "secret input" not in json.dumps(line)


def test_an_exception_is_its_formatted_traceback(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    try:
        raise ValueError("bad thing")
    except ValueError:
        logger.exception("it failed")
    (line,) = lines(stream)
    assert line["level"] == "ERROR"
    assert line["exception"].startswith("Traceback")
    assert "ValueError: bad thing" in line["exception"]


def test_explicit_extra_fields_win(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    set_worker("w1@host")
    logger.warning("x", extra={"worker": "other@host", "task_id": "given"})
    (line,) = lines(stream)
    assert line["worker"] == "other@host" and line["task_id"] == "given"


def test_a_line_inside_a_running_task_carries_it(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    app = Celery("log-json-test", set_as_current=False)
    app.conf.task_always_eager = True

    @app.task(name="agents.terrain_generator.log_test", bind=True)
    def log_test(self: Any) -> None:
        logger.info("inside")

    result = log_test.apply(task_id="t-42")
    assert result.successful(), result.traceback
    (line,) = lines(stream)
    assert line["task_id"] == "t-42" and line["agent_type"] == "terrain_generator"


def test_the_trace_id_of_the_active_span(capture: tuple[logging.Logger, io.StringIO]) -> None:
    trace = pytest.importorskip("opentelemetry.trace")
    logger, stream = capture
    context = trace.SpanContext(trace_id=0xABC, span_id=0x1, is_remote=False)
    with trace.use_span(trace.NonRecordingSpan(context)):
        logger.info("traced")
    logger.info("not traced")
    traced, untraced = lines(stream)
    assert traced["trace_id"] == f"{0xABC:032x}"
    assert "trace_id" not in untraced


def test_safe_say_notices_are_json_lines() -> None:
    read, write = os.pipe()
    with os.fdopen(write, "w") as f:
        say_json("worker: Warm shutdown (MainProcess)", f)
    with os.fdopen(read) as r:
        (line,) = [json.loads(x) for x in r.read().splitlines()]
    assert line["message"] == "worker: Warm shutdown (MainProcess)" and line["level"] == "WARNING"


def test_log_format_reads_the_variable_when_other_settings_are_invalid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "_settings", lambda: None)  # as with a bad DATABASE_URL
    monkeypatch.setenv("LOG_FORMAT", " JSON ")
    assert logs.log_format() == "json"
    monkeypatch.setenv("LOG_FORMAT", "nonsense")
    assert logs.log_format() == "text"


def test_the_setting_is_validated_and_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.settings import SettingsError, load_settings

    monkeypatch.setenv("LOG_FORMAT", "Json")
    assert load_settings().log_format == "json"
    monkeypatch.setenv("LOG_FORMAT", "yaml")
    with pytest.raises(SettingsError, match=r"LOG_FORMAT.*'text' or 'json'"):
        load_settings()
    monkeypatch.delenv("LOG_FORMAT")
    assert load_settings().log_format == "text"


def test_an_uncaught_exception_is_one_json_line() -> None:
    import subprocess
    import sys

    code = "from workers.logs import setup_cli_logging; setup_cli_logging(); raise ValueError('x')"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    (line,) = [json.loads(x) for x in out.stderr.splitlines()]
    assert line["level"] == "CRITICAL" and "ValueError: x" in line["exception"]


# What LOG_FORMAT=json relies on inside Celery (workers/logs.py, workers/celery_programs.py):
# target -> (signature or "" when its default's repr varies, body digest or "" when only the
# signature matters), as in Celery 5.7.
# A Celery upgrade that changes one fails here: read the new code, carry the change into
# ours, then record the new values (workers.broker.kombu_contract.current prints them).
CELERY_RELIED_ON = {
    # replaced by CeleryLogging.setup_handlers in JSON mode: its body is what we redo
    "celery.app.log:Logging.setup_handlers": (
        "(self, logger, logfile, format, colorize, "
        "formatter=<class 'celery.utils.log.ColorFormatter'>, datefmt=None, **kwargs)",
        "990ea5b7d156",
    ),
    "celery.app.log:Logging._detect_handler": ("(self, logfile=None)", ""),
    "celery.app.log:Logging._is_configured": ("(self, logger)", ""),
    "celery.apps.worker:Worker.on_before_init": ("(self, quiet=False, **kwargs)", ""),
    # replaced by workers.log_json.say_json in JSON mode
    # (its default is sys.__stderr__, whose repr names the locale's encoding)
    "celery.apps.worker:safe_say": ("", "c84b73c2f473"),
}


def test_the_celery_internals_relied_on_are_as_recorded() -> None:
    import inspect

    from celery.apps.beat import Beat
    from celery.apps.worker import safe_say

    from workers.broker.kombu_contract import current

    changed = {}
    for target, (signature, digest) in CELERY_RELIED_ON.items():
        now_signature, now_digest = current(target)
        if (signature and now_signature != signature) or (digest and now_digest != digest):
            changed[target] = (now_signature, now_digest)
    assert not changed, changed
    assert "quiet" in inspect.signature(Beat.__init__).parameters  # AgentqBeat passes it
    assert list(inspect.signature(safe_say).parameters) == ["msg", "f"]
