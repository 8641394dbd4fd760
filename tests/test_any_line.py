"""Any line a producer could write becomes an event or a counted reason: never another exception,
never an event the job cannot carry (property-based, over arbitrary text and JSON, not the lab's
own generators)."""
import json
import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labkit as lk
from labkit.data import EVENT_TYPES, MAX_TIMESTAMP_MS, OUTPUT_SEPARATORS, parse_event
from labkit.errors import MalformedEvent
from labkit.pipelines import event_counts

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


def outcome(line):
    """The event, or the MalformedEvent's reason; any other exception fails the test."""
    try:
        return parse_event(line)
    except MalformedEvent as bad:
        assert bad.reason and isinstance(bad.reason, str)
        return bad.reason


def assert_carriable(event) -> None:
    for name in ("user_id", "item_id", "event_type", "session_id"):
        text = getattr(event, name)
        text.encode("utf-8")  # the sinks and key serializers write UTF-8
        # one field of one output line: the readers split lines, then fields
        assert len(f"x{text}x".splitlines()) == 1 and not OUTPUT_SEPARATORS.intersection(text), repr(text)
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
    assert parse_event(result.to_json()) == result  # an accepted event survives its own serialisation


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
