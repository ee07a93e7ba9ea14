"""``gemm``: blocked integer matrix product (reference section 6.2).

Two ``n x n`` int64 matrices; A is split into ``blocks`` row blocks and B into ``blocks`` column blocks.
``blocks**2`` roots ``multiply_chunks(a_block, b_block)`` each take two stored blocks (``n*n/blocks`` x 8
bytes each; every distinct block is uploaded once) and output an ``(n/blocks)^2`` int64 block; a fan-in
``aggregate_results`` writes them into a float64 ``n x n`` result. Defaults (n=2000, blocks=4): 17 tasks,
8 MB blocks, 2 MB partial products, 32 MB result, about 5.4 s per multiply at one vCPU. Answer: ``A @ B``.
"""

from __future__ import annotations

import numpy as np

from sim.workflow.dag import Workflow
from sim.workflow.known._sizes import INT64_MAC_PER_S, Sizes, annotate_sizes, array_bytes, ms_copy
from sim.workflow.language import task
from sim.workflow.library import Param, WorkflowType, register


@task(io="unknown", memory_mb=1024)
def multiply_chunks(a_chunk: tuple, b_chunk: tuple) -> tuple:
    (i, a), (j, b) = a_chunk, b_chunk
    return (i, j), a @ b


@task(memory_mb=1024)
def aggregate_results(partial_results: list, final_shape: tuple) -> np.ndarray:
    out = np.zeros(final_shape)
    rows = {i: 0 for (i, _), _ in partial_results}
    cols = {j: 0 for (_, j), _ in partial_results}
    for (i, j), block in partial_results:
        rows[i], cols[j] = block.shape
    row_start = np.cumsum([0] + [rows[i] for i in sorted(rows)])
    col_start = np.cumsum([0] + [cols[j] for j in sorted(cols)])
    for (i, j), block in partial_results:
        out[row_start[i] : row_start[i] + block.shape[0], col_start[j] : col_start[j] + block.shape[1]] = (
            block
        )
    return out


def matrices(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 10, (n, n), dtype=np.int64), rng.integers(0, 10, (n, n), dtype=np.int64)


def build(n: int = 2000, blocks: int = 4, seed: int = 0) -> Workflow:
    a, b = matrices(n, seed)
    a_blocks = [(i, blk) for i, blk in enumerate(np.array_split(a, blocks, axis=0))]
    b_blocks = [(j, blk) for j, blk in enumerate(np.array_split(b, blocks, axis=1))]
    partials = [multiply_chunks(ab, bb) for ab in a_blocks for bb in b_blocks]
    wf = Workflow.from_nodes(aggregate_results(partials, (n, n)), name="gemm")
    rows = -(-n // blocks)
    return annotate_sizes(
        wf,
        {
            "multiply_chunks": Sizes(
                output_bytes=array_bytes(rows, rows) + 64,
                runtime_ms=1000.0 * rows * n * rows / INT64_MAC_PER_S,
            ),
            "aggregate_results": Sizes(output_bytes=array_bytes(n, n), runtime_ms=ms_copy(2 * n * n * 8)),
        },
    )


def expected(n: int = 2000, blocks: int = 4, seed: int = 0) -> np.ndarray:
    a, b = matrices(n, seed)
    return a @ b


register(
    WorkflowType(
        "gemm",
        "blocked int64 matrix product: blocks^2 multiplies fan in to one aggregate (17 tasks by default)",
        {
            "n": Param(2000, int, "matrix size (n x n int64)", minimum=1),
            "blocks": Param(4, int, "row/column blocks per matrix", minimum=1),
            "seed": Param(0, int, "random seed of the matrices"),
        },
        build,
    )
)
