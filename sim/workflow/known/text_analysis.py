"""``text_analysis``: word counts, segmentation, per-segment and overall analyses, report (reference 6.4).

``chunks`` roots ``word_count_chunk(text, start, end)`` (``window``-word windows; each splits the whole
text, which is one stored object uploaded once) fan in with the text at ``merge_word_counts``, which
passes ``(total, text)`` on. It fans out to ``create_text_segments`` and ``compute_text_statistics``;
``segments`` ``analyze_segment`` tasks plus 4 overall analyses (each also reading the statistics) fan in at
``merge_segment_analyses`` (about the text size: it keeps the segment texts), then
``calculate_text_metrics`` and ``generate_text_summary`` fan in with it at ``final_comprehensive_report``.
Defaults: 59 tasks, depth 7, a 2.5 MB generated text. Answer: totals match a direct count.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from sim.workflow.dag import Workflow
from sim.workflow.known._sizes import Sizes, annotate_sizes, ms_words
from sim.workflow.known._text import make_text
from sim.workflow.language import constant, linear, task
from sim.workflow.library import Param, WorkflowType, register


@task(io=constant(8))
def word_count_chunk(text: str, start: int, end: int) -> int:
    return len(text.split()[start:end])


@task(io=linear(1.0))
def merge_word_counts(counts: list, text: str) -> tuple:
    return sum(counts), text


@task(io=linear(1.0))
def create_text_segments(merged: tuple, n_segments: int) -> list:
    words = merged[1].split()
    step = -(-len(words) // n_segments)
    return [" ".join(words[i * step : (i + 1) * step]) for i in range(n_segments)]


@task(io=constant(600))
def compute_text_statistics(merged: tuple) -> dict:
    words = merged[1].split()
    lengths = np.array([len(w) for w in words], dtype=np.float64)
    return {
        "counted_words": merged[0],
        "total_words": len(words),
        "unique_words": len(set(words)),
        "mean_word_length": float(lengths.mean()) if len(words) else 0.0,
        "std_word_length": float(lengths.std()) if len(words) else 0.0,
    }


@task(io="unknown")
def analyze_segment(segments: list, i: int) -> dict:
    seg = segments[i]
    words = seg.split()
    return {
        "index": i,
        "words": len(words),
        "unique": len(set(words)),
        "top": Counter(words).most_common(5),
        "text": seg,
    }


def _strip(word: str) -> str:
    return word.strip(".,;:!?")


@task(io=constant(1000))
def extract_overall_keywords(segments: list, stats: dict) -> dict:
    counts = Counter(_strip(w) for s in segments for w in s.split() if len(_strip(w)) > 4)
    return {"keywords": counts.most_common(10)}


@task(io=constant(300))
def analyze_overall_punctuation(segments: list, stats: dict) -> dict:
    counts = Counter(ch for s in segments for ch in s if ch in ".,;:!?")
    return {"punctuation": dict(sorted(counts.items()))}


@task(io=constant(300))
def calculate_overall_readability(segments: list, stats: dict) -> dict:
    text = " ".join(segments)
    sentences = max(1, len(re.findall(r"[.!?]", text)))
    return {
        "words_per_sentence": stats["total_words"] / sentences,
        "mean_word_length": stats["mean_word_length"],
    }


@task(io=constant(1000))
def detect_overall_patterns(segments: list, stats: dict) -> dict:
    words = [_strip(w) for s in segments for w in s.split()]
    return {"bigrams": Counter(zip(words, words[1:], strict=False)).most_common(5)}


@task(io=linear(1.0))
def merge_segment_analyses(analyses: list, overall: list) -> dict:
    merged: dict = {"segments": sorted(analyses, key=lambda a: a["index"]), "overall": {}}
    for part in overall:
        merged["overall"].update(part)
    return merged


@task(io=constant(600))
def calculate_text_metrics(merged: dict) -> dict:
    words = [s["words"] for s in merged["segments"]]
    return {
        "segments": len(words),
        "total_words": int(sum(words)),
        "max_segment_words": max(words, default=0),
    }


@task(io=constant(1000))
def generate_text_summary(merged: dict) -> str:
    top = merged["overall"].get("keywords", [])[:3]
    return f"{len(merged['segments'])} segments; top keywords: " + ", ".join(w for w, _ in top)


@task(io=constant(2000))
def final_comprehensive_report(metrics: dict, summary: str, merged: dict) -> dict:
    return {"metrics": metrics, "summary": summary, "overall": merged["overall"]}


def build(
    chunks: int = 32, window: int = 200, segments: int = 16, words: int = 400_000, seed: int = 0
) -> Workflow:
    text = make_text(words, seed)
    counts = [word_count_chunk(text, k * window, (k + 1) * window) for k in range(chunks)]
    merged = merge_word_counts(counts, text)
    parts = create_text_segments(merged, segments)
    stats = compute_text_statistics(merged)
    analyses = [analyze_segment(parts, i) for i in range(segments)]
    overall = [
        f(parts, stats)
        for f in (
            extract_overall_keywords,
            analyze_overall_punctuation,
            calculate_overall_readability,
            detect_overall_patterns,
        )
    ]
    merged_analysis = merge_segment_analyses(analyses, overall)
    report = final_comprehensive_report(
        calculate_text_metrics(merged_analysis), generate_text_summary(merged_analysis), merged_analysis
    )
    wf = Workflow.from_nodes(report, name="text_analysis")
    text_bytes = len(text) + 8
    seg_bytes = text_bytes / segments
    return annotate_sizes(
        wf,
        {
            "word_count_chunk": Sizes(output_bytes=8, runtime_ms=ms_words(words)),
            "merge_word_counts": Sizes(output_bytes=text_bytes + 16, runtime_ms=ms_words(chunks)),
            "create_text_segments": Sizes(
                output_bytes=text_bytes + 8 * segments, runtime_ms=ms_words(2 * words)
            ),
            "compute_text_statistics": Sizes(output_bytes=600, runtime_ms=ms_words(3 * words)),
            "analyze_segment": Sizes(output_bytes=seg_bytes + 400, runtime_ms=ms_words(2 * words / segments)),
            "extract_overall_keywords": Sizes(output_bytes=1000, runtime_ms=ms_words(4 * words)),
            "analyze_overall_punctuation": Sizes(output_bytes=300, runtime_ms=ms_words(6 * words)),
            "calculate_overall_readability": Sizes(output_bytes=300, runtime_ms=ms_words(2 * words)),
            "detect_overall_patterns": Sizes(output_bytes=1000, runtime_ms=ms_words(5 * words)),
            "merge_segment_analyses": Sizes(
                output_bytes=text_bytes + 400 * segments + 2600, runtime_ms=ms_words(segments)
            ),
            "calculate_text_metrics": Sizes(output_bytes=600, runtime_ms=ms_words(segments)),
            "generate_text_summary": Sizes(output_bytes=1000, runtime_ms=ms_words(segments)),
            "final_comprehensive_report": Sizes(output_bytes=2000, runtime_ms=ms_words(10)),
        },
    )


def expected(
    chunks: int = 32, window: int = 200, segments: int = 16, words: int = 400_000, seed: int = 0
) -> dict:
    total = len(make_text(words, seed).split())
    return {"total_words": total, "segments": segments, "counted_words": min(total, chunks * window)}


register(
    WorkflowType(
        "text_analysis",
        "word counts, 16 segment + 4 overall analyses, report (59 tasks, depth 7)",
        {
            "chunks": Param(32, int, "word-count roots", minimum=1),
            "window": Param(200, int, "words counted by each root", minimum=1),
            "segments": Param(16, int, "segments analysed in parallel", minimum=1),
            "words": Param(400_000, int, "words of generated text (~6 bytes each)", minimum=1),
            "seed": Param(0, int, "random seed of the text"),
        },
        build,
    )
)
