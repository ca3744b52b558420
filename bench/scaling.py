"""Cost by size, in process: the admission handlers on growing AppImages.

``python -m bench.scaling [--seconds S]`` prints one JSON list: for each size (deploy
templates x containers) the µs one validate and one mutate take, each the best of
five interleaved repeats of a timed loop of fresh parses (orjson.loads of the review, as a server
does, so no object is reused between calls). Run it pinned to one CPU (bench/run does).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

from bench import workloads
from webhook.admission import handlers, reviews
from webhook.core import podspec

SIZES = ((1, 1), (1, 10), (5, 10), (10, 10))
REPEATS = 5


def calibrate(fn: Any, seconds: float) -> int:
    """Calls that take about ``seconds``."""
    calls = 1
    while True:
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - started
        if elapsed > seconds / 2:
            return max(1, int(calls * seconds / elapsed))
        calls *= 2


def measure(seconds: float) -> list[dict[str, Any]]:
    """Every size and handler is timed once per repeat, repeats interleaved, and the best
    repeat kept: a burst of other work on the machine then spoils one repeat of every
    size rather than every repeat of one size."""
    checker = podspec.checker()
    work: list[tuple[dict[str, Any], str, Any]] = []
    rows = []
    for templates, containers in SIZES:
        obj = workloads.large_appimage(templates, containers)
        valid = workloads.admission_review(workloads.defaulted(obj), "v")
        bare = workloads.admission_review(workloads.without_defaults(obj), "m")
        answer = handlers.validate(reviews.parse(orjson.loads(valid)), checker)
        if not answer["response"]["allowed"]:
            raise SystemExit(f"{templates}x{containers}: not allowed: {answer}")
        row: dict[str, Any] = {"templates": templates, "containers": containers,
                               "validate_us": float("inf"), "mutate_us": float("inf")}
        rows.append(row)
        work.append((row, "validate_us",
                     lambda v=valid: handlers.validate(reviews.parse(orjson.loads(v)), checker)))
        work.append((row, "mutate_us",
                     lambda b=bare: handlers.mutate(reviews.parse(orjson.loads(b)), checker)))
    calls = [calibrate(fn, seconds / REPEATS) for _, _, fn in work]
    for _ in range(REPEATS):
        for (row, key, fn), n in zip(work, calls, strict=True):
            started = time.perf_counter()
            for _ in range(n):
                fn()
            row[key] = min(row[key], (time.perf_counter() - started) / n * 1e6)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per size and handler")
    args = parser.parse_args()
    sys.stdout.write(orjson.dumps(measure(args.seconds)).decode() + "\n")


if __name__ == "__main__":
    main()
