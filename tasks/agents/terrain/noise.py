"""Noise for the terrain generator (``tasks/agents/terrain/__init__.py``): 2-D improved Perlin
gradient noise, its fBm sum over octaves from a seeded permutation table and lattice
offsets, and the per-biome shaping of the normalised heights; the exact definitions are
in the terrain module's docstring.
"""

from __future__ import annotations

import numpy as np

MAX_OCTAVES = 8

_GRAD_X = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 0.0, 0.0])
_GRAD_Y = np.array([1.0, 1.0, -1.0, -1.0, 0.0, 0.0, 1.0, -1.0])


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def gradient_noise(x: np.ndarray, y: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """2-D improved Perlin noise at (x, y); ``perm`` is a 512-entry doubled table."""
    x0, y0 = np.floor(x), np.floor(y)
    xf, yf = x - x0, y - y0
    xi, yi = x0.astype(np.int64) & 255, y0.astype(np.int64) & 255
    a, b = perm[xi], perm[xi + 1]

    def corner(h: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        g = h & 7
        return _GRAD_X[g] * dx + _GRAD_Y[g] * dy

    n00 = corner(perm[a + yi], xf, yf)
    n10 = corner(perm[b + yi], xf - 1.0, yf)
    n01 = corner(perm[a + yi + 1], xf, yf - 1.0)
    n11 = corner(perm[b + yi + 1], xf - 1.0, yf - 1.0)
    u, v = _fade(xf), _fade(yf)
    top = n00 + u * (n10 - n00)
    bottom = n01 + u * (n11 - n01)
    return top + v * (bottom - top)


def fractal_noise(
    size: int, seed: int, octaves: int, persistence: float, lacunarity: float, scale: float
) -> np.ndarray:
    """fBm of gradient noise on a size x size grid (rows are y, columns x), in [-1, 1]."""
    rng = np.random.default_rng(seed)
    table = rng.permutation(256)
    perm = np.concatenate([table, table])
    offsets = rng.integers(0, 256, size=(MAX_OCTAVES, 2))
    coords = np.arange(size, dtype=np.float64)
    total = np.zeros((size, size))
    amplitude, frequency, norm = 1.0, 1.0 / scale, 0.0
    for k in range(octaves):
        x = np.broadcast_to(coords[None, :] * frequency + offsets[k, 0], (size, size))
        y = np.broadcast_to(coords[:, None] * frequency + offsets[k, 1], (size, size))
        total += amplitude * gradient_noise(x, y, perm)
        norm += amplitude
        amplitude *= persistence
        frequency *= lacunarity
    return total / norm


def shape_heights(biome: str, h: np.ndarray) -> np.ndarray:
    """The biome's shaping of h = clip(0.5 + fBm, 0, 1) into s in [0, 1] (module docstring)."""
    size = h.shape[0]
    centre = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    d = np.hypot(centre[None, :], centre[:, None])
    if biome == "desert":
        s = 0.5 + 0.6 * (h - 0.5)
    elif biome == "snow":
        s = h**1.5
    elif biome == "island":
        s = 0.45 * h + 0.8 * (1.0 - d**2) - 0.1
    elif biome == "volcanic":
        s = 0.3 * h + 0.8 * np.clip(1.0 - d, 0.0, 1.0) ** 1.2
        s = s - 0.3 * np.clip(1.0 - d / 0.15, 0.0, 1.0)
    else:
        s = h
    return np.clip(s, 0.0, 1.0)
