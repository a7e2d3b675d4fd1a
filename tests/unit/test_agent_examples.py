"""Every registered agent's example: it validates against the agent's input model, and
its handler turns it into a valid output with a quality score in [0, 1].

The example is what ``agentq enqueue --example``, the demo and the end-to-end tests send,
so each agent's own check below pins what its example is meant to show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from tasks.agents import (
    code_review,
    content,
    quiz,
    roblox_analytics,
    roblox_assets,
    roblox_testing,
    scripts,
    terrain,
)
from tasks.registry import AGENT_TYPES, AgentResult, AgentSpec, load_agents

# The module that registers each agent type (its SPEC is what the registry holds).
AGENT_MODULES: dict[str, Any] = {
    "content_generator": content,
    "quiz_generator": quiz,
    "terrain_generator": terrain,
    "script_generator": scripts,
    "code_reviewer": code_review,
    "roblox_asset": roblox_assets,
    "roblox_testing": roblox_testing,
    "roblox_analytics": roblox_analytics,
}

# agent type -> (input model, output model)
MODELS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "content_generator": (content.ContentInput, content.LessonContent),
    "quiz_generator": (quiz.QuizInput, quiz.QuizOutput),
    "terrain_generator": (terrain.TerrainInput, terrain.TerrainOutput),
    "script_generator": (scripts.ScriptInput, scripts.ScriptOutput),
    "code_reviewer": (code_review.ReviewInput, code_review.ReviewOutput),
    "roblox_asset": (roblox_assets.ManifestInput, roblox_assets.ManifestReport),
    "roblox_testing": (roblox_testing.RobloxTestingInput, roblox_testing.RobloxTestingReport),
    "roblox_analytics": (roblox_analytics.AnalyticsInput, roblox_analytics.AnalyticsReport),
}


def _content(spec: AgentSpec, result: AgentResult, output: Any) -> None:
    assert output.key_facts


def _quiz(spec: AgentSpec, result: AgentResult, output: Any) -> None:
    assert output.stats.produced == spec.example["num_questions"]


def _terrain(spec: AgentSpec, result: AgentResult, output: Any) -> None:
    assert output.luau_script


def _scripts(spec: AgentSpec, result: AgentResult, output: Any) -> None:
    assert [f.name for f in output.files] == ["QuizData", "QuizServer", "QuizClient"]
    assert result.quality_score == 1.0


def _code_review(spec: AgentSpec, result: AgentResult, output: Any) -> None:
    assert [(f.line, f.rule_id, f.severity) for f in output.findings] == [
        (5, "LUAU003", "warning"),
        (5, "LUAU005", "warning"),
        (10, "LUAU002", "warning"),
    ]


def _roblox_assets(spec: AgentSpec, result: AgentResult, output: Any) -> None:
    assert output.valid
    assert output.plan is not None
    assert output.plan.totals.assets_planned == len(spec.example["assets"])


def _roblox_testing(spec: AgentSpec, result: AgentResult, output: Any) -> None:
    assert output.coverage_percent == 100.0
    assert output.findings == []
    assert output.spec is not None
    assert output.spec.count("it(") == len(spec.example["cases"])


def _roblox_analytics(spec: AgentSpec, result: AgentResult, output: Any) -> None:
    assert output.events.valid == len(spec.example["events"])
    assert output.sessions is not None and output.sessions.complete == 2


# What each agent's example is meant to show, beyond a valid output.
EXAMPLE_SHOWS: dict[str, Callable[[AgentSpec, AgentResult, Any], None]] = {
    "content_generator": _content,
    "quiz_generator": _quiz,
    "terrain_generator": _terrain,
    "script_generator": _scripts,
    "code_reviewer": _code_review,
    "roblox_asset": _roblox_assets,
    "roblox_testing": _roblox_testing,
    "roblox_analytics": _roblox_analytics,
}


def test_every_agent_type_is_registered_and_checked_here() -> None:
    assert set(load_agents()) == set(AGENT_TYPES)
    assert set(AGENT_MODULES) == set(MODELS) == set(EXAMPLE_SHOWS) == set(AGENT_TYPES)


@pytest.mark.parametrize("agent_type", AGENT_TYPES)
def test_spec_example_validates_and_runs(agent_type: str) -> None:
    spec = load_agents()[agent_type]
    assert spec is AGENT_MODULES[agent_type].SPEC
    assert spec.agent_type == agent_type
    assert (spec.input_model, spec.output_model) == MODELS[agent_type]
    assert spec.example_task_type in spec.task_types
    assert spec.soft_time_limit < spec.time_limit

    data = spec.input_model.model_validate(spec.example)
    result = spec.handler(spec.example_task_type, data)

    assert isinstance(result.output, spec.output_model)
    assert 0.0 <= result.quality_score <= 1.0
    # What the task returns, and the recorder stores, is the output as JSON.
    dumped = result.output.model_dump(mode="json")
    assert spec.output_model.model_validate(dumped) == result.output
    EXAMPLE_SHOWS[agent_type](spec, result, result.output)
