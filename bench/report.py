"""The run's results as a Markdown report and a PNG of latency distributions.

``python -m bench.report RESULTS.json`` rewrites the .md and .png beside it; bench/run
calls ``write`` at the end of a run. Every figure is a median over interleaved rounds;
every ratio is taken round by round against a baseline measured in the same round,
then the median of those is shown, so the machine's drift between rounds cancels.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

Results = dict[str, Any]

RATE_P99_MS = 5.0
E2E_ADDED_P99_MS = 5.0
JOB_REVIEW_P99_MS = 5.0
BESIDE = "validate + gRPC"
"""The open-loop row of /validate with a gRPC load beside it (bench/run.py, BESIDE_NAME)."""


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def closed(results: Results, case: str, key: str) -> float:
    """Median over rounds of one figure of a closed-loop case (nan when it did not run or
    its load generator does not give that percentile)."""
    rounds = results["closed"].get(case, {}).get("rounds", [])
    if key.startswith("p"):
        return _median([r["latency_ms"][key[1:]] for r in rounds if key[1:] in r["latency_ms"]])
    return _median([r[key] for r in rounds])


def ratio(results: Results, case: str, baseline: str, key: str = "rps") -> float:
    """Median over rounds of case/baseline (for cpu_us: baseline/case, so that higher is
    better in both)."""
    a = results["closed"].get(case, {}).get("rounds", [])
    b = results["closed"].get(baseline, {}).get("rounds", [])
    if not a or not b:
        return float("nan")
    if key == "cpu_us":
        return _median([y[key] / x[key] for x, y in zip(a, b, strict=False) if x[key] > 0])
    return _median([x[key] / y[key] for x, y in zip(a, b, strict=False) if y[key] > 0])


def opened(results: Results, case: str, p: str) -> float:
    rounds = results["open"].get(case, {}).get("rounds", [])
    return _median([r["latency_ms"][p] for r in rounds])


def _fmt(value: float, digits: int = 2) -> str:
    if value != value:  # nan
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _check(ok: bool | None) -> str:
    return "-" if ok is None else ("**met**" if ok else "**not met**")


def targets(results: Results) -> list[tuple[str, str, bool | None]]:
    """(target, what was measured, met?) for the issue's targets."""
    out: list[tuple[str, str, bool | None]] = []

    def add(name: str, value: float, text: str, good: Callable[[float], bool]) -> None:
        out.append((name, text, None if value != value else good(value)))

    rate = results["meta"]["rate"]
    for case in ("validate", "mutate"):
        r = ratio(results, case, "bare")
        add(f"{case}: throughput ≥ 0.6x bare", r,
            f"{_fmt(r)}x (CPU per request: {_fmt(ratio(results, case, 'bare', 'cpu_us'))}x)",
            lambda v: v >= 0.6)
    for case in ("validate", "mutate"):
        v = opened(results, case, "99")
        add(f"{case}: p99 ≤ {RATE_P99_MS:g} ms at {rate:g} req/s (TLS, open loop)", v,
            f"{_fmt(v)} ms", lambda x: x <= RATE_P99_MS)
    for case in ("validate", "mutate"):
        r = ratio(results, case, f"kopf-{case}")
        add(f"{case}: ≥ 3x kopf's throughput", r, f"{_fmt(r)}x", lambda v: v >= 3)
    for case in ("validate", "mutate"):
        r = ratio(results, case, f"go-{case}")
        add(f"{case}: ratio to the Go peer (aim ≥ 0.33x)", r,
            f"{_fmt(r)}x (CPU per request: {_fmt(ratio(results, case, f'go-{case}', 'cpu_us'))}x)",
            lambda v: v >= 0.33)
    e2e = results.get("e2e", {}).get("added", {})
    v = e2e.get("10", {}).get("added p99", float("nan"))
    add(f"webhook-added end-to-end p99 ≤ {E2E_ADDED_P99_MS:g} ms at 10 clients", v, f"{_fmt(v)} ms",
        lambda x: x <= E2E_ADDED_P99_MS)
    v = e2e.get("10", {}).get("webhooks / floor", float("nan"))
    add("AppImage creates, the chart's default configuration ≥ 0.95x the floor (10 clients)", v,
        f"{_fmt(v)}x", lambda x: x >= 0.95)
    v = results.get("e2e", {}).get("labels", {}).get("webhooks / none", float("nan"))
    add("label-only updates ≥ 0.95x no webhooks (10 clients)", v, f"{_fmt(v)}x", lambda x: x >= 0.95)
    v = e2e.get("10", {}).get("validating / none", float("nan"))
    add("AppImage creates, validating only ≥ 0.75x no webhooks (10 clients)", v, f"{_fmt(v)}x",
        lambda x: x >= 0.75)
    jobs = results.get("e2e", {}).get("kuscia_jobs", {})
    v = jobs.get("p99_ms", float("nan"))
    add(f"KusciaJob review p99 (our server's histogram) ≤ {JOB_REVIEW_P99_MS:g} ms with "
        f"{jobs.get('appimages', 0):,} AppImages stored, {jobs.get('clients', 10)} clients", v,
        f"{_fmt(v)} ms (mean {_fmt(jobs.get('mean_ms', float('nan')))} ms)", lambda x: x <= JOB_REVIEW_P99_MS)
    v = closed(results, "create", "rps")
    add("REST create (durable, SQLite FULL) ≥ 1,000/s", v, f"{_fmt(v)}/s", lambda x: x >= 1000)
    r = ratio(results, "query", "bare")
    add("REST query ≥ 0.6x bare", r, f"{_fmt(r)}x", lambda x: x >= 0.6)
    r = ratio(results, "grpc query", "grpc bare")
    add("gRPC query ≥ 0.6x a bare grpcio server (same TLS, same options)", r,
        f"{_fmt(r)}x (CPU per request: {_fmt(ratio(results, 'grpc query', 'grpc bare', 'cpu_us'))}x)",
        lambda x: x >= 0.6)
    r = ratio(results, "grpc create", "create")
    add("gRPC create within 15 % of REST create's throughput", r,
        f"{_fmt(r)}x (CPU per request: {_fmt(ratio(results, 'grpc create', 'create', 'cpu_us'))}x)",
        lambda x: x >= 0.85)
    v = opened(results, BESIDE, "99")
    add(f"validate: p99 ≤ {RATE_P99_MS:g} ms at {rate:g} req/s with {rate:g} gRPC calls/s beside it", v,
        f"{_fmt(v)} ms", lambda x: x <= RATE_P99_MS)
    for case, limit in ((_named(results, "batch_query"), 50.0), (_named(results, "list"), 20.0)):
        v = closed(results, case, "p99")
        add(f"REST {case}: ≤ {limit:g} ms (p99, one client)", v,
            f"p50 {_fmt(closed(results, case, 'p50'))} ms, p99 {_fmt(v)} ms", lambda x, lim=limit: x <= lim)
    memory = results.get("memory", {})
    v = memory.get("idle_mb", float("nan"))
    add("RSS idle ≤ 95 MB", v, f"{_fmt(v, 1)} MB", lambda x: x <= 95)
    v = memory.get("load_mb", float("nan"))
    add("RSS under load ≤ 150 MB", v, f"{_fmt(v, 1)} MB (peak)", lambda x: x <= 150)
    soak = memory.get("soak", [])
    if len(soak) >= 2:
        growth = soak[-1]["rss_mb"] - soak[0]["rss_mb"]
        out.append((f"RSS flat after {soak[-1]['requests']:,} requests", f"{soak[0]['rss_mb']:.1f} → "
                    f"{soak[-1]['rss_mb']:.1f} MB after the first chunk → the last ({growth:+.1f} MB)",
                    growth <= 2.0))
    starts = results.get("startup", [])
    v = _median(starts)
    add("ready ≤ 1.5 s after start", v, f"{_fmt(v)} s (median of {len(starts)})", lambda x: x <= 1.5)
    return out


def _named(results: Results, prefix: str) -> str:
    return next((c for c in results["closed"] if c.startswith(prefix)), prefix)


def markdown(results: Results, png_name: str) -> str:
    meta = results["meta"]
    lines = [
        "# Benchmark results",
        "",
        f"`bench/run{' ' + meta['argv'] if meta['argv'] else ''}` on {meta['date']}, commit "
        f"`{meta['commit']}`. {meta['machine']}; {meta['versions']}. {meta['pinning']}. "
        f"Load average {meta['load_before']} before, {meta['load_after']} after (other work on "
        f"these CPUs skews every figure). {meta['rounds']} interleaved round(s); closed loop: "
        f"wrk (gRPC: ghz), {meta['duration']} s per case and round, keep-alive HTTPS, every "
        f"answer checked; open loop: {meta['rate']:g} req/s for {meta['open_seconds']} s. Store: "
        f"{meta['store']}. Each figure is the median over rounds; each ratio the median of "
        f"per-round ratios. Errors: **{results['errors']}**.",
        "",
        f"![latency distributions]({png_name})",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {text} | {_check(ok)} |" for name, text, ok in targets(results)]
    lines += [
        "",
        "## Closed loop (wrk, fixed concurrency)",
        "",
        "\"CPU µs/req\" is the server process's user+system time over the requests it "
        "answered (it runs alone on CPU 0): unlike req/s it does not depend on whether "
        "the one-core load generator kept up. Ratios are to the row named in \"vs\" "
        "(same round); for CPU, baseline CPU ÷ case CPU, so higher is better in both.",
        "",
        "| case | conns | req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/req | vs | ratio req/s "
        "| ratio CPU | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, case in results["closed"].items():
        base = case["baseline"]
        errors = sum(r["errors"] for r in case["rounds"])
        lines.append(
            f"| {name} | {case['connections']} | {_fmt(closed(results, name, 'rps'), 0)} "
            f"| {_fmt(closed(results, name, 'p50'))} | {_fmt(closed(results, name, 'p99'))} "
            f"| {_fmt(closed(results, name, 'p99.9'))} | {_fmt(closed(results, name, 'cpu_us'), 0)} "
            f"| {base or ''} | {_fmt(ratio(results, name, base)) if base else ''} "
            f"| {_fmt(ratio(results, name, base, 'cpu_us')) if base else ''} | {errors} |")
    if any(name.startswith("grpc ") for name in results["closed"]):
        lines += ["", "\"grpc create\" and \"grpc query\" are the same operations over gRPC (Kuscia's "
                  "AppImageService on the gRPC port, TLS), driven by ghz (bench/ghz.py): a compiled "
                  "load generator like wrk, on the same client CPU, with \"conns\" calls in flight "
                  "multiplexed on one HTTP/2 connection, as gRPC clients send them (wrk needs a "
                  "connection per request in flight). \"grpc bare\" is grpcio's limit: the same "
                  "grpc.aio server, options and TLS answering a query at once (bench/bare_grpc.py); "
                  "\"grpc bare threaded\" the same on grpcio's threaded server handing each call to "
                  "an event loop, the alternative the listener did not take. Their CPU "
                  "µs/req is the same figure as REST's: the service process's CPU time (the gRPC "
                  "server runs in it) over the calls ghz made. Percentiles are ghz's, of the calls "
                  "answered OK; p99.9 is from its per-call latencies. ghz cannot read Kuscia's "
                  "status code in an answer, so a call checked with grpcio before and after each "
                  "load must answer code 0, and the AppImages stored under a create load's names "
                  "must grow by exactly its calls answered OK (each one more or less is an error)."]
    lines += ["", "Peers on the same work (ours ÷ peer, same round):", "",
              "| | req/s ratio | CPU ratio |", "|---|---:|---:|"]
    for peer in ("go", "kopf"):
        for case in ("validate", "mutate"):
            lines.append(f"| {case}: ours ÷ {peer} | {_fmt(ratio(results, case, f'{peer}-{case}'))} "
                         f"| {_fmt(ratio(results, case, f'{peer}-{case}', 'cpu_us'))} |")
    lines += ["", f"## Open loop ({meta['rate']:g} req/s on a fixed schedule)", "",
              "Latency counted from when each request was due (no coordinated omission). "
              "\"lag\" is the generator's own lateness (p99), which would otherwise be "
              "blamed on the server.", "",
              "| case | achieved req/s | p50 ms | p99 ms | p99.9 ms | max ms | lag p99 ms | errors |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, case in results["open"].items():
        rounds = case["rounds"]
        lines.append(
            f"| {name} | {_fmt(_median([r['rate'] for r in rounds]), 0)} "
            f"| {_fmt(opened(results, name, '50'))} "
            f"| {_fmt(opened(results, name, '99'))} | {_fmt(opened(results, name, '99.9'))} "
            f"| {_fmt(opened(results, name, '100'))} | {_fmt(_median([r['lag_p99_ms'] for r in rounds]))} "
            f"| {sum(r['bad'] + r['sent'] - r['answered'] for r in rounds)} |")
    lines += ["", "## Cost by size", "",
              "In process (no HTTP), one review after another: the handler functions on the "
              "document's example repeated to more containers. Over HTTP: server CPU per "
              "request of the large review (10 x 10 containers) minus the small one, per "
              "extra container.", "",
              "| deploy templates x containers | containers | validate µs | mutate µs "
              "| validate µs/container | mutate µs/container |",
              "|---|---:|---:|---:|---:|---:|"]
    for row in results.get("scaling", []):
        n = row["templates"] * row["containers"]
        lines.append(f"| {row['templates']} x {row['containers']} | {n} | {_fmt(row['validate_us'], 1)} "
                     f"| {_fmt(row['mutate_us'], 1)} | {_fmt(row['validate_us'] / n, 1)} "
                     f"| {_fmt(row['mutate_us'] / n, 1)} |")
    for case in ("validate", "mutate"):
        small, large = closed(results, case, "cpu_us"), closed(results, f"{case}-large", "cpu_us")
        extra = results["closed"].get(f"{case}-large", {}).get("containers", 100) - 1
        lines.append("")
        lines.append(f"Over HTTP, {case}: {_fmt(small, 0)} µs per small review, {_fmt(large, 0)} µs per "
                     f"large one: {_fmt((large - small) / extra, 1)} µs per extra container.")
    lines += ["", "## End to end through kube-apiserver", ""]
    e2e = results.get("e2e", {})
    if "skipped" in e2e:
        lines.append(f"Skipped: {e2e['skipped']}")
    else:
        lines += [f"Creates of the document's example through a real kube-apiserver + etcd, "
                  f"{e2e.get('creates')} per measurement, medians of {e2e.get('rounds', '?')} interleaved "
                  "rounds, in four configurations: **none** registered; **webhooks**, the chart's "
                  "default (mutating and validating, with its matchConditions) calling our service; "
                  "**validating**, the chart with `webhook.mutating=false`; **floor**, the chart's "
                  "default calling bench/floor.py, an aiohttp handler that answers `allowed` at once "
                  "(what any webhook costs the API server).", "",
                  "\"our server\" is the mean time our server spent on one review (its own "
                  "latency histogram); the rest of what a webhook adds is the API server's side of the "
                  "call. Ratios are medians of the per-round ratios.", "",
                  "| clients | creates/s none | webhooks | validating | floor | webhooks / floor "
                  "| validating / none | p99 none → webhooks (added) | our server per review |",
                  "|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
        for clients, row in e2e.get("added", {}).items():
            lines.append(f"| {clients} | {_fmt(row['none creates/s'], 0)} "
                         f"| {_fmt(row['webhooks creates/s'], 0)} "
                         f"| {_fmt(row.get('validating creates/s', float('nan')), 0)} "
                         f"| {_fmt(row.get('floor creates/s', float('nan')), 0)} "
                         f"| {_fmt(row.get('webhooks / floor', float('nan')))}x "
                         f"| {_fmt(row.get('validating / none', float('nan')))}x "
                         f"| {_fmt(row['none p99'])} → {_fmt(row['webhooks p99'])} ms "
                         f"({_fmt(row['added p99'])}) | {_fmt(row.get('review ms', float('nan')))} ms |")
        labelled = e2e.get("labels")
        if labelled:
            modes = [k.removesuffix(" updates/s") for k in labelled if k.endswith(" updates/s")]
            lines += ["", "Label-only updates (a merge PATCH of one label of a stored AppImage, 10 "
                      "clients): the matchConditions keep them from every webhook.", "",
                      "| | " + " | ".join(modes) + " |", "|---|" + "---:|" * len(modes),
                      "| updates/s | " + " | ".join(_fmt(labelled[f"{m} updates/s"], 0) for m in modes)
                      + " |",
                      "| p99 ms | " + " | ".join(_fmt(labelled[f"{m} p99"]) for m in modes) + " |",
                      "| / none | " + " | ".join(f"{_fmt(labelled[f'{m} / none'])}x" for m in modes) + " |"]
        parts = e2e.get("breakdown")
        if parts:
            lines += ["", "Where a create's cost goes (10 clients): CPU milliseconds per create of each "
                      "process, from /proc (the webhook column is our service, or the floor).", "",
                      "| | kube-apiserver | etcd | webhook |", "|---|---:|---:|---:|"]
            lines += [f"| {m} | {_fmt(row.get('kube-apiserver CPU ms', float('nan')))} "
                      f"| {_fmt(row.get('etcd CPU ms', float('nan')))} "
                      f"| {_fmt(row.get('webhook CPU ms', float('nan')))} |"
                      for m, row in parts.items()]
            wire = parts.get("floor", {})
            if "connections per 1000 calls" in wire:
                lines += ["", f"On the wire (counted by the floor): "
                          f"{_fmt(wire['connections per 1000 calls'], 1)} new connections (TLS handshakes) "
                          f"per 1,000 calls, {_fmt(wire['resumed sessions'], 0)} resumed: the API server "
                          "keeps its connections alive. Bytes per review: "
                          + "; ".join(f"{p} {_fmt(wire[f'{p} bytes in'], 0)} in, "
                                      f"{_fmt(wire[f'{p} bytes out, ours'], 0)} out from us "
                                      f"({_fmt(wire[f'{p} bytes out, floor'], 0)} from the floor)"
                                      for p in ("/mutate", "/validate") if f"{p} bytes in" in wire) + "."]
        jobs = e2e.get("kuscia_jobs")
        if jobs:
            lines += ["", f"KusciaJob reviews (the links guarded, our server on the Kubernetes store): "
                      f"{jobs['reviews']:,} dry-run creates from {jobs['clients']} clients with "
                      f"{jobs['appimages']:,} AppImages stored, each job naming two: our server's "
                      f"p99 {_fmt(jobs['p99_ms'])} ms (its /validate histogram), mean "
                      f"{_fmt(jobs['mean_ms'])} ms, {_fmt(jobs['rate'], 0)} creates/s."]
    memory = results.get("memory", {})
    lines += ["", "## Memory and start", "",
              f"Service RSS: {_fmt(memory.get('idle_mb', float('nan')), 1)} MB idle (ready, before any "
              f"request), {_fmt(memory.get('load_mb', float('nan')), 1)} MB peak under the closed-loop "
              f"load, {_fmt(memory.get('end_mb', float('nan')), 1)} MB at the end. Peers' peak RSS: "
              + ", ".join(f"{k} {v:.1f} MB" for k, v in memory.get("peers", {}).items()) + "."]
    soak = memory.get("soak", [])
    if soak:
        lines += ["", f"Soak: {soak[-1]['requests']:,} more requests (validate, mutate, query in "
                  f"turn){'' if meta.get('million') else ' - the default; `--million` makes it 1,000,000'}; "
                  "RSS after each chunk:", "",
                  "| requests | RSS MB |", "|---:|---:|"]
        lines += [f"| {row['requests']:,} | {row['rss_mb']:.1f} |" for row in soak]
    starts = results.get("startup", [])
    if starts:
        lines += ["", f"Start to ready (process spawned → `/readyz` 200, certificates present, "
                  f"empty store): {', '.join(f'{s:.2f}' for s in starts)} s."]
    if results.get("notes"):
        lines += ["", "## Notes", ""] + [f"* {note}" for note in results["notes"]]
    return "\n".join(lines) + "\n"


def plot(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter

    panels = [("Admission (closed loop)", "closed", ("admission", "peers")),
              ("REST (closed loop)", "closed", ("rest",)),
              (f"Open loop, {results['meta']['rate']:g} req/s", "open", ())]
    fig, axes = plt.subplots(1, 3, figsize=(18, 6))

    def x(p: float) -> float:
        import math

        return -math.log10(max(1 - p / 100, 1e-5))

    ticks = [0, 50, 90, 99, 99.9, 99.99]
    for ax, (title, kind, groups) in zip(axes, panels, strict=True):
        for name, case in results[kind].items():
            if groups and case.get("group") not in groups:
                continue
            rounds = case["rounds"]
            if not rounds:
                continue
            ps = sorted(set.intersection(*({float(p) for p in r["latency_ms"] if float(p) < 100}
                                            for r in rounds)))
            ys = [_median([r["latency_ms"][_key(r, p)] for r in rounds]) for p in ps]
            ax.plot([x(p) for p in ps], ys, marker=".", label=name)
        ax.set_title(title)
        ax.set_yscale("log")
        ax.set_ylabel("latency, ms")
        ax.set_xlabel("percentile")
        ax.xaxis.set_major_locator(FixedLocator([x(p) for p in ticks]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * (1 - 10 ** -v):g}"))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Latency distributions (median over rounds), {results['meta']['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _key(round_: dict[str, Any], p: float) -> str:
    return next(k for k in round_["latency_ms"] if float(k) == p)


def write(results: Results, out_dir: Path, stem: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    data, md, png = (out_dir / f"{stem}.{ext}" for ext in ("json", "md", "png"))
    data.write_text(json.dumps(results, indent=1))
    plot(results, png)
    md.write_text(markdown(results, png.name))
    return md, png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a RESULTS.json bench/run wrote")
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    md, png = write(results, args.results.parent, args.results.stem)
    print(f"wrote {md} and {png}")


if __name__ == "__main__":
    main()
