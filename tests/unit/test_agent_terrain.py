"""Unit tests of the terrain_generator agent (tasks/agents/terrain/__init__.py)."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from tasks.agents.terrain import (
    BIOMES,
    MAX_SCRIPT_BLOCKS,
    RUBRIC_WEIGHTS,
    TerrainInput,
    TerrainOutput,
    fractal_noise,
    generate_terrain,
    merge_blocks,
)

# gradient directions of hash & 7, as documented for improved noise
GRADIENTS = [(1, 1), (-1, 1), (1, -1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
BLOCK_ROW = re.compile(r"^\t(\d+), (\d+), (\d+), (\d+), (\d+), (\d+),$", re.MULTILINE)


def run(task_type: str = "generate", **fields: Any) -> tuple[TerrainOutput, float]:
    result = generate_terrain(task_type, TerrainInput.model_validate(fields))
    assert isinstance(result.output, TerrainOutput)
    return result.output, result.quality_score


def reference_noise(x: float, y: float, perm: list[int]) -> float:
    """A scalar, pure-Python transcription of improved noise to check the numpy one."""
    xi, yi = math.floor(x), math.floor(y)
    xf, yf = x - xi, y - yi
    xi, yi = xi & 255, yi & 255

    def dot(h: int, dx: float, dy: float) -> float:
        gx, gy = GRADIENTS[h & 7]
        return gx * dx + gy * dy

    def fade(t: float) -> float:
        return t * t * t * (t * (t * 6 - 15) + 10)

    a, b = perm[xi], perm[xi + 1]
    n00, n10 = dot(perm[a + yi], xf, yf), dot(perm[b + yi], xf - 1, yf)
    n01, n11 = dot(perm[a + yi + 1], xf, yf - 1), dot(perm[b + yi + 1], xf - 1, yf - 1)
    u, v = fade(xf), fade(yf)
    top, bottom = n00 + u * (n10 - n00), n01 + u * (n11 - n01)
    return top + v * (bottom - top)


def test_lattice_points_have_zero_noise() -> None:
    # scale 8, lacunarity 2: at rows and columns 0 and 8 every octave samples an integer
    # lattice point (offsets are integers), where gradient noise is exactly 0, so h = 0.5.
    grass, _ = run(size=16, seed=11, scale=8, max_height=40)
    assert [grass.heightmap[r][c] for r in (0, 8) for c in (0, 8)] == [20.0] * 4
    desert, _ = run(size=16, seed=11, scale=8, max_height=40, biome="desert")
    assert desert.heightmap[8][8] == 20.0  # 0.5 + 0.6 * 0 = 0.5
    snow, _ = run(size=64, seed=11, scale=8, biome="snow")
    assert snow.parameters.max_height == 128.0  # a 64-cell map keeps the full default height
    assert snow.heightmap[0][0] == 45.255  # 0.5 ** 1.5 * 128 = 45.2548...
    assert snow.heightmap[56][24] == 45.255


def test_golden_first_heights_of_one_octave() -> None:
    # octaves 1, scale 2: row 0 lies on a lattice row (y = oy, so v = 0). Columns 0 and 2
    # are lattice points (noise 0 -> 20.0); columns 1 and 3 sit halfway between corners
    # k and k + 1 (fade(0.5) = 0.5, dx = 0.5 and -0.5), where the noise is
    # 0.5 * 0.5 * gx(k) + 0.5 * -0.5 * gx(k + 1) = 0.25 * (gx(k) - gx(k + 1)).
    rng = np.random.default_rng(3)
    table = [int(v) for v in rng.permutation(256)] * 2
    ox, oy = (int(v) for v in rng.integers(0, 256, size=(8, 2))[0])
    assert (ox, oy) == (114, 195)
    hashes = [table[table[ox + k] + oy] & 7 for k in range(3)]
    assert hashes == [2, 7, 4]  # gradients (1, -1), (0, -1), (1, 0): gx = 1, 0, 1
    # column 1: 0.25 * (1 - 0) = 0.25 -> (0.5 + 0.25) * 40 = 30.0
    # column 3: 0.25 * (0 - 1) = -0.25 -> (0.5 - 0.25) * 40 = 10.0
    out, _ = run(size=16, seed=3, octaves=1, scale=2, max_height=40, water_level=0)
    assert out.heightmap[0][:4] == [20.0, 30.0, 20.0, 10.0]


def test_numpy_noise_matches_scalar_reference() -> None:
    seed, size, octaves, persistence, lacunarity, scale = 5, 16, 3, 0.5, 2.0, 6.5
    noise = fractal_noise(size, seed, octaves, persistence, lacunarity, scale)
    rng = np.random.default_rng(seed)
    table = [int(v) for v in rng.permutation(256)] * 2
    offsets = rng.integers(0, 256, size=(8, 2)).tolist()
    for row, col in [(0, 1), (3, 7), (15, 15), (9, 2)]:
        total, norm, amp, freq = 0.0, 0.0, 1.0, 1.0 / scale
        for k in range(octaves):
            x, y = col * freq + offsets[k][0], row * freq + offsets[k][1]
            total += amp * reference_noise(x, y, table)
            norm, amp, freq = norm + amp, amp * persistence, freq * lacunarity
        assert noise[row, col] == pytest.approx(total / norm, abs=1e-12)
    assert float(np.abs(noise).max()) <= 1.0


def test_same_seed_same_terrain_other_seed_differs() -> None:
    first, score1 = run(size=48, seed=2024, biome="volcanic")
    second, score2 = run(size=48, seed=2024, biome="volcanic")
    assert first.heightmap == second.heightmap  # list equality of floats: bit for bit
    assert np.array_equal(np.array(first.heightmap), np.array(second.heightmap))
    assert first.model_dump() == second.model_dump()
    assert score1 == score2
    other, _ = run(size=48, seed=2025, biome="volcanic")
    assert other.heightmap != first.heightmap


@pytest.mark.parametrize("biome", sorted(BIOMES))
@pytest.mark.parametrize("seed", [0, 7, 99])
def test_stats_are_consistent_with_the_map(biome: str, seed: int) -> None:
    out, _ = run(size=40, seed=seed, biome=biome)
    heights = np.array(out.heightmap)
    assert out.heightmap_step == 1 and heights.shape == (40, 40)
    stats = out.stats
    assert stats.cells == 1600
    assert stats.min_height <= stats.mean_height <= stats.max_height
    assert stats.min_height == heights.min() and stats.max_height == heights.max()
    assert stats.mean_height == pytest.approx(heights.mean(), abs=5e-4)
    assert stats.std_height == pytest.approx(heights.std(), abs=5e-4)
    assert stats.min_height >= 0.0 and stats.max_height <= out.parameters.max_height
    assert sum(stats.material_counts.values()) == stats.cells
    assert list(stats.material_counts) == out.material_legend
    codes = np.array(out.material_map)
    for index, name in enumerate(out.material_legend):
        assert stats.material_counts[name] == int(np.count_nonzero(codes == index))
    below = heights < out.parameters.water_level
    assert stats.water_cells == int(below.sum())
    assert stats.water_percent == round(100 * stats.water_cells / 1600, 2)
    water_code = out.material_legend.index(BIOMES[biome].water)
    assert np.array_equal(codes == water_code, below)  # water exactly where below the level


def test_material_rules() -> None:
    out, _ = run(size=64, seed=4, biome="island")
    heights, codes = np.array(out.heightmap), np.array(out.material_map)
    legend, level = out.material_legend, out.parameters.water_level
    assert legend == ["Water", "Sand", "Rock", "Grass"]
    shore = (heights >= level) & (heights < level + 2)
    assert shore.any() and (codes[shore] == legend.index("Sand")).all()
    # grass only below 0.75 * max_height, above the shore
    grass = codes == legend.index("Grass")
    assert (heights[grass] < 0.75 * out.parameters.max_height).all()
    assert (heights[grass] >= level + 2).all()
    snow, _ = run(size=32, seed=4, biome="snow")
    assert snow.material_legend[0] == "Ice"  # frozen lakes
    volcano, _ = run(size=64, seed=4, biome="volcanic")
    assert volcano.stats.material_counts["CrackedLava"] > 0
    assert {"Basalt", "Rock"} <= {k for k, v in volcano.stats.material_counts.items() if v}


def test_merge_blocks_golden() -> None:
    heights = np.array([[1, 1, 2], [1, 1, 2], [0, 3, 3]])
    codes = np.array([[0, 0, 0], [0, 0, 0], [1, 1, 1]])
    # rows 0-1: runs (col 0, width 2, h 1) and (col 2, width 1, h 2) stack to depth 2;
    # row 2: the height-0 cell is dropped, (col 1, width 2, h 3, code 1) is its own block.
    assert merge_blocks(heights, codes) == [
        (0, 0, 2, 2, 1, 0),
        (2, 0, 1, 2, 2, 0),
        (1, 2, 2, 1, 3, 1),
    ]


def _parens_balanced(text: str) -> bool:
    for open_, close in ("()", "{}", "[]"):
        depth = 0
        for ch in text:
            depth += (ch == open_) - (ch == close)
            if depth < 0:
                return False
        if depth:
            return False
    return True


def test_luau_script_rebuilds_the_heightmap() -> None:
    out, _ = run(size=32, seed=8, biome="island")
    script = out.luau_script
    assert script is not None
    assert "workspace.Terrain" in script and "terrain:FillBlock(" in script
    assert "Enum.Material.Water)" in script  # the sea block up to the water level
    assert _parens_balanced(script)
    assert out.script.tile_cells == 1 and out.script.chars == len(script)
    rows = [tuple(int(v) for v in m.groups()) for m in BLOCK_ROW.finditer(script)]
    assert len(rows) == out.script.blocks <= MAX_SCRIPT_BLOCKS
    # paint the blocks back: whole-stud column heights, seabed under the water
    rebuilt = np.zeros((32, 32), dtype=np.int64)
    painted = np.zeros((32, 32), dtype=np.int64)
    for col, row, w, d, h, material in rows:
        assert 1 <= material <= len(out.material_legend) and h > 0
        rebuilt[row : row + d, col : col + w] = h
        painted[row : row + d, col : col + w] += 1
    assert painted.max() <= 1  # no overlaps
    assert np.array_equal(rebuilt, np.rint(np.array(out.heightmap)).astype(np.int64))


def test_big_map_is_downsampled_capped_and_fast() -> None:
    start = time.perf_counter()
    out, score = run(size=256, seed=1, biome="grassland", octaves=8)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert out.heightmap_step == 4
    assert len(out.heightmap) == len(out.heightmap[0]) == 64
    assert len(out.material_map) == 64
    assert out.stats.cells == 65536
    assert sum(out.stats.material_counts.values()) == 65536
    assert out.script.blocks <= MAX_SCRIPT_BLOCKS
    assert out.script.tile_cells >= 2  # 65536 columns only fit once averaged
    assert out.luau_script is not None and len(out.luau_script) < 150_000
    assert out.quality_breakdown["script_fidelity"] < 1.0
    assert 0.0 <= score <= 1.0


def test_any_size_not_only_powers_of_two() -> None:
    out, _ = run(size=100, seed=3)
    assert out.heightmap_step == 2 and len(out.heightmap) == 50
    assert out.stats.cells == 10_000
    assert out.parameters.scale == 50.0  # default size / 2


def test_preview_drops_the_script_and_samples_coarser() -> None:
    full, full_score = run("generate", size=64, seed=5)
    preview, preview_score = run("preview", size=64, seed=5)
    assert preview.luau_script is None
    assert preview.heightmap_step == 2 and len(preview.heightmap) == 32
    assert preview.heightmap == [row[::2] for row in full.heightmap[::2]]
    assert preview.stats == full.stats
    assert preview_score == full_score


def test_defaults_are_resolved() -> None:
    out, _ = run(size=32, seed=1, biome="island")
    # island: 64 studs scaled by 32 / 64; water at 0.4 of it
    assert out.parameters.max_height == 32.0
    assert out.parameters.water_level == 12.8
    assert out.parameters.scale == 16.0


def test_rubric_water_fit() -> None:
    # no cell is below 0, so an island without water misses its 30-70% by 0.3 -> 0
    dry, dry_score = run(size=32, seed=1, biome="island", water_level=0)
    assert dry.stats.water_cells == 0 and dry.luau_script is not None
    assert "Enum.Material.Water)" not in dry.luau_script
    assert dry.quality_breakdown["water_fit"] == 0.0
    wet, wet_score = run(size=32, seed=1, biome="island")
    assert wet.quality_breakdown["water_fit"] == 1.0
    assert dry_score < wet_score
    # desert heights stay below 0.8 * max: water at max_height floods every cell,
    # 1.0 vs at most 0.05 -> 0, and one surface material -> 1/3
    flooded, _ = run(size=16, seed=1, biome="desert", max_height=40, water_level=40)
    assert flooded.stats.water_percent == 100.0
    assert flooded.quality_breakdown["water_fit"] == 0.0
    assert flooded.quality_breakdown["material_variety"] == 0.3333


def test_rubric_penalises_a_flat_map() -> None:
    # scale 1024 on 16 cells: every sample is within 0.015 of one lattice point
    flat, flat_score = run(size=16, seed=6, octaves=1, scale=1024)
    hilly, hilly_score = run(size=16, seed=6)
    assert flat.quality_breakdown["not_flat"] < 0.2
    assert flat.quality_breakdown["relief"] < 0.2
    assert hilly.quality_breakdown["not_flat"] == 1.0
    assert flat_score < hilly_score


@pytest.mark.parametrize(
    "fields",
    [
        {"size": 16, "seed": 0},
        {"size": 64, "seed": 3, "biome": "snow", "octaves": 8, "persistence": 0.9},
        {"size": 33, "seed": 2**63 - 1, "biome": "desert", "lacunarity": 3.7},
        {"size": 128, "seed": 9, "biome": "volcanic", "scale": 3},
        {"size": 16, "seed": 1, "scale": 1024, "max_height": 4},
    ],
)
def test_quality_score_in_bounds_and_matches_rubric(fields: dict[str, Any]) -> None:
    out, score = run(**fields)
    assert 0.0 <= score <= 1.0
    assert all(0.0 <= v <= 1.0 for v in out.quality_breakdown.values())
    assert set(out.quality_breakdown) == set(RUBRIC_WEIGHTS)
    expected = sum(RUBRIC_WEIGHTS[k] * v for k, v in out.quality_breakdown.items())
    assert score == round(expected, 4)
    assert out.script.blocks <= MAX_SCRIPT_BLOCKS


def test_unsupported_task_type() -> None:
    with pytest.raises(ValueError, match="unsupported task_type 'erode'"):
        run("erode", size=16, seed=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size", 15),
        ("size", 257),
        ("size", "big"),
        ("seed", -1),
        ("seed", 2**63),
        ("biome", "jungle"),
        ("octaves", 0),
        ("octaves", 9),
        ("persistence", 0.0),
        ("persistence", 1.0),
        ("lacunarity", 1.0),
        ("scale", 1),
        ("max_height", 2),
        ("water_level", -1),
        ("water_level", 49),  # above the default max_height of a 64-cell grassland (48)
        ("surprise", True),
    ],
)
def test_validation_errors_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        TerrainInput.model_validate({"size": 64, "seed": 1} | {field: value})
    assert field in str(info.value)
    assert info.value.errors()[0]["loc"][0] == field


def test_water_level_checked_against_given_max_height() -> None:
    with pytest.raises(ValidationError, match=r"water_level 30\.0 is above max_height 20\.0"):
        TerrainInput(size=32, seed=1, max_height=20, water_level=30)
    TerrainInput(size=32, seed=1, max_height=20, water_level=20)


def test_missing_required_field() -> None:
    with pytest.raises(ValidationError, match="seed"):
        TerrainInput.model_validate({"size": 32})
