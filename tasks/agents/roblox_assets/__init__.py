"""Roblox asset agent (``roblox_asset``): validates an asset manifest and plans its import.

Input: ``assets`` (1-5000 entries of ``id`` (``rbxassetid://<digits>`` or digits), ``type``,
``name``, ``size_bytes``, optional ``path`` (folder, e.g. ``Assets/Trees``; default
``default_folder``), ``tags`` and ``depends_on`` (other entries by id, name or
``folder/name``)); optional ``naming`` (``style``: PascalCase, camelCase, snake_case or
any; ``max_length`` 50; ``reserved`` names, default RESERVED_NAMES, case-insensitive) and
``size_limits`` (bytes per type, overriding the defaults). Task types: ``validate``
(findings and score) and ``plan`` (the same plus the import plan).

Types are case-insensitive (Sound = Audio, MeshPart = Mesh). Default size limits follow
Roblox's documented upload limits (20 MB per Open Cloud asset file, videos under 3.75 GB):
20 MB for every type but Video, 3750 MB (MB = 1,000,000 bytes). ASSET_TYPES order is the
import order within a wave: media before the meshes and models that use them.

Rules (severity in RULE_SEVERITY): missing_field (id, type, name or size_bytes missing),
invalid_id, unknown_type, size_over_limit, empty_file (0 bytes, warning), name_whitespace,
name_too_long, name_reserved, name_style (warning; not checked on names with whitespace),
invalid_path (empty or space-padded folder name), type_alias (info), duplicate_id
(warning: id listed again with the same type), id_type_conflict (the same id with
another type), duplicate_name (a name repeated in one folder, case-sensitive like
Roblox), name_id_conflict (warning: a name reused in another folder for another id),
unknown_dependency, ambiguous_dependency (warning: a bare name matching several entries;
the first is used), dependency_cycle (on every member of a strongly connected component,
with the shortest cycle from its first member). Findings come in asset-index order.

Plan: assets with an error are skipped, and so is any asset depending on a skipped one
(blocked). The rest go topologically (Kahn) into waves: wave 0 depends on nothing, wave n
only on earlier waves. Steps: create each folder (parents first), then one import step
per (wave, type, folder), in that order. Totals count assets, folders, steps and bytes.

Quality rubric (manifest health, score in [0, 1] rounded to 4 places, with breakdown):

* error_free (0.5): share of assets without an error finding.
* warning_free (0.2): share of assets without a warning finding.
* plan_coverage (0.2): share of assets in the import plan (not skipped nor blocked).
* dependency_integrity (0.1): share of ``depends_on`` references that resolve and are not
  on a cycle; 1.0 when there are none.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tasks.agents.roblox_assets.plan import (
    ASSET_TYPES,
    Asset,
    Finding,
    ImportPlan,
    Severity,
    build_plan,
    find_cycle,
    strongly_connected,
)
from tasks.agents.roblox_assets.plan import MB as MB
from tasks.agents.roblox_assets.plan import PlanStep as PlanStep
from tasks.agents.roblox_assets.plan import PlanTotals as PlanTotals
from tasks.agents.roblox_assets.plan import SkippedAsset as SkippedAsset
from tasks.spec import AgentResult, AgentSpec, register

TASK_TYPES: tuple[str, ...] = ("validate", "plan")
Style = Literal["PascalCase", "camelCase", "snake_case", "any"]

TYPE_ALIASES = {t.lower(): t for t in ASSET_TYPES} | {"sound": "Audio", "meshpart": "Mesh"}
RULE_SEVERITY: dict[str, Severity] = {
    "missing_field": "error", "invalid_id": "error", "unknown_type": "error",
    "size_over_limit": "error", "empty_file": "warning", "name_whitespace": "error",
    "name_too_long": "error", "name_reserved": "error", "name_style": "warning",
    "invalid_path": "error", "duplicate_id": "warning", "id_type_conflict": "error",
    "duplicate_name": "error", "name_id_conflict": "warning", "unknown_dependency": "error",
    "ambiguous_dependency": "warning", "dependency_cycle": "error", "type_alias": "info",
}  # fmt: skip
RESERVED_NAMES: tuple[str, ...] = (
    "Workspace", "Players", "Lighting", "ReplicatedStorage", "ReplicatedFirst",
    "ServerStorage", "ServerScriptService", "StarterGui", "StarterPack", "StarterPlayer",
    "SoundService", "Teams", "Chat", "Terrain", "Camera", "game", "script", "Parent",
)  # fmt: skip
STYLE_PATTERNS: dict[str, re.Pattern[str]] = {
    "PascalCase": re.compile(r"[A-Z][A-Za-z0-9]*"),
    "camelCase": re.compile(r"[a-z][A-Za-z0-9]*"),
    "snake_case": re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"),
}
RUBRIC_WEIGHTS: dict[str, float] = {
    "error_free": 0.5, "warning_free": 0.2, "plan_coverage": 0.2, "dependency_integrity": 0.1,
}  # fmt: skip
_ID = re.compile(r"(?:rbxassetid://)?([1-9][0-9]{0,19})")

Reference = Annotated[str, Field(min_length=1, max_length=600)] | int


def canonical_type(value: str) -> str | None:
    return TYPE_ALIASES.get(value.strip().lower())


class NamingRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    style: Style = "PascalCase"
    max_length: int = Field(default=50, ge=1, le=100)
    reserved: list[str] = Field(default_factory=lambda: list(RESERVED_NAMES), max_length=500)


class AssetEntry(BaseModel):
    """One manifest entry; required fields may be missing (reported as findings)."""

    model_config = ConfigDict(extra="forbid")

    id: str | int | None = None
    type: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, max_length=500)
    size_bytes: int | None = Field(default=None, ge=0)
    path: str | None = Field(default=None, max_length=500)
    tags: list[str] = Field(default_factory=list, max_length=20)
    depends_on: list[Reference] = Field(default_factory=list, max_length=100)


class ManifestInput(BaseModel):
    """Validated input of the Roblox asset agent."""

    model_config = ConfigDict(extra="forbid")

    assets: list[AssetEntry] = Field(min_length=1, max_length=5000)
    naming: NamingRules = Field(default_factory=NamingRules)
    size_limits: dict[str, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    default_folder: str = Field(default="Assets", min_length=1, max_length=200)

    @field_validator("size_limits")
    @classmethod
    def _known_types(cls, value: dict[str, int]) -> dict[str, int]:
        limits: dict[str, int] = {}
        for key, limit in value.items():
            kind = canonical_type(key)
            if kind is None:
                raise ValueError(f"unknown asset type {key!r}; expected one of {list(ASSET_TYPES)}")
            limits[kind] = limit
        return limits


class ManifestReport(BaseModel):
    """Output of the Roblox asset agent."""

    task_type: str
    assets: int
    valid: bool  # no error finding
    counts: dict[str, int]  # findings per severity
    by_rule: dict[str, int]
    findings: list[Finding]
    plan: ImportPlan | None
    quality_breakdown: dict[str, float]


def _path_problem(path: str) -> bool:
    return any(not part or part != part.strip() for part in path.split("/"))


class Checker:
    """Collects findings while walking the manifest."""

    def __init__(self, data: ManifestInput) -> None:
        self.data = data
        self.findings: list[Finding] = []
        self.assets: list[Asset] = []
        self.refs = (0, 0)  # (references that resolve off any cycle, all references)

    def add(self, a: Asset, rule: str, message: str) -> None:
        severity = RULE_SEVERITY[rule]
        finding = Finding(index=a.index, name=a.name, rule=rule, severity=severity, message=message)
        self.findings.append(finding)

    def entry(self, index: int, entry: AssetEntry) -> Asset:
        raw_id = None if entry.id is None else str(entry.id).strip()
        match = _ID.fullmatch(raw_id) if raw_id else None
        kind = canonical_type(entry.type) if entry.type else None
        size, folder = entry.size_bytes, (entry.path or self.data.default_folder).strip("/")
        a = Asset(index, entry.name, match.group(1) if match else None, kind, size or 0, folder)
        fields = {"id": raw_id, "type": entry.type, "name": entry.name}
        missing = [k for k, v in fields.items() if not (v or "").strip()]
        missing += ["size_bytes"] if size is None else []
        if missing:
            self.add(a, "missing_field", f"missing required field(s): {', '.join(missing)}")
        if raw_id and match is None:
            self.add(a, "invalid_id", f"id {raw_id!r} is not rbxassetid://<digits> or digits")
        if entry.type and entry.type.strip() and kind is None:
            self.add(a, "unknown_type", f"unknown type {entry.type!r}")
        elif kind and kind != entry.type:
            self.add(a, "type_alias", f"type {entry.type!r} read as {kind}")
        limit = (ASSET_TYPES | self.data.size_limits).get(kind or "", 0)
        if kind and size is not None and size > limit:
            self.add(a, "size_over_limit", f"{size} bytes is over the {kind} limit of {limit}")
        if size == 0:
            self.add(a, "empty_file", "size_bytes is 0: the file is empty")
        if not folder or _path_problem(folder):
            self.add(a, "invalid_path", f"folder {folder!r} has an empty or padded name")
        if entry.name and entry.name.strip():
            self.check_name(a, entry.name)
        return a

    def check_name(self, a: Asset, name: str) -> None:
        rules = self.data.naming
        spaced = any(ch.isspace() for ch in name)
        if spaced:
            self.add(a, "name_whitespace", f"name {name!r} contains whitespace")
        if len(name) > rules.max_length:
            self.add(
                a, "name_too_long", f"name has {len(name)} characters (max {rules.max_length})"
            )
        if name.casefold() in {r.casefold() for r in rules.reserved}:
            self.add(a, "name_reserved", f"name {name!r} is reserved")
        pattern = STYLE_PATTERNS.get(rules.style)
        if pattern and not spaced and not pattern.fullmatch(name):
            self.add(a, "name_style", f"name {name!r} is not {rules.style}")

    def duplicates(self) -> None:
        by_id: dict[str, Asset] = {}
        by_place: dict[tuple[str, str], Asset] = {}
        by_name: dict[str, list[Asset]] = defaultdict(list)
        for a in self.assets:
            first = by_id.setdefault(a.asset_id, a) if a.asset_id else a
            if first is not a and first.kind == a.kind:
                self.add(a, "duplicate_id", f"id {a.asset_id} is already listed at #{first.index}")
            elif first is not a and a.kind and first.kind:
                message = f"id {a.asset_id} is a {a.kind} here, a {first.kind} at #{first.index}"
                self.add(a, "id_type_conflict", message)
            if a.name is None:
                continue
            place = by_place.setdefault((a.folder, a.name), a)
            if place is not a:
                message = f"name {a.name!r} is already in {a.folder!r} at #{place.index}"
                self.add(a, "duplicate_name", message)
            others = [o for o in by_name[a.name] if o.folder != a.folder]
            other = next((o for o in others if o.asset_id != a.asset_id), None)
            if other is not None:
                message = (
                    f"name {a.name!r} is id {other.asset_id} at #{other.index} ({other.folder})"
                )
                self.add(a, "name_id_conflict", message)
            by_name[a.name].append(a)

    def resolve(self, a: Asset, text: str, lookup: dict[str, dict[Any, Any]]) -> int | None:
        """The index ``text`` (an id, ``folder/name`` or name) refers to, with findings."""
        match, (folder, _, leaf) = _ID.fullmatch(text), text.rpartition("/")
        if match or folder:
            target = (
                lookup["id"].get(match.group(1)) if match else lookup["place"].get((folder, leaf))
            )
        else:
            found = lookup["name"].get(text, [])
            target = found[0] if found else None
            if len(found) > 1:
                listed = ", ".join(f"#{i}" for i in found)
                self.add(a, "ambiguous_dependency", f"{text!r} matches {listed}; using #{target}")
        if target is None:
            self.add(a, "unknown_dependency", f"depends on {text!r}: no such asset")
        return target

    def dependencies(self) -> set[int]:
        """Resolve ``depends_on`` into edges, report cycles; returns the indices on cycles."""
        names: dict[str | None, list[int]] = defaultdict(list)
        for a in self.assets:
            names[a.name].append(a.index)
        lookup: dict[str, dict[Any, Any]] = {
            "id": {a.asset_id: a.index for a in reversed(self.assets) if a.asset_id},
            "place": {(a.folder, a.name): a.index for a in reversed(self.assets)},
            "name": names,
        }
        edges: list[tuple[int, int]] = []  # (asset, target) per resolved reference
        for a, entry in zip(self.assets, self.data.assets, strict=True):
            for ref in entry.depends_on:
                target = self.resolve(a, str(ref).strip(), lookup)
                if target is not None:
                    edges.append((a.index, target))
                    a.deps += [] if target in a.deps else [target]
        component: dict[int, int] = {}
        for number, members in enumerate(strongly_connected(self.assets)):
            start = min(members)
            if len(members) == 1 and start not in self.assets[start].deps:
                continue
            path = find_cycle(self.assets, start, set(members))
            cycle = " -> ".join(f"{self.assets[i].name or '?'} (#{i})" for i in path)
            for i in sorted(members):
                component[i] = number
                self.add(self.assets[i], "dependency_cycle", f"dependency cycle: {cycle}")
        ok = sum(1 for i, t in edges if i not in component or component.get(t) != component[i])
        self.refs = (ok, sum(len(e.depends_on) for e in self.data.assets))
        return set(component)


def score_manifest(
    assets: int, findings: list[Finding], planned: int, refs: tuple[int, int]
) -> dict[str, float]:
    """The rubric components (each in [0, 1]) described in the module docstring."""
    errors = {f.index for f in findings if f.severity == "error"}
    warnings = {f.index for f in findings if f.severity == "warning"}
    ok, total = refs
    return {
        "error_free": round(1 - len(errors) / assets, 4),
        "warning_free": round(1 - len(warnings) / assets, 4),
        "plan_coverage": round(planned / assets, 4),
        "dependency_integrity": round(ok / total, 4) if total else 1.0,
    }


def check_manifest(task_type: str, data: ManifestInput) -> AgentResult:
    """Handler of ``roblox_asset``: findings, import plan and manifest health."""
    if task_type not in TASK_TYPES:
        raise ValueError(
            f"unsupported task_type {task_type!r} for roblox_asset; "
            f"expected one of {', '.join(TASK_TYPES)}"
        )
    checker = Checker(data)
    checker.assets = [checker.entry(i, e) for i, e in enumerate(data.assets)]
    checker.duplicates()
    on_cycle = checker.dependencies()
    findings = sorted(checker.findings, key=lambda f: f.index)
    plan = build_plan(checker.assets, findings, on_cycle)
    breakdown = score_manifest(len(data.assets), findings, len(plan.order), checker.refs)
    score = sum(RUBRIC_WEIGHTS[name] * value for name, value in breakdown.items())
    severities = Counter(f.severity for f in findings)
    output = ManifestReport(
        task_type=task_type,
        assets=len(data.assets),
        valid=severities["error"] == 0,
        counts={s: severities[s] for s in ("error", "warning", "info")},
        by_rule=dict(sorted(Counter(f.rule for f in findings).items())),
        findings=findings,
        plan=plan if task_type == "plan" else None,
        quality_breakdown=breakdown,
    )
    return AgentResult(output=output, quality_score=round(min(1.0, max(0.0, score)), 4))


EXAMPLE: dict[str, Any] = {
    "assets": [
        {"id": "rbxassetid://1001", "type": "Image", "name": "BarkTexture",
         "size_bytes": 524288, "path": "Assets/Trees"},
        {"id": 1002, "type": "Mesh", "name": "OakMesh", "size_bytes": 2097152,
         "path": "Assets/Trees", "depends_on": ["BarkTexture"]},
        {"id": "rbxassetid://1003", "type": "Model", "name": "OakTree", "size_bytes": 3145728,
         "path": "Assets/Trees", "depends_on": ["OakMesh", "rbxassetid://1001"],
         "tags": ["nature"]},
        {"id": "1004", "type": "Audio", "name": "forest_ambience", "size_bytes": 1048576,
         "path": "Assets/Sounds"},
    ],
    "naming": {"style": "PascalCase", "max_length": 50},
}  # fmt: skip

SPEC = register(
    AgentSpec(
        agent_type="roblox_asset",
        description=(
            "Roblox asset manifest checks (ids, types, naming, size limits, duplicates, "
            "conflicts, dependencies) and a dependency-ordered import plan"
        ),
        input_model=ManifestInput,
        output_model=ManifestReport,
        handler=check_manifest,
        task_types=TASK_TYPES,
        example=EXAMPLE,
        example_task_type="plan",
        soft_time_limit=15.0,
        time_limit=25.0,
        max_retries=1,
    )
)
