"""The ``labkit`` command: doctor, up, down, reset, status, logs, chapters, run, regress, data, student, sync, jars."""
from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import psutil

from . import current_lab
from .cluster import LocalCluster, make_cluster
from .distribution import find_java, flink_distribution
from .errors import JarsMissing, LabError
from .jars import JAR_SETS
from .jars import problems as jar_problems
from .kafka import KafkaBroker
from .processes import port_owner
from .settings import LabSettings, inside

MIN_FREE_MEMORY = 4 * 2**30


def _settings(args) -> LabSettings:
    return LabSettings.from_env(name=args.lab, port_offset=args.port_offset, slots=getattr(args, "slots", None),
                                taskmanagers=getattr(args, "taskmanagers", None))


def doctor(args) -> int:
    """Check everything the lab needs; print one line per check with the fix for each problem."""
    settings = _settings(args)
    problems = 0

    def report(ok: bool, what: str, fix: str = "") -> None:
        nonlocal problems
        problems += not ok
        print(f"  {'ok ' if ok else 'BAD'}  {what}" + ("" if ok or not fix else f"\n         fix: {fix}"))

    print(f"lab {settings.name!r} in {settings.lab_dir}")
    try:
        java = find_java()
        report(True, f"Java {java.version}: {java.executable}")
    except LabError as exc:
        report(False, str(exc).splitlines()[0], exc.hint)
    try:
        dist = flink_distribution()
        report(True, f"Flink {dist.version} distribution: {dist.home}")
    except LabError as exc:
        report(False, str(exc).splitlines()[0], exc.hint)
    for jar_set in JAR_SETS:
        wrong = jar_problems(jar_set)
        report(not wrong, f"{jar_set.purpose}: " + ("jars verified" if not wrong else "; ".join(wrong[:2])),
               JarsMissing.hint)
    free = psutil.virtual_memory().available
    report(free >= MIN_FREE_MEMORY, f"free memory {free / 2**30:.1f} GiB (the lab uses up to ~3 GiB)",
           "close other programs or lower LABKIT_SLOTS")
    disk = shutil.disk_usage(settings.home if settings.home.exists() else settings.home.parent)
    report(disk.free > 2 * 2**30, f"free disk {disk.free / 2**30:.1f} GiB for checkpoints and logs",
           "free space or point LABKIT_HOME elsewhere")
    cluster = make_cluster(settings)
    if settings.attached:
        report(cluster.is_up(), f"attached cluster answers at {settings.url}",
               "start it (`docker compose up -d`) or unset LABKIT_REST_URL")
        return 1 if problems else 0
    running = isinstance(cluster, LocalCluster) and any(p.role == "jobmanager" for p in cluster.processes())
    for port, what in ((settings.rest_port, "REST/Web UI"), (settings.rpc_port, "JobManager RPC")):
        owner = port_owner(port)
        mine = running and owner is not None and settings.lab_dir.name in owner
        report(owner is None or mine, f"port {port} ({what}) " + ("free" if owner is None else f"used by {owner}"),
               f"stop that program, or use another port offset: `labkit up --port-offset {settings.port_offset + 100}`")
    print(f"  ---  cluster: {'running at ' + settings.url if running else 'not running (`labkit up` starts it)'}")
    others = [p.parent.name for p in settings.home.glob("*/lab.json") if p.parent.name != settings.name
              and any(x.role == "jobmanager" for x in LocalCluster(replace(settings, name=p.parent.name)).processes())]
    if others:
        print(f"  ---  other labs running on this machine: {', '.join(others)}")
    print("all good" if not problems else f"{problems} problem(s) found")
    return 1 if problems else 0


def up(args) -> int:
    settings = _settings(args)
    cluster = current_lab.up(settings, restart=args.restart)
    overview = cluster.overview()
    print(f"lab {settings.name!r} is up: {overview['taskmanagers']} TaskManager(s), "
          f"{overview['slots_total']} slots. Web UI: {cluster.web_ui}")
    if args.kafka:
        broker = KafkaBroker(settings).up()
        print(f"Kafka broker: {broker.bootstrap_servers} (data in {broker.data_dir})")
    return 0


def down(args) -> int:
    settings = _settings(args)
    names = sorted(p.parent.name for p in settings.home.glob("*/lab.json")) if args.all else [settings.name]
    for name in names:
        stopped = LocalCluster(replace(settings, name=name)).down()
        print(f"lab {name!r}: stopped {len(stopped)} process(es)")
    return 0


def reset(args) -> int:
    """A fresh start for one lab: stop its cluster, delete its folder (checkpoints, savepoints,
    outputs, logs, config). The next `labkit up` recreates it."""
    settings = _settings(args)
    if settings.attached:
        raise LabError("reset works on a local lab, not on an attached cluster",
                       hint="unset LABKIT_REST_URL; an attached cluster is reset with `docker compose down -v`")
    stopped = LocalCluster(settings).down()
    if settings.lab_dir.exists():
        shutil.rmtree(inside(settings.home, settings.lab_dir))
    print(f"lab {settings.name!r}: stopped {len(stopped)} process(es), removed {settings.lab_dir}")
    return 0


def status(args) -> int:
    settings = _settings(args)
    cluster = make_cluster(settings)
    if not cluster.is_up():
        print(f"lab {settings.name!r}: down ({settings.url})")
        return 1
    o = cluster.overview()
    print(f"lab {settings.name!r} at {settings.url}: Flink {o['flink_version']}, {o['taskmanagers']} TaskManager(s), "
          f"{o['slots_available']}/{o['slots_total']} slots free")
    for proc in cluster.processes():
        print(f"  pid {proc.pid:>7}  {proc.role:<14} {proc.rss_bytes / 2**20:8.0f} MiB")
    for job in cluster.rest.jobs():
        print(f"  job {job['jid']}  {job['state']:<10} {job['name']}")
    broker = KafkaBroker(settings)
    if settings.kafka_bootstrap or broker.pid() is not None:
        state = "answers" if broker.is_up() else "does not answer"
        print(f"  Kafka broker at {broker.bootstrap_servers} {state}; its data: {broker.data_dir}")
    return 0


def logs(args) -> int:
    cluster = make_cluster(_settings(args))
    if args.component == "stdout":
        print(cluster.taskmanager_stdout(args.lines))
    else:
        print(cluster.logs(args.component, args.lines))
    return 0


def list_chapters(args) -> int:
    from .chapters import chapters
    for number, path in chapters().items():
        print(f"{number}  {path.stem}")
    return 0


def run(args) -> int:
    from .runner import run_chapter
    record = run_chapter(args.chapter, size=args.size, out_dir=args.out)
    stop = record.get("student_stop")
    stops = f"; its student copy stops at exercise {stop['exercise']}" if stop else ""
    print(f"{record['chapter']}: {record['status']} in {record['duration_s']}s{stops} -> {record['executed']}")
    return 0


def regress(args) -> int:
    from .regress import run_all
    summary = run_all(size=args.size, out_dir=Path(args.out), names=args.chapters)
    print(f"{len(summary['chapters']) - len(summary['failed'])} of {len(summary['chapters'])} chapters passed "
          f"in {summary['duration_s'] / 60:.1f} min; report: {Path(args.out) / 'report.md'}")
    if summary["failed"]:
        print(f"failed: {', '.join(summary['failed'])} (executed notebooks in {args.out}/)", file=sys.stderr)
        return 1
    return 0


def data(args) -> int:
    from .datasets import DATASETS, write
    for name, paths in write(Path(args.out), full=not args.samples_only).items():
        print(f"{name}: {', '.join(str(p) for p in paths)}  ({DATASETS[name].what})")
    return 0


def student(args) -> int:
    from .student import write_student_copies
    for chapter, exercises in write_student_copies(args.out).items():
        print(f"{chapter}: {len(exercises)} exercise(s) stripped ({', '.join(exercises) or 'none'})")
    print(f"student copies in {args.out}/: solutions replaced by placeholders, checks kept, no outputs")
    return 0


def sync(args) -> int:
    from .sync import sync as write_chapter_code
    changes = write_chapter_code(write=not args.check)
    for change in changes:
        print(change)
    if args.check:
        print("chapter code matches labkit" if not changes else
              f"{len(changes)} cell(s) differ from their modules: run `labkit sync`")
        return 1 if changes else 0
    print(f"{len(changes)} cell(s) rewritten from their modules" if changes else "chapter code already matches labkit")
    return 0


def jars(args) -> int:
    from .jars import ensure
    for line in ensure(maven=args.maven, write_lock=args.write_lock):
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labkit", description="Flink State Lab: the local Flink cluster")
    parser.add_argument("--lab", help="lab name (default: $LABKIT_LAB or 'default')")
    parser.add_argument("--port-offset", type=int, help="added to the REST (8081) and RPC (6123) ports")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("doctor", help="check Java, ports, memory, the Flink distribution and the cluster")
    p.set_defaults(run=doctor)
    p = sub.add_parser("up", help="start the lab's cluster (or reuse the running one)")
    p.add_argument("--taskmanagers", type=int, help="how many TaskManagers (default 2)")
    p.add_argument("--slots", type=int, help="task slots per TaskManager (default 2)")
    p.add_argument("--restart", action="store_true", help="restart if it runs with other options")
    p.add_argument("--kafka", action="store_true", help="also start the lab's Kafka broker (chapters 03 and 07)")
    p.set_defaults(run=up)
    p = sub.add_parser("down", help="stop the lab's cluster and every process it started")
    p.add_argument("--all", action="store_true", help="stop every lab on this machine")
    p.set_defaults(run=down)
    sub.add_parser("reset", help="stop the lab and delete its folder: a fresh start").set_defaults(run=reset)
    sub.add_parser("status", help="cluster, processes and jobs").set_defaults(run=status)
    p = sub.add_parser("logs", help="tail of a log")
    p.add_argument("component", nargs="?", default="taskmanager", choices=["taskmanager", "jobmanager", "stdout"])
    p.add_argument("-n", "--lines", type=int, default=60)
    p.set_defaults(run=logs)
    sub.add_parser("chapters", help="list the chapter notebooks").set_defaults(run=list_chapters)
    p = sub.add_parser("run", help="execute a chapter headless with papermill")
    p.add_argument("chapter", help="number or name, e.g. 00 or lab_tour")
    p.add_argument("--size", default="ci", choices=["ci", "learner"])
    p.add_argument("--out", default="runs", help="folder for the executed notebook and its metrics")
    p.set_defaults(run=run)
    p = sub.add_parser("regress", help="run every chapter headless and write a Markdown report")
    p.add_argument("--size", default="ci", choices=["ci", "learner"])
    p.add_argument("--out", default="runs", help="folder for the report, executed notebooks, figures and metrics")
    p.add_argument("--chapters", nargs="*", help="only these chapters (numbers or names)")
    p.set_defaults(run=regress)
    p = sub.add_parser("data", help="write the lab's seeded datasets (and their samples) as files")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "data"),
                   help="folder (default: the repository's data/)")
    p.add_argument("--samples-only", action="store_true", help="only the small samples that are committed")
    p.set_defaults(run=data)
    p = sub.add_parser("student", help="write student copies of every chapter (solutions stripped)")
    p.add_argument("--out", default="student", help="folder for the student notebooks")
    p.set_defaults(run=student)
    p = sub.add_parser("sync", help="write the chapters' `# as in labkit/...` cells from labkit's modules")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a cell differs from its module")
    p.set_defaults(run=sync)
    p = sub.add_parser("jars", help="resolve and verify the pinned Kafka broker and connector jars with Maven")
    p.add_argument("--maven", default="mvn", help="the Maven command (default: mvn)")
    p.add_argument("--write-lock", action="store_true",
                   help="resolve again and record the jars' SHA-256 in labkit/jars.lock (after a version change)")
    p.set_defaults(run=jars)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
