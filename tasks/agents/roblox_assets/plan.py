"""Dependency graph and import plan of the Roblox asset agent
(``tasks/agents/roblox_assets/__init__.py``): the asset types and their size limits, the finding
and plan models, Tarjan's strongly connected components and shortest cycles of the
``depends_on`` graph, and the wave-ordered import plan (errors and their dependents
skipped, Kahn waves, folder then import steps) described in that module's docstring.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["error", "warning", "info"]

MB = 1_000_000
ASSET_TYPES: dict[str, int] = {
    "Image": 20 * MB, "Texture": 20 * MB, "Decal": 20 * MB, "Audio": 20 * MB,
    "Video": 3750 * MB, "Font": 20 * MB, "Mesh": 20 * MB, "Animation": 20 * MB,
    "Model": 20 * MB, "Package": 20 * MB,
}  # fmt: skip


class Finding(BaseModel):
    index: int
    name: str | None
    rule: str
    severity: Severity
    message: str


class PlanStep(BaseModel):
    step: int
    action: Literal["create_folder", "import"]
    folder: str
    asset_type: str | None = None
    wave: int | None = None
    assets: list[str] = Field(default_factory=list)  # names
    asset_ids: list[str] = Field(default_factory=list)
    indices: list[int] = Field(default_factory=list)
    bytes: int = 0


class SkippedAsset(BaseModel):
    index: int
    name: str | None
    reason: str


class PlanTotals(BaseModel):
    assets_planned: int
    assets_skipped: int
    folders: int
    steps: int
    bytes: int
    bytes_by_type: dict[str, int]


class ImportPlan(BaseModel):
    order: list[int]  # asset indices in import order
    steps: list[PlanStep]
    skipped: list[SkippedAsset]
    totals: PlanTotals


@dataclass(slots=True)
class Asset:
    index: int
    name: str | None
    asset_id: str | None  # the digits
    kind: str | None  # canonical type
    size: int
    folder: str
    deps: list[int] = field(default_factory=list)


def strongly_connected(assets: list[Asset]) -> list[list[int]]:
    """Tarjan's strongly connected components of the dependency graph (iterative)."""
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    components: list[list[int]] = []
    for root in range(len(assets)):
        if root in order:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                order[node] = low[node] = len(order)
                stack.append(node)
                on_stack.add(node)
            deps = assets[node].deps
            if child < len(deps):
                work.append((node, child + 1))
                target = deps[child]
                if target not in order:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], order[target])
                continue
            if low[node] == order[node]:
                members: list[int] = []
                while not members or members[-1] != node:
                    members.append(stack.pop())
                    on_stack.discard(members[-1])
                components.append(members)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def find_cycle(assets: list[Asset], start: int, members: set[int]) -> list[int]:
    """The shortest cycle through ``start`` inside ``members`` (breadth-first, by index)."""
    parent: dict[int, int] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(d for d in assets[node].deps if d in members):
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if target not in parent:
                parent[target] = node
                queue.append(target)
    return [start]


def _folders(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: n + 1]) for n in range(len(parts))]


def build_plan(assets: list[Asset], findings: list[Finding], on_cycle: set[int]) -> ImportPlan:
    """Skip assets with errors and their dependents; waves by Kahn; steps as documented."""
    skipped: dict[int, str] = {}
    for f in findings:
        if f.severity == "error":
            skipped[f.index] = f"{skipped[f.index]}, {f.rule}" if f.index in skipped else f.rule
    nodes = [a.index for a in assets if a.index not in on_cycle]
    indegree = {i: sum(1 for d in assets[i].deps if d not in on_cycle) for i in nodes}
    dependents: dict[int, list[int]] = defaultdict(list)
    for i in nodes:
        for d in assets[i].deps:
            dependents[d].append(i)
    ready = deque(i for i in nodes if indegree[i] == 0)
    wave: dict[int, int] = {}
    while ready:
        i = ready.popleft()
        blocker = next((d for d in assets[i].deps if d in skipped), None)
        if blocker is not None and i not in skipped:
            skipped[i] = f"blocked: depends on skipped #{blocker}"
        elif i not in skipped:
            wave[i] = 1 + max((wave[d] for d in assets[i].deps), default=-1)
        for j in dependents[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(j)
    rank = {kind: n for n, kind in enumerate(ASSET_TYPES)}
    groups: dict[tuple[int, int, str], list[Asset]] = defaultdict(list)
    for i in sorted(wave):
        a = assets[i]
        groups[(wave[i], rank[a.kind or "Model"], a.folder)].append(a)
    folders = sorted(
        {p for i in wave for p in _folders(assets[i].folder)}, key=lambda p: p.split("/")
    )
    steps = [PlanStep(step=n, action="create_folder", folder=p) for n, p in enumerate(folders, 1)]
    for (w, _, folder), members in sorted(groups.items()):
        steps.append(
            PlanStep(
                step=len(steps) + 1,
                action="import",
                folder=folder,
                asset_type=members[0].kind,
                wave=w,
                assets=[m.name or "" for m in members],
                asset_ids=[f"rbxassetid://{m.asset_id}" for m in members],
                indices=[m.index for m in members],
                bytes=sum(m.size for m in members),
            )
        )
    order = [i for s in steps for i in s.indices]
    kinds = {assets[i].kind for i in order}
    totals = PlanTotals(
        assets_planned=len(order),
        assets_skipped=len(skipped),
        folders=len(folders),
        steps=len(steps),
        bytes=sum(assets[i].size for i in order),
        bytes_by_type={
            k: sum(assets[i].size for i in order if assets[i].kind == k)
            for k in ASSET_TYPES
            if k in kinds
        },
    )
    skipped_list = [
        SkippedAsset(index=i, name=assets[i].name, reason=r) for i, r in sorted(skipped.items())
    ]
    return ImportPlan(order=order, steps=steps, skipped=skipped_list, totals=totals)
