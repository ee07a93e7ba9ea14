"""``montage_like``: reproject sky tiles onto a mosaic, correct backgrounds, co-add (reference 6.5).

``files`` roots ``extract_and_reproject_task(file_bytes, header, shape_out)`` read a stored tile (raw
float32 bytes, ``tile x tile``; the reference used 1.6-1.7 MB 2MASS FITS files) and place it at its offset
on a ``mosaic x mosaic`` float32 canvas (NaN elsewhere); each feeds one ``background_correct_task``
(median subtraction); all fan in at ``coadd_task(list, "median")`` (a NaN-median over the stack).
Defaults: 10 files, 21 tasks, depth 3; ``files=1`` is the reference's "light" variant (3 tasks).
Answer: the same computation done directly with numpy.
"""

from __future__ import annotations

import warnings

import numpy as np

from sim.workflow.dag import Workflow
from sim.workflow.known._sizes import Sizes, annotate_sizes, array_bytes, ms_pixels
from sim.workflow.language import linear, task
from sim.workflow.library import Param, WorkflowType, register


def _offset(header: str) -> tuple[int, int]:
    fields = dict(item.split("=") for item in header.split(";"))
    return int(fields["Y0"]), int(fields["X0"])


@task(io="unknown", memory_mb=2048)
def extract_and_reproject_task(file_bytes: bytes, header: str, shape_out: tuple) -> np.ndarray:
    side = int(round((len(file_bytes) // 4) ** 0.5))
    tile = np.frombuffer(file_bytes, dtype=np.float32).reshape(side, side)
    y0, x0 = _offset(header)
    out = np.full(shape_out, np.nan, dtype=np.float32)
    h, w = min(side, shape_out[0] - y0), min(side, shape_out[1] - x0)
    out[y0 : y0 + h, x0 : x0 + w] = tile[:h, :w]
    return out


@task(io=linear(1.0), memory_mb=2048)
def background_correct_task(image: np.ndarray) -> np.ndarray:
    return image - np.float32(np.nanmedian(image))


@task(io="unknown", memory_mb=4096)
def coadd_task(images: list, method: str) -> np.ndarray:
    stack = np.stack(images)
    with warnings.catch_warnings():  # pixels no tile covers stay NaN, as in a real mosaic
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "median":
            return np.nanmedian(stack, axis=0).astype(np.float32)
        return np.nanmean(stack, axis=0).astype(np.float32)


def make_tiles(files: int, tile: int, mosaic: int, seed: int) -> list[tuple[bytes, str]]:
    rng = np.random.default_rng(seed)
    span = max(mosaic - tile, 0)
    out = []
    for k in range(files):
        data = (rng.normal(100.0 + 5 * k, 10.0, (tile, tile))).astype(np.float32)
        y0, x0 = int(span * k / max(files - 1, 1)), int(span * ((k * 7) % files) / max(files - 1, 1))
        out.append((data.tobytes(), f"X0={x0};Y0={y0}"))
    return out


def build(files: int = 10, tile: int = 650, mosaic: int = 1200, seed: int = 0) -> Workflow:
    shape = (mosaic, mosaic)
    corrected = [
        background_correct_task(extract_and_reproject_task(data, header, shape))
        for data, header in make_tiles(files, tile, mosaic, seed)
    ]
    wf = Workflow.from_nodes(coadd_task(corrected, "median"), name="montage_like")
    canvas = array_bytes(mosaic, mosaic, itemsize=4)
    px = mosaic * mosaic
    return annotate_sizes(
        wf,
        {
            "extract_and_reproject_task": Sizes(output_bytes=canvas, runtime_ms=ms_pixels(px, 2)),
            "background_correct_task": Sizes(output_bytes=canvas, runtime_ms=ms_pixels(px, 25)),
            "coadd_task": Sizes(output_bytes=canvas, runtime_ms=ms_pixels(px * files, 25)),
        },
    )


def expected(files: int = 10, tile: int = 650, mosaic: int = 1200, seed: int = 0) -> np.ndarray:
    shape = (mosaic, mosaic)
    images = [
        background_correct_task.run(extract_and_reproject_task.run(d, h, shape))
        for d, h in make_tiles(files, tile, mosaic, seed)
    ]
    return coadd_task.run(images, "median")


register(
    WorkflowType(
        "montage_like",
        "astronomy mosaic: reproject tiles, correct backgrounds, co-add (21 tasks for 10 files)",
        {
            "files": Param(10, int, "input tiles (1 = the reference's light variant)", minimum=1),
            "tile": Param(
                650, int, "tile side in pixels (float32; 650 -> 1.7 MB like a 2MASS file)", minimum=1
            ),
            "mosaic": Param(1200, int, "mosaic side in pixels", minimum=1),
            "seed": Param(0, int, "random seed of the tiles"),
        },
        build,
    )
)
