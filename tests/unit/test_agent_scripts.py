"""Unit tests of the script_generator agent (tasks/agents/scripts.py and its templates)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tasks.agents import scripts
from tasks.agents.code_review import review_code
from tasks.agents.luau.templates import ScriptFile, lua_number, lua_string
from tasks.agents.scripts import (
    RUBRIC_WEIGHTS,
    GeneratedScriptError,
    ScriptInput,
    ScriptOutput,
    generate_scripts,
)

QUESTIONS: list[dict[str, Any]] = [
    {"prompt": "Which planet is the largest?", "options": ["Mars", "Jupiter"], "answer_index": 1},
    {"prompt": "2 + 2 = ?", "options": ["3", "4", "5", "22"], "answer_index": 1},
    {"prompt": "Water boils at?", "options": ["100 C", "50 C", "0 C"], "answer_index": 0},
]
TRICKY = 'Say "hi" \\ -- not a comment ]] [[ `{x}`\nnext line\ttab'

PARAMETER_SETS: list[tuple[str, dict[str, Any]]] = [
    ("leaderboard", {}),
    ("leaderboard", {"stats": [{"name": "Coins", "start": 100}, {"name": "Level", "start": 1}]}),
    ("leaderboard", {"stats": [{"name": "Gold Bars", "start": 2.5}], "save_data": True}),
    (
        "leaderboard",
        {
            "stats": [{"name": f"Stat{i}", "start": -i} for i in range(6)],
            "save_data": True,
            "datastore_name": "Class_7B",
        },
    ),
    ("checkpoint", {}),
    ("checkpoint", {"count": 1, "respawn": "start"}),
    (
        "checkpoint",
        {
            "count": 100,
            "require_order": False,
            "show_stage": False,
            "build_parts": False,
            "spacing": 12.5,
        },
    ),
    ("quiz_ui", {"questions": QUESTIONS}),
    ("quiz_ui", {"questions": QUESTIONS[:1], "points_stat": None, "title": TRICKY}),
    (
        "quiz_ui",
        {
            "questions": [
                {"prompt": TRICKY, "options": [TRICKY, "--[[", "]==]"], "answer_index": 2}
            ]
            * 50,
            "points_per_correct": 0,
            "remote_name": "Answer_v2",
            "feedback_seconds": 0.2,
        },
    ),
    ("timer", {}),
    ("timer", {"duration_seconds": 1, "on_expire": "respawn_players", "show_ui": False}),
    (
        "timer",
        {
            "duration_seconds": 86_400,
            "on_expire": "fire_event",
            "repeat": True,
            "intermission_seconds": 0,
            "min_players": 0,
            "message": TRICKY,
        },
    ),
    ("timer", {"on_expire": "announce", "repeat": True, "message": "Round over!"}),
]

EXPECTED_FILES = {
    "leaderboard": [
        ("Leaderboard", "Script", "ServerScriptService"),
        ("Leaderstats", "ModuleScript", "ServerScriptService"),
    ],
    "checkpoint": [("Checkpoints", "Script", "ServerScriptService")],
    "quiz_ui": [
        ("QuizData", "ModuleScript", "ReplicatedStorage"),
        ("QuizServer", "Script", "ServerScriptService"),
        ("QuizClient", "LocalScript", "StarterPlayer.StarterPlayerScripts"),
    ],
    "timer": [
        ("RoundTimer", "Script", "ServerScriptService"),
        ("TimerDisplay", "LocalScript", "StarterPlayer.StarterPlayerScripts"),
    ],
}


def run(kind: str, params: dict[str, Any] | None = None) -> tuple[ScriptOutput, float]:
    data = ScriptInput.model_validate({"kind": kind, "params": params or {}})
    result = generate_scripts("generate", data)
    assert isinstance(result.output, ScriptOutput)
    return result.output, result.quality_score


def source(output: ScriptOutput, name: str) -> str:
    return next(f.source for f in output.files if f.name == name)


@pytest.mark.parametrize(("kind", "params"), PARAMETER_SETS)
def test_every_generated_script_passes_the_reviewer(kind: str, params: dict[str, Any]) -> None:
    output, score = run(kind, params)
    layout = [(f.name, f.script_type, f.parent) for f in output.files]
    expected = EXPECTED_FILES[kind]
    if kind == "timer" and params.get("show_ui") is False:
        expected = expected[:1]
    assert layout == expected
    for file in output.files:
        report = review_code("luau", file.source, filename=file.name)
        assert report.passed, report.findings
        assert report.findings == []  # not even a warning or an info
        assert (file.review_score, file.review_findings) == (1.0, 0)
        assert file.lines == file.source.count("\n")
        assert file.source.startswith(f"-- {file.name} ({file.script_type} in {file.parent})")
        # modern APIs only: no deprecated globals, services through GetService
        assert not re.search(r"(?<![.:\w])(wait|spawn|delay)\s*\(", file.source)
        assert "game.Players" not in file.source and ":connect(" not in file.source
        assert "\t" in file.source and "    " not in file.source  # tab indentation
    assert output.quality_breakdown == {"review_score": 1.0, "parameter_coverage": 1.0}
    assert score == 1.0


def test_quiz_keeps_answers_on_the_server_and_checks_client_input() -> None:
    output, _ = run("quiz_ui", {"questions": QUESTIONS, "title": "Space"})
    data, server, client = (source(output, n) for n in ("QuizData", "QuizServer", "QuizClient"))
    assert "local ANSWERS = { 2, 2, 1 }" in server  # answer_index is 0-based, Luau 1-based
    assert "local OPTION_COUNTS = { 2, 4, 3 }" in server
    assert "ANSWERS" not in data + client  # nothing tells the client the answers in advance
    assert not re.search(r"answer\w*\s*=", data + client, re.IGNORECASE)
    assert 'typeof(questionIndex) ~= "number" or typeof(choice) ~= "number"' in server
    assert "isValidIndex(choice, OPTION_COUNTS[questionIndex])" in server
    assert 'prompt = "2 + 2 = ?"' in data
    assert 'options = { "3", "4", "5", "22" }' in data
    assert 'local POINTS_STAT = "Points"' in server
    assert "remote:FireServer(current, choice)" in client
    assert any("leaderstat 'Points'" in note for note in output.notes)


def test_leaderboard_values_and_datastore_option() -> None:
    plain, _ = run(
        "leaderboard", {"stats": [{"name": "Coins", "start": 5}, {"name": "Speed", "start": 1.5}]}
    )
    script = source(plain, "Leaderboard")
    assert '{ name = "Coins", className = "IntValue", start = 5 },' in script
    assert '{ name = "Speed", className = "NumberValue", start = 1.5 },' in script
    assert "DataStoreService" not in script
    saved, _ = run("leaderboard", {"save_data": True, "datastore_name": "Stats2"})
    script = source(saved, "Leaderboard")
    assert 'DataStoreService:GetDataStore("Stats2")' in script
    assert script.count("pcall(function()") == 2
    assert "game:BindToClose(" in script
    assert any("Enable Studio Access to API" in note for note in saved.notes)


def test_checkpoint_and_timer_settings() -> None:
    output, _ = run("checkpoint", {"count": 7, "respawn": "start", "spacing": 30})
    script = source(output, "Checkpoints")
    for line in (
        "local CHECKPOINT_COUNT = 7",
        "local RESPAWN_AT_CHECKPOINT = false",
        "local REQUIRE_ORDER = true",
        "local SPACING = 30",
    ):
        assert line in script
    output, _ = run("timer", {"duration_seconds": 90, "on_expire": "fire_event", "repeat": True})
    script = source(output, "RoundTimer")
    assert "local DURATION = 90" in script and "local REPEAT_ROUNDS = true" in script
    assert 'Instance.new("BindableEvent")' in script and "expired:Fire()" in script
    assert "task.wait(1)" in script


def test_lua_literals_escape_everything() -> None:
    assert lua_string('a"b\\c\nd\te\x01') == '"a\\"b\\\\c\\nd\\te\\001"'
    assert lua_string("]] -- `{x}`") == '"]] -- `{x}`"'
    assert (lua_number(3.0), lua_number(2.5), lua_number(-7)) == ("3", "2.5", "-7")
    output, _ = run("quiz_ui", {"questions": QUESTIONS[:1], "title": TRICKY})
    assert f"title = {lua_string(TRICKY)}," in source(output, "QuizData")
    assert "-- Shows the quiz " + " ".join(TRICKY.split()) + "." in source(output, "QuizClient")


@pytest.mark.parametrize(
    ("kind", "params", "loc", "fragment"),
    [
        (
            "quiz_ui",
            {"questions": [{"prompt": "Q?", "options": ["a", "b", "c"], "answer_index": 3}]},
            ("params", "quiz_ui", "questions", 0),
            "answer_index 3 is out of range: the question has 3 options (answer_index 0-2)",
        ),
        (
            "quiz_ui",
            {"questions": [{"prompt": "Q?", "options": ["a", "b"], "answer_index": -1}]},
            ("params", "quiz_ui", "questions", 0, "answer_index"),
            "greater than or equal to 0",
        ),
        (
            "quiz_ui",
            {"questions": [{"prompt": "Q?", "options": ["a", "A"], "answer_index": 0}]},
            ("params", "quiz_ui", "questions", 0, "options"),
            "options must be distinct",
        ),
        (
            "quiz_ui",
            {"questions": [{"prompt": "Q?", "options": ["a"], "answer_index": 0}]},
            ("params", "quiz_ui", "questions", 0, "options"),
            "at least 2 items",
        ),
        ("quiz_ui", {}, ("params", "quiz_ui", "questions"), "Field required"),
        (
            "quiz_ui",
            {"questions": QUESTIONS, "remote_name": "bad name!"},
            ("params", "quiz_ui", "remote_name"),
            "should match pattern",
        ),
        (
            "leaderboard",
            {"stats": [{"name": "Coins"}, {"name": "coins"}]},
            ("params", "leaderboard", "stats"),
            "duplicate stat name 'coins'",
        ),
        (
            "leaderboard",
            {"stats": [{"name": "1st"}]},
            ("params", "leaderboard", "stats", 0, "name"),
            "should match pattern",
        ),
        ("leaderboard", {"stats": []}, ("params", "leaderboard", "stats"), "at least 1 item"),
        ("checkpoint", {"count": 0}, ("params", "checkpoint", "count"), "greater than or equal"),
        (
            "checkpoint",
            {"respawn": "nowhere"},
            ("params", "checkpoint", "respawn"),
            "'last_checkpoint' or 'start'",
        ),
        (
            "timer",
            {"duration_seconds": 0},
            ("params", "timer", "duration_seconds"),
            "greater than or equal to 1",
        ),
        (
            "timer",
            {"on_expire": "announce", "show_ui": False},
            ("params", "timer"),
            "on_expire 'announce' shows its message in the UI: set show_ui true",
        ),
        ("timer", {"surprise": 1}, ("params", "timer", "surprise"), "Extra inputs"),
        ("maze", {}, ("kind",), "'leaderboard', 'checkpoint', 'quiz_ui' or 'timer'"),
    ],
)
def test_validation_errors_name_the_field(
    kind: str, params: dict[str, Any], loc: tuple[Any, ...], fragment: str
) -> None:
    with pytest.raises(ValidationError) as info:
        ScriptInput.model_validate({"kind": kind, "params": params})
    error = info.value.errors()[0]
    assert error["loc"] == loc
    assert fragment in error["msg"]


def test_extra_top_level_field_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        ScriptInput.model_validate({"kind": "timer", "params": {}, "language": "luau"})
    assert info.value.errors()[0]["loc"] == ("language",)


def test_determinism() -> None:
    for kind, params in PARAMETER_SETS:
        first, s1 = run(kind, params)
        second, s2 = run(kind, params)
        assert first.model_dump() == second.model_dump()
        assert s1 == s2


def test_a_template_bug_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = ScriptFile("Broken", "Script", "ServerScriptService", "local function f()\n")
    monkeypatch.setattr(scripts, "build_files", lambda params: [broken])
    with pytest.raises(GeneratedScriptError, match=r"Broken fails review: line 1 LUAU001"):
        run("timer")


def test_quality_rubric(monkeypatch: pytest.MonkeyPatch) -> None:
    output, score = run("timer")
    assert score == 1.0
    # a value missing from the sources halves the coverage of 2 expected literals
    monkeypatch.setattr(scripts, "expected_literals", lambda params: ["DURATION = 60", "MISSING"])
    output, score = run("timer")
    assert output.quality_breakdown["parameter_coverage"] == 0.5
    assert score == round(
        RUBRIC_WEIGHTS["review_score"] + RUBRIC_WEIGHTS["parameter_coverage"] / 2, 4
    )
    # a warning in a generated file lowers the review score (but does not raise)
    warned = ScriptFile("Warned", "Script", "ServerScriptService", "print(1)\nwait(1)\n")
    monkeypatch.setattr(scripts, "build_files", lambda params: [warned])
    output, low = run("timer")
    assert output.files[0].review_score == 0.9
    assert output.files[0].review_findings == 1
    assert 0.0 <= low < score < 1.0


def test_unsupported_task_type() -> None:
    data = ScriptInput.model_validate({"kind": "timer"})
    with pytest.raises(ValueError, match="unsupported task_type 'compile'"):
        generate_scripts("compile", data)


@pytest.mark.skipif(shutil.which("luac5.1") is None, reason="needs luac5.1 (apt: lua5.1)")
def test_generated_scripts_parse_with_a_real_lua_parser(tmp_path: Path) -> None:
    # the templates stay within Lua 5.1 syntax, so a real parser can cross-check them
    for n, (kind, params) in enumerate(PARAMETER_SETS):
        output, _ = run(kind, params)
        for file in output.files:
            path = tmp_path / f"{n}_{file.name}.lua"
            path.write_text(file.source)
            done = subprocess.run(["luac5.1", "-p", str(path)], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
