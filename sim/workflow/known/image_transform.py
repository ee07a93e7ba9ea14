"""``image_transform``: split an RGB image, run two filter branches per chunk, merge (reference 6.3).

``split_image`` (stored input: the whole image, ``height x width x 3`` uint8) sleeps ``sleep_s`` (9 s in the
reference, "to influence the planner to assign prewarm") and returns all chunks as one tuple. ``chunks``
``get_chunk`` tasks each read that whole tuple; per chunk, branch A ``resize -> blur -> normalize -> sepia``
and branch B ``edge_detect -> sharpen`` (grayscale, a third of the bytes) fan in at ``combine_chunk``, and
all chunks fan in at ``merge_chunks_grid``. Defaults: 16 chunks on a 4x4 grid of a 3000x2001 image (18 MB,
1.125 MB chunks): 130 tasks, depth 8. Answer: the same pipeline applied sequentially.
"""

from __future__ import annotations

import math
import time

import numpy as np

from sim.workflow.dag import Workflow
from sim.workflow.known._sizes import Sizes, annotate_sizes, ms_copy, ms_pixels
from sim.workflow.language import linear, task
from sim.workflow.library import Param, WorkflowType, register


def grid_of(chunks: int) -> tuple[int, int]:
    rows = max(r for r in range(1, math.isqrt(chunks) + 1) if chunks % r == 0)
    return rows, chunks // rows


@task(io=linear(1.0))
def split_image(image: np.ndarray, rows: int, cols: int, sleep_s: float) -> tuple:
    time.sleep(sleep_s)
    return tuple(
        c for band in np.array_split(image, rows, axis=0) for c in np.array_split(band, cols, axis=1)
    )


@task(io="unknown")
def get_chunk(chunks: tuple, idx: int) -> np.ndarray:
    return chunks[idx]


@task(io=linear(1.0))
def resize_chunk(chunk: np.ndarray) -> np.ndarray:
    small = chunk[::2, ::2]
    return np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)[: chunk.shape[0], : chunk.shape[1]]


def _box3(a: np.ndarray) -> np.ndarray:
    p = np.pad(a.astype(np.float32), [(1, 1), (1, 1)] + [(0, 0)] * (a.ndim - 2), mode="edge")
    h, w = a.shape[:2]
    return sum(p[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0


@task(io=linear(1.0))
def blur_chunk(chunk: np.ndarray) -> np.ndarray:
    return _box3(chunk).astype(np.uint8)


@task(io=linear(1.0))
def normalize_chunk(chunk: np.ndarray) -> np.ndarray:
    lo, hi = int(chunk.min()), int(chunk.max())
    scaled = (chunk.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1))
    return scaled.astype(np.uint8)


SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32)


@task(io=linear(1.0))
def sepia_chunk(chunk: np.ndarray) -> np.ndarray:
    return np.clip(chunk.astype(np.float32) @ SEPIA.T, 0, 255).astype(np.uint8)


@task(io=linear(1 / 3))
def edge_detect_chunk(chunk: np.ndarray) -> np.ndarray:
    gray = chunk.astype(np.float32).mean(axis=2)
    gy, gx = np.gradient(gray)
    return np.clip(np.hypot(gx, gy), 0, 255).astype(np.uint8)


@task(io=linear(1.0))
def sharpen_chunk(gray: np.ndarray) -> np.ndarray:
    g = gray.astype(np.float32)
    return np.clip(2 * g - _box3(g), 0, 255).astype(np.uint8)


@task(io=linear(0.75))
def combine_chunk(color: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(color.astype(np.int16) - edges[..., None] // 4, 0, 255).astype(np.uint8)


@task(io=linear(1.0))
def merge_chunks_grid(chunks: list, rows: int, cols: int) -> np.ndarray:
    bands = [np.concatenate([chunks[r * cols + c] for c in range(cols)], axis=1) for r in range(rows)]
    return np.concatenate(bands, axis=0)


def make_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (np.arange(width, dtype=np.int32) * 127 // max(width - 1, 1)).astype(np.uint8)
    y = (np.arange(height, dtype=np.int32) * 127 // max(height - 1, 1)).astype(np.uint8)
    base = (x[None, :] // 2 + y[:, None] // 2)[..., None]  # a gentle gradient, up to 127
    return base + rng.integers(0, 32, (height, width, 3), dtype=np.uint8)


def pipeline(chunk: np.ndarray) -> np.ndarray:
    """One chunk through both branches, sequentially (for checking answers)."""
    color = sepia_chunk.run(normalize_chunk.run(blur_chunk.run(resize_chunk.run(chunk))))
    return combine_chunk.run(color, sharpen_chunk.run(edge_detect_chunk.run(chunk)))


def build(
    chunks: int = 16, height: int = 2001, width: int = 3000, sleep_s: float = 9.0, seed: int = 0
) -> Workflow:
    rows, cols = grid_of(chunks)
    image = make_image(height, width, seed)
    parts = split_image(image, rows, cols, sleep_s)
    combined = []
    for idx in range(rows * cols):
        chunk = get_chunk(parts, idx)
        color = sepia_chunk(normalize_chunk(blur_chunk(resize_chunk(chunk))))
        combined.append(combine_chunk(color, sharpen_chunk(edge_detect_chunk(chunk))))
    wf = Workflow.from_nodes(merge_chunks_grid(combined, rows, cols), name="image_transform")
    img = height * width * 3
    chunk_bytes = img / (rows * cols)
    px = chunk_bytes / 3
    color = Sizes(output_bytes=chunk_bytes + 160, runtime_ms=ms_pixels(chunk_bytes, 4))
    gray = Sizes(output_bytes=px + 160, runtime_ms=ms_pixels(chunk_bytes, 3))
    return annotate_sizes(
        wf,
        {
            "split_image": Sizes(
                output_bytes=img + 160 * rows * cols, runtime_ms=1000 * sleep_s + ms_copy(img)
            ),
            "get_chunk": Sizes(output_bytes=chunk_bytes + 160, runtime_ms=ms_copy(chunk_bytes)),
            "resize_chunk": Sizes(output_bytes=chunk_bytes + 160, runtime_ms=ms_copy(2 * chunk_bytes)),
            "blur_chunk": Sizes(output_bytes=chunk_bytes + 160, runtime_ms=ms_pixels(chunk_bytes, 12)),
            "normalize_chunk": Sizes(output_bytes=chunk_bytes + 160, runtime_ms=ms_pixels(chunk_bytes, 3)),
            "sepia_chunk": color,
            "edge_detect_chunk": gray,
            "sharpen_chunk": Sizes(output_bytes=px + 160, runtime_ms=ms_pixels(px, 12)),
            "combine_chunk": Sizes(output_bytes=chunk_bytes + 160, runtime_ms=ms_pixels(chunk_bytes, 3)),
            "merge_chunks_grid": Sizes(output_bytes=img + 160, runtime_ms=ms_copy(img)),
        },
    )


def expected(chunks: int = 16, height: int = 2001, width: int = 3000, seed: int = 0, **_) -> np.ndarray:
    rows, cols = grid_of(chunks)
    parts = split_image.run(make_image(height, width, seed), rows, cols, 0.0)
    return merge_chunks_grid.run([pipeline(c) for c in parts], rows, cols)


register(
    WorkflowType(
        "image_transform",
        "split an image, 6 filters per chunk in two branches, merge (130 tasks for 16 chunks)",
        {
            "chunks": Param(16, int, "fan-out width (chunks on a near-square grid)", minimum=1),
            "height": Param(2001, int, "image height in pixels", minimum=1),
            "width": Param(3000, int, "image width in pixels", minimum=1),
            "sleep_s": Param(9.0, float, "seconds split_image sleeps (the reference's 9 s)", minimum=0),
            "seed": Param(0, int, "random seed of the image"),
        },
        build,
    )
)
