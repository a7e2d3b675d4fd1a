"""Code reviewer agent (``code_reviewer``): static review of Luau or Python code.

Input: ``language`` ("luau" or "python"), ``code`` (1-200,000 characters), an optional
``filename``, ``max_function_lines`` (5-10,000, default 60) and ``disabled_rules`` (rule
ids such as ``LUAU003`` or names such as ``implicit-global``).

Task types:

* ``review`` - every finding, with a fix hint each.
* ``lint``   - only error and warning findings (the info-level style rules are left
  out, and so is their weight in the score): a pass/fail check for CI.

Rules (ids are stable; see ``lint_rules``): Luau - LUAU001 syntax error (error),
LUAU002 deprecated API (warning), LUAU003 implicit global (warning), LUAU004 loop
without a yield (warning), LUAU005 unchecked RemoteEvent input (warning), LUAU006 long
function (info); Python - PY001 syntax error (error), PY002 bare except (warning),
PY003 mutable default argument (warning), PY004 eval/exec (warning), PY005 long
function (info), PY006 unused import (info). How each is detected is documented in
``luau_lint``/``luau_structure``/``luau_remote`` and ``py_lint``. A syntax error
stops the other checks (``complete`` is then False): only syntax findings are listed.

Findings are sorted by line, then rule id, then message; the output is a pure
function of the input.

Quality rubric (``score`` = quality_score, in [0, 1], rounded to 4 places):

* Start at 1.0 and subtract a penalty per reported finding: 0.30 per error, 0.10 per
  warning, 0.02 per info.
* Normalise by size: the penalty is divided by max(1, non-blank lines / 100), so the
  same problems weigh less in a larger file (density, not count).
* Floor at 0.0; with any error (the code does not run) the score is capped at 0.5.
* No finding gives exactly 1.0; more findings of a severity never raise the score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from tasks.agents.code_review.lint_rules import (
    RULES,
    Language,
    RawFinding,
    Severity,
    resolve_rule,
    rules_for,
)
from tasks.agents.code_review.py_lint import check_python
from tasks.agents.luau.lint import check_luau
from tasks.spec import AgentResult, AgentSpec, register

TASK_TYPES: tuple[str, ...] = ("review", "lint")

SEVERITY_WEIGHTS: dict[Severity, float] = {"error": 0.30, "warning": 0.10, "info": 0.02}
LINES_PER_SIZE_UNIT = 100
ERROR_SCORE_CAP = 0.5
MAX_CODE_CHARS = 200_000


class ReviewInput(BaseModel):
    """Validated input of the code reviewer."""

    model_config = ConfigDict(extra="forbid")

    language: Language
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS)
    filename: str | None = Field(default=None, min_length=1, max_length=255)
    max_function_lines: int = Field(default=60, ge=5, le=10_000)
    disabled_rules: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("disabled_rules")
    @classmethod
    def _known_rules(cls, value: list[str], info: ValidationInfo) -> list[str]:
        language = info.data.get("language")
        ids: list[str] = []
        for key in value:
            matches = resolve_rule(key)  # ValueError naming the unknown rule
            if language is not None:
                matches = [r for r in matches if RULES[r].language == language]
                if not matches:
                    raise ValueError(f"rule {key!r} is not a {language} rule")
            ids.extend(m for m in matches if m not in ids)
        return ids


class Finding(BaseModel):
    line: int
    rule_id: str
    severity: Severity
    message: str
    fix_hint: str


class ReviewSummary(BaseModel):
    errors: int
    warnings: int
    infos: int
    total: int
    by_rule: dict[str, int]


class ReviewOutput(BaseModel):
    """Output of the code reviewer."""

    task_type: str
    language: Language
    filename: str | None
    findings: list[Finding]
    summary: ReviewSummary
    score: float
    passed: bool  # no error-level finding
    complete: bool  # False: a syntax error stopped the other checks
    code_lines: int
    rules_checked: list[str]
    score_breakdown: dict[str, float]
    notes: list[str]


def count_code_lines(code: str) -> int:
    """Non-blank lines of ``code``."""
    return sum(1 for line in code.splitlines() if line.strip())


def score_findings(findings: Iterable[Finding], code_lines: int) -> tuple[float, dict[str, float]]:
    """The rubric score (module docstring) and its breakdown."""
    counts = Counter(f.severity for f in findings)
    size_factor = max(1.0, code_lines / LINES_PER_SIZE_UNIT)
    penalties = {
        f"{severity}_penalty": round(SEVERITY_WEIGHTS[severity] * counts[severity] / size_factor, 4)
        for severity in SEVERITY_WEIGHTS
    }
    score = max(0.0, 1.0 - sum(penalties.values()))
    if counts["error"]:
        score = min(score, ERROR_SCORE_CAP)
    return round(score, 4), {**penalties, "size_factor": round(size_factor, 4)}


def _to_finding(raw: RawFinding) -> Finding:
    rule = RULES[raw.rule_id]
    return Finding(
        line=raw.line,
        rule_id=raw.rule_id,
        severity=rule.severity,
        message=raw.message,
        fix_hint=raw.fix_hint or rule.fix_hint,
    )


def review_code(
    language: Language,
    code: str,
    *,
    task_type: str = "review",
    filename: str | None = None,
    max_function_lines: int = 60,
    disabled_rules: Iterable[str] = (),
) -> ReviewOutput:
    """Review ``code`` (see the module docstring); ``disabled_rules`` are rule ids."""
    if task_type not in TASK_TYPES:
        raise ValueError(
            f"unsupported task_type {task_type!r} for code_reviewer; "
            f"expected one of {', '.join(TASK_TYPES)}"
        )
    disabled = set(disabled_rules)
    if language == "luau":
        report = check_luau(code, max_function_lines)
        raw, complete = report.findings, report.complete
    else:
        raw, complete = check_python(code, max_function_lines, filename)
    enabled = [
        r.rule_id
        for r in rules_for(language)
        if r.rule_id not in disabled and (task_type == "review" or r.severity != "info")
    ]
    findings = sorted(
        (_to_finding(f) for f in raw if f.rule_id in enabled),
        key=lambda f: (f.line, f.rule_id, f.message),
    )
    lines = count_code_lines(code)
    score, breakdown = score_findings(findings, lines)
    by_severity = Counter(f.severity for f in findings)
    notes: list[str] = []
    if not complete:
        notes.append("The code has a syntax error: only syntax findings are reported.")
    if disabled:
        notes.append("Disabled rules: " + ", ".join(sorted(disabled)) + ".")
    if task_type == "lint":
        notes.append("lint: info-level rules are not checked.")
    return ReviewOutput(
        task_type=task_type,
        language=language,
        filename=filename,
        findings=findings,
        summary=ReviewSummary(
            errors=by_severity["error"],
            warnings=by_severity["warning"],
            infos=by_severity["info"],
            total=len(findings),
            by_rule=dict(sorted(Counter(f.rule_id for f in findings).items())),
        ),
        score=score,
        passed=by_severity["error"] == 0,
        complete=complete,
        code_lines=lines,
        rules_checked=enabled,
        score_breakdown=breakdown,
        notes=notes,
    )


def review(task_type: str, data: ReviewInput) -> AgentResult:
    """Handler of ``code_reviewer``: review the code and score it by the rubric."""
    output = review_code(
        data.language,
        data.code,
        task_type=task_type,
        filename=data.filename,
        max_function_lines=data.max_function_lines,
        disabled_rules=data.disabled_rules,
    )
    return AgentResult(output=output, quality_score=output.score)


EXAMPLE: dict[str, Any] = {
    "language": "luau",
    "filename": "CoinServer.server.lua",
    "code": (
        'local Players = game:GetService("Players")\n'
        'local remote = game:GetService("ReplicatedStorage"):WaitForChild("AddCoins")\n'
        "\n"
        "remote.OnServerEvent:Connect(function(player, amount)\n"
        "    total = player.leaderstats.Coins.Value + amount\n"
        "    player.leaderstats.Coins.Value = total\n"
        "end)\n"
        "\n"
        "Players.PlayerAdded:Connect(function(player)\n"
        "    wait(1)\n"
        '    print(player.Name .. " joined")\n'
        "end)\n"
    ),
    "max_function_lines": 60,
}

SPEC = register(
    AgentSpec(
        agent_type="code_reviewer",
        description=(
            "Static review of Luau (Roblox) or Python code: syntax errors by line, "
            "deprecated APIs, implicit globals, loops without a yield, unchecked "
            "RemoteEvent input, long functions, Python pitfalls; findings and a score"
        ),
        input_model=ReviewInput,
        output_model=ReviewOutput,
        handler=review,
        task_types=TASK_TYPES,
        example=EXAMPLE,
        example_task_type="review",
        soft_time_limit=15.0,
        time_limit=25.0,
        max_retries=1,
    )
)
