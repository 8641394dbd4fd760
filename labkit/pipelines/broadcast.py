"""Chapter 01: broadcast state, the one kind of operator state a Python function has.

numbers 0..records-1 (JVM) -> key_by(n % keys) -----------------------------.
                                                                            connect -> LabelByRule -> "key,label,count"
rules [(residue, label), ...] (JVM) -> broadcast(RULES: MapState) ----------'

Every parallel instance of ``LabelByRule`` receives every rule and keeps the same copy of them
in its broadcast state; each key is counted in keyed state and, when the input ends, labelled by
the rule for ``key % len(rules)`` read from that copy. The end-of-input timer fires only after
both inputs have ended, so every rule has arrived by then, whatever the order of the two streams.
"""
from __future__ import annotations

from pathlib import Path

from pyflink.common import Types
from pyflink.datastream import KeyedBroadcastProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from .common import END_OF_TIME, read_lines, sequence_source, text_sink

RULES = MapStateDescriptor("rules", Types.LONG(), Types.STRING())


class LabelByRule(KeyedBroadcastProcessFunction):
    def __init__(self, classes: int):
        self.classes = classes  # rules are numbered by residue: 0 .. classes-1

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_broadcast_element(self, rule, ctx):
        residue, label = rule
        ctx.get_broadcast_state(RULES).put(residue, label)  # writable here, read-only on the keyed side

    def process_element(self, value, ctx):
        count = (self.count.value() or 0) + 1
        self.count.update(count)
        if count == 1:
            ctx.timer_service().register_event_time_timer(END_OF_TIME)
        return ()

    def on_timer(self, timestamp, ctx):
        key = ctx.get_current_key()
        yield f"{key},{ctx.get_broadcast_state(RULES).get(key % self.classes)},{self.count.value()}"


def build(env, *, records: int, keys: int, rules: list[tuple[int, str]], output: Path, parallelism: int = 2) -> None:
    env.set_parallelism(parallelism)
    broadcast_rules = env.from_collection(rules, type_info=Types.TUPLE([Types.LONG(), Types.STRING()])).broadcast(RULES)
    sequence_source(env, records).key_by(lambda n: n % keys, key_type=Types.LONG()) \
        .connect(broadcast_rules) \
        .process(LabelByRule(len(rules)), output_type=Types.STRING()).name("label-by-rule") \
        .sink_to(text_sink(output)).name("labelled")


def read_labels(output: Path) -> dict[int, tuple[str, int]]:
    """``{key: (label, count)}``."""
    labelled = {}
    for line in read_lines(output):
        key, label, count = line.split(",")
        labelled[int(key)] = (label, int(count))
    return labelled


def reference_labels(records: int, keys: int, rules: list[tuple[int, str]]) -> dict[int, tuple[str, int]]:
    by_residue = dict(rules)
    counts = {key: 0 for key in range(min(records, keys))}
    for n in range(records):
        counts[n % keys] += 1
    return {key: (by_residue[key % len(by_residue)], count) for key, count in counts.items()}
