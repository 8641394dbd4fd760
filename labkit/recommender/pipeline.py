"""The real-time recommender on Flink (chapter 07): :mod:`labkit.recommender.model`, keyed twice.

    lines (file replay, or Kafka) -> parse + validate ──> event time (epoch ms)
        -> key by user: UpdateProfile (profile in ValueState with TTL)
             emits a pair update to each of the session's items and one request per event,
             which carries the pair update of the event's own item
             (its TTL's visibility keeps PyFlink's writes in the worker until the bundle ends: see UpdateProfile)
        -> key by item: Recommend (the item's co-occurrence row in ValueState)
             adds pairs to rows; answers a request with the top-K of that item's row
        -> [seq, user, item, event_ms, emitted_ms, [rec1, rec2, ...]] lines (recs/)
    side outputs: (reason, line) of malformed lines -> counts per reason   (malformed/)
                  each user's profile after each event, when asked          (profiles/)

A request travels behind the pair updates of the events before it, through the same channel, so
at parallelism 1 the job does exactly what :class:`labkit.recommender.model.Recommender` does.
"""
from __future__ import annotations

import time
from pathlib import Path

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, OutputTag
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from ..data import parse_event
from ..errors import LabError, MalformedEvent
from ..pipelines.common import RunningCount, as_line, cap_python_bundles, read_rows, text_sink, ttl_config, watermarks
from ..pipelines.events import line_source, parse
from .model import EVENT_WEIGHTS, Profile, RecConfig, Recommendation, add_pairs, rank

PROFILES = OutputTag("profiles", Types.STRING())
DAY_MS = 24 * 3_600_000


class UpdateProfile(KeyedProcessFunction):
    """Keyed by user. The profile expires after ``ttl_ms`` of processing time without a write
    (PyFlink's TTL knows no event time; the interests' decay is what follows event time).

    The TTL's visibility is ReturnExpiredIfNotCleanedUp: with NeverReturnExpired PyFlink 2.3 writes
    every update() through to the JVM at once, a blocking round trip per call, instead of at the
    bundle's end (pyflink/fn_execution/state_impl.py: ``enable_time_to_live`` marks the state
    DISABLE_CACHE, ``_maybe_clear_write_cache`` commits); reads are served from the worker's cache
    either way. Chapter 07 measures what that costs."""

    def __init__(self, config: RecConfig, ttl_ms: int, emit_profiles: bool,
                 ttl_visibility: str = "ReturnExpiredIfNotCleanedUp"):
        self.config = config
        self.ttl_ms = ttl_ms
        self.emit_profiles = emit_profiles
        self.ttl_visibility = ttl_visibility

    def open(self, runtime_context):
        descriptor = ValueStateDescriptor("profile", Types.PICKLED_BYTE_ARRAY())
        descriptor.enable_time_to_live(ttl_config(self.ttl_ms, visibility=self.ttl_visibility, cleanup="full snapshot"))
        self.profile = runtime_context.get_state(descriptor)

    def process_element(self, event, ctx):
        profile = self.profile.value() or Profile()
        partners = profile.apply(event, self.config)
        self.profile.update(profile)
        weight = EVENT_WEIGHTS[event.event_type]
        for other in partners:  # each of the session's items gains this item in its row
            yield "pairs", other, (event.item_id,), weight
        seq = event.metadata.get("seq", -1)
        # The request also carries this item's own pair update: one record and one read of the
        # row fewer per event than sending the update on its own.
        yield "ask", event.item_id, tuple(partners), weight, event.user_id, ctx.timestamp(), seq, \
            tuple(profile.seen), profile.shares()
        if self.emit_profiles:
            yield PROFILES, as_line(event.user_id, seq, profile.as_dict())


class Recommend(KeyedProcessFunction):
    """Keyed by item: the item's co-occurrence row; answers requests from it."""

    def __init__(self, config: RecConfig):
        self.config = config

    def open(self, runtime_context):
        self.row = runtime_context.get_state(ValueStateDescriptor("row", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, record, ctx):
        row = self.row.value() or {}
        if record[0] == "pairs":
            _, _, others, weight = record
            add_pairs(row, others, weight, self.config)
            self.row.update(row)
            return
        _, item, partners, weight, user, event_ms, seq, seen, shares = record
        if partners:  # the row gains the session's items before it answers
            add_pairs(row, partners, weight, self.config)
            self.row.update(row)
        items = rank(row, item, seen, shares, self.config)
        yield as_line(seq, user, item, event_ms, int(time.time() * 1000), items)


def build(env, *, lines, output: Path, rec_config: RecConfig = RecConfig(), checks=(), ttl_ms: int = 7 * DAY_MS,
          out_of_orderness_ms: int = 5_000, emit_profiles: bool = False,
          ttl_visibility: str = "ReturnExpiredIfNotCleanedUp", rate: float | None = None) -> None:
    """The recommender on a stream of JSON lines; results in ``output``/recs, /malformed, /profiles.
    ``checks``: extra validation rules (see :class:`labkit.pipelines.events.ParseEvents`);
    ``rate``: events/s at most."""
    if rate:
        cap_python_bundles(env, rate)
    events, malformed = parse(lines, checks, rate)
    profiled = events.assign_timestamps_and_watermarks(watermarks(out_of_orderness_ms)) \
        .key_by(lambda e: e.user_id, key_type=Types.STRING()) \
        .process(UpdateProfile(rec_config, ttl_ms, emit_profiles, ttl_visibility),
                 output_type=Types.PICKLED_BYTE_ARRAY()) \
        .name("update-profile")
    profiled.key_by(lambda r: r[1], key_type=Types.STRING()) \
        .process(Recommend(rec_config), output_type=Types.STRING()).name("recommend") \
        .sink_to(text_sink(Path(output) / "recs")).name("recommendations")
    malformed.key_by(lambda bad: bad[0], key_type=Types.STRING()) \
        .process(RunningCount("malformed"), output_type=Types.STRING()).name("count-malformed") \
        .sink_to(text_sink(Path(output) / "malformed")).name("malformed")
    if emit_profiles:
        profiled.get_side_output(PROFILES).sink_to(text_sink(Path(output) / "profiles")).name("profiles")


def build_from_files(env, *, events: Path, output: Path, monitor_seconds: float | None = None, **options) -> None:
    """The embedded default: the lines of the files under ``events`` (kept watching with
    ``monitor_seconds``, e.g. while a :class:`labkit.Replayer` writes them)."""
    build(env, lines=line_source(env, events, monitor_seconds), output=output, **options)


def _kafka_connector(build):
    """Build a Kafka source or sink, or say clearly that the connector jar is missing."""
    try:
        return build()
    except TypeError as missing:
        if "Could not found the Java class" not in str(missing):
            raise
        raise LabError("the Kafka connector is not on this machine (the PyFlink wheel has none)",
                       hint="resolve it with `labkit jars` (`make setup` does), then `labkit up --restart` "
                            "puts it on the lab's cluster") from None


KAFKA_PARTITIONS = 4  # of the topic chapter 07 creates (and the docker-compose broker by default)


def kafka_lines(env, bootstrap_servers: str, topic: str = "user-events", group_id: str = "recommender",
                parallelism: int = KAFKA_PARTITIONS, bounded: bool = False, watermark_strategy=None):
    """The seed's Kafka source done the 2.x way: ``KafkaSource`` + ``from_source`` (the
    ``FlinkKafkaConsumer`` it used was removed in Flink 2.0). Needs the Kafka connector jar on
    the cluster's and the client's classpath: the lab puts it on both (``labkit jars``), the
    docker-compose image has it in /opt/flink/lib.

    The parallelism is set on the stream ``from_source`` returns (the seed's
    ``kafka_source.set_parallelism(4)`` does not exist): each partition is read by one reader,
    so readers beyond the topic's partition count get nothing (and, with watermarks made in the
    source, hold the watermark back unless the strategy has an idleness timeout).
    ``bounded``: stop at the offsets the partitions had when the job started, and finish.
    ``watermark_strategy``: watermarks made in the source, one per partition, from the records'
    Kafka timestamps (a Python timestamp assigner would be ignored here: PyFlink passes the
    strategy's Java part only); the recommender makes its own after parsing, so it needs none."""
    from pyflink.common import WatermarkStrategy
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

    def source():
        builder = KafkaSource.builder().set_bootstrap_servers(bootstrap_servers).set_topics(topic) \
            .set_group_id(group_id).set_starting_offsets(KafkaOffsetsInitializer.earliest()) \
            .set_value_only_deserializer(SimpleStringSchema())
        if bounded:
            builder = builder.set_bounded(KafkaOffsetsInitializer.latest())
        return builder.build()

    return env.from_source(_kafka_connector(source), watermark_strategy or WatermarkStrategy.no_watermarks(),
                           "kafka-events").set_parallelism(parallelism)


def build_kafka_readers(env, *, bootstrap_servers: str, topic: str, readers: int, output: Path,
                        idleness_ms: int | None = None) -> None:
    """The Kafka source alone, ``readers`` readers making watermarks per partition from the records'
    timestamps (5 s out of order at most, idle after ``idleness_ms`` without records), its lines
    written to files: how many records each reader gets, and where each one's watermark stands."""
    from pyflink.common import Duration, WatermarkStrategy
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(5))
    if idleness_ms:
        strategy = strategy.with_idleness(Duration.of_millis(idleness_ms))
    kafka_lines(env, bootstrap_servers, topic, group_id=f"{topic}-readers", parallelism=readers,
                watermark_strategy=strategy).sink_to(text_sink(Path(output) / "lines")).name("lines")


def build_from_kafka(env, *, bootstrap_servers: str, output: Path, topic: str = "user-events",
                     source_parallelism: int = KAFKA_PARTITIONS, bounded: bool = False, **options) -> None:
    """The recommender on a Kafka topic of events (the seed's source), e.g. the one
    :func:`labkit.kafka.publish` fills."""
    build(env, lines=kafka_lines(env, bootstrap_servers, topic, parallelism=source_parallelism, bounded=bounded),
          output=output, **options)


class SeedStyleMatrix(KeyedProcessFunction):
    """The seed's storage for collaborative filtering, keyed by user as it was: a MapState of
    "user:item" -> rating. Per event: how many entries it can see, and how many of them belong
    to another user (the ones user-based CF would need)."""

    def open(self, runtime_context):
        self.matrix = runtime_context.get_map_state(
            MapStateDescriptor("user_item_matrix", Types.STRING(), Types.FLOAT()))

    def process_element(self, event, ctx):
        self.matrix.put(f"{event.user_id}:{event.item_id}", EVENT_WEIGHTS[event.event_type])
        visible = list(self.matrix.keys())
        others = sum(1 for key in visible if not key.startswith(event.user_id + ":"))
        yield as_line(event.user_id, len(visible), others)


def build_seed_matrix(env, *, events: Path, output: Path) -> None:
    parsed, _ = parse(line_source(env, events))
    parsed.key_by(lambda e: e.user_id, key_type=Types.STRING()) \
        .process(SeedStyleMatrix(), output_type=Types.STRING()).name("seed-matrix") \
        .sink_to(text_sink(Path(output))).name("visible")


def read_seed_matrix(output: Path) -> dict:
    """Entries the seed's function could see: at most, and at most of other users'."""
    rows = read_rows(Path(output))
    return {"events": len(rows), "most entries visible": max((r[1] for r in rows), default=0),
            "most entries of other users visible": max((r[2] for r in rows), default=0)}


def read_recommendations(output: Path) -> list[Recommendation]:
    recs = [Recommendation(user, item, event_ms, seq, tuple(items))
            for seq, user, item, event_ms, _, items in read_rows(Path(output) / "recs")]
    return sorted(recs, key=lambda r: r.seq)


def read_emitted_ms(output: Path) -> dict[int, int]:
    """When each recommendation left the job (wall clock, ms), by the ``seq`` of its event."""
    return {seq: emitted_ms for seq, _, _, _, emitted_ms, _ in read_rows(Path(output) / "recs")}


def read_malformed(output: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, reason, count in read_rows(Path(output) / "malformed"):
        counts[reason] = max(counts.get(reason, 0), count)
    return counts


def read_profiles(output: Path) -> dict[str, dict]:
    """Each user's profile after the user's newest event."""
    newest: dict[str, tuple[int, dict]] = {}
    for user, seq, profile in read_rows(Path(output) / "profiles"):
        if user not in newest or seq > newest[user][0]:
            newest[user] = (seq, profile)
    return {user: profile for user, (_, profile) in newest.items()}


def lists_per_second(output: Path) -> float:
    """The job's steady throughput in events/s (one list per event), from the first list to leave
    the job to the last. The operators' numRecordsIn cannot tell it: a Python operator's JVM side
    takes in records a bundle (up to 20,000) at a time, ahead of the Python work, so on a stream of
    some ten thousand events the counter climbs in one or two steps."""
    emitted = sorted(read_emitted_ms(output).values())
    if len(emitted) < 2 or emitted[-1] == emitted[0]:
        raise LabError(f"{len(emitted)} recommendations in {output}: too few to time",
                       hint="run the job to the end on a stream of at least a few thousand events")
    return (len(emitted) - 1) / ((emitted[-1] - emitted[0]) / 1000)


def well_formed(lines: list[str]) -> list:
    """The events among ``lines`` that the job's parser accepts, in order."""
    events = []
    for line in lines:
        try:
            events.append(parse_event(line))
        except MalformedEvent:
            pass
    return events


