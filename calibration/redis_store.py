"""A Redis metrics store: the runtime appends metric records, calibration reads them back.

Layout (one Redis database, any key prefix via ``prefix``):

- ``{prefix}:metrics:{run_id}``: a list of JSON records (the JSONL schema of :mod:`sim.models.records`,
  one record per element), appended with pipelined ``RPUSH``;
- ``{prefix}:metrics:runs``: the set of run ids that have records.

Reading skips elements that are not valid records and counts them in a :class:`LoadReport`, like the
JSONL loader.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator

import redis

from sim.models.records import LoadReport, Record, RecordError, from_dict, to_dict

BATCH = 500


class RedisMetricsStore:
    def __init__(self, url: str, prefix: str = "plansim", client: redis.Redis | None = None) -> None:
        self.url = url
        self.prefix = prefix
        self.client = client or redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)

    def _key(self, run_id: str) -> str:
        return f"{self.prefix}:metrics:{run_id}"

    @property
    def _runs_key(self) -> str:
        return f"{self.prefix}:metrics:runs"

    def append(self, records: Iterable[Record]) -> int:
        """Append records (grouped by run id, pipelined); returns how many were written."""
        by_run: dict[str, list[str]] = defaultdict(list)
        for r in records:
            by_run[r.run_id].append(json.dumps(to_dict(r), separators=(",", ":")))
        n = 0
        with self.client.pipeline(transaction=False) as pipe:
            for run_id, lines in by_run.items():
                pipe.sadd(self._runs_key, run_id)
                for i in range(0, len(lines), BATCH):
                    pipe.rpush(self._key(run_id), *lines[i : i + BATCH])
                n += len(lines)
            pipe.execute()
        return n

    def run_ids(self) -> list[str]:
        return sorted(
            v.decode() if isinstance(v, bytes) else str(v) for v in self.client.smembers(self._runs_key)
        )

    def iter_records(self, run_id: str | None = None, report: LoadReport | None = None) -> Iterator[Record]:
        """Records of one run, or of every run (in run id order). Bad elements are skipped and counted."""
        report = report if report is not None else LoadReport(self.url)
        for rid in [run_id] if run_id is not None else self.run_ids():
            key = self._key(rid)
            length = self.client.llen(key)
            for start in range(0, length, BATCH):
                for j, raw in enumerate(self.client.lrange(key, start, start + BATCH - 1)):
                    where = f"{key}[{start + j}]"
                    try:
                        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
                        record = from_dict(json.loads(text))
                    except (json.JSONDecodeError, RecordError, RecursionError) as exc:
                        report.skip(where, str(exc))
                        continue
                    report.loaded += 1
                    yield record

    def iter_with_origin(
        self, run_id: str | None = None, report: LoadReport | None = None
    ) -> Iterator[tuple[Record, str]]:
        n = 0
        for record in self.iter_records(run_id, report):
            n += 1
            yield record, f"{self.prefix}:metrics:{record.run_id}#{n}"

    def delete_run(self, run_id: str) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(run_id))
            pipe.srem(self._runs_key, run_id)
            pipe.execute()

    def close(self) -> None:
        self.client.close()
