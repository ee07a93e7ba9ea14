"""``wordcount``: count words in text chunks, merge the counts pairwise, report (reference 6.6).

``chunks`` leaves ``word_count_chunk(chunk)`` with 1/chunks of the text each (hardcoded, so large chunks
are stored inputs), a binary ``merge_counts`` tree, then ``final_report``. 16 chunks: 32 tasks.
Answer: ``collections.Counter(text.split())``.
"""

from __future__ import annotations

from collections import Counter

from sim.workflow.dag import Workflow
from sim.workflow.known._sizes import Sizes, annotate_sizes, ms_words
from sim.workflow.known._text import MAX_VOCAB, make_text
from sim.workflow.language import constant, task
from sim.workflow.library import Param, WorkflowType, register

BYTES_PER_ENTRY = 20  # a (word, count) pair in a pickled dict


@task(io="unknown")
def word_count_chunk(chunk: str) -> dict:
    return dict(Counter(chunk.split()))


@task(io="unknown")
def merge_counts(a: dict, b: dict) -> dict:
    out = dict(a)
    for word, n in b.items():
        out[word] = out.get(word, 0) + n
    return out


@task(io=constant(1000))
def final_report(counts: dict) -> dict:
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return {"total": sum(counts.values()), "unique": len(counts), "top": top}


def split_words(text: str, chunks: int) -> list[str]:
    words = text.split()
    step = -(-len(words) // chunks)
    return [" ".join(words[i * step : (i + 1) * step]) for i in range(chunks)]


def build(chunks: int = 16, words: int = 400_000, vocab: int = 5000, seed: int = 0) -> Workflow:
    text = make_text(words, seed, vocab)
    level = [word_count_chunk(c) for c in split_words(text, chunks)]
    while len(level) > 1:
        nxt = [merge_counts(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = nxt + ([level[-1]] if len(level) % 2 else [])
    wf = Workflow.from_nodes(final_report(level[0]), name="wordcount")
    per_chunk = words / chunks
    distinct = min(vocab, per_chunk)
    return annotate_sizes(
        wf,
        {
            "word_count_chunk": Sizes(
                output_bytes=distinct * BYTES_PER_ENTRY, runtime_ms=ms_words(per_chunk)
            ),
            "merge_counts": Sizes(output_bytes=vocab * BYTES_PER_ENTRY, runtime_ms=ms_words(2 * distinct)),
            "final_report": Sizes(output_bytes=1000, runtime_ms=ms_words(vocab * 3)),
        },
    )


def expected(chunks: int = 16, words: int = 400_000, vocab: int = 5000, seed: int = 0) -> Counter:
    return Counter(make_text(words, seed, vocab).split())


register(
    WorkflowType(
        "wordcount",
        "word counts of text chunks merged by a binary tree (32 tasks for 16 chunks)",
        {
            "chunks": Param(16, int, "number of text chunks (leaves)", minimum=1),
            "words": Param(400_000, int, "words of generated text (~6 bytes each)", minimum=1),
            "vocab": Param(5000, int, "distinct words in the generated text", minimum=1, maximum=MAX_VOCAB),
            "seed": Param(0, int, "random seed of the text"),
        },
        build,
    )
)
