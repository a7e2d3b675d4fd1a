"""Roblox testing agent (``roblox_testing``): a TestEZ spec and coverage from a ModuleScript.

Input: ``module_name`` (a Luau identifier), the module's ``source``, an optional
``require_path`` (default ``script.Parent.<module_name>``: the spec is
``<module_name>.spec.lua`` next to the module) and ``cases``, each naming an exported
``function``, a ``description``, ``args`` (a JSON list) and either ``expected`` (any
JSON value, ``null`` is ``nil``) or ``expect_error: true``.

Task types: ``spec`` (spec source, coverage and findings) and ``coverage`` (the same
without the spec source: ``spec`` is ``None``).

The module is read statically with the Luau tokenizer (so comments and strings never
match). Its table is the name in the final ``return NAME`` or ``return
table.freeze(NAME)`` (failing that, the only ``local NAME = {...}``). Exports are the
functions assigned to it: ``function M.name(a, b)``, ``function M:name(...)`` (a
method, ``self`` implicit, called on the module table in the spec), ``function
M.Sub.name()`` (export ``Sub.name``), ``M.name = function(...)`` and ``M.name = fn``
after ``local function fn(...)``; each with its line and parameters (``...`` makes it
vararg, a parameter typed ``T?`` or ``T | nil`` is optional). A redefinition wins.

The spec has one ``describe`` per export in source order, one ``it`` per case in input
order and an ``itSKIP("has no test cases yet")`` for an export without cases, so the
gap shows in TestEZ's report; cases for non-exported functions are left out. Values
become Luau literals: ``nil``, ``true``/``false``, numbers (``math.huge``, ``0 / 0``),
double-quoted strings (``\\n``-style escapes, other control characters as ``\\ddd``),
tables ``{1, 2}`` / ``{key = v, ["not a name"] = v}``. Expectations compare the first
return value: ``expect(result).to.equal(v)`` for a scalar, ``.to.be.near(v)`` for a
non-integer number; error cases wrap the call in ``expect(function() ... end).to.throw()``.
Tables are compared deeply by a small ``deepEqual`` helper generated into the spec (only
when needed) rather than one ``expect`` per field: it works for any nesting, reports
missing and unexpected keys, compares numbers within 1e-7 and returns the path of the
first difference (``result[items][2]: expected 3, got 4``), asserted with
``expect(diff).to.equal(nil)`` so TestEZ's failure message shows it. The spec uses
Lua 5.1 syntax only (no type annotations or string interpolation), so Lua-based TestEZ
runners load it too.

Findings: ``unknown_function`` (error; names the case index ``cases[i]``),
``arg_count`` (warning: more arguments than parameters unless vararg, or fewer than the
required ones), ``nil_in_table`` (warning: a ``null`` inside a list or object, which a
Luau table cannot hold), ``duplicate_description``, ``duplicate_export``, ``lex_error``,
``no_exports`` (warnings) and ``no_module_table`` (error; a warning when guessed).

Quality rubric (score in [0, 1], rounded to 4 places, breakdown in the output):

* coverage (weight 0.5): exports with at least one case / exports (0 without exports).
* case_validity (weight 0.3): cases without an error or warning finding / cases (0
  without cases).
* error_paths (weight 0.2): covered exports with an ``expect_error`` case / covered
  exports (0 when nothing is covered).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from tasks.agents.luau.exports import IDENT as _IDENT
from tasks.agents.luau.exports import (
    ExportCoverage,
    Finding,
    Param,  # noqa: F401
    Severity,  # noqa: F401
    luau_literal,
    luau_string,
    module_table,
    parse_exports,
    parse_params,  # noqa: F401
)
from tasks.agents.luau.exports import finding as _finding
from tasks.agents.luau.lex import KEYWORDS, tokenize
from tasks.spec import AgentResult, AgentSpec, register

TASK_TYPES: tuple[str, ...] = ("spec", "coverage")
RUBRIC_WEIGHTS: dict[str, float] = {"coverage": 0.5, "case_validity": 0.3, "error_paths": 0.2}

_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$"
# names the spec itself uses: the module's local must not shadow them
_RESERVED_TEXT = (
    "describe it expect result deepEqual diff itSKIP itFOCUS describeSKIP describeFOCUS "
    "beforeAll afterAll beforeEach afterEach FOCUS SKIP script game require"
)
RESERVED_NAMES = frozenset(_RESERVED_TEXT.split())
_DEEP_EQUAL = """
	-- deepEqual(actual, expected, path): nil when equal, else where they first differ
	local function deepEqual(actual, expected, path)
		if type(expected) ~= "table" then
			local close = type(actual) == "number" and type(expected) == "number"
				and math.abs(actual - expected) <= 1e-7
			if actual == expected or close then
				return nil
			end
			return path .. ": expected " .. tostring(expected) .. ", got " .. tostring(actual)
		elseif type(actual) ~= "table" then
			return path .. ": expected a table, got " .. type(actual)
		end
		for key, value in pairs(expected) do
			local diff = deepEqual(actual[key], value, path .. "[" .. tostring(key) .. "]")
			if diff ~= nil then
				return diff
			end
		end
		for key in pairs(actual) do
			if expected[key] == nil then
				return path .. "[" .. tostring(key) .. "]: unexpected key"
			end
		end
		return nil
	end
"""


class SpecCase(BaseModel):
    """One test case: a call of an exported function and its expected outcome."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    function: str = Field(min_length=1, max_length=120, pattern=_PATH)
    description: str = Field(min_length=1, max_length=200)
    args: list[JsonValue] = Field(default_factory=list, max_length=50)
    expected: JsonValue = None
    expect_error: bool = False

    @model_validator(mode="after")
    def _one_outcome(self) -> SpecCase:
        given = "expected" in self.model_fields_set
        if self.expect_error and given:
            raise ValueError("give either 'expected' or 'expect_error': true, not both")
        if not self.expect_error and not given:
            raise ValueError("'expected' is required unless 'expect_error' is true")
        return self


class RobloxTestingInput(BaseModel):
    """Validated input of the roblox testing agent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    module_name: str = Field(min_length=1, max_length=60)
    source: str = Field(min_length=1, max_length=200_000)
    require_path: str | None = Field(default=None, max_length=300, pattern=_PATH)
    cases: list[SpecCase] = Field(default_factory=list, max_length=1000)

    @field_validator("module_name")
    @classmethod
    def _luau_local(cls, value: str) -> str:
        if not _IDENT.fullmatch(value) or value in KEYWORDS or value in RESERVED_NAMES:
            raise ValueError(
                f"{value!r} must be a Luau identifier, not a keyword or a name the spec uses"
            )
        return value


class RobloxTestingReport(BaseModel):
    """Output of the roblox testing agent."""

    task_type: str
    module_name: str
    module_table: str | None
    require_line: str
    spec_file: str
    spec: str | None
    exports: list[ExportCoverage]
    covered_exports: int
    coverage_percent: float
    cases_in_spec: int
    findings: list[Finding]
    quality_breakdown: dict[str, float]


def _nested_nil(value: Any, inside: bool = False) -> bool:
    if isinstance(value, list | dict):
        return any(
            _nested_nil(v, True) for v in (value.values() if isinstance(value, dict) else value)
        )
    return value is None and inside


# --- checks and spec -----------------------------------------------------------------


def check_case(index: int, case: SpecCase, exports: dict[str, ExportCoverage]) -> list[Finding]:
    """The findings of ``cases[index]`` against the exports."""
    name = case.function
    export = exports.get(name)
    if export is None:
        known = ", ".join(exports) or "none"
        message = f"cases[{index}] calls '{name}', which the module does not export ({known})"
        return [_finding("error", "unknown_function", message, index, function=name)]
    findings: list[Finding] = []
    given, total = len(case.args), len(export.params)
    required = max((n + 1 for n, p in enumerate(export.params) if not p.optional), default=0)
    if given < required or (given > total and not export.vararg):
        wanted = (f"{required}-{total}" if required != total else str(total)) + (
            "+" if export.vararg else ""
        )
        names = ", ".join(p.name for p in export.params) or "none"
        message = (
            f"cases[{index}] passes {given} argument(s) to '{name}', which takes {wanted} ({names})"
        )
        findings.append(
            _finding("warning", "arg_count", message, index, function=name, line=export.line)
        )
    if any(_nested_nil(v) for v in [*case.args, case.expected]):
        message = f"cases[{index}] has a null inside a table: a Luau table cannot hold nil"
        findings.append(_finding("warning", "nil_in_table", message, index, function=name))
    return findings


def _duplicate_descriptions(cases: list[SpecCase]) -> list[Finding]:
    seen: dict[tuple[str, str], int] = {}
    findings = []
    for index, case in enumerate(cases):
        first = seen.setdefault((case.function, case.description), index)
        if first != index:
            message = f"cases[{index}] repeats the description of cases[{first}]"
            findings.append(
                _finding("warning", "duplicate_description", message, index, function=case.function)
            )
    return findings


def _it_block(case: SpecCase, export: ExportCoverage, local: str) -> list[str]:
    owner, _, method = export.name.rpartition(".")
    target = f"{local}.{owner}" if owner else local
    args = ", ".join(luau_literal(a) for a in case.args)
    call = f"{target}{':' if export.method else '.'}{method}({args})"
    expected = case.expected
    if case.expect_error:
        body = ["expect(function()", f"\t{call}", "end).to.throw()"]
    elif isinstance(expected, list | dict):
        literal = luau_literal(expected)
        diff = f'local diff = deepEqual(result, {literal}, "result")'
        body = [f"local result = {call}", diff, "expect(diff).to.equal(nil)"]
    else:
        near = isinstance(expected, float) and math.isfinite(expected) and expected % 1 != 0
        matcher = "to.be.near" if near else "to.equal"
        body = [f"local result = {call}", f"expect(result).{matcher}({luau_literal(expected)})"]
    header = f"it({luau_string(case.description)}, function()"
    return [f"\t\t\t{header}", *(f"\t\t\t\t{line}" for line in body), "\t\t\tend)"]


def build_spec(
    name: str, exports: list[ExportCoverage], cases: list[SpecCase], require: str
) -> str:
    """The TestEZ spec source for the valid ``cases`` (see the module docstring)."""
    deep = any(isinstance(c.expected, list | dict) and not c.expect_error for c in cases)
    lines = [f"-- {name}.spec.lua: TestEZ spec generated from {len(cases)} case(s)"]
    lines += ["return function()", f"\t{require}", *(_DEEP_EQUAL.split("\n")[:-1] if deep else [])]
    lines += ["", f"\tdescribe({luau_string(name)}, function()"]
    for export in exports:
        lines.append(f"\t\tdescribe({luau_string(export.name)}, function()")
        mine = [c for c in cases if c.function == export.name]
        for case in mine:
            lines += _it_block(case, export, name)
        if not mine:
            lines.append('\t\t\titSKIP("has no test cases yet", function() end)')
        lines.append("\t\tend)")
    return "\n".join([*lines, "\tend)", "end", ""])


def _module_findings(table: str | None, returned: bool, exports: int) -> list[Finding]:
    if table is None:
        message = "no module table found: the source should end with 'return NAME'"
        return [_finding("error", "no_module_table", message)]
    findings = []
    if not returned:
        message = f"the source does not end with 'return NAME'; assuming the table '{table}'"
        findings.append(_finding("warning", "no_module_table", message))
    if not exports:
        message = f"the module table '{table}' has no exported functions"
        findings.append(_finding("warning", "no_exports", message))
    return findings


def generate_tests(task_type: str, data: RobloxTestingInput) -> AgentResult:
    """Handler of ``roblox_testing``: parse the exports, check the cases, build the spec."""
    if task_type not in TASK_TYPES:
        raise ValueError(
            f"unsupported task_type {task_type!r} for roblox_testing; "
            f"expected one of {', '.join(TASK_TYPES)}"
        )
    tokens, issues = tokenize(data.source)
    findings = [_finding("warning", "lex_error", i.message, line=i.line) for i in issues]
    table, returned = module_table(tokens)
    parsed, duplicates = parse_exports(tokens, table) if table else ([], [])
    findings += _module_findings(table, returned, len(parsed)) + duplicates
    by_name = {e.name: e for e in parsed}
    for index, case in enumerate(data.cases):
        findings += check_case(index, case, by_name)
    findings += _duplicate_descriptions(data.cases)
    findings.sort(key=lambda f: (f.case_index is not None, f.case_index or 0))
    flagged = {f.case_index for f in findings if f.case_index is not None}
    valid = [c for c in data.cases if c.function in by_name]
    exports = []
    for export in parsed:
        mine = [c for c in valid if c.function == export.name]
        errors = sum(1 for c in mine if c.expect_error)
        update = {"cases": len(mine), "error_cases": errors, "covered": bool(mine)}
        exports.append(export.model_copy(update=update))
    covered = sum(1 for e in exports if e.covered)
    total = len(data.cases)
    breakdown = {
        "coverage": round(covered / len(exports), 4) if exports else 0.0,
        "case_validity": round((total - len(flagged)) / total, 4) if total else 0.0,
        "error_paths": round(sum(1 for e in exports if e.error_cases) / covered, 4)
        if covered
        else 0.0,
    }
    score = sum(RUBRIC_WEIGHTS[k] * v for k, v in breakdown.items())
    path = data.require_path or f"script.Parent.{data.module_name}"
    require = f"local {data.module_name} = require({path})"
    spec = build_spec(data.module_name, exports, valid, require) if task_type == "spec" else None
    output = RobloxTestingReport(
        task_type=task_type,
        module_name=data.module_name,
        module_table=table,
        require_line=require,
        spec_file=f"{data.module_name}.spec.lua",
        spec=spec,
        exports=exports,
        covered_exports=covered,
        coverage_percent=round(100 * covered / len(exports), 2) if exports else 0.0,
        cases_in_spec=len(valid),
        findings=findings,
        quality_breakdown=breakdown,
    )
    return AgentResult(output=output, quality_score=round(min(1.0, max(0.0, score)), 4))


EXAMPLE: dict[str, Any] = {
    "module_name": "MathUtils",
    "source": (
        "local MathUtils = {}\n\n"
        "function MathUtils.add(a: number, b: number): number\n\treturn a + b\nend\n\n"
        "function MathUtils.clamp(x: number, lo: number, hi: number): number\n"
        '\tassert(lo <= hi, "lo must not exceed hi")\n\treturn math.clamp(x, lo, hi)\nend\n\n'
        "MathUtils.sum = function(...: number): number\n\tlocal total = 0\n"
        "\tfor _, v in { ... } do\n\t\ttotal += v\n\tend\n\treturn total\nend\n\n"
        "return MathUtils\n"
    ),
    "cases": [
        {"function": "add", "description": "adds two numbers", "args": [2, 3], "expected": 5},
        {"function": "clamp", "description": "clamps above", "args": [12, 0, 10], "expected": 10},
        {"function": "clamp", "description": "rejects lo > hi", "args": [1, 5, 0],
         "expect_error": True},
        {"function": "sum", "description": "sums any count", "args": [1, 2, 3], "expected": 6},
    ],
}  # fmt: skip

SPEC = register(
    AgentSpec(
        agent_type="roblox_testing",
        description=(
            "TestEZ spec for a Luau ModuleScript from test cases, with a static coverage "
            "report of its exported functions and findings on the cases"
        ),
        input_model=RobloxTestingInput,
        output_model=RobloxTestingReport,
        handler=generate_tests,
        task_types=TASK_TYPES,
        example=EXAMPLE,
        example_task_type="spec",
        soft_time_limit=20.0,
        time_limit=30.0,
        max_retries=1,
    )
)
