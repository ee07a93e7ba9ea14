"""``dynamic_wordcount``: word counts over a number of chunks known only at run time (dynamic fan-outs).

``split_text`` cuts the text into a pseudo-random number of chunks (1 to ``max_chunks``, drawn from the
seed), ``split_chunk`` is mapped over the chunks and cuts each into 1 to ``max_pieces`` pieces (flattened:
a chain of two dynamic fan-outs), ``count_piece`` is mapped over the pieces, and ``merge_all`` adds the
counts up. The static DAG has 4 tasks whatever the widths; a run expands it as the lists come.
Answer: ``collections.Counter(text.split())``.
"""

from __future__ import annotations

import random
from collections import Counter

from sim.workflow.dag import Workflow
from sim.workflow.known._sizes import Sizes, annotate_sizes, ms_words
from sim.workflow.known._text import MAX_VOCAB, make_text
from sim.workflow.known.wordcount import BYTES_PER_ENTRY, split_words
from sim.workflow.language import fan_out, task
from sim.workflow.library import Param, WorkflowType, register

BYTES_PER_WORD = 6


@task(io="linear")
def split_text(text: str, max_chunks: int, seed: int) -> list[str]:
    return split_words(text, random.Random(seed).randint(1, max_chunks))


@task(io="linear")
def split_chunk(chunk: str, max_pieces: int) -> list[str]:
    # seeded by the chunk itself: a re-run cuts the same pieces
    return split_words(chunk, random.Random(len(chunk)).randint(1, max_pieces))


@task(io="unknown")
def count_piece(piece: str) -> dict:
    return dict(Counter(piece.split()))


@task(io="unknown")
def merge_all(counts: list[dict]) -> dict:
    out: Counter = Counter()
    for c in counts:
        out.update(c)
    return dict(out)


def build(
    words: int = 20_000, vocab: int = 500, max_chunks: int = 6, max_pieces: int = 3, seed: int = 0
) -> Workflow:
    text = make_text(words, seed, vocab)
    chunk_hint = (max_chunks + 1) // 2
    piece_hint = chunk_hint * ((max_pieces + 1) // 2)
    chunks = split_text(text, max_chunks, seed)
    pieces = fan_out(split_chunk, chunks, max_pieces, width_hint=chunk_hint, flatten=True)
    counts = count_piece.map(pieces, width_hint=piece_hint)
    wf = Workflow.from_nodes(merge_all(counts), name="dynamic_wordcount")
    text_bytes = words * BYTES_PER_WORD
    per_piece = words / piece_hint
    return annotate_sizes(
        wf,
        {
            "split_text": Sizes(output_bytes=text_bytes, runtime_ms=ms_words(words)),
            "split_chunk": Sizes(
                output_bytes=text_bytes / chunk_hint, runtime_ms=ms_words(words / chunk_hint)
            ),
            "count_piece": Sizes(
                output_bytes=min(vocab, per_piece) * BYTES_PER_ENTRY, runtime_ms=ms_words(per_piece)
            ),
            "merge_all": Sizes(output_bytes=vocab * BYTES_PER_ENTRY, runtime_ms=ms_words(piece_hint * vocab)),
        },
    )


def expected(
    words: int = 20_000, vocab: int = 500, max_chunks: int = 6, max_pieces: int = 3, seed: int = 0
) -> Counter:
    return Counter(make_text(words, seed, vocab).split())


register(
    WorkflowType(
        "dynamic_wordcount",
        "word counts over a run-time number of chunks and pieces: a chain of two dynamic fan-outs",
        {
            "words": Param(20_000, int, "words of generated text (~6 bytes each)", minimum=1),
            "vocab": Param(500, int, "distinct words in the generated text", minimum=1, maximum=MAX_VOCAB),
            "max_chunks": Param(6, int, "the text is cut into 1..max_chunks chunks (seeded)", minimum=1),
            "max_pieces": Param(3, int, "each chunk is cut into 1..max_pieces pieces", minimum=1),
            "seed": Param(0, int, "random seed of the text and of the number of chunks"),
        },
        build,
    )
)
