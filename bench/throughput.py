"""Keyed-state count throughput, three ways in one run on one cluster:

  (a) PyFlink's defaults      the Python DataStream job as PyFlink runs it untuned
  (b) labkit's defaults       the same job with the lab's job configuration (labkit/jobs.py)
  (c) JVM-only Flink SQL      the same aggregation with no Python at all (the ceiling)

Records/s are measured from the cluster's own counter of records entering the keyed operator,
over the part of the run where it climbs (worker start-up excluded). Absolute numbers vary a
lot on shared machines; the ratios (b)/(a) and (b)/(c) are what this benchmark reports.

    python bench/throughput.py [--json results/throughput.json] [--quick]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import labkit as lk
from labkit.pipelines import keyed_count as kc
from labkit.pipelines.common import output_dir

TARGETS = {"vs_pyflink_default": 50.0, "vs_jvm": 0.1}


def run(args) -> dict:
    results = []

    def python_job(label: str, preset: str, records: int):
        out = output_dir(f"bench-{label}")
        job = lk.submit(lambda env: kc.build(env, records=records, keys=args.keys, output=out),
                        name=f"bench-{label}", config=lk.job_config(preset))
        rate, wall = lk.measure_rate(job, "count-per-key", records, args.timeout)
        exact = kc.read_counts(out) == kc.expected_counts(records, args.keys)
        results.append({"config": label, "records": records, "records_per_s": rate, "wall_s": wall,
                        "parallelism": job.config()["job-parallelism"], "exact": exact})

    def sql_job(label: str, parallelism: int, records: int):
        job = lk.submit_sql(kc.sql_statements(args.keys), name=f"bench-{label}",
                            config=lk.job_config(parallelism=parallelism), prepare=kc.register_numbers(records))
        rate, wall = lk.measure_rate(job, "GroupAggregate", records, args.timeout)
        results.append({"config": label, "records": records, "records_per_s": rate, "wall_s": wall,
                        "parallelism": parallelism, "exact": None})

    python_job("pyflink-defaults", "pyflink", args.default_records)
    python_job("labkit-defaults", "lab", args.records)
    sql_job("jvm-sql-p1", 1, args.sql_records)
    sql_job("jvm-sql-p2", 2, args.sql_records)

    rate = {r["config"]: r["records_per_s"] for r in results}
    ceiling = max(rate["jvm-sql-p1"], rate["jvm-sql-p2"])
    ratios = {"vs_pyflink_default": rate["labkit-defaults"] / rate["pyflink-defaults"],
              "vs_jvm": rate["labkit-defaults"] / ceiling}
    return {"benchmark": "keyed-state count throughput", "keys": args.keys, "results": results,
            "jvm_ceiling_records_per_s": ceiling, **ratios,
            "targets": TARGETS, "targets_met": {k: ratios[k] >= v for k, v in TARGETS.items()},
            "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform()},
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def print_table(report: dict) -> None:
    print(f"\n{'configuration':<20}{'parallelism':>12}{'records':>12}{'records/s':>14}{'exact':>8}")
    for r in report["results"]:
        exact = "-" if r["exact"] is None else ("yes" if r["exact"] else "NO")
        print(f"{r['config']:<20}{r['parallelism']:>12}{r['records']:>12,}{r['records_per_s']:>14,.0f}{exact:>8}")
    for key, target in report["targets"].items():
        value = report[key]
        verdict = "met" if value >= target else f"NOT met: {value / target:.0%} of the target"
        print(f"{key:<20} {value:>10.3g}   target >= {target:g}   {verdict}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--records", type=int, default=1_000_000, help="records for labkit's defaults")
    parser.add_argument("--default-records", type=int, default=60_000, help="records for PyFlink's defaults")
    parser.add_argument("--sql-records", type=int, default=20_000_000, help="records for the JVM-only job")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the benchmark runs, measures little")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.default_records, args.sql_records = 20_000, 5_000, 200_000
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    lk.up()
    report = run(args)
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.json}")
    return 0 if all(r["exact"] is not False for r in report["results"]) else 1


if __name__ == "__main__":
    sys.exit(main())
