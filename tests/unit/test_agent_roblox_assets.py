"""Unit tests of the roblox_asset agent (tasks/agents/roblox_assets/__init__.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from tasks.agents.roblox_assets import (
    RUBRIC_WEIGHTS,
    RULE_SEVERITY,
    ImportPlan,
    ManifestInput,
    ManifestReport,
    check_manifest,
)

MB = 1_000_000

# one problem (or a few) per entry; the comments give the expected rule ids
MESSY: list[dict[str, Any]] = [
    {"id": "rbxassetid://100", "type": "Image", "name": "BarkTexture", "size_bytes": 1000,
     "path": "Trees"},  # clean
    {"id": "100", "type": "Image", "name": "BarkCopy", "size_bytes": 1000,
     "path": "Trees"},  # duplicate_id (same id, same type as #0)
    {"id": 100, "type": "Mesh", "name": "Trunk", "size_bytes": 1000,
     "path": "Trees"},  # id_type_conflict (Image at #0)
    {"id": "200", "type": "Model", "name": "BarkTexture", "size_bytes": 10,
     "path": "Trees"},  # duplicate_name (in Trees at #0)
    {"id": "300", "type": "Audio", "name": "BarkTexture", "size_bytes": 10,
     "path": "Sounds"},  # name_id_conflict (id 100 at #0 in Trees)
    {"id": "abc", "type": "Hologram", "name": "bad name",
     "size_bytes": 25 * MB},  # invalid_id, unknown_type, name_whitespace
    {"type": "Audio", "name": "Workspace",
     "size_bytes": 30 * MB},  # missing_field (id), size_over_limit, name_reserved
    {"id": "400", "type": "sound", "name": "rain_loop",
     "size_bytes": 0},  # type_alias, empty_file, name_style
]  # fmt: skip


def run(task_type: str = "plan", **fields: Any) -> tuple[ManifestReport, float]:
    result = check_manifest(task_type, ManifestInput.model_validate(fields))
    assert isinstance(result.output, ManifestReport)
    return result.output, result.quality_score


def plan_of(report: ManifestReport) -> ImportPlan:
    assert report.plan is not None
    return report.plan


def asset(name: str, kind: str = "Image", id_: int = 1, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "type": kind, "name": name, "size_bytes": 100} | extra


def test_golden_messy_manifest_findings() -> None:
    report, score = run(assets=MESSY)
    assert [(f.index, f.rule) for f in report.findings] == [
        (1, "duplicate_id"),
        (2, "id_type_conflict"),
        (3, "duplicate_name"),
        (4, "name_id_conflict"),
        (5, "invalid_id"),
        (5, "unknown_type"),
        (5, "name_whitespace"),
        (6, "missing_field"),
        (6, "size_over_limit"),
        (6, "name_reserved"),
        (7, "type_alias"),
        (7, "empty_file"),
        (7, "name_style"),
    ]
    assert all(f.severity == RULE_SEVERITY[f.rule] for f in report.findings)
    messages = {(f.index, f.rule): f.message for f in report.findings}
    assert messages[(1, "duplicate_id")] == "id 100 is already listed at #0"
    assert messages[(2, "id_type_conflict")] == "id 100 is a Mesh here, a Image at #0"
    assert messages[(3, "duplicate_name")] == "name 'BarkTexture' is already in 'Trees' at #0"
    assert messages[(4, "name_id_conflict")] == "name 'BarkTexture' is id 100 at #0 (Trees)"
    assert messages[(6, "missing_field")] == "missing required field(s): id"
    assert messages[(6, "size_over_limit")] == (
        "30000000 bytes is over the Audio limit of 20000000"
    )
    assert messages[(7, "type_alias")] == "type 'sound' read as Audio"
    assert report.findings[4].name == "bad name"
    assert not report.valid
    assert report.counts == {"error": 8, "warning": 4, "info": 1}
    assert report.by_rule["name_style"] == 1 and sum(report.by_rule.values()) == 13
    # errors on #2 #3 #5 #6 -> 4/8 error-free; warnings on #1 #4 #7 -> 5/8; 4/8 planned;
    # no dependencies -> 1.0.  0.5 * 0.5 + 0.2 * 0.625 + 0.2 * 0.5 + 0.1 * 1 = 0.575
    assert report.quality_breakdown == {
        "error_free": 0.5,
        "warning_free": 0.625,
        "plan_coverage": 0.5,
        "dependency_integrity": 1.0,
    }
    assert score == 0.575


def test_golden_messy_manifest_plan() -> None:
    plan = plan_of(run(assets=MESSY)[0])
    assert [(s.index, s.reason) for s in plan.skipped] == [
        (2, "id_type_conflict"),
        (3, "duplicate_name"),
        (5, "invalid_id, unknown_type, name_whitespace"),
        (6, "missing_field, size_over_limit, name_reserved"),
    ]
    # folders first (#7 has no path: default "Assets"), then images before audio
    assert [(s.action, s.folder, s.asset_type, s.indices) for s in plan.steps] == [
        ("create_folder", "Assets", None, []),
        ("create_folder", "Sounds", None, []),
        ("create_folder", "Trees", None, []),
        ("import", "Trees", "Image", [0, 1]),
        ("import", "Assets", "Audio", [7]),
        ("import", "Sounds", "Audio", [4]),
    ]
    assert plan.order == [0, 1, 7, 4]
    assert plan.steps[3].asset_ids == ["rbxassetid://100", "rbxassetid://100"]
    assert plan.steps[3].bytes == 2000
    assert plan.totals.model_dump() == {
        "assets_planned": 4,
        "assets_skipped": 4,
        "folders": 3,
        "steps": 6,
        "bytes": 2010,
        "bytes_by_type": {"Image": 2000, "Audio": 10},
    }


def test_dependency_order_in_waves() -> None:
    report, score = run(
        assets=[
            asset("Tree", "Model", 3, depends_on=["Trunk", "rbxassetid://1", "Assets/Leaves"]),
            asset("Trunk", "Mesh", 2, depends_on=["Bark"]),
            asset("Bark", "Image", 1),
            asset("Leaves", "Image", 4),
            asset("Wind", "Audio", 5),
        ]
    )
    assert report.findings == [] and report.valid
    plan = plan_of(report)
    assert [(s.wave, s.asset_type, s.assets) for s in plan.steps] == [
        (None, None, []),  # create Assets
        (0, "Image", ["Bark", "Leaves"]),
        (0, "Audio", ["Wind"]),
        (1, "Mesh", ["Trunk"]),
        (2, "Model", ["Tree"]),
    ]
    assert plan.order == [2, 3, 4, 1, 0]
    position = {index: n for n, index in enumerate(plan.order)}
    assert position[2] < position[1] < position[0]  # every asset after its dependencies
    assert score == 1.0


def test_nested_folders_are_created_parents_first() -> None:
    report, _ = run(
        assets=[
            asset("Pine", path="World/Forest/Trees", id_=1),
            asset("Boulder", path="World/Rocks", id_=2),
            asset("Logo", path="Ui", id_=3),
        ]
    )
    folders = [s.folder for s in plan_of(report).steps if s.action == "create_folder"]
    assert folders == ["Ui", "World", "World/Forest", "World/Forest/Trees", "World/Rocks"]


def test_cycles_are_errors_and_block_dependents() -> None:
    report, score = run(
        assets=[
            asset("A", id_=1, depends_on=["B"]),
            asset("B", id_=2, depends_on=["C"]),
            asset("C", id_=3, depends_on=["A"]),
            asset("D", id_=4, depends_on=["A"]),
            asset("E", id_=5, depends_on=["E"]),
            asset("F", id_=6),
            asset("G", id_=7, depends_on=["Missing"]),
            asset("H", id_=8, depends_on=["G"]),
        ]
    )
    assert [(f.index, f.rule) for f in report.findings] == [
        (0, "dependency_cycle"),
        (1, "dependency_cycle"),
        (2, "dependency_cycle"),
        (4, "dependency_cycle"),
        (6, "unknown_dependency"),
    ]
    cycle = "dependency cycle: A (#0) -> B (#1) -> C (#2) -> A (#0)"
    assert [f.message for f in report.findings[:3]] == [cycle] * 3
    assert report.findings[3].message == "dependency cycle: E (#4) -> E (#4)"
    assert report.findings[4].message == "depends on 'Missing': no such asset"
    plan = plan_of(report)
    assert [(s.index, s.reason) for s in plan.skipped] == [
        (0, "dependency_cycle"),
        (1, "dependency_cycle"),
        (2, "dependency_cycle"),
        (3, "blocked: depends on skipped #0"),
        (4, "dependency_cycle"),
        (6, "unknown_dependency"),
        (7, "blocked: depends on skipped #6"),
    ]
    assert plan.order == [5]
    # 7 references: D->A and H->G resolve off any cycle; 3 + 1 are on cycles, 1 unknown
    assert report.quality_breakdown["dependency_integrity"] == 0.2857
    # 5 of 8 have errors; no warnings; 1 of 8 planned:
    # 0.5 * 0.375 + 0.2 * 1 + 0.2 * 0.125 + 0.1 * 0.2857 = 0.44107
    assert score == 0.4411


def test_cycle_through_a_branch_is_found_from_every_member() -> None:
    # C -> B -> A -> C, plus C reaches B only through a cross edge: all three are on a cycle
    report, _ = run(
        assets=[
            asset("A", id_=1, depends_on=["B", "C"]),
            asset("B", id_=2, depends_on=["A"]),
            asset("C", id_=3, depends_on=["B"]),
        ]
    )
    assert [(f.index, f.rule) for f in report.findings] == [
        (i, "dependency_cycle") for i in range(3)
    ]
    assert report.findings[0].message == "dependency cycle: A (#0) -> B (#1) -> A (#0)"


def test_ambiguous_and_duplicate_references() -> None:
    report, _ = run(
        assets=[
            asset("Rock", id_=1, path="Cliffs"),
            asset("Rock", id_=2, path="Beach"),
            asset("Cliff", "Model", 3, depends_on=["Rock", "Rock", "Beach/Rock"]),
        ]
    )
    assert [(f.index, f.rule) for f in report.findings] == [
        (1, "name_id_conflict"),
        (2, "ambiguous_dependency"),
        (2, "ambiguous_dependency"),
    ]
    assert report.findings[1].message == "'Rock' matches #0, #1; using #0"
    plan = plan_of(report)
    assert plan.order == [1, 0, 2]  # Beach before Cliffs in wave 0, then the model
    assert report.quality_breakdown["dependency_integrity"] == 1.0


def test_size_limits_and_overrides() -> None:
    video = asset("Intro", "Video", 1, size_bytes=3000 * MB)
    image = asset("Icon", "Image", 2, size_bytes=600)
    report, _ = run(assets=[video, image])
    assert report.findings == []
    limited, _ = run(assets=[video, image], size_limits={"image": 500, "VIDEO": 1000 * MB})
    assert [(f.index, f.rule) for f in limited.findings] == [
        (0, "size_over_limit"),
        (1, "size_over_limit"),
    ]
    assert limited.findings[1].message == "600 bytes is over the Image limit of 500"


@pytest.mark.parametrize(
    ("naming", "name", "rules"),
    [
        ({}, "OakTree", []),
        ({}, "oak_tree", ["name_style"]),
        ({"style": "snake_case"}, "oak_tree", []),
        ({"style": "snake_case"}, "OakTree", ["name_style"]),
        ({"style": "snake_case"}, "oak__tree", ["name_style"]),
        ({"style": "camelCase"}, "oakTree", []),
        ({"style": "camelCase"}, "OakTree", ["name_style"]),
        ({"style": "any"}, "oak-tree!", []),
        ({"style": "any"}, "oak tree", ["name_whitespace"]),
        ({}, "Oak\ttree", ["name_whitespace"]),
        ({"max_length": 5}, "OakTree", ["name_too_long"]),
        ({}, "lighting", ["name_reserved", "name_style"]),
        ({"reserved": ["OakTree"]}, "oaktree", ["name_reserved", "name_style"]),
        ({"reserved": []}, "Workspace", []),
    ],
)
def test_naming_rules(naming: dict[str, Any], name: str, rules: list[str]) -> None:
    report, _ = run(assets=[asset(name)], naming=naming)
    assert [f.rule for f in report.findings] == rules


@pytest.mark.parametrize(
    ("entry", "rules"),
    [
        ({"id": "rbxassetid://0"}, ["invalid_id"]),
        ({"id": "rbxassetid:/12"}, ["invalid_id"]),
        ({"id": -5}, ["invalid_id"]),
        ({"id": " 123 "}, []),
        ({"id": ""}, ["missing_field"]),
        ({"name": "  "}, ["missing_field"]),
        ({"type": None, "size_bytes": None}, ["missing_field"]),
        ({"type": "MeshPart"}, ["type_alias"]),
        ({"type": "image"}, ["type_alias"]),
        ({"path": "A//B"}, ["invalid_path"]),
        ({"path": "A/ B"}, ["invalid_path"]),
        ({"path": "/A/B/"}, []),
    ],
)
def test_entry_rules(entry: dict[str, Any], rules: list[str]) -> None:
    report, _ = run(assets=[asset("Icon") | entry])
    assert [f.rule for f in report.findings] == rules


def test_missing_fields_are_listed() -> None:
    report, _ = run(assets=[{"name": "Lonely"}])
    assert report.findings[0].message == ("missing required field(s): id, type, size_bytes")
    assert plan_of(report).order == []
    assert report.quality_breakdown["plan_coverage"] == 0.0


def test_validate_has_no_plan_but_the_same_findings_and_score() -> None:
    validated, v_score = run("validate", assets=MESSY)
    planned, p_score = run("plan", assets=MESSY)
    assert validated.plan is None
    assert validated.findings == planned.findings
    assert v_score == p_score


def test_determinism() -> None:
    first, s1 = run(assets=MESSY)
    second, s2 = run(assets=MESSY)
    assert first.model_dump() == second.model_dump()
    assert s1 == s2


def test_long_chain_and_long_cycle_are_fast() -> None:
    chain = [asset(f"Part{i}", "Model", i + 1, depends_on=[i] if i else []) for i in range(5000)]
    start = time.perf_counter()
    report, score = run(assets=chain)
    assert time.perf_counter() - start < 2.0
    plan = plan_of(report)
    assert plan.order == list(range(5000))
    assert plan.steps[-1].wave == 4999
    assert score == 1.0
    ring = [asset(f"Part{i}", "Model", i + 1, depends_on=[(i + 1) % 3000 + 1]) for i in range(3000)]
    report, _ = run(assets=ring)
    assert report.by_rule == {"dependency_cycle": 3000}
    assert plan_of(report).order == []


@pytest.mark.parametrize(
    "assets",
    [
        MESSY,
        [asset("Clean")],
        [{"name": "bad name"}] * 3,
        [asset("A", depends_on=["A"])],
    ],
)
def test_quality_score_in_bounds_and_matches_rubric(assets: list[dict[str, Any]]) -> None:
    report, score = run(assets=assets)
    assert 0.0 <= score <= 1.0
    assert all(0.0 <= v <= 1.0 for v in report.quality_breakdown.values())
    expected = sum(RUBRIC_WEIGHTS[k] * v for k, v in report.quality_breakdown.items())
    assert score == round(expected, 4)


def test_more_problems_lower_the_score() -> None:
    clean = [asset("Bark", id_=1), asset("Trunk", "Mesh", 2, depends_on=["Bark"])]
    _, clean_score = run(assets=clean)
    _, warned_score = run(assets=[*clean, asset("Bark", id_=9, path="Other")])
    _, broken_score = run(assets=[*clean, asset("Bark", id_=9)])
    assert clean_score == 1.0
    assert broken_score < warned_score < clean_score


def test_unsupported_task_type() -> None:
    with pytest.raises(ValueError, match="unsupported task_type 'upload'"):
        run("upload", assets=[asset("Icon")])


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"assets": []}, ("assets",)),
        ({"assets": [asset("X", size_bytes=-1)]}, ("assets", 0, "size_bytes")),
        ({"assets": [asset("X", colour="red")]}, ("assets", 0, "colour")),
        ({"assets": [asset("X", tags=["t"] * 21)]}, ("assets", 0, "tags")),
        ({"naming": {"style": "kebab-case"}}, ("naming", "style")),
        ({"naming": {"max_length": 0}}, ("naming", "max_length")),
        ({"size_limits": {"Hologram": 5}}, ("size_limits",)),
        ({"size_limits": {"Image": 0}}, ("size_limits", "Image")),
        ({"surprise": 1}, ("surprise",)),
    ],
)
def test_validation_errors_name_the_field(fields: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        ManifestInput.model_validate({"assets": [asset("X")]} | fields)
    assert str(loc[-1]) in str(info.value)
    assert info.value.errors()[0]["loc"][: len(loc)] == loc


def test_missing_assets_field() -> None:
    with pytest.raises(ValidationError, match="assets"):
        ManifestInput.model_validate({"naming": {}})
