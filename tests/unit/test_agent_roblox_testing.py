"""Unit tests of the roblox_testing agent (tasks/agents/roblox_testing.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tasks.agents.luau.lex import tokenize
from tasks.agents.roblox_testing import (
    RUBRIC_WEIGHTS,
    RobloxTestingInput,
    RobloxTestingReport,
    generate_tests,
    luau_literal,
    luau_string,
    module_table,
    parse_exports,
)

SCORING = """\
--!strict
-- Scoring helpers for the fractions lesson.
-- function Scoring.commented(a) is not an export
local Scoring = {}

function Scoring.percent(correct: number, total: number): number
	assert(total > 0, "total must be positive")
	return math.floor(correct / total * 100 + 0.5)
end

function Scoring:grade(percent: number): string
	return if percent >= 50 then "pass" else "fail"
end

Scoring.breakdown = function(results: { boolean }): { correct: number, wrong: number }
	local right = 0
	for _, ok in results do
		right += if ok then 1 else 0
	end
	return { correct = right, wrong = #results - right }
end

return Scoring
"""

CASES: list[dict[str, Any]] = [
    {"function": "percent", "description": "rounds to the nearest percent",
     "args": [2, 3], "expected": 67},
    {"function": "percent", "description": "rejects a zero total", "args": [1, 0],
     "expect_error": True},
    {"function": "breakdown", "description": "counts right and wrong answers",
     "args": [[True, False, True]], "expected": {"correct": 2, "wrong": 1}},
    {"function": "average", "description": "averages", "args": [[1, 2]], "expected": 1.5},
    {"function": "percent", "description": "passes too much", "args": [1, 2, 3],
     "expected": 50},
]  # fmt: skip

GOLDEN_SPEC = """\
-- Scoring.spec.lua: TestEZ spec generated from 4 case(s)
return function()
	local Scoring = require(script.Parent.Scoring)

	-- deepEqual(actual, expected, path): nil when equal, else where they first differ
	local function deepEqual(actual, expected, path)
"""

GOLDEN_DESCRIBES = """\
	describe("Scoring", function()
		describe("percent", function()
			it("rounds to the nearest percent", function()
				local result = Scoring.percent(2, 3)
				expect(result).to.equal(67)
			end)
			it("rejects a zero total", function()
				expect(function()
					Scoring.percent(1, 0)
				end).to.throw()
			end)
			it("passes too much", function()
				local result = Scoring.percent(1, 2, 3)
				expect(result).to.equal(50)
			end)
		end)
		describe("grade", function()
			itSKIP("has no test cases yet", function() end)
		end)
		describe("breakdown", function()
			it("counts right and wrong answers", function()
				local result = Scoring.breakdown({true, false, true})
				local diff = deepEqual(result, {correct = 2, wrong = 1}, "result")
				expect(diff).to.equal(nil)
			end)
		end)
	end)
end
"""


def run(
    task_type: str = "spec", source: str = SCORING, **fields: Any
) -> tuple[RobloxTestingReport, float]:
    data = RobloxTestingInput.model_validate({"module_name": "Scoring", "source": source} | fields)
    result = generate_tests(task_type, data)
    assert isinstance(result.output, RobloxTestingReport)
    return result.output, result.quality_score


def test_golden_scoring_module() -> None:
    report, score = run(cases=CASES)
    assert report.module_table == "Scoring"
    assert report.require_line == "local Scoring = require(script.Parent.Scoring)"
    assert report.spec_file == "Scoring.spec.lua"
    assert [(e.name, e.method, e.line, e.vararg) for e in report.exports] == [
        ("percent", False, 6, False),
        ("grade", True, 11, False),
        ("breakdown", False, 15, False),
    ]
    assert [[p.name for p in e.params] for e in report.exports] == [
        ["correct", "total"],
        ["percent"],  # self is implicit
        ["results"],
    ]
    assert [(e.cases, e.error_cases, e.covered) for e in report.exports] == [
        (3, 1, True),
        (0, 0, False),
        (1, 0, True),
    ]
    assert report.covered_exports == 2
    assert report.coverage_percent == 66.67
    assert report.cases_in_spec == 4  # the unknown function's case is left out
    assert [(f.severity, f.code, f.case_index) for f in report.findings] == [
        ("error", "unknown_function", 3),
        ("warning", "arg_count", 4),
    ]
    assert report.findings[0].message == (
        "cases[3] calls 'average', which the module does not export (percent, grade, breakdown)"
    )
    assert report.findings[1].message == (
        "cases[4] passes 3 argument(s) to 'percent', which takes 2 (correct, total)"
    )
    assert report.findings[1].line == 6
    # coverage 2/3; validity: cases 3 and 4 flagged, 3/5; error paths: percent of the
    # two covered exports has an expect_error case, 1/2
    assert report.quality_breakdown == {
        "coverage": 0.6667,
        "case_validity": 0.6,
        "error_paths": 0.5,
    }
    assert score == round(0.5 * 0.6667 + 0.3 * 0.6 + 0.2 * 0.5, 4) == 0.6133
    spec = report.spec
    assert spec is not None
    assert spec.startswith(GOLDEN_SPEC)
    assert spec.endswith(GOLDEN_DESCRIBES)
    assert spec.count("it(") == 4
    assert "average" not in spec


def test_coverage_task_type_has_no_spec() -> None:
    spec_report, spec_score = run("spec", cases=CASES)
    coverage, coverage_score = run("coverage", cases=CASES)
    assert coverage.spec is None
    assert coverage.model_dump(exclude={"spec", "task_type"}) == spec_report.model_dump(
        exclude={"spec", "task_type"}
    )
    assert coverage_score == spec_score


def test_determinism() -> None:
    first, s1 = run(cases=CASES)
    second, s2 = run(cases=CASES)
    assert first.model_dump() == second.model_dump()
    assert s1 == s2


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "nil"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (2.5, "2.5"),
        (-0.125, "-0.125"),
        (1e20, "1e+20"),
        (float("inf"), "math.huge"),
        (float("-inf"), "-math.huge"),
        ("plain", '"plain"'),
        ('say "hi"\\n', '"say \\"hi\\"\\\\n"'),
        ("line\nnext\ttab\r", '"line\\nnext\\ttab\\r"'),
        ("bell\x07del\x7f", '"bell\\007del\\127"'),
        ("héllo ✓", '"héllo ✓"'),
        ([], "{}"),
        ({}, "{}"),
        ([1, "a", [True]], '{1, "a", {true}}'),
        ({"name": "Ana", "end": 1, "two words": 2, "_x1": 3},
         '{name = "Ana", ["end"] = 1, ["two words"] = 2, _x1 = 3}'),
        ({"items": [{"id": 1}], "empty": {}}, "{items = {{id = 1}}, empty = {}}"),
    ],
)  # fmt: skip
def test_luau_literals(value: Any, literal: str) -> None:
    assert luau_literal(value) == literal


def test_luau_string_escapes_control_characters_unambiguously() -> None:
    # three-digit escapes: "\0011" could not be read as "\001" followed by "1" otherwise
    assert luau_string("\x011") == '"\\0011"'


def test_parse_forms_and_ignores_comments_and_strings() -> None:
    source = """\
local Inventory = {}
Inventory.__index = Inventory
Inventory.VERSION = 3
local label = "function Inventory.inString(a)"
--[[ function Inventory.inComment(a) end ]]
local function normalize(name: string, limit: number?, extra: (string | nil))
	return name
end
function Inventory.new<T>(items: { [string]: T }, onChange: (T, number) -> ()): Inventory
	return setmetatable({ items = items }, Inventory)
end
function Inventory.Util.format(value, ...)
	return value
end
Inventory.normalize = normalize
Inventory.log = function(...: any) end
return Inventory;
"""
    tokens, issues = tokenize(source)
    assert issues == []
    assert module_table(tokens) == ("Inventory", True)
    exports, findings = parse_exports(tokens, "Inventory")
    assert findings == []
    summary = [
        (e.name, e.line, [(p.name, p.optional) for p in e.params], e.vararg) for e in exports
    ]
    assert summary == [
        ("new", 9, [("items", False), ("onChange", False)], False),
        ("Util.format", 12, [("value", False)], True),
        ("normalize", 15, [("name", False), ("limit", True), ("extra", True)], False),
        ("log", 16, [], True),
    ]


def test_method_and_nested_calls_in_the_spec() -> None:
    source = "local M = {}\nfunction M.Sub:go(x)\nend\nfunction M:stop()\nend\nreturn M\n"
    cases = [
        {"function": "Sub.go", "description": "goes", "args": [1], "expected": None},
        {"function": "stop", "description": "stops", "args": [], "expected": 0.1},
    ]
    report, _ = run(source=source, cases=cases)
    assert report.spec is not None
    assert "local result = Scoring.Sub:go(1)\n\t\t\t\texpect(result).to.equal(nil)" in report.spec
    # a non-integer number is compared with near(), not exact equality
    assert "local result = Scoring:stop()\n\t\t\t\texpect(result).to.be.near(0.1)" in report.spec
    assert "deepEqual" not in report.spec  # the helper only when a table is compared


def test_arg_count_respects_optional_and_vararg_parameters() -> None:
    source = (
        "local M = {}\nfunction M.opt(a: number, b: number?)\nend\n"
        "function M.var(a, ...)\nend\nreturn M\n"
    )
    ok = [
        {"function": "opt", "description": "one", "args": [1], "expected": None},
        {"function": "opt", "description": "two", "args": [1, 2], "expected": None},
        {"function": "var", "description": "many", "args": [1, 2, 3, 4], "expected": None},
    ]
    report, _ = run(source=source, cases=ok)
    assert report.findings == []
    bad = [
        {"function": "opt", "description": "none", "args": [], "expected": None},
        {"function": "opt", "description": "three", "args": [1, 2, 3], "expected": None},
        {"function": "var", "description": "none", "args": [], "expected": None},
    ]
    report, _ = run(source=source, cases=bad)
    assert [(f.code, f.case_index) for f in report.findings] == [
        ("arg_count", 0),
        ("arg_count", 1),
        ("arg_count", 2),
    ]
    assert "which takes 1-2 (a, b)" in report.findings[0].message
    assert "which takes 1+ (a)" in report.findings[2].message


def test_case_level_warnings() -> None:
    cases = [
        {"function": "percent", "description": "same", "args": [1, 2], "expected": 50},
        {"function": "percent", "description": "same", "args": [2, 2], "expected": 100},
        {"function": "breakdown", "description": "holes", "args": [[True, None]],
         "expected": {"correct": 1, "wrong": None}},
    ]  # fmt: skip
    report, _ = run(cases=cases)
    assert [(f.code, f.case_index) for f in report.findings] == [
        ("duplicate_description", 1),
        ("nil_in_table", 2),
    ]
    assert report.findings[0].message == "cases[1] repeats the description of cases[0]"
    assert report.quality_breakdown["case_validity"] == round(1 / 3, 4)


def test_module_level_findings() -> None:
    guessed, _ = run(source="local Util = {}\nfunction Util.a(x)\nend\n")
    assert guessed.module_table == "Util"
    assert [(f.severity, f.code) for f in guessed.findings] == [("warning", "no_module_table")]
    assert [e.name for e in guessed.exports] == ["a"]
    missing, score = run(source="print('hello')\n", cases=CASES[:1])
    assert missing.module_table is None
    assert missing.exports == []
    assert [(f.severity, f.code) for f in missing.findings] == [
        ("error", "no_module_table"),
        ("error", "unknown_function"),
    ]
    assert score == 0.0
    empty, _ = run(source="local M = {}\nM.value = 1\nreturn M\n")
    assert [f.code for f in empty.findings] == ["no_exports"]
    assert empty.coverage_percent == 0.0
    duplicated, _ = run(source="local M = {}\nfunction M.a()\nend\nM.a = function(x) end\nreturn M")
    assert [(e.name, e.line, len(e.params)) for e in duplicated.exports] == [("a", 4, 1)]
    assert [f.code for f in duplicated.findings] == ["duplicate_export"]
    broken, _ = run(source='local M = {}\nlocal s = "open\nreturn M\n')
    assert broken.findings[0].code == "lex_error"
    assert broken.findings[0].line == 2


def test_require_path_option() -> None:
    report, _ = run(require_path="game.ReplicatedStorage.Shared.Scoring", cases=CASES[:1])
    assert report.require_line == "local Scoring = require(game.ReplicatedStorage.Shared.Scoring)"
    assert report.spec is not None and f"\t{report.require_line}\n" in report.spec


def test_quality_rubric_behaviour() -> None:
    _, none_score = run(cases=[])
    assert none_score == 0.0
    full = [
        {"function": "percent", "description": "p", "args": [1, 2], "expected": 50},
        {"function": "percent", "description": "p0", "args": [1, 0], "expect_error": True},
        {"function": "grade", "description": "g", "args": [80], "expected": "pass"},
        {"function": "grade", "description": "g!", "args": [], "expect_error": True},
        {"function": "breakdown", "description": "b", "args": [[]], "expected": {}},
        {"function": "breakdown", "description": "b!", "args": [5], "expect_error": True},
    ]
    report, full_score = run(cases=full)
    # every export covered, every case valid except grade() with no argument
    assert report.quality_breakdown == {
        "coverage": 1.0,
        "case_validity": 0.8333,
        "error_paths": 1.0,
    }
    assert full_score == 0.95
    _, partial_score = run(cases=full[:2])
    assert 0.0 < partial_score < full_score
    for cases in ([], CASES, full, full[:2]):
        report, score = run(cases=cases)
        assert 0.0 <= score <= 1.0
        assert all(0.0 <= v <= 1.0 for v in report.quality_breakdown.values())
        expected = sum(RUBRIC_WEIGHTS[k] * v for k, v in report.quality_breakdown.items())
        assert score == round(expected, 4)


def test_unsupported_task_type() -> None:
    with pytest.raises(ValueError, match="unsupported task_type 'lint'"):
        run("lint")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("module_name", "end"),
        ("module_name", "describe"),
        ("module_name", "2Fast"),
        ("module_name", "My Module"),
        ("source", "   "),
        ("source", "x" * 200_001),
        ("require_path", "script..Parent"),
        ("cases", [{"function": "a-b", "description": "d", "expected": 1}]),
        ("cases", [{"function": "a", "description": "", "expected": 1}]),
        ("cases", [{"function": "a", "description": "d", "args": 5, "expected": 1}]),
        ("cases", [{"function": "a", "description": "d", "expected": 1, "why": 2}]),
        ("surprise", 1),
    ],
)
def test_validation_errors_name_the_field(field: str, value: Any) -> None:
    base: dict[str, Any] = {"module_name": "Scoring", "source": SCORING}
    with pytest.raises(ValidationError) as info:
        RobloxTestingInput.model_validate(base | {field: value})
    assert field in str(info.value)
    assert info.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ({"function": "a", "description": "d"}, "'expected' is required"),
        ({"function": "a", "description": "d", "expected": 1, "expect_error": True},
         "either 'expected' or 'expect_error'"),
    ],
)  # fmt: skip
def test_case_needs_exactly_one_outcome(case: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        RobloxTestingInput.model_validate({"module_name": "M", "source": "x", "cases": [case]})
    assert info.value.errors()[0]["loc"] == ("cases", 0)


def test_expected_null_means_nil() -> None:
    case = {"function": "percent", "description": "d", "args": [1, 1], "expected": None}
    report, _ = run(cases=[case])
    assert report.spec is not None and "expect(result).to.equal(nil)" in report.spec


@pytest.mark.parametrize(
    ("ending", "table", "returned"),
    [
        ("return M", "M", True),
        ("return M;", "M", True),
        ("return table.freeze(M)", "M", True),
        ("return nil", "M", False),  # not a name: guessed from `local M = {}`
        ("return setmetatable({}, M)", "M", False),
    ],
)
def test_module_table_forms(ending: str, table: str, returned: bool) -> None:
    tokens, _ = tokenize(f"local M = {{}}\nfunction M.a() end\n{ending}\n")
    assert module_table(tokens) == (table, returned)


# A minimal TestEZ stand-in for plain Lua 5.1: describe / it / itSKIP / expect with
# to.equal, to.be.near and to.throw, and `require(script.Parent.<Module>)`.
LUA_RUNNER = """\
local spec_path, module_path, name = arg[1], arg[2], arg[3]
local module = dofile(module_path)
local path, lines = {}, {}
local function expect(value)
	local e = {}
	e.to, e.be = e, e
	function e.equal(other)
		if value ~= other then
			error("expected " .. tostring(other) .. ", got " .. tostring(value), 0)
		end
	end
	function e.near(other)
		if math.abs(value - other) > 1e-7 then error("not near " .. tostring(other), 0) end
	end
	function e.throw()
		if pcall(value) then error("expected an error", 0) end
	end
	return e
end
local env = setmetatable({
	expect = expect,
	script = { Parent = { [name] = module } },
	require = function(m) return m end,
	describe = function(label, fn)
		table.insert(path, label)
		fn()
		table.remove(path)
	end,
	it = function(label, fn)
		local ok, err = pcall(fn)
		local where = table.concat(path, " > ") .. " > " .. label
		table.insert(lines, (ok and "PASS " or "FAIL ") .. where .. (ok and "" or ": " .. err))
	end,
	itSKIP = function(label)
		table.insert(lines, "SKIP " .. table.concat(path, " > ") .. " > " .. label)
	end,
}, { __index = _G })
local chunk = assert(loadfile(spec_path))
setfenv(chunk, env)
setfenv(chunk(), env)()
print(table.concat(lines, "\\n"))
"""

SCORING_LUA51 = """\
local Scoring = {}
function Scoring.percent(correct, total)
	assert(total > 0, "total must be positive")
	return math.floor(correct / total * 100 + 0.5)
end
function Scoring:grade(percent)
	if percent >= 50 then return "pass" end
	return "fail"
end
Scoring.breakdown = function(results)
	local right = 0
	for _, ok in ipairs(results) do
		if ok then right = right + 1 end
	end
	return { correct = right, wrong = #results - right }
end
return Scoring
"""


@pytest.mark.skipif(shutil.which("lua5.1") is None, reason="needs a lua5.1 interpreter")
def test_generated_spec_runs_under_lua(tmp_path: Path) -> None:
    cases = [
        *CASES,
        {"function": "breakdown", "description": "reports the first difference",
         "args": [[True, False]], "expected": {"correct": 1, "wrong": 1, "extra": 0}},
        {"function": "grade", "description": 'says "pass"\nat 50', "args": [50],
         "expected": "pass"},
        {"function": "percent", "description": "is wrong on purpose", "args": [1, 4],
         "expected": 26},
    ]  # fmt: skip
    report, _ = run(cases=cases)
    assert report.spec is not None
    (tmp_path / "Scoring.spec.lua").write_text(report.spec, encoding="utf-8")
    (tmp_path / "Scoring.lua").write_text(SCORING_LUA51, encoding="utf-8")
    (tmp_path / "runner.lua").write_text(LUA_RUNNER, encoding="utf-8")
    done = subprocess.run(
        ["lua5.1", "runner.lua", "Scoring.spec.lua", "Scoring.lua", "Scoring"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "PASS Scoring > percent > rounds to the nearest percent",
        "PASS Scoring > percent > rejects a zero total",
        "PASS Scoring > percent > passes too much",
        "FAIL Scoring > percent > is wrong on purpose: expected 26, got 25",
        'PASS Scoring > grade > says "pass"',
        "at 50",
        "PASS Scoring > breakdown > counts right and wrong answers",
        # the runner's equal() message around deepEqual's path to the difference
        "FAIL Scoring > breakdown > reports the first difference: "
        "expected nil, got result[extra]: expected 0, got nil",
    ]


@pytest.mark.skipif(shutil.which("lua5.1") is None, reason="needs a lua5.1 interpreter")
def test_string_literals_round_trip_through_lua() -> None:
    texts = ['say "hi"', "back\\slash", "a\nb\r\tc", "\x00\x011\x1f\x7f", "héllo ✓", "]]", ""]
    chunk = "\n".join(f"io.write({luau_literal(t)}, '|')" for t in texts)
    done = subprocess.run(
        ["lua5.1", "-"], input=chunk.encode(), capture_output=True, timeout=30, check=True
    )
    assert done.stdout.decode() == "".join(f"{t}|" for t in texts)
