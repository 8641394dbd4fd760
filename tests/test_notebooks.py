"""The chapter notebooks: committed clean, parameterised, and each runs end to end once, at CI size,
passing its exercises, printing its measured claims, and proving where its student copy stops."""
import json
import re

import nbformat
import pytest

from labkit.chapters import chapters, find_chapter
from labkit.claims import claims
from labkit.errors import UnknownChapter
from labkit.runner import run_chapter
from labkit.student import student_copy

NOTEBOOKS = list(chapters().values())

# What each chapter must print, beyond passing its exercises and checking every claim it marks
# (labkit/claims.py): the measured sentences it computes.
CLAIMS = {
    "00_lab_tour": ["records/s through the Python keyed operator"],
    "01_state_backends": ["identical to the plain-Python computation: True", "incremental checkpoints wrote",
                          "records/s through Python: hashmap", "in the JVM, hashmap is",
                          "lost: 0, duplicated: 0, on the wrong key: 0",
                          "keys labelled and counted, identical to the plain-Python computation: True"],
    "02_state_ttl": ["OnReadAndWrite keeps the reader alive: True", "returned the expired value once",
                     "the Python state cache hides expiry", "its last checkpoint holds",
                     "no timestamp, every user's session has the same name", "first event in epoch ms: True",
                     "cannot pickle"],
    "03_checkpoints_savepoints": ["exact: True", "state: FAILED", "results published: 0 keys",
                                  "unaligned checkpoints were", "the job failed over with",
                                  "min-pause 3s: 3.0s or more", "max-concurrent 3: up to",
                                  "fixed delay: 3 restarts, then FAILED with:", "PoisonRecord",
                                  "this section's two among them: True",
                                  "jobmanager storage failed its checkpoint: "
                                  "Size of the state is larger than the maximum"],
    "04_event_time_watermarks": ["identical to the plain-Python computation: True", "without idleness: 0",
                                 "done right equals the gap-based truth: True",
                                 "late records on the cluster with that bound = 0",
                                 "the busy user stays logged in", "late records: 0;",
                                 "final counts equal the plain-Python computation: True",
                                 "stream-wide windows, identical to the plain-Python computation: True"],
    "05_tuning_python": ["the JVM-only job is", "latency follows bundle.time", "a cache that holds every live key",
                         "thread mode at p1 is", "lab defaults vs PyFlink defaults",
                         "sums in the JVM equal plain Python's: True", "pickled: Cannot resolve field [k]"],
    "06_tuning_cluster": ["the JVM job flushing after every record", "chaining:", "object reuse on:",
                          "what the job kept of the two calls: {'taskmanager.memory.network.fraction': '0.2'}",
                          "network 128 -> 256 MiB", "slower than with managed memory",
                          "busy but not backpressured: enrich",
                          "every user where plain-Python crc32 put it: True"],
    "07_recommender": ["and other users' entries: 0", "identical to the plain-Python reference: True",
                       "every user's final profile equal to the plain-Python one: True", "streaming CF vs popularity:",
                       "each list carries its event's time (ctx.timestamp(), epoch ms): True",
                       "ms more per event when every update() is written through",
                       "event -> recommendation p99:", "the job runs at",
                       "recommendations identical to the reference: True, profiles identical: True",
                       "profiles equal to the file path's: True"],
}


def test_there_is_a_tour():
    assert find_chapter("00").name == "00_lab_tour.ipynb"
    assert find_chapter("lab_tour") == find_chapter("00_lab_tour.ipynb")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_has_a_parameters_cell_with_a_learner_size(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    assert 'size = "learner"' in tagged[0].source


def test_the_readme_counts_each_chapters_exercises_as_the_notebook_asks_them():
    from pathlib import Path

    from labkit.regress import exercises_of
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    counted = dict(re.findall(r"^\| (\d\d)_\w+ \|.*\((\d+) exercises?", readme, re.M))
    assert {chapter: int(n) for chapter, n in counted.items()} == {
        chapter: len(exercises_of(path)) for chapter, path in chapters().items()}


def _listed(cell: str) -> list[str]:
    """'3 (06.1, 06.2, 06.3)' or '4 (01.1-01.4)' as the exercises it names."""
    listed = []
    for item in cell.split("(", 1)[1].rstrip(")").split(","):
        first, _, last = item.strip().partition("-")
        chapter, number = first.split(".")
        listed += [f"{chapter}.{n}" for n in range(int(number), int((last or first).split(".")[1]) + 1)]
    return listed


def test_exercises_are_numbered_in_notebook_order_and_the_instructor_guide_lists_them_so():
    from pathlib import Path

    from labkit.regress import exercises_of
    guide = (Path(__file__).resolve().parent.parent / "docs" / "instructor.md").read_text()
    rows = {row[0].split()[0]: row for row in
            ([cell.strip() for cell in line.strip("|").split("|")] for line in guide.splitlines()
             if re.match(r"^\| \d\d ", line))}
    for chapter, path in chapters().items():
        asked = exercises_of(path)
        assert asked == [f"{chapter}.{n}" for n in range(1, len(asked) + 1)], f"{path.name} asks {asked}"
        cell = next(cell for cell in rows[chapter] if re.fullmatch(r"\d+ \(.*\)", cell))
        assert int(cell.split()[0]) == len(asked) and _listed(cell) == asked, f"docs/instructor.md: {chapter} {cell}"


def test_unknown_chapter_says_which_exist():
    with pytest.raises(UnknownChapter) as info:
        find_chapter("99")
    assert "00_lab_tour" in str(info.value)


def _outputs(path):
    executed = nbformat.read(path, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    printed = "".join(o.get("text", "") for o in outputs)
    return images, printed


@pytest.mark.cluster
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_runs_headless_at_ci_size_and_passes_its_exercises(cluster, tmp_path, path):
    record = run_chapter(path.stem, size="ci", out_dir=tmp_path)
    assert record["status"] == "passed"
    assert json.loads((tmp_path / f"{path.stem}.json").read_text())["status"] == "passed"
    images, printed = _outputs(tmp_path / path.name)
    assert images, "the final dashboards should be rendered as figures"
    solution = nbformat.read(path, as_version=4)
    exercises = {line.split("(")[1].split(",")[0].strip("\"'") for c in solution.cells for line in c.source.splitlines()
                 if line.startswith("lk.checks.check")}
    assert exercises and all(f"✓ Exercise {e} passed" in printed for e in exercises), exercises
    assert "✗" not in printed
    marked = {name for _, kind, name in claims([(c.cell_type, c.source) for c in solution.cells]) if kind == "check"}
    missing = [claim for claim in CLAIMS.get(path.stem, []) if claim not in printed]
    missing += [f"✓ {name}:" for name in sorted(marked) if f"✓ {name}:" not in printed]
    assert not missing, f"{path.stem} did not show: {missing}"
    dashboards = ("lk.live(", "lk.Compare(", "lk.Timeline(", "Monitor(")
    if any(call in c.source for c in solution.cells for call in dashboards):  # 05 measures without one
        assert any(f.stat().st_size for f in (tmp_path / path.stem).glob("*.metrics.csv")), "no sampled metrics saved"
    assert not [j for j in cluster.rest.jobs() if j["state"] == "RUNNING"], "a chapter left a job running"
    # the student copy, run to the same point in the same kernel, stops at its first exercise
    first = student_copy(solution)[1][0]
    stop = record["student_stop"]
    assert stop["exercise"] == first and stop["ok"], stop
    assert stop["error"].startswith(f"ExerciseNotDone: exercise {first} is not answered yet")
    assert "-> write your answer" in stop["error"] and len(stop["shown"]) <= 2, "one message, not a traceback"
