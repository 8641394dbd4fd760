"""Any line a producer could write becomes an event or a counted reason: never another exception,
never an event the job cannot carry; and any id of an event comes back out of a job unchanged
(property-based, over arbitrary text and JSON, not the lab's own generators)."""
import json
import random
import re
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labkit as lk
from labkit.data import EVENT_TYPES, MAX_TIMESTAMP_MS, START_MS, UserEvent, parse_event
from labkit.errors import MalformedEvent
from labkit.pipelines import event_counts
from labkit.pipelines.common import as_line, read_rows
from labkit.recommender import pipeline as rp
from labkit.recommender import runs
from labkit.recommender.model import Recommender

FIELDS = ("user_id", "item_id", "event_type", "timestamp", "session_id")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
# values near the valid ones: right types, wrong ranges, separators and escapes in the ids
near_valid = st.one_of(
    st.text(alphabet=st.characters(codec=None), max_size=12),
    st.sampled_from([*EVENT_TYPES, "VIEW", "", "hover", ",", "|", "\n", "a\u2028b", "\x85", '"', "ü", "\ud800"]),
    st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, 10**12 - 1, 10**12, MAX_TIMESTAMP_MS, MAX_TIMESTAMP_MS + 1, 2**63 - 1, 2**63]),
    json_values)
# text as producers may send it: separators, quotes, escapes, brackets, every line break Python or
# Flink splits at, control characters, any script (no lone surrogates: no UTF-8 text holds one, so
# parse_event rejects them)
TRICKY = [",", "|", ":", ";", '"', "'", "\\", " ", "\t", "\n", "\r", "\r\n", "\x00", "\x0b", "\x0c", "\x1c", "\x1e",
          "\x85", "\u2028", "\u2029", "[", "]", "{", "}", "ü", "日本", "🙂"]
any_text = st.lists(st.sampled_from(TRICKY) | st.characters(codec="utf-8"), max_size=12).map("".join)


def outcome(line):
    """The event, or the MalformedEvent's reason; any other exception fails the test."""
    try:
        return parse_event(line)
    except MalformedEvent as bad:
        assert bad.reason and isinstance(bad.reason, str)
        return bad.reason


def assert_carriable(event) -> None:
    for name in ("user_id", "item_id", "event_type", "session_id"):
        getattr(event, name).encode("utf-8")  # the sources, sinks and key serializers hold UTF-8
    # it survives its own serialisation (a replay's, a Kafka producer's); compared as text, because
    # a NaN in the metadata never equals itself
    assert parse_event(event.to_json()).to_json() == event.to_json()
    # what a job writes of its ids is one line of ASCII, and the reader gives every id back
    ids = [event.user_id, event.item_id, event.session_id]
    line = as_line(*ids)
    assert line.isascii() and len(line.splitlines()) == 1 and json.loads(line) == ids
    assert 10**12 <= event.timestamp <= MAX_TIMESTAMP_MS < 2**63
    assert isinstance(event.metadata, dict)


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_any_text_is_an_event_or_a_reason(line):
    result = outcome(line)
    if not isinstance(result, str):
        assert_carriable(result)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_any_json_value_is_an_event_or_a_reason(value):
    result = outcome(json.dumps(value))
    if not isinstance(result, str):
        assert_carriable(result)


@settings(max_examples=600, deadline=None)
@given(st.fixed_dictionaries({}, optional={name: near_valid for name in (*FIELDS, "metadata")}))
def test_objects_with_the_event_fields_are_events_the_job_can_carry_or_reasons(fields):
    result = outcome(json.dumps(fields))
    if isinstance(result, str):
        return
    assert_carriable(result)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(any_text | st.integers(), max_size=6), max_size=8))
def test_output_lines_give_back_any_text_unchanged(rows):
    lines = [as_line(*row) for row in rows]
    assert all(line.isascii() and len(line.splitlines()) == 1 for line in lines)
    with tempfile.TemporaryDirectory() as folder:
        # as Flink's text sink writes them: each line and a \n, into a committed part file
        (Path(folder) / "part-0-0").write_text("".join(line + "\n" for line in lines))
        assert read_rows(folder) == rows


@given(any_text)
def test_an_event_with_any_text_as_its_ids_is_accepted(text):
    event = UserEvent(text, text, "view", START_MS, text, {"seq": 1})
    assert parse_event(event.to_json()) == event
    assert_carriable(event)


@given(st.integers(min_value=1, max_value=5000))
def test_brackets_nested_deeper_than_python_can_parse_are_a_reason(depth):
    assert outcome("[" * depth * 10 + "]" * depth * 10) in ("not-an-object", "not-json")


def _damaged_lines(seed: int = 7, count: int = 1_500) -> bytes:
    """Lines as careless or hostile producers write them: every kind of damage, mixed with good ones."""
    rng = random.Random(seed)
    good = {"user_id": "u1", "item_id": "i1", "event_type": "view", "timestamp": 1_700_000_000_000, "session_id": "s1"}
    damage = [
        lambda: json.dumps(good),
        lambda: json.dumps({**good, "user_id": rng.choice([",", "|", '"', "ü", "a|b,c", "\u2603", " "])}),
        lambda: json.dumps({**good, "user_id": "\ud800"}),                      # a lone surrogate, escaped
        lambda: json.dumps({**good, "timestamp": rng.choice([2**63, 2**64, MAX_TIMESTAMP_MS + 1, -1, 1.5e12])}),
        lambda: json.dumps({**good, "timestamp": float("nan")}),
        lambda: json.dumps({**good, "event_type": rng.choice(["VIEW", "", None, 3])}),
        lambda: json.dumps({**good, "metadata": rng.choice([[], "x", {"seq": "1"}, {"seq": -5}, {"seq": 2**70}])}),
        lambda: json.dumps({k: v for k, v in good.items() if k != rng.choice(FIELDS)}),
        lambda: "[" * rng.randint(1_000, 20_000),
        lambda: '{"a":' * rng.randint(1_000, 20_000),
        lambda: rng.choice(["", " ", "null", "true", "42", '"text"', "{}", "[]", "NaN", "-Infinity", "{,}"]),
        lambda: "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 60))),
        lambda: json.dumps(good)[: rng.randint(0, 60)],
        lambda: "x" * rng.randint(10_000, 40_000),
    ]
    lines = [rng.choice(damage)().encode("utf-8", "surrogatepass") for _ in range(count)]
    lines += [b"\xff\xfe{\"broken\": bytes}", b"\xc3(", b"\x00\x01\x02"]  # not UTF-8 at all
    return b"\n".join(lines) + b"\n"


@pytest.mark.cluster
def test_a_job_over_any_lines_ends_without_restarts_and_accounts_for_every_line(healthy_cluster):
    raw = _damaged_lines()
    events_dir = healthy_cluster.settings.data_dir / "t-any-line"
    events_dir.mkdir(parents=True, exist_ok=True)
    (events_dir / "lines.jsonl").write_bytes(raw)
    job = lk.submit(event_counts.build, name="t-any-line", config=lk.job_config(parallelism=1),
                    events_dir=events_dir, monitor_seconds=None).wait_finished(300)
    # the lines as Flink's text format reads them: UTF-8 with replacement, split at \n, \r or \r\n
    lines = re.split(r"\r\n|\r|\n", raw.decode("utf-8", "replace"))[:-1]
    outcomes = [outcome(line) for line in lines]
    expected = {"type": dict(Counter(o.event_type for o in outcomes if not isinstance(o, str))),
                "malformed": dict(Counter(o for o in outcomes if isinstance(o, str)))}
    assert job.recoveries() == 0 and job.exceptions() == []
    totals = event_counts.read_totals(job.output)
    assert totals == expected
    assert sum(totals["type"].values()) + sum(totals["malformed"].values()) == len(lines)


def _events_of(ids: list[str]) -> list[UserEvent]:
    """Each id is a user (and that user's session) and an item: user k views items k and k+1, then,
    once every user has, item k+2, whose row by then holds k+3, which user k has not seen: so the
    lists carry ids too."""
    n = len(ids)
    uses = [(k, k + step) for k in range(n) for step in (0, 1)] + [(k, k + 2) for k in range(n)]
    return [UserEvent(ids[user], ids[item % n], "view", START_MS + seq * 1_000, ids[user], {"seq": seq})
            for seq, (user, item) in enumerate(uses)]


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(any_text, min_size=10, max_size=25, unique=True))
def test_any_ids_come_back_unchanged_from_the_recommender_on_the_cluster(healthy_cluster, ids):
    events = _events_of(ids)
    rejected = ids[0]
    reason = f'a reason, too | may say "{rejected}"\n'

    def reject_first(event):  # a learner's rule (exercise 07.1): its reason is any text too
        return reason if event.user_id == rejected else None

    job = runs.run_bounded("t-any-ids", [e.to_json() for e in events], lk.job_config(parallelism=1),
                           emit_profiles=True, checks=[reject_first])
    accepted = [e for e in events if e.user_id != rejected]
    reference = Recommender()
    expected = reference.run(accepted)
    assert any(r.items for r in expected), "some lists should hold ids"
    assert job.recoveries() == 0
    assert rp.read_malformed(job.output) == {reason: len(events) - len(accepted)}
    assert rp.read_recommendations(job.output) == expected  # users, items and the ids in the lists
    profiles = rp.read_profiles(job.output)
    assert profiles == {user: profile.as_dict() for user, profile in reference.profiles.items()}
    assert set(profiles) == set(ids[1:])
