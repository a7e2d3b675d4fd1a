"""Script generator agent (``script_generator``): Luau scripts for educational games.

Input: ``kind`` and its ``params`` (validated per kind; an error names the field, e.g.
``params.quiz_ui.questions.0``: "answer_index 3 is out of range ..."):

* ``leaderboard`` - ``stats`` (1-6 of ``name``, ``start``: whole or decimal starting
  value), ``save_data`` (keep stats in a DataStore), ``datastore_name``. Files: a
  Script creating the leaderstats (loading/saving them with ``pcall`` when saved) and
  a ModuleScript with ``get``/``add`` helpers, both in ServerScriptService.
* ``checkpoint`` - ``count`` (1-100), ``respawn`` ("last_checkpoint" or "start"),
  ``require_order``, ``show_stage`` (a Stage leaderstat), ``build_parts`` (create
  missing parts), ``spacing`` (studs). File: one Script.
* ``quiz_ui`` - ``title``, ``questions`` (1-50 of ``prompt``, 2-6 distinct ``options``
  and ``answer_index``, 0-based), ``points_per_correct``, ``points_stat`` (a leaderstat
  name or null), ``remote_name``, ``feedback_seconds``. Files: a ModuleScript with the
  questions but no answers (ReplicatedStorage), a server Script that type-checks and
  range-checks the client's RemoteEvent input and scores each question once, and a
  LocalScript building the quiz UI (StarterPlayer.StarterPlayerScripts).
* ``timer`` - ``duration_seconds`` (1-86,400), ``on_expire`` ("announce",
  "respawn_players" or "fire_event": a BindableEvent in ServerStorage), ``message``,
  ``repeat`` with ``intermission_seconds``, ``min_players``, ``show_ui`` (a LocalScript
  showing the countdown; "announce" needs it). Files: a Script, and the LocalScript.

Task type: ``generate``. Every file is a template rendered with the parameters (see
``luau_templates``), then reviewed by the code reviewer: a generated file with an
error-level finding is a generator bug and raises :class:`GeneratedScriptError`.

Quality rubric (score in [0, 1], rounded to 4 places, breakdown in the output):

* review_score (weight 0.7): mean of the code reviewer's scores of the files.
* parameter_coverage (weight 0.3): share of the caller's values found as Luau literals
  in the sources (stat names and starting values; checkpoint count and spacing; every
  prompt, option and correct option number; duration, message and intermission).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from tasks.agents.code_review import review_code
from tasks.agents.luau.game_templates import checkpoint_files, timer_files
from tasks.agents.luau.quiz_template import quiz_files
from tasks.agents.luau.templates import (
    ScriptFile,
    ScriptType,
    leaderboard_files,
    lua_number,
    lua_string,
)
from tasks.spec import AgentResult, AgentSpec, register

TASK_TYPES: tuple[str, ...] = ("generate",)
ScriptKind = Literal["leaderboard", "checkpoint", "quiz_ui", "timer"]
SCRIPT_KINDS: tuple[ScriptKind, ...] = ("leaderboard", "checkpoint", "quiz_ui", "timer")

RUBRIC_WEIGHTS: dict[str, float] = {"review_score": 0.7, "parameter_coverage": 0.3}

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
StatName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9 _]{0,19}$")]
InstanceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]
Option = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class StatSpec(BaseModel):
    model_config = _STRICT

    name: StatName
    start: float = Field(default=0, ge=-1_000_000_000, le=1_000_000_000, allow_inf_nan=False)


class LeaderboardParams(BaseModel):
    model_config = _STRICT

    kind: Literal["leaderboard"] = "leaderboard"
    stats: list[StatSpec] = Field(
        default_factory=lambda: [StatSpec(name="Points")], min_length=1, max_length=6
    )
    save_data: bool = False
    datastore_name: InstanceName = "PlayerStats"

    @field_validator("stats")
    @classmethod
    def _unique_names(cls, value: list[StatSpec]) -> list[StatSpec]:
        seen: set[str] = set()
        for stat in value:
            if stat.name.lower() in seen:
                raise ValueError(f"duplicate stat name {stat.name!r}")
            seen.add(stat.name.lower())
        return value


class CheckpointParams(BaseModel):
    model_config = _STRICT

    kind: Literal["checkpoint"] = "checkpoint"
    count: int = Field(default=5, ge=1, le=100)
    respawn: Literal["last_checkpoint", "start"] = "last_checkpoint"
    require_order: bool = True
    show_stage: bool = True
    build_parts: bool = True
    spacing: float = Field(default=24, ge=4, le=500, allow_inf_nan=False)


class QuizQuestionSpec(BaseModel):
    model_config = _STRICT

    prompt: str = Field(min_length=1, max_length=300)
    options: list[Option] = Field(min_length=2, max_length=6)
    answer_index: int = Field(ge=0)

    @field_validator("options")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        lowered = [o.lower() for o in value]
        duplicates = sorted({o for o in value if lowered.count(o.lower()) > 1})
        if duplicates:
            raise ValueError(f"options must be distinct; repeated: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _answer_in_range(self) -> QuizQuestionSpec:
        if self.answer_index >= len(self.options):
            raise ValueError(
                f"answer_index {self.answer_index} is out of range: the question has "
                f"{len(self.options)} options (answer_index 0-{len(self.options) - 1})"
            )
        return self


class QuizUIParams(BaseModel):
    model_config = _STRICT

    kind: Literal["quiz_ui"] = "quiz_ui"
    title: str = Field(default="Quiz", min_length=1, max_length=60)
    questions: list[QuizQuestionSpec] = Field(min_length=1, max_length=50)
    points_per_correct: int = Field(default=10, ge=0, le=1000)
    points_stat: StatName | None = "Points"
    remote_name: InstanceName = "QuizAnswer"
    feedback_seconds: float = Field(default=1.5, ge=0.2, le=10, allow_inf_nan=False)


class TimerParams(BaseModel):
    model_config = _STRICT

    kind: Literal["timer"] = "timer"
    duration_seconds: int = Field(default=60, ge=1, le=86_400)
    on_expire: Literal["announce", "respawn_players", "fire_event"] = "announce"
    message: str = Field(default="Time's up!", min_length=1, max_length=120)
    repeat: bool = False
    intermission_seconds: int = Field(default=10, ge=0, le=3600)
    min_players: int = Field(default=1, ge=0, le=100)
    show_ui: bool = True

    @model_validator(mode="after")
    def _announce_needs_ui(self) -> TimerParams:
        if self.on_expire == "announce" and not self.show_ui:
            raise ValueError("on_expire 'announce' shows its message in the UI: set show_ui true")
        return self


ScriptParams = Annotated[
    LeaderboardParams | CheckpointParams | QuizUIParams | TimerParams,
    Field(discriminator="kind"),
]


class ScriptInput(BaseModel):
    """Validated input of the script generator: ``kind`` and its ``params``."""

    model_config = ConfigDict(extra="forbid")

    kind: ScriptKind
    params: ScriptParams

    @model_validator(mode="before")
    @classmethod
    def _tag_params(cls, data: Any) -> Any:
        """Give ``params`` the ``kind`` (it selects the parameter model)."""
        if isinstance(data, dict):
            params = data.get("params", {})
            if isinstance(params, dict):
                return {**data, "params": {**params, "kind": data.get("kind")}}
        return data


class GeneratedFile(BaseModel):
    name: str
    script_type: ScriptType
    parent: str
    source: str
    lines: int
    review_score: float
    review_findings: int


class ScriptOutput(BaseModel):
    """Output of the script generator."""

    task_type: str
    kind: ScriptKind
    files: list[GeneratedFile]
    notes: list[str]
    quality_breakdown: dict[str, float]


class GeneratedScriptError(RuntimeError):
    """A generated script has an error-level review finding: a bug of a template."""


def build_files(params: ScriptParams) -> list[ScriptFile]:
    """The script files of ``params``' kind, before review."""
    if isinstance(params, LeaderboardParams):
        return leaderboard_files(params)
    if isinstance(params, CheckpointParams):
        return checkpoint_files(params)
    if isinstance(params, QuizUIParams):
        return quiz_files(params)
    return timer_files(params)


def expected_literals(params: ScriptParams) -> list[str]:
    """The caller's values as Luau literals that the sources must contain."""
    if isinstance(params, LeaderboardParams):
        return [lua_string(s.name) for s in params.stats] + [
            f"start = {lua_number(s.start)}" for s in params.stats
        ]
    if isinstance(params, CheckpointParams):
        return [f"CHECKPOINT_COUNT = {params.count}", f"SPACING = {lua_number(params.spacing)}"]
    if isinstance(params, QuizUIParams):
        literals = [lua_string(params.title), lua_string(params.remote_name)]
        for q in params.questions:
            literals += [lua_string(q.prompt), *(lua_string(o) for o in q.options)]
        answers = ", ".join(str(q.answer_index + 1) for q in params.questions)
        return [*literals, f"ANSWERS = {{ {answers} }}"]
    return [
        f"DURATION = {params.duration_seconds}",
        f"INTERMISSION = {params.intermission_seconds}",
        f"MESSAGE = {lua_string(params.message)}",
    ]


def _notes(params: ScriptParams) -> list[str]:
    notes = ["Copy each file into the place named by its parent (Roblox Studio Explorer)."]
    if isinstance(params, LeaderboardParams) and params.save_data:
        notes.append("DataStores need Game Settings > Security > Enable Studio Access to API.")
    if isinstance(params, CheckpointParams) and not params.build_parts:
        notes.append(f"Add parts named 1 to {params.count} in a Folder workspace.Checkpoints.")
    if isinstance(params, QuizUIParams):
        notes.append("The answers stay in QuizServer: clients never receive them in advance.")
        if params.points_stat is not None:
            notes.append(
                f"Points go to the leaderstat {params.points_stat!r}: generate a leaderboard "
                "with that stat to show them."
            )
    if isinstance(params, TimerParams) and params.on_expire == "fire_event":
        notes.append("Other server scripts can use ServerStorage.TimerExpired.Event:Connect.")
    return notes


def generate_scripts(task_type: str, data: ScriptInput) -> AgentResult:
    """Handler of ``script_generator``: render the templates, review them, score them."""
    if task_type not in TASK_TYPES:
        raise ValueError(
            f"unsupported task_type {task_type!r} for script_generator; "
            f"expected one of {', '.join(TASK_TYPES)}"
        )
    files: list[GeneratedFile] = []
    for script in build_files(data.params):
        report = review_code("luau", script.source, filename=f"{script.name}.lua")
        if not report.passed:
            problems = "; ".join(
                f"line {f.line} {f.rule_id}: {f.message}"
                for f in report.findings
                if f.severity == "error"
            )
            raise GeneratedScriptError(f"generated {script.name} fails review: {problems}")
        files.append(
            GeneratedFile(
                name=script.name,
                script_type=script.script_type,
                parent=script.parent,
                source=script.source,
                lines=script.source.count("\n"),
                review_score=report.score,
                review_findings=report.summary.total,
            )
        )
    sources = "\n".join(f.source for f in files)
    literals = expected_literals(data.params)
    breakdown = {
        "review_score": round(sum(f.review_score for f in files) / len(files), 4),
        "parameter_coverage": round(sum(lit in sources for lit in literals) / len(literals), 4),
    }
    score = sum(RUBRIC_WEIGHTS[name] * value for name, value in breakdown.items())
    output = ScriptOutput(
        task_type=task_type,
        kind=data.kind,
        files=files,
        notes=_notes(data.params),
        quality_breakdown=breakdown,
    )
    return AgentResult(output=output, quality_score=round(min(1.0, max(0.0, score)), 4))


EXAMPLE: dict[str, Any] = {
    "kind": "quiz_ui",
    "params": {
        "title": "Solar System",
        "questions": [
            {
                "prompt": "Which planet is the largest?",
                "options": ["Mars", "Jupiter", "Venus"],
                "answer_index": 1,
            },
            {
                "prompt": "How many days does Earth take to orbit the Sun?",
                "options": ["365", "30", "24"],
                "answer_index": 0,
            },
        ],
        "points_per_correct": 10,
    },
}

SPEC = register(
    AgentSpec(
        agent_type="script_generator",
        description=(
            "Luau scripts for educational-game pieces (leaderboard, checkpoints, quiz UI "
            "with server-side answer checks, round timer) from templates, each reviewed"
        ),
        input_model=ScriptInput,
        output_model=ScriptOutput,
        handler=generate_scripts,
        task_types=TASK_TYPES,
        example=EXAMPLE,
        example_task_type="generate",
        soft_time_limit=20.0,
        time_limit=30.0,
        max_retries=1,
    )
)
