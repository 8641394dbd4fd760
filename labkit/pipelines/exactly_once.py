"""Chapter 03: exactly-once from end to end. Kafka in, Kafka out, and the sink's guarantee.

    Kafka topic of numbers -> (paced) -> "number|emitted_ms" -> KafkaSink EXACTLY_ONCE  -> topic A
                                                             -> KafkaSink AT_LEAST_ONCE -> topic B

A checkpoint stores the source's offsets with the job's state. After a failure the job goes back
to them and processes again what came after: whatever a sink wrote in between is written twice,
unless the sink wrote it inside a Kafka transaction that only the checkpoint commits (two-phase
commit: pre-commit when the barrier passes, commit when the checkpoint is complete). A consumer
with ``isolation.level=read_committed`` sees a transaction's records when it commits.
"""
from __future__ import annotations

import time

from pyflink.common import Types, WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import (
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
)

from .common import throttled


def number_source(bootstrap_servers: str, topic: str) -> KafkaSource:
    """Every record of ``topic`` from the beginning, up to the offsets it had when the job started
    (so the job finishes). The offsets read are part of each checkpoint."""
    return KafkaSource.builder() \
        .set_bootstrap_servers(bootstrap_servers) \
        .set_topics(topic) \
        .set_group_id(f"{topic}-reader") \
        .set_starting_offsets(KafkaOffsetsInitializer.earliest()) \
        .set_bounded(KafkaOffsetsInitializer.latest()) \
        .set_value_only_deserializer(SimpleStringSchema()) \
        .build()


def line_sink(bootstrap_servers: str, topic: str, guarantee: DeliveryGuarantee,
              transaction_timeout_ms: int = 60_000) -> KafkaSink:
    """A sink of text lines to ``topic`` with the given delivery guarantee.

    EXACTLY_ONCE writes each checkpoint's records in a Kafka transaction: the transactional id
    prefix names this sink's transactions (unique per sink on a broker, stable across restarts, so
    a restarted job can abort its predecessor's leftovers), and the transaction timeout must
    outlast the longest time between two checkpoints plus a restart, or the broker aborts a
    transaction before the checkpoint commits it (records lost). It may not exceed the broker's
    ``transaction.max.timeout.ms`` (15 min by default)."""
    builder = KafkaSink.builder() \
        .set_bootstrap_servers(bootstrap_servers) \
        .set_record_serializer(KafkaRecordSerializationSchema.builder()
                               .set_topic(topic)
                               .set_value_serialization_schema(SimpleStringSchema())
                               .build()) \
        .set_delivery_guarantee(guarantee)
    if guarantee == DeliveryGuarantee.EXACTLY_ONCE:
        builder = builder \
            .set_transactional_id_prefix(f"{topic}-tx") \
            .set_property("transaction.timeout.ms", str(transaction_timeout_ms))
    return builder.build()


def stamp(number: str) -> str:
    """The number and when this job emitted it (ms): a reader tells how long it took to see it."""
    return f"{number}|{int(time.time() * 1000)}"


def build(env, *, bootstrap_servers: str, source_topic: str, exactly_once_topic: str, at_least_once_topic: str,
          rate: float) -> None:
    """One stream, two sinks: the same records, the same checkpoints and the same failure reach
    both topics, so what differs between them is the sink's guarantee alone."""
    numbers = env.from_source(number_source(bootstrap_servers, source_topic), WatermarkStrategy.no_watermarks(),
                              "numbers")
    stamped = throttled(numbers, rate, Types.STRING()).map(stamp, output_type=Types.STRING()).name("stamp")
    stamped.sink_to(line_sink(bootstrap_servers, exactly_once_topic, DeliveryGuarantee.EXACTLY_ONCE)) \
        .name("exactly-once")
    stamped.sink_to(line_sink(bootstrap_servers, at_least_once_topic, DeliveryGuarantee.AT_LEAST_ONCE)) \
        .name("at-least-once")


def build_copy(env, *, source: KafkaSource, sink: KafkaSink, rate: float) -> None:
    """numbers -> (paced) -> "number|emitted_ms" -> ``sink``: a copy of the topic ``source`` reads,
    with any source and sink (exercise 03.5 runs yours in it)."""
    numbers = env.from_source(source, WatermarkStrategy.no_watermarks(), "numbers")
    throttled(numbers, rate, Types.STRING()).map(stamp, output_type=Types.STRING()).name("stamp") \
        .sink_to(sink).name("sink")
