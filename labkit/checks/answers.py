"""Checks of exercises whose answer is a function, a value or a configuration: each runs what it
needs on the cluster or on data of its own and says what is wrong without giving the answer."""
from __future__ import annotations

from pathlib import Path

from ..errors import JobFailed, LabError
from .core import _fail, _passed, _reason, _within, check, job_name, require, run_answer, run_table_answer


def check_kafka_exactly_once(exercise: str, make_source, make_sink) -> None:
    """Copy a topic of numbers (two partitions, numbers of its own) with the learner's
    ``make_source(bootstrap_servers, topic)`` and ``make_sink(bootstrap_servers, topic)``, kill a
    TaskManager that runs the copy once two checkpoints are complete, and count what a
    ``read_committed`` reader of the output topic sees: every number once, and nothing else."""
    from collections import Counter

    from ..current_lab import current
    from ..errors import JobTimeout
    from ..jobs import job_config, submit
    from ..kafka import TopicReader, kafka_broker, publish
    from ..pipelines.exactly_once import build_copy

    numbers, rate = 1_500, 250
    cluster, broker = current(), kafka_broker()
    source_topic, sink_topic = f"exercise-{exercise}-in", f"exercise-{exercise}-out"
    broker.create_topic(source_topic, 2, replace=True)
    broker.create_topic(sink_topic, 1, replace=True)
    publish(broker.bootstrap_servers, source_topic, [str(n) for n in range(numbers)])
    try:
        source = make_source(broker.bootstrap_servers, source_topic)
        sink = make_sink(broker.bootstrap_servers, sink_topic)
    except LabError:
        raise
    except Exception as error:
        _fail(exercise, f"building your source or sink failed: {_reason(error)[:300]}",
              "read the message: a builder refuses to build what it cannot run (a missing setting it names)")
    require(exercise, str(source.get_java_function().getBoundedness()) == "BOUNDED",
            "your source never stops, so the copy would never finish",
            "a source for this copy stops where the topic ended when the job started: which builder setting "
            "makes a source bounded?")
    reader = TopicReader(broker.bootstrap_servers, [sink_topic]).start()
    job = submit(build_copy, name=job_name(exercise), config=job_config(checkpoint_interval="1s"),
                 source=source, sink=sink, rate=rate)
    try:
        job.wait_for_checkpoints(2, timeout=120)
        cluster.kill_taskmanager(job)
        cluster.start_taskmanager()
        job.wait_finished(timeout=180)
    except JobTimeout as error:
        job.cancel()
        _fail(exercise, f"the copy did not finish: {str(error).splitlines()[0]}",
              "`labkit status` shows whether the lab has free slots; run the check again")
    except JobFailed as error:
        _fail(exercise, f"the copy failed: {str(error).splitlines()[0][:300]}",
              "the error names the cause; the chapter's section 5 shows a source and sinks that run")
    seen = Counter(value.split("|")[0] for value, _ in reader.stop()[sink_topic])
    missing = numbers - len(set(seen) & {str(n) for n in range(numbers)})
    twice = sum(1 for count in seen.values() if count > 1)
    require(exercise, missing == 0, f"{missing:,} of the {numbers:,} numbers never reached the output topic",
            "where does your source start reading, and where does it stop?")
    check(exercise, twice == 0, f"{twice:,} numbers reached a read_committed reader more than once: what the sink "
                                "wrote between the last checkpoint and the kill was written again",
          "which delivery guarantee writes in transactions that a checkpoint commits, and what does such a sink "
          "need to name its transactions?",
          success=f"{numbers:,} numbers, each seen once by a read_committed reader, through "
                  f"{job.recoveries()} recovery")


# Flink's Web UI calls a task backpressured from 10 % of its time on ("LOW", "HIGH").
NOT_BACKPRESSURED_MS = 100
BUSY_MS = 500


def _medians(frame, metric: str) -> dict[str, float]:
    suffix = f".{metric}"
    return {column.removesuffix(suffix): float(frame[column].median())
            for column in frame.columns if column.endswith(suffix)}


def _bottleneck_by_rule(frame) -> str | None:
    busy, backpressured = _medians(frame, "busyTimeMsPerSecond"), _medians(frame, "backPressuredTimeMsPerSecond")
    free = {name: ms for name, ms in busy.items() if ms > BUSY_MS and backpressured.get(name, 0) < NOT_BACKPRESSURED_MS}
    return max(free, key=free.get) if free else None


def _skewed_run():
    """A run in which the busiest operator is not the bottleneck: the source computes its records'
    keys (busy) and waits for buffers part of each second, while one of the two counting subtasks
    gets the hot keys (its vertex is busy 1,000 and 200 ms/s: 600 on average) and never waits."""
    import pandas as pd
    shares = {"sequence": (850.0, 150.0), "count-per-key": (600.0, 0.0), "results": (20.0, 0.0)}
    columns = {}
    for operator, (busy, backpressured) in shares.items():
        columns[f"{operator}.busyTimeMsPerSecond"] = [busy - 10, busy, busy + 10] * 4
        columns[f"{operator}.backPressuredTimeMsPerSecond"] = [backpressured] * 12
    return pd.DataFrame(columns, index=[0.5 * i for i in range(12)])


def check_bottleneck(exercise: str, find_bottleneck, frame) -> None:
    """Exercise 00.1: ``find_bottleneck(frame)`` names the operator that holds the job up, on this
    run and on one where the busiest operator is itself backpressured."""
    require(exercise, callable(find_bottleneck), "find_bottleneck must be a function of the sampled frame",
            hint="def find_bottleneck(frame): ... return the operator's name")
    expected = _bottleneck_by_rule(frame)
    require(exercise, expected is not None, "this run has no operator that is busy and free of backpressure",
            hint="run the burst job's cells again: the job must run flat out")
    for what, run in (("this run", frame), ("a run with a hot key", _skewed_run())):
        try:
            named = find_bottleneck(run)
        except Exception as error:  # noqa: BLE001 - the learner's code: say what it raised
            _fail(exercise, f"find_bottleneck raised {type(error).__name__}: {error} on {what}",
                  hint="columns are named '<operator>.busyTimeMsPerSecond' and "
                       "'<operator>.backPressuredTimeMsPerSecond'")
        if named != _bottleneck_by_rule(run):
            busy = _medians(run, "busyTimeMsPerSecond")
            _fail(exercise, f"on {what}, find_bottleneck named {named!r}, which is not the bottleneck"
                  + (" (it is the busiest operator, but it also waits for output buffers)"
                     if named == max(busy, key=busy.get) else ""),
                  hint="an operator that is backpressured waits for the one after it; "
                       "the bottleneck is busy and not backpressured")
    _passed(exercise, "find_bottleneck names the operator that holds the job up, on this run and on a skewed one")


def check_watermark_strategy(exercise: str, strategy, *, bound_ms: int, idleness_ms: int | None = None,
                             needs_assigner: bool = False) -> None:
    """A ``WatermarkStrategy`` with the out-of-orderness bound (and idleness) the exercise asks for,
    read from the Java objects it wraps; failures say what the strategy does, hints the idea."""
    from pyflink.common import WatermarkStrategy
    require(exercise, isinstance(strategy, WatermarkStrategy),
            f"that is a {type(strategy).__name__}, not a WatermarkStrategy",
            hint="watermark strategies are built from WatermarkStrategy's own constructors")
    settings = watermark_settings(strategy)
    if needs_assigner:
        require(exercise, settings["timestamp_assigner"],
                "the strategy has no timestamp assigner: records keep no event time",
                hint="a strategy must be told where each record's time is: which of its methods takes a "
                     "TimestampAssigner?")
    if not settings["bound_ms"]:
        _fail(exercise, "the strategy allows no event out of order" if settings["bound_ms"] == 0
              else "the strategy makes no watermarks at all",
              hint="a strategy that tolerates disorder is built from a bound; which constructor takes one, and which "
                   "of PyFlink's two time types (Time, Duration) does it take?")
    require(exercise, settings["bound_ms"] == bound_ms,
            f"the strategy allows {settings['bound_ms']:,} ms out of order, not the {bound_ms:,} ms asked for",
            hint="the bound is a length of time: check its unit")
    if idleness_ms is not None:
        require(exercise, settings["idleness_ms"] == idleness_ms,
                "the strategy never lets a silent input go" if settings["idleness_ms"] is None else
                f"the strategy lets a silent input go after {settings['idleness_ms']:,} ms, not {idleness_ms:,} ms",
                hint="idleness is a second setting on the strategy, after the bound")
    _passed(exercise, f"{bound_ms:,} ms out of order" + (f", idle after {idleness_ms:,} ms" if idleness_ms else ""))


def check_smallest_bound(exercise: str, bound_ms, events) -> None:
    """Exercise 04.1: ``bound_ms`` is the smallest bound for which no event of ``events`` (in
    arrival order) is behind the newest event before it by more than the bound."""
    require(exercise, isinstance(bound_ms, int), f"bound_ms is {bound_ms!r}, not a whole number of ms",
            hint="the bound is a duration in milliseconds")
    newest, late = None, 0
    smallest = 0
    for event in events:
        if newest is not None:
            behind = newest - event.timestamp
            smallest = max(smallest, behind)
            late += behind > bound_ms
        newest = event.timestamp if newest is None else max(newest, event.timestamp)
    require(exercise, late == 0, f"with a bound of {bound_ms:,} ms, {late:,} events are further behind the newest "
                                 "event before them: they would be late",
            hint="compare each event with the newest one seen before it, not with the one just before it")
    require(exercise, bound_ms == smallest, f"a bound of {bound_ms:,} ms loses nothing, but a smaller one loses "
                                            "nothing either: results would wait longer than needed",
            hint="the smallest bound is the largest distance by which an event is behind the newest one before it")
    _passed(exercise, f"{bound_ms:,} ms: no event is late, and no smaller bound would do")


def check_slowest_checkpoint(exercise: str, payload: dict, slowest_id) -> None:
    """Exercise 03.3: ``slowest_id`` is the id of the completed checkpoint with the longest
    ``end_to_end_duration`` in the REST payload ``payload``."""
    history = {entry["id"]: entry for entry in payload["history"]}
    completed = [entry for entry in history.values() if entry["status"] == "COMPLETED"]
    require(exercise, slowest_id in history, f"there is no checkpoint {slowest_id!r} in payload['history']",
            hint="the ids are the 'id' field of the history's entries")
    chosen = history[slowest_id]
    require(exercise, chosen["status"] == "COMPLETED", f"checkpoint {slowest_id} did not complete "
                                                      f"(its status is {chosen['status']})",
            hint="only completed checkpoints count")
    longer = sum(entry["end_to_end_duration"] > chosen["end_to_end_duration"] for entry in completed)
    require(exercise, longer == 0, f"checkpoint {slowest_id} took {chosen['end_to_end_duration']:,} ms, and {longer} "
                                   "completed checkpoint(s) took longer",
            hint="compare every completed entry's end_to_end_duration, not the newest or the first")
    _passed(exercise, f"checkpoint {slowest_id}, {chosen['end_to_end_duration']:,} ms end to end")


def check_savepoint_by_hand(exercise: str, take_savepoint) -> None:
    """Exercise 03.6: ``take_savepoint(rest_url, job_id, target_directory)`` triggers a savepoint
    over REST, polls it and returns its path, or raises with the failure cause. Checked on a job of
    its own: the path must hold a savepoint that a resumed job restores to exact counts, and a
    savepoint to a folder nobody can write must raise, not return."""
    from ..current_lab import current
    from ..jobs import job_config, submit
    from ..pipelines import keyed_count as kc

    require(exercise, callable(take_savepoint), "take_savepoint must be a function",
            hint="def take_savepoint(rest_url, job_id, target_directory): ...")
    cluster, records, keys = current(), 12_000, 30
    job = submit(kc.build, name=job_name(exercise), config=job_config(checkpoint_interval="1s"),
                 records=records, keys=keys, rate=2_000)
    job.wait_for_checkpoints(1)
    failed, raised = _within(60, take_savepoint, cluster.url, job.job_id, "file:///proc/no-savepoints-here")
    polling = isinstance(raised, TimeoutError)
    require(exercise, raised is not None and not polling,
            "a savepoint that fails kept your function polling for a minute" if polling else
            f"a savepoint to a folder nobody can write returned {failed!r} instead of raising",
            hint="a finished savepoint has the status COMPLETED whether it worked or not: what else does the "
                 "operation part of the answer hold when it failed?")
    path, raised = _within(60, take_savepoint, cluster.url, job.job_id, cluster.settings.savepoint_dir.as_uri())
    require(exercise, raised is None, f"take_savepoint raised {type(raised).__name__}: {str(raised)[:200]}",
            hint="the status URL holds the job id and the request id the trigger returned")
    require(exercise, isinstance(path, str) and path.startswith("file:")
            and (Path(path.removeprefix("file:")) / "_metadata").exists(),
            f"take_savepoint returned {path!r}, which is not a savepoint's folder",
            hint="the path is in the operation part of the finished savepoint's status")
    job.cancel()
    resumed = job.resubmit(path).wait_finished(240)
    restored = resumed.checkpoints()["latest"]["restored"]
    require(exercise, restored is not None and restored["external_path"] == path,
            "the job resumed from your path restored nothing", hint="return the savepoint's location")
    check(exercise, kc.read_counts(resumed.output) == kc.expected_counts(records, keys),
          "the job resumed from your savepoint did not count every record exactly once",
          hint="return the location of the savepoint this call triggered",
          success="a failed savepoint raised; a taken one resumed to exact counts")


def _order_bucket(amount: int) -> int:
    return 0 if amount < 10 else 1 if amount < 100 else 2 if amount < 1_000 else 3


def check_vectorized_bucket(exercise: str, bucket_batch) -> None:
    """Exercise 05.3: ``bucket_batch`` is a vectorized (pandas) function that gives every amount
    the bucket the chapter's row-at-a-time ``bucket`` gives it, run on the cluster over amounts of
    its own (every value from 0 to 3,999, each boundary included)."""
    from pyflink.table.expressions import col

    from ..pipelines.keyed_count import numbers_table

    require(exercise, hasattr(bucket_batch, "_func_type"), "bucket_batch is not a Table API function",
            hint="decorate it with @udf(...), as bucket is")
    require(exercise, bucket_batch._func_type == "pandas",
            "bucket_batch is called once per record, like bucket: it is not vectorized",
            hint="one argument of @udf says the function takes and returns pandas Series")

    def amounts_and_buckets(t_env, env):
        amounts = numbers_table(t_env, env, 4_000).select(((col("n") * 37) % 4_000).alias("amount"))
        return amounts.select(col("amount"), bucket_batch(col("amount")).alias("bucket"))

    result = run_table_answer(exercise, amounts_and_buckets, name=job_name(exercise),
                              hint="the function gets a pandas Series and must return one of the same length")
    wrong = sorted(amount for amount, bucket in result.rows if bucket != _order_bucket(amount))
    require(exercise, len(result.rows) == 4_000, f"{len(result.rows):,} rows came back for 4,000 amounts",
            hint="return one bucket per amount, in the same order")
    check(exercise, not wrong, f"{len(wrong):,} of 4,000 amounts get another bucket than bucket gives them, "
                               f"e.g. the amount {wrong[0] if wrong else ''}",
          hint="compare the Series with the same bounds and the same comparisons as bucket does",
          success="the same bucket for every amount, one call per Arrow batch")


def watermark_settings(strategy) -> dict:
    """What a PyFlink ``WatermarkStrategy`` will do, read from the Java objects it wraps:
    ``{"generator", "bound_ms", "idleness_ms", "timestamp_assigner"}``. ``bound_ms`` is None for a
    strategy that emits no watermarks, 0 for monotonous timestamps."""
    java = strategy._j_watermark_strategy
    idleness = _java_fields(java).get("idlenessTimeout")
    if idleness is not None:  # with_idleness wraps the strategy it was called on
        java = _java_fields(java)["baseStrategy"]
    generator = java.createWatermarkGenerator(None)
    return {"generator": generator.getClass().getSimpleName(),
            "bound_ms": _java_fields(generator).get("outOfOrdernessMillis"),
            "idleness_ms": idleness.toMillis() if idleness is not None else None,
            "timestamp_assigner": strategy._timestamp_assigner is not None}


def _java_fields(obj) -> dict:
    """A Java object's fields, its classes' and their superclasses', by name (through Py4J)."""
    fields, cls = {}, obj.getClass()
    while cls is not None:
        for field in cls.getDeclaredFields():
            field.setAccessible(True)
            fields.setdefault(field.getName(), field.get(obj))
        cls = cls.getSuperclass()
    return fields




# (records/s, keys, longest wait in ms): the chapter's workload, then the check's own
BATCHING_WORKLOADS = ((1_500, 20, 2_000), (1_000, 50, 3_000))
SMALLEST_BATCH = 40


def check_batching(exercise: str, choose_batching) -> None:
    """Exercise 01.3: ``choose_batching(rate, keys, max_wait_ms)`` gives ``(batch_size, flush_ms)``
    within the budget for every workload, and on the check's own workload, run on the cluster, every
    batch leaves full (none by the timer; the end of the input may flush the last ones)."""
    from ..jobs import job_config
    from ..pipelines import state_backends as sb

    require(exercise, callable(choose_batching), "choose_batching must be a function",
            hint="def choose_batching(rate, keys, max_wait_ms): ... return batch_size, flush_ms")
    choices = {}
    for rate, keys, max_wait_ms in BATCHING_WORKLOADS:
        choice = choose_batching(rate, keys, max_wait_ms)
        require(exercise, isinstance(choice, tuple) and len(choice) == 2 and all(isinstance(v, int) for v in choice),
                f"choose_batching({rate}, {keys}, {max_wait_ms}) returned {choice!r}, not (batch_size, flush_ms)",
                hint="return two whole numbers")
        batch_size, flush_ms = choice
        require(exercise, flush_ms <= max_wait_ms and batch_size >= SMALLEST_BATCH,
                f"for {rate:,} records/s over {keys} keys and at most {max_wait_ms:,} ms: batch_size {batch_size}, "
                f"flush_ms {flush_ms}: outside the budget",
                hint=f"batches of at least {SMALLEST_BATCH} values that wait at most max_wait_ms")
        choices[(rate, keys, max_wait_ms)] = choice
    (rate, keys, max_wait_ms), records = BATCHING_WORKLOADS[-1], 6_000
    batch_size, flush_ms = choices[BATCHING_WORKLOADS[-1]]
    job = run_answer(exercise, sb.build_batches, name=job_name(exercise),
                     config=job_config(parallelism=2, checkpoint_interval="1s"),
                     hint="the check runs the chapter's BufferPerKey with your numbers", records=records,
                     keys=keys, rate=rate, batch_size=batch_size, flush_ms=flush_ms)
    audit = sb.batch_audit(sb.read_batches(job.output), records, keys)
    require(exercise, (audit["lost"], audit["duplicated"]) == (0, 0),
            f"{audit['lost']} values lost and {audit['duplicated']} duplicated", hint="run the check again")
    by_timer = audit["flushed by"].get("timer", 0)
    check(exercise, by_timer == 0,
          f"with {rate:,} records/s over {keys} keys, batch_size {batch_size} and flush_ms {flush_ms}: {by_timer} "
          "batches left by the timer, not full",
          hint="how long does one key take to fill a batch at this rate? The timer must fire later than that, "
               "with room to spare for a busy machine",
          success=f"every batch full on {rate:,} records/s over {keys} keys: {audit['flushed by']}")


def check_profile_tuning(exercise: str, tune_profile) -> None:
    """Exercise 07.2: ``tune_profile(events, split_ms)`` sees only the events before ``split_ms`` of
    a clickstream of the check's own and returns a RecConfig that changes ``half_life_hours`` and
    ``profile_weight`` only; run on the cluster over the whole stream, its HitRate@10 on the
    held-out future must beat the default's by 3 %."""
    from dataclasses import replace

    from ..jobs import job_config
    from ..recommender import clickstream, evaluate, runs
    from ..recommender import pipeline as rp
    from ..recommender.model import RecConfig, Recommender

    stream = clickstream.generate_clickstream(300, seed=16)
    chosen = tune_profile(stream.train, stream.split_ms)
    require(exercise, isinstance(chosen, RecConfig), f"tune_profile returned {type(chosen).__name__}, not a RecConfig",
            hint="return RecConfig(half_life_hours=..., profile_weight=...)")
    require(exercise, chosen == replace(RecConfig(), half_life_hours=chosen.half_life_hours,
                                        profile_weight=chosen.profile_weight),
            "change only half_life_hours and profile_weight", hint="RecConfig(half_life_hours=..., profile_weight=...)")
    targets = evaluate.held_out_targets(stream.events, stream.split_ms)

    def hit_rate(lists) -> float:
        return evaluate.hit_rate_ndcg({r.seq: r.items for r in lists}, targets)[0]

    default = hit_rate(Recommender().run(stream.events))
    hint = ("score candidates on a later part of the events you were given, as if it were the future, with a "
            "model fitted on the part before it")
    # At parallelism 1 the job's lists are the plain-Python model's, list for list (section 4), so
    # a configuration that cannot win there fails before a job is started.
    modelled = hit_rate(Recommender(chosen).run(stream.events))
    require(exercise, modelled >= default * 1.03,
            f"on the check's stream your configuration (half-life {chosen.half_life_hours:g} h, weight "
            f"{chosen.profile_weight:g}) reaches HitRate@10 {modelled:.3f}, not 3 % above the default's {default:.3f}",
            hint=hint)
    job = runs.run_bounded(job_name(exercise), stream.lines, job_config(parallelism=1),
                           rec_config=chosen)
    hit = hit_rate(rp.read_recommendations(job.output))
    check(exercise, hit >= default * 1.03,
          f"on the cluster your configuration reached HitRate@10 {hit:.3f}, not 3 % above the default's {default:.3f} "
          f"(the model's lists reach {modelled:.3f})", hint="run the check again; `labkit status` shows the lab",
          success=f"HitRate@10 {hit:.3f} on a future tune_profile never saw, vs the default's {default:.3f}")
