"""Terrain generator agent (``terrain_generator``): a Roblox heightmap from a seed and biome.

Input: ``size`` (16-256 cells a side, any integer: powers of two are not needed), ``seed``
(0 .. 2**63-1), ``biome`` (grassland, desert, snow, island, volcanic), and optionally
``octaves`` (1-8), ``persistence``, ``lacunarity``, ``scale`` (base wavelength in cells,
default size / 2), ``max_height`` (studs; default the biome's, scaled by size / 64 below
64 cells) and ``water_level`` (studs; default a biome fraction of max_height). A cell is
one 4x4-stud column, Roblox's terrain voxel size.

Task types: ``generate`` (all, heightmap sampled to at most 64x64: every step-th row and
column, step = ceil(size / 64)) and ``preview`` (at most 32x32, no Luau script).

Noise: 2-D gradient noise (Perlin's improved noise: quintic fade, 8 gradients picked by
hashing lattice corners through a permutation table) summed as fBm: octave k samples at
frequency lacunarity**k / scale with amplitude persistence**k, divided by the amplitude
sum so it stays in [-1, 1]. The table is ``numpy.random.default_rng(seed).permutation(256)``
and the same generator then draws 8 integer lattice offsets, one per possible octave.
Integer offsets keep the lattice in place: with a power-of-two scale and an integer
lacunarity, a cell whose row and column are multiples of ``scale`` has noise exactly 0.
h = clip(0.5 + fBm, 0, 1) is shaped by the biome into s in [0, 1]; height = s *
max_height rounded to 3 places, and every stat and material comes from the rounded
heights. Same input, same bits.

Shaping (d = distance from the map centre, 1 at the edge midpoints), clipped to [0, 1]:
grassland s = h; desert s = 0.5 + 0.6 (h - 0.5) (low dunes); snow s = h**1.5 (peaks);
island s = 0.45 h + 0.8 (1 - d**2) - 0.1; volcanic s = 0.3 h + 0.8 (1 - d)**1.2 minus a
crater 0.3 deep within d < 0.15.

Materials (``Enum.Material`` names), first rule that matches: below the water level ->
the biome's water (Water; Ice for snow); within 2 studs above it -> the shore material;
slope (rise over run) at or above the biome's steep slope -> its steep material; else the
band of s (see BIOMES).

Luau script: one Water (or Ice) FillBlock up to the water level, then ground blocks from
y = 0 to each column's height in whole studs (water cells get the seabed material), as a
flat data table and a FillBlock loop. Equal neighbouring columns (height and material)
merge into rectangles: runs along rows, then identical runs stacked over rows. The cap is
MAX_SCRIPT_BLOCKS = 4096 blocks plus the water block (about 100 KB): while over it,
columns are averaged over f x f tiles (f = 1, 2, 4, ...; majority material), which always
fits once f >= size / 64.

Quality rubric (score in [0, 1], rounded to 4 places, breakdown in the output):

* relief (0.30): std of s against the biome's target range (low, high): 1 inside it,
  std / low below, 1 - (std - high) / high above (floored at 0).
* water_fit (0.25): water fraction against the biome's expected range: 1 inside it, else
  1 - distance / 0.25 (floored at 0).
* not_flat (0.15): min(1, (max - min height) / (0.25 * max_height)); flat scores 0.
* material_variety (0.15): min(1, distinct surface materials / 3).
* script_fidelity (0.15): 1 - mean |script height - height| / max(2, 0.1 * max_height)
  studs, floored at 0: it drops when the script is coarsened to fit the cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from tasks.agents.terrain.noise import MAX_OCTAVES, fractal_noise, shape_heights
from tasks.agents.terrain.noise import gradient_noise as gradient_noise
from tasks.agents.terrain.script import CELL_STUDS, MAX_SCRIPT_BLOCKS, plan_script, render_luau
from tasks.agents.terrain.script import Block as Block
from tasks.agents.terrain.script import merge_blocks as merge_blocks
from tasks.spec import AgentResult, AgentSpec, register

TASK_TYPES: tuple[str, ...] = ("generate", "preview")
BiomeName = Literal["grassland", "desert", "snow", "island", "volcanic"]

HEIGHTMAP_MAX = {"generate": 64, "preview": 32}
SHORE_STUDS = 2.0
RUBRIC_WEIGHTS: dict[str, float] = {
    "relief": 0.30, "water_fit": 0.25, "not_flat": 0.15, "material_variety": 0.15,
    "script_fidelity": 0.15,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Biome:
    max_height: float  # default, studs
    water_fraction: float  # default water level as a fraction of max_height
    water: str
    seabed: str
    shore: str | None
    steep: str
    steep_slope: float
    bands: tuple[tuple[float, str], ...]  # (s below which, material), the last bound > 1
    relief: tuple[float, float]  # target std of s
    water_range: tuple[float, float]  # expected fraction of water cells


BIOMES: dict[str, Biome] = {
    "grassland": Biome(
        48, 0.3, "Water", "Mud", "Sand", "Rock", 1.2,
        ((0.6, "Grass"), (0.8, "LeafyGrass"), (2.0, "Rock")), (0.08, 0.25), (0.0, 0.25),
    ),
    "desert": Biome(
        40, 0.0, "Water", "Sand", None, "Sandstone", 0.9,
        ((0.3, "Salt"), (0.65, "Sand"), (2.0, "Sandstone")), (0.04, 0.15), (0.0, 0.05),
    ),
    "snow": Biome(
        128, 0.15, "Ice", "Rock", None, "Rock", 1.4,
        ((0.25, "Ground"), (0.8, "Snow"), (2.0, "Glacier")), (0.1, 0.3), (0.0, 0.2),
    ),
    "island": Biome(
        64, 0.4, "Water", "Sand", "Sand", "Rock", 1.0,
        ((0.75, "Grass"), (2.0, "Rock")), (0.15, 0.4), (0.3, 0.7),
    ),
    "volcanic": Biome(
        96, 0.1, "Water", "Basalt", None, "Slate", 1.2,
        ((0.45, "Basalt"), (0.7, "Rock"), (2.0, "CrackedLava")), (0.1, 0.3), (0.0, 0.35),
    ),
}  # fmt: skip


def default_max_height(biome: str, size: int) -> float:
    """The biome's height, scaled down below 64 cells so that small maps stay walkable."""
    return round(BIOMES[biome].max_height * min(1.0, size / 64), 3)


class TerrainInput(BaseModel):
    """Validated input of the terrain generator."""

    model_config = ConfigDict(extra="forbid")

    size: int = Field(ge=16, le=256)
    seed: int = Field(ge=0, le=2**63 - 1)
    biome: BiomeName = "grassland"
    octaves: int = Field(default=5, ge=1, le=MAX_OCTAVES)
    persistence: float = Field(default=0.5, ge=0.05, le=0.95)
    lacunarity: float = Field(default=2.0, ge=1.5, le=4.0)
    scale: float | None = Field(default=None, ge=2.0, le=1024.0)
    max_height: float | None = Field(default=None, ge=4.0, le=1024.0)
    water_level: float | None = Field(default=None, ge=0.0, le=1024.0)

    @field_validator("water_level")
    @classmethod
    def _below_max_height(cls, value: float | None, info: ValidationInfo) -> float | None:
        known = {"size", "biome"} <= info.data.keys()
        top = info.data.get("max_height")
        if top is None and known:
            top = default_max_height(info.data["biome"], info.data["size"])
        if value is not None and top is not None and value > top:
            raise ValueError(f"water_level {value} is above max_height {top}")
        return value


class TerrainParameters(BaseModel):
    """The input with its defaults resolved."""

    size: int
    seed: int
    biome: BiomeName
    octaves: int
    persistence: float
    lacunarity: float
    scale: float
    max_height: float
    water_level: float


class TerrainStats(BaseModel):
    cells: int
    min_height: float
    max_height: float
    mean_height: float
    std_height: float
    mean_slope: float
    water_cells: int
    water_percent: float
    material_counts: dict[str, int]


class ScriptInfo(BaseModel):
    blocks: int
    block_cap: int
    tile_cells: int  # f: columns average f x f cells (1 = full resolution); heights in studs
    mean_abs_error_studs: float
    chars: int


class TerrainOutput(BaseModel):
    """Output of the terrain generator."""

    task_type: str
    parameters: TerrainParameters
    cell_studs: int
    heightmap_step: int  # the heightmap keeps every step-th row and column
    heightmap: list[list[float]]
    material_legend: list[str]
    material_map: list[list[int]]  # indices into material_legend, same sampling
    stats: TerrainStats
    script: ScriptInfo
    luau_script: str | None
    quality_breakdown: dict[str, float]


def material_legend(biome: str) -> list[str]:
    """The biome's materials: water first, then shore, steep, bands and seabed."""
    b = BIOMES[biome]
    names = [b.water, b.shore, b.steep, *(m for _, m in b.bands), b.seabed]
    return list(dict.fromkeys(n for n in names if n is not None))


def assign_materials(
    biome: str, heights: np.ndarray, slope: np.ndarray, max_height: float, water_level: float
) -> np.ndarray:
    """Legend index of each cell's surface material (rules in the module docstring)."""
    b, legend = BIOMES[biome], material_legend(biome)
    bounds = np.array([bound for bound, _ in b.bands])
    codes = np.array([legend.index(m) for _, m in b.bands])
    base = codes[np.searchsorted(bounds, heights / max_height, side="right")]
    rules = [(heights < water_level, legend.index(b.water))]
    if b.shore is not None:
        rules.append((heights < water_level + SHORE_STUDS, legend.index(b.shore)))
    rules.append((slope >= b.steep_slope, legend.index(b.steep)))
    return np.select([c for c, _ in rules], [v for _, v in rules], default=base)


def score_terrain(
    biome: str, heights: np.ndarray, max_height: float, stats: TerrainStats, mae: float
) -> dict[str, float]:
    """The rubric components (each in [0, 1]) described in the module docstring."""
    b = BIOMES[biome]
    spread = float(np.std(heights / max_height))
    low, high = b.relief
    if spread < low:
        relief = spread / low
    else:
        relief = 1.0 if spread <= high else max(0.0, 1.0 - (spread - high) / high)
    fraction = stats.water_cells / stats.cells
    distance = max(b.water_range[0] - fraction, fraction - b.water_range[1], 0.0)
    present = sum(1 for n in stats.material_counts.values() if n > 0)
    return {
        "relief": round(relief, 4),
        "water_fit": round(max(0.0, 1.0 - distance / 0.25), 4),
        "not_flat": round(min(1.0, (stats.max_height - stats.min_height) / (0.25 * max_height)), 4),
        "material_variety": round(min(1.0, present / 3), 4),
        "script_fidelity": round(max(0.0, 1.0 - mae / max(2.0, 0.1 * max_height)), 4),
    }


def _stats(
    heights: np.ndarray, slope: np.ndarray, codes: np.ndarray, water_level: float, legend: list[str]
) -> TerrainStats:
    water_cells = int(np.count_nonzero(heights < water_level))
    counts = np.bincount(codes.ravel(), minlength=len(legend))
    return TerrainStats(
        cells=heights.size,
        min_height=round(float(heights.min()), 3),
        max_height=round(float(heights.max()), 3),
        mean_height=round(float(heights.mean()), 3),
        std_height=round(float(heights.std()), 3),
        mean_slope=round(float(slope.mean()), 3),
        water_cells=water_cells,
        water_percent=round(100.0 * water_cells / heights.size, 2),
        material_counts={name: int(n) for name, n in zip(legend, counts, strict=True)},
    )


def generate_terrain(task_type: str, data: TerrainInput) -> AgentResult:
    """Handler of ``terrain_generator``: noise, shaping, materials, stats, script, score."""
    if task_type not in TASK_TYPES:
        raise ValueError(
            f"unsupported task_type {task_type!r} for terrain_generator; "
            f"expected one of {', '.join(TASK_TYPES)}"
        )
    biome = BIOMES[data.biome]
    scale = data.scale if data.scale is not None else data.size / 2
    max_height = data.max_height or default_max_height(data.biome, data.size)
    water_level = data.water_level
    if water_level is None:
        water_level = round(biome.water_fraction * max_height, 3)
    noise = fractal_noise(
        data.size, data.seed, data.octaves, data.persistence, data.lacunarity, scale
    )
    heights = np.round(shape_heights(data.biome, np.clip(0.5 + noise, 0.0, 1.0)) * max_height, 3)
    grad_z, grad_x = np.gradient(heights, float(CELL_STUDS))  # rise over run per cell
    slope, legend = np.hypot(grad_x, grad_z), material_legend(data.biome)
    codes = assign_materials(data.biome, heights, slope, max_height, water_level)
    stats = _stats(heights, slope, codes, water_level, legend)
    ground = np.where(codes == legend.index(biome.water), legend.index(biome.seabed), codes)
    blocks, tile, mae = plan_script(heights, ground, len(legend))
    water = (biome.water, water_level) if stats.water_cells and water_level > 0 else None
    script = render_luau(data, blocks, legend, water)
    breakdown = score_terrain(data.biome, heights, max_height, stats, mae)
    score = sum(RUBRIC_WEIGHTS[name] * value for name, value in breakdown.items())
    step = math.ceil(data.size / HEIGHTMAP_MAX[task_type])
    info = ScriptInfo(
        blocks=len(blocks),
        block_cap=MAX_SCRIPT_BLOCKS,
        tile_cells=tile,
        mean_abs_error_studs=round(mae, 3),
        chars=len(script),
    )
    resolved = {"scale": scale, "max_height": max_height, "water_level": water_level}
    output = TerrainOutput(
        task_type=task_type,
        parameters=TerrainParameters.model_validate(data.model_dump() | resolved),
        cell_studs=CELL_STUDS,
        heightmap_step=step,
        heightmap=heights[::step, ::step].tolist(),
        material_legend=legend,
        material_map=codes[::step, ::step].tolist(),
        stats=stats,
        script=info,
        luau_script=script if task_type == "generate" else None,
        quality_breakdown=breakdown,
    )
    return AgentResult(output=output, quality_score=round(min(1.0, max(0.0, score)), 4))


EXAMPLE: dict[str, Any] = {"size": 64, "seed": 42, "biome": "island", "octaves": 5}

SPEC = register(
    AgentSpec(
        agent_type="terrain_generator",
        description=(
            "Roblox terrain from a seed and biome: fBm gradient-noise heightmap, material "
            "map, summary statistics and a Luau FillBlock script"
        ),
        input_model=TerrainInput,
        output_model=TerrainOutput,
        handler=generate_terrain,
        task_types=TASK_TYPES,
        example=EXAMPLE,
        example_task_type="generate",
        soft_time_limit=10.0,
        time_limit=20.0,
        max_retries=1,
    )
)
