"""Checks of whole jobs the learner wires (flink-training's exercise, solution, test): each runs the
learner's job on a scenario of its own, not the chapter's, and compares what the job wrote with a
reference computed here, so neither the scenario nor the answer is in the notebook.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..data import START_MS, UserEvent, item_category
from .core import _fail, check, finish_answer, input_file, job_name, require, run_answer, submit_answer


def _rows(exercise: str, output: Path, example: str) -> list[list]:
    """The JSON array lines the learner's job wrote, or a failed check naming a line that is not one."""
    from ..pipelines.common import read_lines

    rows = []
    for line in read_lines(output):
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, list):
            _fail(exercise, f"the job wrote the line {line[:80]!r}, which is not a JSON array",
                  hint=f"write each line with as_line, as in {example}")
        rows.append(row)
    return rows


# --- 01.4: keyed state survives a crash ----------------------------------------------------------
LAST_THREE_NUMBERS = 8_000


def _half_key(n: int) -> int:
    """Keys 0-9 get the first half of the numbers, keys 10-19 the second: after a crash in the
    second half, the first ten keys get no new value, so only restored state can still name theirs."""
    return n % 10 + (10 if n >= LAST_THREE_NUMBERS // 2 else 0)


def last_three_reference() -> dict[int, list[int]]:
    last: dict[int, list[int]] = {}
    for n in range(LAST_THREE_NUMBERS):
        last[_half_key(n)] = (last.get(_half_key(n), []) + [n])[-3:]
    return last


def check_last_three(exercise: str, last_three) -> None:
    """Exercise 01.4: ``last_three`` (a KeyedProcessFunction class) emits ``"key,v1 v2 v3"`` per
    key at the end of the input. Its job is paced, and a TaskManager that runs it is killed once it
    has read more than half of the numbers and checkpointed after that: the first half's keys
    get no value after the restart, so an answer that keeps them anywhere but in keyed state loses them."""
    from pyflink.common import Types

    from ..current_lab import current
    from ..errors import JobFailed
    from ..jobs import job_config
    from ..pipelines.common import read_lines, sequence_source, text_sink
    from ..progress import Polling

    def build(env, *, output):
        sequence_source(env, LAST_THREE_NUMBERS, rate=1_000).key_by(_half_key, key_type=Types.LONG()) \
            .process(last_three(), output_type=Types.STRING()).name("last-three") \
            .sink_to(text_sink(output)).name("lines")

    hint = "get_list_state(ListStateDescriptor(name, Types.LONG())) in open(); update() replaces the list"
    cluster = current()
    job = submit_answer(exercise, build, name=job_name(exercise), hint=hint,
                        config=job_config(parallelism=1, checkpoint_interval="500ms"))
    try:
        job.wait_running()
        with Polling(at_most=60) as poll:
            while job.state() == "RUNNING" and job.records_in("last-three") < 0.55 * LAST_THREE_NUMBERS \
                    and not poll.expired:
                poll.pause(0.1)
        job.wait_for_checkpoints(job.checkpoints()["counts"]["completed"] + 1, timeout=60)
    except JobFailed:
        _fail(exercise, f"the job failed: {job.root_cause()[:300]}", hint)
    cluster.kill_taskmanager(job)
    cluster.start_taskmanager()
    finish_answer(exercise, job, hint, timeout=180)
    lines = read_lines(job.output)
    require(exercise, len(lines) == 20, f"{len(lines)} lines: expected one per key (20)",
            hint="emit from on_timer, which fires once per key when the input ends")
    try:
        got = {int(key): [int(v) for v in values.split()] for key, values in (line.split(",") for line in lines)}
    except ValueError:
        _fail(exercise, f"a line reads {lines[0]!r}, not 'key,v1 v2 v3'", hint="join the values with spaces")
    wrong = sorted(key for key, values in last_three_reference().items() if got.get(key) != values)
    check(exercise, not wrong, f"after the TaskManager was killed and the job restarted, {len(wrong)} of 20 keys "
                               f"name other values than their last three (keys {wrong[:5]}...)",
          hint="what Flink restores after a crash is keyed state: a field on self starts empty in the new "
               "worker, and is shared by every key of the task",
          success=f"every key's last three values, through {job.recoveries()} recovery")


# --- 01.5: broadcast rules -------------------------------------------------------------------------
def check_weighted_totals(exercise: str, weighted_totals) -> None:
    """Exercise 01.5: ``weighted_totals(env, *, records, keys, weights, output)`` wires the numbers
    0..records-1 keyed by ``n % keys`` to broadcast weights ``[(residue, weight), ...]`` and writes
    ``[key, weight of key % len(weights) × the key's sum]`` per key when the input ends. Run here on
    numbers, keys and weights of the check's own, at parallelism 2."""
    records, keys, weights = 5_000, 24, [(0, 3), (1, -1), (2, 10), (3, 0), (4, 7)]
    job = run_answer(exercise, weighted_totals, name=job_name(exercise),
                     hint="the weights arrive on their own stream: broadcast it with a MapStateDescriptor and "
                          "connect it to the keyed numbers", records=records, keys=keys, weights=weights)
    rows = _rows(exercise, job.output, "as_line(key, total)")
    require(exercise, len(rows) == keys, f"{len(rows):,} lines for {keys} keys: expected one per key",
            hint="a key's total is known when the input ends: what fires then?")
    by_residue = dict(weights)
    expected = {key: by_residue[key % len(weights)] * sum(range(key, records, keys)) for key in range(keys)}
    got = {row[0]: row[1] for row in rows if len(row) == 2}
    wrong = sorted(key for key in expected if got.get(key) != expected[key])
    check(exercise, not wrong, f"{len(wrong)} of {keys} keys have another total (keys {wrong[:5]}...)",
          hint="each key's sum is keyed state; its weight is read from the broadcast state, once every weight "
               "has arrived",
          success=f"{keys} keys, each weighted by the rule its subtask holds in broadcast state")


# --- 04.4: windows with allowed lateness and a late side output ------------------------------------
LATE_BOUND_MS, LATE_LATENESS_MS, LATE_SPACING_MS = 5_000, 180_000, 250
WITHIN_LATENESS_MS, BEYOND_LATENESS_MS = 70_000, 480_000
LATE_RATE = 300  # records/s: 75 s of event time per second, so 60 s of slack is 0.8 s of lag


def late_events() -> list[UserEvent]:
    """In order but for planted records: every 40th, once 8 min have passed, is behind the newest
    event by 70 s (its window has fired; allowed lateness takes it) or by 8 min (beyond it)."""
    events, planted = [], 0
    for i in range(2_400):
        now = START_MS + i * LATE_SPACING_MS
        events.append(UserEvent(f"user-{i % 10}", f"item-{i % 97}", "view", now, f"s-{i % 10}"))
        if i % 40 == 0 and now - START_MS >= BEYOND_LATENESS_MS:
            behind = WITHIN_LATENESS_MS if planted % 2 == 0 else BEYOND_LATENESS_MS
            events.append(UserEvent(f"user-{planted % 7}", "item-late", "view", now - behind, "late"))
            planted += 1
    return events


def check_late_aware_windows(exercise: str, late_aware_windows) -> None:
    """Exercise 04.4: ``late_aware_windows(env, *, events_file, output, rate)`` counts each user's
    events in 1-min tumbling event-time windows (bound 5 s, allowed lateness 3 min) and sends
    records later than that to a side output: ``["window", user, start, events]`` at every firing,
    ``["late", user, timestamp]`` per late record. Run on a stream of the check's own."""
    from ..pipelines import windows

    events = late_events()
    kinds = ("tumble-1m",)
    expected = windows.reference(events, (LATE_BOUND_MS,), kinds, allowed_lateness_ms=LATE_LATENESS_MS)
    branch = windows.branch_label("tumble-1m", LATE_BOUND_MS)
    job = run_answer(exercise, late_aware_windows, name=job_name(exercise),
                     events_file=input_file(exercise, (event.to_json() for event in events)),
                     rate=LATE_RATE, hint="source -> timestamps and watermarks -> key_by -> window -> sink; "
                                          "the chapter's build shows every step")
    rows = _rows(exercise, job.output, 'as_line("window", user, start, events)')
    fired: Counter = Counter()
    counts: dict[tuple[str, int], int] = {}
    late = 0
    for row in rows:
        if row[:1] == ["window"] and len(row) == 4:
            _, user, start, count = row
            counts[(user, start)] = max(counts.get((user, start), 0), count)
            fired[(user, start)] += 1
        elif row[:1] == ["late"]:
            late += 1
    require(exercise, counts, f"none of the job's {len(rows):,} lines is a window's ['window', user, start, events]",
            hint="write each window's result with as_line('window', user, window.start, events)")
    require(exercise, late == expected.late[branch],
            f"{late:,} records reached the late output, expected {expected.late[branch]:,}: "
            + ("too many: records that come back within the allowed lateness update their window instead"
               if late > expected.late[branch] else "records beyond the allowed lateness must not vanish"),
            hint="a fired window can take late records for a while longer, and what comes later still goes to a "
                 "side output: two settings of the windowed stream")
    wrong = [key for key, (count, _) in expected.branch(branch).items() if counts.get(key) != count]
    require(exercise, not wrong and len(counts) == len(expected.branch(branch)),
            f"{len(wrong):,} of {len(expected.branch(branch)):,} windows end with another count "
            f"(or {len(counts) - len(expected.branch(branch)):+,} windows)",
            hint="1-minute windows of event time, per user, out of order by at most 5 s")
    refired = sum(times > 1 for times in fired.values())
    check(exercise, refired > 0, "no window fired a second time, yet late records were counted",
          hint="allowed lateness makes a window fire again with each late record it takes",
          success=f"{len(counts):,} windows, {refired} of them fired again by a late record, {late} records late")


# --- 07.4: the recommender's interests in MapState, forgotten by TTL ------------------------------
PROFILE_RATE, PROFILE_TTL_MS = 250, 1_500


def _items_by_category() -> dict[str, str]:
    found: dict[str, str] = {}
    n = 0
    while len(found) < 3:
        found.setdefault(item_category(f"item-{n}"), f"item-{n}")
        n += 1
    return found


def profile_events() -> list[UserEvent]:
    """Eight users read one category each, round robin, for 4 s of paced replay; "returning" reads
    two categories at the start and one of them again in the last 0.2 s: a pause of about 3.5 s,
    longer than the TTL, while no other user pauses for more than a few records."""
    first, second, third = _items_by_category().values()
    events = []
    for i in range(1_000):
        returning = i < 30 or i >= 950
        user = "returning" if returning and i % 3 == 0 else f"user-{i % 8}"
        item = (first if i < 30 and i % 2 else second) if user == "returning" else (first, third)[i % 8 % 2]
        events.append(UserEvent(user, item, "view", START_MS + i * 1_000, f"s-{user}"))
    return events


def profile_reference(events: list[UserEvent]) -> dict[tuple[str, str], int]:
    """Each (user, category)'s count since its last write more than the TTL ago (processing time,
    the replay's pace), as MapState with TTL keeps it: an entry expires on its own."""
    counts: dict[tuple[str, str], int] = {}
    written: dict[tuple[str, str], float] = {}
    for index, event in enumerate(events):
        key, now = (event.user_id, item_category(event.item_id)), index / PROFILE_RATE
        expired = key in written and (now - written[key]) * 1000 > PROFILE_TTL_MS
        counts[key] = 1 if expired or key not in counts else counts[key] + 1
        written[key] = now
    return counts


def check_interest_profiles(exercise: str, interest_profiles) -> None:
    """Exercise 07.4: ``interest_profiles(env, *, events_file, output, rate, ttl_ms)`` keeps each
    user's count per category in MapState whose entries expire ``ttl_ms`` after their last write,
    and writes ``[user, category, count, event timestamp]`` on every event. Run on users of the
    check's own, one of whom comes back after a pause longer than the TTL."""

    events = profile_events()
    job = run_answer(exercise, interest_profiles, name=job_name(exercise),
                     events_file=input_file(exercise, (event.to_json() for event in events)),
                     rate=PROFILE_RATE, ttl_ms=PROFILE_TTL_MS,
                     hint="parsed events -> key_by(user) -> your KeyedProcessFunction -> sink")
    newest: dict[tuple[str, str], tuple[int, int]] = {}
    for row in _rows(exercise, job.output, "as_line(user, category, count, event.timestamp)"):
        if len(row) == 4:
            user, category, count, timestamp = row
            newest[(user, category)] = max(newest.get((user, category), (timestamp, count)), (timestamp, count))
    expected = profile_reference(events)
    require(exercise, set(newest) == set(expected),
            f"the job wrote counts for {len(newest)} (user, category) pairs, expected {len(expected)}",
            hint="one line [user, category, count, event.timestamp] per event")
    wrong = sorted(key for key, count in expected.items() if newest[key][1] != count)
    returning = [key for key in wrong if key[0] == "returning"]
    check(exercise, not wrong,
          f"{len(wrong)} counts differ" + (": the returning user's old interest survived a pause longer than the TTL"
                                           if returning == wrong else ""),
          hint="state forgets only what a StateTtlConfig on its descriptor tells it to: how long after which "
               "access does an entry expire, and what may a read of an expired entry return?",
          success=f"{len(expected)} interests, and the returning user's old one forgotten after {PROFILE_TTL_MS:,} ms")


# --- 00.4: a standalone job, submitted with flink run -py ----------------------------------------
def check_script_job(exercise: str, script: Path) -> None:
    """Exercise 00.4: the script ``script``, run as ``flink run -py script <events file> <output
    folder>``, counts the events of each type in the file and writes one ``type,count`` line per
    type. Run on a file of the check's own."""
    from ..current_lab import current
    from ..data import generate_user_events
    from ..errors import ExerciseNotDone, JobFailed
    from ..jobs import run_script
    from ..outputs import output_dir
    from ..pipelines.common import read_lines

    text = Path(script).read_text() if Path(script).exists() else ""
    require(exercise, text, f"there is no script at {script}", hint="run the exercise cell: %%writefile writes it")
    if "ExerciseNotDone" in text:
        raise ExerciseNotDone(f"exercise {exercise} is not answered yet")
    require(exercise, '__name__ == "__main__"' in text or "__name__ == '__main__'" in text,
            "the script builds its job at import time",
            hint="Flink's Python workers import the script again to find its functions: only the program "
                 "that submits may build and execute the job")
    log = generate_user_events(1_200, seed=17, users=30)
    source = input_file(exercise, log.lines)
    output = output_dir(job_name(exercise), cluster=current())
    try:
        job = run_script(script, str(source), str(output), timeout=180)
    except JobFailed as error:
        _fail(exercise, f"flink run -py failed: {str(error).splitlines()[-1][:300]}",
              hint="a script submits a job when it calls env.execute(); the lines above the last one say "
                   "what Flink refused")
    finish_answer(exercise, job, hint="read the job's exceptions in the Web UI", timeout=180)
    lines = read_lines(output)
    expected = Counter(event.event_type for event in log.events)
    require(exercise, len(lines) == len(expected),
            f"{len(lines):,} lines for {len(expected)} event types"
            + (": each count was written every time it changed" if len(lines) > len(expected) else ""),
            hint="a bounded input can run in the runtime mode that writes only each key's final result")
    try:
        got = {kind: int(count) for kind, count in (line.rsplit(",", 1) for line in lines)}
    except ValueError:
        _fail(exercise, f"a line reads {lines[0]!r}, not 'type,count'", hint="write f\"{event_type},{count}\"")
    check(exercise, got == dict(expected),
          "the counts per type differ from the file's", hint="count every line of the file once",
          success=f"{len(log.events):,} events counted by a job submitted with flink run -py")


__all__ = ["check_interest_profiles", "check_last_three", "check_late_aware_windows", "check_script_job",
           "check_weighted_totals"]
