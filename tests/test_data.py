"""Pure parts: the generators, parsing and stable hashing (no cluster)."""
import json

import pytest

from labkit.data import EVENT_TYPES, generate_user_events, item_category, parse_event, stable_hash
from labkit.errors import LabError, MalformedEvent


def test_same_seed_same_events_other_seed_other_events():
    a = generate_user_events(500, seed=7, max_delay_ms=2000, late_fraction=0.02, malformed_fraction=0.01)
    b = generate_user_events(500, seed=7, max_delay_ms=2000, late_fraction=0.02, malformed_fraction=0.01)
    c = generate_user_events(500, seed=8, max_delay_ms=2000, late_fraction=0.02, malformed_fraction=0.01)
    assert a.lines == b.lines
    assert a.lines != c.lines


def test_in_order_without_delay_and_timestamps_in_epoch_ms():
    log = generate_user_events(300, seed=1, events_per_second=50)
    times = [e.timestamp for e in log.events]
    assert times == sorted(times)
    assert times[1] - times[0] == 20
    assert all(t > 10**12 for t in times)
    assert {e.event_type for e in log.events} <= set(EVENT_TYPES)


def test_out_of_orderness_is_bounded_except_for_the_planted_late_events():
    bound = 3000
    log = generate_user_events(3000, seed=3, events_per_second=100, max_delay_ms=bound,
                               late_fraction=0.01, late_delay_ms=60_000)
    late = set(map(id, log.late))
    assert 10 <= len(log.late) <= 60
    max_seen = 0
    for event in log.events:
        if id(event) not in late:
            assert event.timestamp >= max_seen - bound, "an on-time event arrived later than the bound"
            max_seen = max(max_seen, event.timestamp)
    # every planted late event is behind a watermark of (max seen - bound) when it arrives
    max_seen = 0
    behind = 0
    for event in log.events:
        if id(event) in late and event.timestamp < max_seen - bound:
            behind += 1
        max_seen = max(max_seen, event.timestamp)
    assert behind == len(log.late)


def test_malformed_lines_are_rejected_with_their_planted_reason():
    log = generate_user_events(1000, seed=5, malformed_fraction=0.05)
    assert len(log.malformed) == 50
    assert len(log.lines) == 1050
    for reason, raw in log.malformed:
        with pytest.raises(MalformedEvent) as info:
            parse_event(raw)
        assert info.value.reason == reason
    good = [parse_event(line) for line in log.lines if line not in {raw for _, raw in log.malformed}]
    assert good == log.events


def test_parse_rejects_seconds_and_wrong_types():
    event = generate_user_events(1, seed=0).events[0]
    row = json.loads(event.to_json())
    assert parse_event(event.to_json()) == event
    for broken, reason in [({**row, "timestamp": row["timestamp"] // 1000}, "timestamp-not-ms"),
                           ({**row, "timestamp": True}, "bad-timestamp"),
                           ({**row, "metadata": [1]}, "bad-metadata"),
                           ([row], "not-an-object")]:
        with pytest.raises(MalformedEvent) as info:
            parse_event(json.dumps(broken))
        assert info.value.reason == reason


def test_stable_hash_is_crc32_and_categories_are_fixed():
    assert stable_hash("item-42") == 3_355_916_728
    assert item_category("i0001") == item_category("i0001")
    assert len({item_category(f"i{n:04d}") for n in range(200)}) == 8


def test_generator_refuses_late_events_that_would_not_be_late():
    with pytest.raises(LabError):
        generate_user_events(10, max_delay_ms=5000, late_fraction=0.1, late_delay_ms=1000)
