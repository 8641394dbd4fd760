"""Chapter 06: choosing the parallel instance each record goes to, with ``partition_custom``.

sequence (JVM) -> shuffle -> user name (Python, parallelism 2) -> partition_custom(partitioner, user)
  -> tag with the subtask that received it (Python, parallelism 2) -> "<user>,<subtask>" lines

The partitioner runs in the Python workers of the operator before it, one per subtask.
Python's ``hash()`` of a string is salted per interpreter (``PYTHONHASHSEED``), so two workers
started on their own send the same user to different subtasks, and a restarted job sends it
somewhere else again; ``zlib.crc32`` gives every worker and every run the same answer.
"""
from __future__ import annotations

import zlib
from collections import defaultdict
from pathlib import Path

from pyflink.common import Types
from pyflink.datastream import MapFunction

from .common import read_lines, sequence_source, text_sink


def user_of(n: int, users: int) -> str:
    return f"user-{n % users}"


def stable_partition(user: str, partitions: int) -> int:
    return zlib.crc32(user.encode()) % partitions


def salted_partition(user: str, partitions: int) -> int:
    """The tutorial's partitioner: stable only inside one Python interpreter."""
    return hash(user) % partitions


PARTITIONERS = {"crc32": stable_partition, "hash": salted_partition}


class TagSubtask(MapFunction):
    """Writes down which parallel instance received each user."""

    def open(self, runtime_context):
        self.subtask = runtime_context.get_index_of_this_subtask()

    def map(self, user):
        return f"{user},{self.subtask}"


def build(env, *, records: int, users: int, partitioner: str, output: Path, parallelism: int = 2) -> None:
    # shuffled at random, so that each user is named, and partitioned, in both workers (round robin
    # would send a user's numbers to the same worker every time)
    names = sequence_source(env, records).shuffle() \
        .map(lambda n: user_of(n, users), output_type=Types.STRING()).set_parallelism(parallelism).name("user")
    names.partition_custom(PARTITIONERS[partitioner], lambda user: user) \
        .map(TagSubtask(), output_type=Types.STRING()).set_parallelism(parallelism).name("tag-subtask") \
        .sink_to(text_sink(output)).name("subtasks")


def read_subtasks(output: Path) -> dict[str, set[int]]:
    """``{user: the subtasks that received it}``."""
    received: dict[str, set[int]] = defaultdict(set)
    for line in read_lines(output):
        user, subtask = line.rsplit(",", 1)
        received[user].add(int(subtask))
    return dict(received)
