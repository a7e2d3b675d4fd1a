"""Luau script rendering for the terrain generator (``tasks/agents/terrain/__init__.py``): equal
neighbouring columns merged into rectangles, coarsened over f x f tiles until the block
count fits MAX_SCRIPT_BLOCKS, and rendered as a block table plus a FillBlock loop; the
exact rules are in the terrain module's docstring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tasks.agents.terrain import TerrainInput

CELL_STUDS = 4
MAX_SCRIPT_BLOCKS = 4096

Block = tuple[int, int, int, int, int, int]  # col, row, width, depth (cells), height, material


def _tiles(values: np.ndarray, f: int) -> np.ndarray:
    """Sums of ``values`` over f x f tiles (the last row and column of tiles may be smaller)."""
    starts = np.arange(0, values.shape[0], f)
    return np.add.reduceat(np.add.reduceat(values, starts, axis=0), starts, axis=1)


def merge_blocks(heights: np.ndarray, codes: np.ndarray) -> list[Block]:
    """Rectangles of equal (height, code) in grid units: runs along each row, then runs of
    identical row runs stacked over consecutive rows; height-0 rectangles are dropped."""
    rows, cols = heights.shape
    keys = heights.astype(np.int64) * 256 + codes
    open_rects: dict[tuple[int, int, int], list[int]] = {}  # (col, width, key) -> [row, depth]
    done: list[Block] = []

    for r in range(rows + 1):
        current: dict[tuple[int, int, int], list[int]] = {}
        if r < rows:
            row = keys[r]
            cuts = (np.flatnonzero(np.diff(row)) + 1).tolist()
            for start, end in zip([0, *cuts], [*cuts, cols], strict=True):
                key = (start, end - start, int(row[start]))
                current[key] = open_rects.pop(key, [r, 0])
                current[key][1] += 1
        for (col, width, packed), (row0, depth) in open_rects.items():  # runs that ended
            height, code = divmod(packed, 256)
            if height > 0:
                done.append((col, row0, width, depth, height, code))
        open_rects = current
    return sorted(done, key=lambda b: (b[1], b[0]))


def plan_script(
    heights: np.ndarray, codes: np.ndarray, n_codes: int
) -> tuple[list[Block], int, float]:
    """(blocks in cell units, tile size f, mean |script height - height|) within the cap."""
    size, f = heights.shape[0], 1
    while True:
        starts = np.arange(0, size, f)
        counts = np.diff(np.append(starts, size))
        area = counts[:, None] * counts[None, :]
        column = np.rint(_tiles(heights, f) / area).astype(np.int64)
        votes = np.stack([_tiles((codes == m).astype(np.int64), f) for m in range(n_codes)])
        majority = votes.argmax(axis=0)  # ties go to the lower legend index
        tiles = merge_blocks(column, majority)
        if len(tiles) <= MAX_SCRIPT_BLOCKS:
            break
        f *= 2
    blocks = [
        (c * f, r * f, min((c + w) * f, size) - c * f, min((r + d) * f, size) - r * f, h, m)
        for c, r, w, d, h, m in tiles
    ]
    expanded = np.repeat(np.repeat(column, f, axis=0), f, axis=1)[:size, :size]
    return blocks, f, float(np.mean(np.abs(heights - expanded)))


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def render_luau(
    data: TerrainInput, blocks: list[Block], legend: list[str], water: tuple[str, float] | None
) -> str:
    """The Luau source: an optional water block, the block table and a FillBlock loop."""
    width = data.size * CELL_STUDS
    lines = [
        f"-- Terrain from terrain_generator: biome {data.biome}, seed {data.seed}, "
        f"{data.size} x {data.size} cells of {CELL_STUDS} studs.",
        f"-- {len(blocks)} merged blocks (cap {MAX_SCRIPT_BLOCKS}).",
        "local terrain = workspace.Terrain",
        f"local CELL = {CELL_STUDS}",
        f"local ORIGIN_X, ORIGIN_Z = {_num(-width / 2)}, {_num(-width / 2)}",
        "local MATERIALS = {" + ", ".join(f"Enum.Material.{m}" for m in legend) + "}",
    ]
    if water is not None:
        material, level = water
        lines.append(
            f"terrain:FillBlock(CFrame.new(0, {_num(level / 2)}, 0), "
            f"Vector3.new({width}, {_num(level)}, {width}), Enum.Material.{material})"
        )
    lines.append("-- col, row, width, depth (cells), height (studs), material")
    lines.append("local BLOCKS = {")
    lines.extend(f"\t{c}, {r}, {w}, {d}, {h}, {m + 1}," for c, r, w, d, h, m in blocks)
    return "\n".join(lines) + "\n" + _LUAU_LOOP


_LUAU_LOOP = """}
for i = 1, #BLOCKS, 6 do
\tlocal col, row, w, d = BLOCKS[i], BLOCKS[i + 1], BLOCKS[i + 2], BLOCKS[i + 3]
\tlocal h, m = BLOCKS[i + 4], BLOCKS[i + 5]
\tterrain:FillBlock(
\t\tCFrame.new(ORIGIN_X + (col + w / 2) * CELL, h / 2, ORIGIN_Z + (row + d / 2) * CELL),
\t\tVector3.new(w * CELL, h, d * CELL),
\t\tMATERIALS[m]
\t)
end
"""
