"""Unit tests of the code_reviewer agent (tasks/agents/code_review/__init__.py and its checkers)."""

from __future__ import annotations

from textwrap import dedent
from typing import Any

import pytest
from pydantic import ValidationError

from tasks.agents.code_review import (
    ERROR_SCORE_CAP,
    Finding,
    ReviewInput,
    ReviewOutput,
    review,
    score_findings,
)
from tasks.agents.code_review.lint_rules import RULES, Severity, resolve_rule


def run(task_type: str = "review", **fields: Any) -> tuple[ReviewOutput, float]:
    result = review(task_type, ReviewInput.model_validate(fields))
    assert isinstance(result.output, ReviewOutput)
    assert result.quality_score == result.output.score
    return result.output, result.quality_score


def luau(code: str, **fields: Any) -> ReviewOutput:
    return run(language="luau", code=dedent(code), **fields)[0]


def triples(output: ReviewOutput) -> list[tuple[int, str, str]]:
    return [(f.line, f.rule_id, f.severity) for f in output.findings]


# -- Luau golden fixtures --------------------------------------------------------------

PROBLEMS = """\
local Players = game:GetService("Players")
local remote = game.ReplicatedStorage.BuyItem

coins = 0

local function award(player, amount)
    wait(1)
    player.leaderstats.Coins.Value += amount
end

remote.OnServerEvent:Connect(function(player, itemId, price)
    if typeof(itemId) ~= "string" then return end
    award(player, price)
end)

spawn(function()
    while true do
        coins = coins + 1
    end
end)
workspace.Part.Touched:connect(function(hit) print(hit, Players) end)
"""

CLEAN = """\
--!strict
local Players = game:GetService("Players")
local ReplicatedStorage = game:GetService("ReplicatedStorage")

export type Stats = { coins: number, name: string? }
type Callback<T> = (value: T) -> ()

local remote = ReplicatedStorage:WaitForChild("Buy") :: RemoteEvent
local PRICES: { [string]: number } = { sword = 50, shield = 30 }

local function clamp<T>(value: number, low: number, high: number): number
    return if value < low then low elseif value > high then high else value
end

local Shop = {}
Shop.__index = Shop

function Shop.new(owner: Player)
    local self = setmetatable({}, Shop)
    self.owner = owner
    self.total = 0
    return self
end

function Shop:add(amount: number)
    self.total += clamp(amount, 0, 100)
end

remote.OnServerEvent:Connect(function(player: Player, item: unknown)
    if typeof(item) ~= "string" then
        return
    end
    local price = PRICES[item]
    if price == nil then
        return
    end
    print(`{player.Name} bought {item} for {price} ({if price > 40 then "pricey" else "ok"})`)
end)

local count = 0
for _, player in Players:GetPlayers() do
    if player.UserId == 0 then
        continue
    end
    count += 1
end

task.spawn(function()
    while true do
        task.wait(1)
        count -= 1
    end
end)

local s = [[long
string]] .. [==[with ]] inside]==] .. "esc\\"aped" .. 'it\\'s'
--[[ block
comment ]]
local function sum(...: number): number
    local total = 0
    for i = 1, select("#", ...) do
        total += (select(i, ...))
    end
    return total
end
print(sum(1, 2, 3), s, 0x1F, 1_000, 2e3, 0b101, Shop.new)
"""


def test_golden_luau_problems() -> None:
    out = luau(PROBLEMS)
    assert triples(out) == [
        (4, "LUAU003", "warning"),  # coins never declared local
        (7, "LUAU002", "warning"),  # wait -> task.wait
        (13, "LUAU005", "warning"),  # price used without a type check
        (16, "LUAU002", "warning"),  # spawn -> task.spawn
        (17, "LUAU004", "warning"),  # while true do without a yield
        (21, "LUAU002", "warning"),  # :connect -> :Connect
    ]
    messages = [f.message for f in out.findings]
    assert "`coins`" in messages[0]
    assert "task.wait" in messages[1]
    assert "`price`" in messages[2] and "line 11" in messages[2]
    assert all(f.fix_hint for f in out.findings)
    assert out.summary.model_dump() == {
        "errors": 0,
        "warnings": 6,
        "infos": 0,
        "total": 6,
        "by_rule": {"LUAU002": 3, "LUAU003": 1, "LUAU004": 1, "LUAU005": 1},
    }
    assert out.code_lines == 17
    assert out.passed and out.complete
    assert out.score == 0.4  # 1 - 6 x 0.10 (17 lines: no size discount)


def test_clean_luau_with_luau_syntax_scores_one() -> None:
    out = luau(CLEAN)
    assert out.findings == []
    assert out.score == 1.0
    assert out.summary.total == 0
    assert out.rules_checked == [f"LUAU00{i}" for i in range(1, 7)]


@pytest.mark.parametrize(
    ("code", "line", "fragment"),
    [
        (  # missing `end`: located by the indentation of the `end` that closed it
            "local function a()\n    if x then\n        print(1)\nend\n",
            2,
            "`if` at line 2 is probably missing its `end`",
        ),
        ("local function a()\nend\nend\n", 3, "unexpected `end` at line 3"),
        ('local s = "abc\nprint(1)\n', 1, "unterminated string"),
        ("print(1)\n--[[ never\nclosed\n", 2, "unterminated long comment"),
        ("local t = [==[ text ]=]\n", 1, "unterminated long string"),
        ("print((1)\nlocal x = 2\n", 1, "`(` opened at line 1 is never closed"),
        ("local t = {1, 2)\n", 1, "`)` at line 1 does not match `{` opened at line 1"),
        ("local x = 1\nuntil x\n", 2, "`until` at line 2 without a matching `repeat`"),
        ("repeat\n    print(1)\nend\n", 3, "needs `until`"),
        ("local x = 1\nelse\n", 2, "`else` at line 2 without a matching `if`"),
        ("if x\n    print(1)\nend\n", 3, "missing `then`"),
        ("while x\n    print(1)\nend\n", 3, "missing `do`"),
        ("local x = 1\nlocal y = x ! 2\n", 2, "unexpected character '!'"),
        ("for i = 1, 3 do\n    print(i)\n", 1, "`for` opened at line 1 is never closed"),
        ("local s = `hi {name\n", 1, "unterminated interpolated string"),
    ],
)
def test_luau_syntax_errors_by_line(code: str, line: int, fragment: str) -> None:
    out = luau(code)
    assert [(f.line, f.rule_id, f.severity) for f in out.findings][:1] == [
        (line, "LUAU001", "error")
    ]
    assert fragment in out.findings[0].message
    assert not out.passed and not out.complete
    assert out.score <= ERROR_SCORE_CAP


@pytest.mark.parametrize(
    "code",
    [
        "\ufeff#!/usr/bin/env luau\nlocal x = 1\nprint(x)\n",  # byte order mark, shebang
        "local a = 1\r\nif a then\r\n    print(a)\r\nend\r\n",  # CRLF line endings
        "-- only a comment\n--[==[ and a ]] long ]=] one ]==]\n",
        'local s = "a\\z\n     b" .. [=[ ]] ]=] .. `{ {1} } {"}"}`\nprint(s)\n',
        "local t = { f = function(self) self.x = 1 end, [2] = {}, }; t:f()\n",
    ],
)
def test_luau_lexical_edge_cases_are_clean(code: str) -> None:
    out = luau(code)
    assert out.findings == []
    assert out.score == 1.0


def test_syntax_error_hides_other_findings() -> None:
    out = luau("coins = 1\nwait(1)\nlocal function f()\n")
    assert triples(out) == [(3, "LUAU001", "error")]
    assert out.notes[0].startswith("The code has a syntax error")


def test_deprecated_api_variants() -> None:
    out = luau(
        """\
        local wait = task.wait
        wait(1)
        task.delay(1, print)
        delay(2, print)
        local p = Instance.new("Part", workspace)
        local q = Instance.new("Part")
        p:Remove()
        q.Parent = workspace
        local t = ypcall(print)
        """
    )
    assert [(f.line, f.rule_id) for f in out.findings] == [
        (4, "LUAU002"),  # delay (the local `wait` shadows the global one)
        (5, "LUAU002"),  # Instance.new with a parent argument
        (7, "LUAU002"),  # :Remove -> :Destroy
        (9, "LUAU002"),  # ypcall -> pcall
    ]
    assert "task.delay" in out.findings[0].message
    assert ":Destroy()" in out.findings[2].message


def test_implicit_globals_follow_scopes() -> None:
    out = luau(
        """\
        local total = 0
        do
            local inner = 1
            inner = inner + 1
        end
        inner = 5
        for i = 1, 3 do
            i = i + 1
            total = total + i
        end
        local function f(a, ...)
            a = 2
            helper = a
        end
        function globalFn() end
        function _G.ok() end
        _G.value, shared.value = 1, 2
        helper = 3
        x, y = 1, 2
        """
    )
    assert [(f.line, f.message.split("`")[1]) for f in out.findings] == [
        (6, "inner"),  # its local ended with the do block
        (13, "helper"),  # reported once, at its first assignment
        (15, "globalFn"),
        (19, "x"),
        (19, "y"),
    ]
    assert all(f.rule_id == "LUAU003" for f in out.findings)
    assert "function `globalFn`" in out.findings[2].message


def test_loops_without_yield() -> None:
    out = luau(
        """\
        local ready = false
        while true do
            task.wait(0.5)
        end
        while true do
            if ready then break end
        end
        repeat
            ready = not ready
        until false
        while true do
            task.spawn(function() task.wait(1) end)
        end
        while not ready do end
        repeat until ready
        while task.wait(1) do
            print(ready)
        end
        while true do
            workspace.ChildAdded:Wait()
        end
        local n = 0
        repeat
            n += 1
        until n > 10
        """
    )
    assert [(f.line, f.rule_id) for f in out.findings] == [
        (8, "LUAU004"),  # repeat ... until false without a yield
        (11, "LUAU004"),  # the yield is in another function
        (14, "LUAU004"),  # busy-wait
        (15, "LUAU004"),  # busy-wait
    ]
    assert "repeat ... until false" in out.findings[0].message
    assert "busy-wait" in out.findings[2].message


def test_remote_input_checks() -> None:
    out = luau(
        """\
        local remote = game:GetService("ReplicatedStorage"):WaitForChild("Remote")
        local fn = game:GetService("ReplicatedStorage"):WaitForChild("Fn")
        remote.OnServerEvent:Connect(function(player, amount, name)
            if not amount or typeof(amount) ~= "number" then return end
            assert(type(name) == "string")
            print(player, amount, name)
        end)
        local function onAnswer(player, choice)
            print(choice)
            if typeof(choice) ~= "number" then return end
        end
        remote.OnServerEvent:Connect(onAnswer)
        fn.OnServerInvoke = function(player, ...)
            return select("#", ...)
        end
        remote.OnServerEvent:Once(function(player, data)
            if isValidPayload(data) then print(data.x) end
        end)
        remote.OnClientEvent:Connect(function(value) print(value) end)
        """
    )
    assert triples(out) == [(9, "LUAU005", "warning"), (14, "LUAU005", "warning")]
    assert "`choice`" in out.findings[0].message
    assert "used before its type check" in out.findings[0].message
    assert "OnServerInvoke" in out.findings[1].message
    assert "never type-checked" in out.findings[1].message


@pytest.mark.parametrize(("limit", "flagged"), [(5, True), (6, False), (60, False)])
def test_long_function_threshold(limit: int, flagged: bool) -> None:
    code = "local function six()\n" + "    print(1)\n" * 4 + "end\n"
    out = luau(code, max_function_lines=limit)
    expected = [(1, "LUAU006", "info")] if flagged else []
    assert triples(out) == expected
    if flagged:
        assert out.findings[0].message == "function `six` is 6 lines long (limit 5)"


# -- Python -------------------------------------------------------------------------

PY_PROBLEMS = """\
import os
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections import OrderedDict


def load(path, cache={}):
    try:
        return json.loads(open(path).read())
    except:
        return eval(path)


def typed(x: "OrderedDict", *, seen=list()) -> None:
    exec("print(1)")
"""

PY_CLEAN = """\
from __future__ import annotations

import json

try:
    import yaml
except ImportError:
    yaml = None


def load(path: str, cache: dict | None = None) -> object:
    try:
        return json.loads(path)
    except ValueError:
        return None
"""


def test_golden_python_problems() -> None:
    out, score = run(language="python", code=PY_PROBLEMS, filename="loader.py")
    assert triples(out) == [
        (1, "PY006", "info"),  # os unused
        (9, "PY003", "warning"),  # cache={}
        (12, "PY002", "warning"),  # bare except
        (13, "PY004", "warning"),  # eval
        (16, "PY003", "warning"),  # seen=list()
        (17, "PY004", "warning"),  # exec
    ]
    assert out.findings[0].message == "`os` is imported but never used"
    assert score == round(1 - 5 * 0.10 - 0.02, 4)


def test_clean_python_scores_one() -> None:
    out, score = run(language="python", code=PY_CLEAN)
    assert out.findings == []
    assert score == 1.0
    assert out.rules_checked == [f"PY00{i}" for i in range(1, 7)]


@pytest.mark.parametrize(
    ("code", "line"),
    [
        ("def ok():\n    return 1\n\ndef broken(:\n    pass\n", 4),
        ("x = 1\nif x\n    y = 2\n", 2),
        ("a = 1\nb = (2,\n", 2),
        ("a = 1\nb = 2\0\n", 2),
    ],
)
def test_python_syntax_error_line(code: str, line: int) -> None:
    out, score = run(language="python", code=code)
    assert triples(out) == [(line, "PY001", "error")]
    assert out.findings[0].message.startswith("syntax error:")
    assert not out.complete and not out.passed
    assert score == ERROR_SCORE_CAP


def test_unused_import_exemptions() -> None:
    reexport = "from json import loads as loads\nimport os\n__all__ = ['os']\n"
    out, _ = run(language="python", code=reexport)
    assert out.findings == []
    out, _ = run(language="python", code="import os\n", filename="pkg/__init__.py")
    assert out.findings == []
    out, _ = run(language="python", code="import os.path\n")
    assert triples(out) == [(1, "PY006", "info")]
    out, _ = run(language="python", code="try:\n    import yaml\nexcept ImportError:\n    pass\n")
    assert out.findings == []


def test_unused_import_is_pyflakes_scope_analysis() -> None:
    # A name in a plain string is no use, and neither is a use after a redefinition:
    # pyflakes binds names by scope where a word search of the module would not.
    code = 'import os\nimport json\n\njson = {}\nprint("os", json)\n'
    out, _ = run(language="python", code=code)
    assert [(f.line, f.rule_id, f.message) for f in out.findings] == [
        (1, "PY006", "`os` is imported but never used"),
        (2, "PY006", "`json` is imported but never used (line 4 redefines it)"),
    ]
    # pyflakes' other messages (here: undefined name) have no rule of the reviewer.
    out, _ = run(language="python", code="print(undefined_name)\n")
    assert out.findings == []


def test_unused_import_skipped_when_too_deep_for_pyflakes() -> None:
    # ast.parse takes it, pyflakes' recursive walk does not: the other rules still run.
    code = "import os\n\n\ndef f(x=[]):\n    return " + " + ".join(["x"] * 2000) + "\n"
    out, _ = run(language="python", code=code)
    assert triples(out) == [(4, "PY003", "warning")]
    assert out.complete


def test_python_long_function() -> None:
    code = "def f():\n" + "    x = 1\n" * 10 + "    return x\n"
    out, _ = run(language="python", code=code, max_function_lines=11)
    assert triples(out) == [(1, "PY005", "info")]
    assert out.findings[0].message == "function `f` is 12 lines long (limit 11)"
    out, _ = run(language="python", code=code, max_function_lines=12)
    assert out.findings == []


# -- task types, options, rubric -------------------------------------------------------


def test_lint_task_type_leaves_out_info_rules() -> None:
    review_out, review_score = run(language="python", code=PY_PROBLEMS)
    lint_out, lint_score = run("lint", language="python", code=PY_PROBLEMS)
    assert [f for f in review_out.findings if f.severity != "info"] == lint_out.findings
    assert "PY006" not in lint_out.rules_checked
    assert lint_score > review_score


def test_disabled_rules_by_id_or_name() -> None:
    out = luau(PROBLEMS, disabled_rules=["LUAU002", "implicit-global"])
    assert {f.rule_id for f in out.findings} == {"LUAU004", "LUAU005"}
    assert out.notes == ["Disabled rules: LUAU002, LUAU003."]
    data = ReviewInput.model_validate(
        {"language": "python", "code": "x = 1", "disabled_rules": ["syntax-error", "py006"]}
    )
    assert data.disabled_rules == ["PY001", "PY006"]


def test_score_rubric() -> None:
    def findings(*severities: Severity) -> list[Finding]:
        return [
            Finding(line=1, rule_id="X", severity=s, message="m", fix_hint="h") for s in severities
        ]

    assert score_findings([], 10) == (
        1.0,
        {"error_penalty": 0.0, "warning_penalty": 0.0, "info_penalty": 0.0, "size_factor": 1.0},
    )
    one_warning = score_findings(findings("warning"), 10)[0]
    two_warnings = score_findings(findings("warning", "warning"), 10)[0]
    one_info = score_findings(findings("info"), 10)[0]
    assert (one_warning, two_warnings, one_info) == (0.9, 0.8, 0.98)
    assert two_warnings < one_warning < one_info < 1.0
    # normalised by size: the same warnings weigh half as much in 200 lines
    assert score_findings(findings("warning", "warning"), 200)[0] == 0.9
    # any error caps the score; many problems floor it at 0
    assert score_findings(findings("error"), 1000)[0] == ERROR_SCORE_CAP
    many: list[Severity] = ["warning"] * 30
    assert score_findings(findings(*many), 10)[0] == 0.0


def test_more_problems_lower_the_score() -> None:
    base = "local x = 1\nprint(x)\n"
    scores = [
        luau(base + "y = 1\n" * 0).score,
        luau(base + "wait(1)\n").score,
        luau(base + "wait(1)\nspawn(print)\n").score,
        luau(base + "wait(1)\nspawn(print)\nz = 2\n").score,
        luau(base + "wait(1)\nspawn(print)\nz = 2\nend\n").score,
    ]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)
    assert all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize(("language", "code"), [("luau", PROBLEMS), ("python", PY_PROBLEMS)])
def test_determinism(language: str, code: str) -> None:
    first, s1 = run(language=language, code=code)
    second, s2 = run(language=language, code=code)
    assert first.model_dump() == second.model_dump()
    assert s1 == s2
    keys = [(f.line, f.rule_id, f.message) for f in first.findings]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("language", "javascript"),
        ("code", ""),
        ("code", "x" * 200_001),
        ("filename", ""),
        ("max_function_lines", 4),
        ("max_function_lines", "many"),
        ("disabled_rules", ["LUAU999"]),
        ("disabled_rules", ["PY002"]),  # a Python rule for Luau code
        ("surprise", 1),
    ],
)
def test_validation_errors_name_the_field(field: str, value: Any) -> None:
    base: dict[str, Any] = {"language": "luau", "code": "print(1)"}
    with pytest.raises(ValidationError) as info:
        ReviewInput.model_validate(base | {field: value})
    assert field in str(info.value)
    assert info.value.errors()[0]["loc"][0] == field


def test_unknown_rule_message_lists_known_rules() -> None:
    with pytest.raises(ValueError, match="unknown rule 'LUAU999'; known rules: LUAU001"):
        resolve_rule("LUAU999")
    assert all(rule_id.startswith(("LUAU", "PY")) for rule_id in RULES)


def test_unsupported_task_type() -> None:
    with pytest.raises(ValueError, match="unsupported task_type 'fix'"):
        run("fix", language="luau", code="print(1)")
