"""Chapter 05: the count per key with its Python part vectorized, in the Table API.

    numbers (JVM) -> key_of(n) (Python) -> GROUP BY key, COUNT(*) (JVM) -> blackhole

A row-at-a-time Python function (``@udf``) is called once per record; a **vectorized** one
(``@udf(func_type="pandas")``) once per Arrow batch of up to ``python.fn-execution.arrow.batch.size``
records, with a ``pandas.Series`` per argument, and returns a Series of the same length: the
per-record crossing between the JVM and Python becomes a per-batch one, and the work inside is
numpy's. What a vectorized function cannot do: keep state per key, or set timers. A batch holds
records of many keys, and nothing is kept from one batch to the next; per-key state and timers
are the DataStream API's ``KeyedProcessFunction`` (chapter 00's count), which is row at a time.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pyflink.table import DataTypes
from pyflink.table.udf import udf

from .keyed_count import numbers_table

if TYPE_CHECKING:  # a worker that runs a pandas function has imported pandas for it; others need not
    import pandas as pd


def key_of_each(keys: int):
    """Each number's key, one call per record."""
    @udf(result_type=DataTypes.BIGINT())
    def key_of(n: int) -> int:
        return n % keys
    return key_of


def key_of_batch(keys: int):
    """Each number's key, one call per Arrow batch: ``n`` is a pandas Series of the batch's numbers."""
    @udf(result_type=DataTypes.BIGINT(), func_type="pandas")
    def key_of(n: pd.Series) -> pd.Series:
        return n % keys
    return key_of


def statements() -> list[str]:
    """The count per key, its key computed by the Python function registered as ``key_of``."""
    return ["CREATE TEMPORARY TABLE counts (k BIGINT, c BIGINT) WITH ('connector' = 'blackhole')",
            "INSERT INTO counts SELECT k, COUNT(*) AS c FROM (SELECT key_of(n) AS k FROM numbers) GROUP BY k"]


def register(records: int, keys: int, vectorized: bool):
    """``prepare`` hook for :func:`labkit.submit_sql`: the numbers 0..records-1 as the view ``numbers``
    and the row-at-a-time or vectorized ``key_of``."""
    def prepare(t_env, env):
        t_env.create_temporary_view("numbers", numbers_table(t_env, env, records))
        t_env.create_temporary_system_function("key_of", key_of_batch(keys) if vectorized else key_of_each(keys))
    return prepare
