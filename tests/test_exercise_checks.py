"""Each exercise check, run as the chapter runs it, fails for plausible wrong answers with a
message that says what to fix (and passes for the solution, so it is not failing everything)."""
import ast

import nbformat
import pandas as pd
import pytest

import labkit as lk
from labkit.chapters import find_chapter
from labkit.pipelines import keyed_count as kc
from labkit.source import module_of_cell


def run_check(chapter: str, exercise: str, code: str = "", namespace: dict | None = None, **answers) -> None:
    """Execute the chapter's check cell of ``exercise`` after the chapter's imports and the pipelines
    it defines in its own cells, with ``answers`` (and whatever else the check reads) defined, and
    ``code`` run first, as if the learner had run the cells above. The namespace is not an
    importable module, so classes defined by ``code`` reach the Python workers by value, as a
    notebook's do. ``namespace``, if given, is the one used (to clean
    up after the check what the code started)."""
    notebook = nbformat.read(find_chapter(chapter), as_version=4)
    # a cell magic's body (%%writefile: a script for flink run) is not the notebook's Python
    sources = [c.source for c in notebook.cells if c.cell_type == "code" and not c.source.startswith("%%")]
    imports = [ast.unparse(statement) for source in sources for statement in ast.parse(source).body
               if isinstance(statement, (ast.Import, ast.ImportFrom))]
    pipelines = [source for source in sources if module_of_cell(source)]
    check = next(s for s in sources if f'lk.checks.check_defined("{exercise}"' in s)
    namespace = {} if namespace is None else namespace
    namespace["__name__"] = "exercise_answer"
    exec("\n".join(imports), namespace)
    for pipeline in pipelines:  # the pipelines the chapter defines in its own cells
        exec(pipeline, namespace)
    namespace.update(answers)
    exec(code, namespace)
    exec(check, namespace)


def fails(chapter: str, exercise: str, says: str, code: str = "", namespace: dict | None = None, **answers) -> str:
    with pytest.raises(lk.CheckFailed) as failure:
        run_check(chapter, exercise, code, namespace, **answers)
    assert says in str(failure.value), str(failure.value)
    return str(failure.value)


# Shaped as chapter 00's burst run samples it: per-interval busy and backpressured ms per second.
BURST = pd.DataFrame({"sequence.busyTimeMsPerSecond": [750.0, 700.0, 780.0],
                      "sequence.backPressuredTimeMsPerSecond": [250.0, 300.0, 220.0],
                      "count-per-key.busyTimeMsPerSecond": [1000.0, 995.0, 1000.0],
                      "count-per-key.backPressuredTimeMsPerSecond": [0.0, 0.0, 0.0]})


def _by_median(metric):
    return lambda frame: frame.filter(like=metric).median().idxmax().rsplit(".", 1)[0]


def test_00_1_the_busiest_operator_passes_this_run_but_fails_where_it_is_backpressured():
    fails("00", "00.1", "define find_bottleneck", frame=BURST)
    fails("00", "00.1", "must be a function", frame=BURST, find_bottleneck="count-per-key")
    busiest = fails("00", "00.1", "on a run with a hot key, find_bottleneck named 'sequence'",
                    frame=BURST, find_bottleneck=_by_median(".busyTimeMsPerSecond"))
    assert "it is the busiest operator, but it also waits for output buffers" in busiest
    assert "count-per-key" not in busiest  # the answer stays out of sight
    fails("00", "00.1", "on this run, find_bottleneck named 'sequence'",
          frame=BURST, find_bottleneck=_by_median(".backPressuredTimeMsPerSecond"))
    fails("00", "00.1", "raised KeyError", frame=BURST, find_bottleneck=lambda frame: frame["busy"])
    run_check("00", "00.1", code=_cell("00", "def find_bottleneck"), frame=BURST)


def test_02_3_checks_the_out_of_orderness_bound_before_running_anything():
    from pyflink.common import Duration, WatermarkStrategy

    from labkit.pipelines.common import EventTimestamp
    monotonous = fails("02", "02.3", "allows no event out of order",
                       my_strategy=WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(EventTimestamp()))
    fails("02", "02.3", "no timestamp assigner",
          my_strategy=WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(5)))
    fails("02", "02.3", "no timestamp assigner", my_strategy=WatermarkStrategy.no_watermarks())
    fails("02", "02.3", "allows 5 ms out of order, not the 5,000 ms",  # a number of seconds where ms go
          my_strategy=WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(5))
          .with_timestamp_assigner(EventTimestamp()))
    assert "for_bounded_out_of_orderness" not in monotonous and "of_seconds" not in monotonous  # no code handed out


def test_04_3_checks_the_bound_and_the_idleness_not_just_the_type():
    from pyflink.common import Duration, Time, WatermarkStrategy
    from pyflink.datastream.window import TumblingEventTimeWindows
    windows = TumblingEventTimeWindows.of(Time.minutes(10))
    fails("04", "04.3", "makes no watermarks at all", ten_minute_windows=windows,
          strategy=WatermarkStrategy.no_watermarks())
    no_idleness = fails("04", "04.3", "never lets a silent input go", ten_minute_windows=windows,
                        strategy=WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(30)))
    one_minute = fails("04", "04.3", "ten_minute_windows is",
                       ten_minute_windows=TumblingEventTimeWindows.of(Time.minutes(1)),
                       strategy=WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(30))
                       .with_idleness(Duration.of_seconds(5)))
    assert "with_idleness" not in no_idleness and "Time.minutes" not in one_minute  # hints point at the idea
    run_check("04", "04.3", ten_minute_windows=windows,
              strategy=WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(30)).with_idleness(Duration.of_seconds(5)))


def test_02_1_a_builder_that_was_never_built_is_not_a_ttl_config():
    from pyflink.common import Time
    from pyflink.datastream.state import StateTtlConfig
    says = fails("02", "02.1", "not a StateTtlConfig",
                 my_ttl=StateTtlConfig.new_builder(Time.seconds(2)).set_update_type(StateTtlConfig.UpdateType.OnReadAndWrite))
    assert ".build()" in says


def test_03_3_the_slowest_checkpoint_is_the_longest_completed_one_not_the_newest_or_a_failed_one():
    history = [{"id": 7, "status": "FAILED", "end_to_end_duration": 9000},
               {"id": 6, "status": "COMPLETED", "end_to_end_duration": 150},
               {"id": 5, "status": "COMPLETED", "end_to_end_duration": 2400},
               {"id": 4, "status": "COMPLETED", "end_to_end_duration": 300}]
    payload = {"history": history}
    fails("03", "03.3", "checkpoint 7 did not complete", payload=payload, slowest_id=7)  # the failed one ran longest
    newest = fails("03", "03.3", "2 completed checkpoint(s) took longer", payload=payload, slowest_id=6)
    assert "5" not in newest.replace("150", "")  # the answer's id stays out of sight
    run_check("03", "03.3", payload=payload, slowest_id=5)


def test_04_1_a_bound_against_the_previous_event_not_the_newest_fails_before_any_job():
    from labkit.pipelines import windows
    calm = windows.out_of_order_stream(seed=1, late_fraction=0.0, max_delay_ms=45_000, malformed_fraction=0.0)
    stamps = [e.timestamp for e in calm.events]
    previous_only = max(a - b for a, b in zip(stamps, stamps[1:], strict=False))
    says = fails("04", "04.1", "they would be late", calm=calm, bound_ms=previous_only)
    behind = max(max(stamps[:i]) - stamps[i] for i in range(1, len(stamps)))
    assert f"{behind:,}" not in says and str(behind) not in says  # the answer stays out of sight
    fails("04", "04.1", "a smaller one loses nothing either", calm=calm, bound_ms=behind + 1_000)


def _cell(chapter: str, defines: str) -> str:
    notebook = nbformat.read(find_chapter(chapter), as_version=4)
    return next(c.source for c in notebook.cells if c.cell_type == "code" and defines in c.source)


def test_05_2_options_other_than_the_bundle_fail_before_any_job():
    fails("05", "05.2", "unexpected options ['execution.buffer-timeout.interval']", code=_cell("05", "def bundles"),
          p={"keys": 10, "seconds": 1, "probe_rate": 1, "probe_records": 1, "sql_records": 1},
          my_bundles={"python.fn-execution.bundle.size": 20_000, "execution.buffer-timeout.interval": "10ms"})


def test_07_2_changing_more_than_the_two_knobs_fails_before_any_job():
    from labkit.recommender.model import RecConfig
    fails("07", "07.2", "change only half_life_hours and profile_weight",
          tune_profile=lambda events, split_ms: RecConfig(half_life_hours=1, profile_weight=8.0, top_k=20))


def test_07_2_the_default_configuration_does_not_beat_itself_and_fails_before_any_job():
    from labkit.recommender.model import RecConfig
    fails("07", "07.2", "not 3 % above the default's", tune_profile=lambda events, split_ms: RecConfig())


def _stage_frame(backpressured: dict[str, float]) -> pd.DataFrame:
    columns = {}
    for task, value in backpressured.items():
        columns[f"{task}.backPressuredTimeMsPerSecond"] = [value] * 6
        columns[f"{task}.busyTimeMsPerSecond"] = [1000.0 - value if value > 500 else 950.0 if value else 0.0] * 6
    return pd.DataFrame(columns)


@pytest.mark.parametrize("wrong", [lambda s: s.idxmax(), lambda s: s.idxmin(), lambda s: "enrich"],
                         ids=["most backpressured", "least backpressured", "a fixed guess"])
def test_06_3_a_rule_that_only_fits_one_run_fails(wrong):
    fails("06", "06.3", "first task, in pipeline order, that is not backpressured", my_bottleneck=wrong)


def test_06_3_the_rule_passes_on_the_mystery_job():
    mystery = _stage_frame({"sequence": 1000.0, "parse": 960.0, "enrich": 0.0, "score": 0.0, "count-per-key": 0.0})
    run_check("06", "06.3", my_bottleneck=lambda s: s[s < 500].index[0], mystery_frame=mystery, hidden_stage="enrich")


def test_01_3_outside_the_budget_fails_before_any_job():
    fails("01", "01.3", "outside the budget", choose_batching=lambda rate, keys, max_wait_ms: (30, max_wait_ms))
    fails("01", "01.3", "outside the budget", choose_batching=lambda rate, keys, max_wait_ms: (50, 5000))


@pytest.mark.cluster
def test_01_3_the_sections_numbers_for_every_workload_fail_where_keys_fill_slower(healthy_cluster):
    """The answer that fits the chapter's workload only: 50 values take a key of the check's
    workload 2.5 s, so the 2-second timer sends every batch before it is full."""
    fails("01", "01.3", "batches left by the timer, not full",
          choose_batching=lambda rate, keys, max_wait_ms: (50, 2000))


COUNT_NOT_SUM = """
class SumPerKey(KeyedProcessFunction):
    def open(self, runtime_context):
        self.sum = runtime_context.get_state(ValueStateDescriptor("sum", Types.LONG()))

    def process_element(self, value, ctx):
        total = self.sum.value()
        if total is None:
            ctx.timer_service().register_event_time_timer(kc.END_OF_TIME)
        self.sum.update((total or 0) + 1)

    def on_timer(self, timestamp, ctx):
        yield f"{ctx.get_current_key()},{self.sum.value()}"
"""
EMITS_EVERY_RECORD = """
class SumPerKey(KeyedProcessFunction):
    def open(self, runtime_context):
        self.sum = runtime_context.get_state(ValueStateDescriptor("sum", Types.LONG()))

    def process_element(self, value, ctx):
        total = (self.sum.value() or 0) + value
        self.sum.update(total)
        yield f"{ctx.get_current_key()},{total}"
"""
PYFLINK = "from pyflink.common import Types\nfrom pyflink.datastream import KeyedProcessFunction\n" \
          "from pyflink.datastream.state import ValueStateDescriptor\n"


@pytest.mark.cluster
def test_00_3_a_count_or_a_line_per_record_is_not_a_sum_per_key(healthy_cluster):
    fails("00", "00.3", "the sum per key", PYFLINK + COUNT_NOT_SUM)
    fails("00", "00.3", "expected one line for each key", PYFLINK + EMITS_EVERY_RECORD)


@pytest.mark.cluster
@pytest.mark.parametrize("answer, says", [
    # the tutorial's call
    ("env.get_checkpoint_config().enable_checkpointing(2000)", "has no attribute 'enable_checkpointing'"),
    ("env.enable_checkpointing(2)\n    env.get_checkpoint_config().set_min_pause_between_checkpoints(1)\n"
     "    env.get_checkpoint_config().set_externalized_checkpoint_retention("
     "ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION)",
     "Checkpoint interval must be larger than or equal to 10 ms"),  # seconds where milliseconds go
    ("env.enable_checkpointing(2000)\n    env.get_checkpoint_config().set_min_pause_between_checkpoints(1000)",
     "what happens to the last checkpoint on cancel"),  # nothing retained
], ids=["tutorial call", "seconds", "not retained"])
def test_03_4_wrong_checkpoint_calls_fail_with_what_to_change(healthy_cluster, answer, says):
    code = ("from pyflink.datastream import CheckpointingMode, ExternalizedCheckpointRetention\n"
            f"def my_checkpointing(env):\n    {answer}\n")
    fails("03", "03.4", says, code, p={"keys": 50})


LIST_HEAD = ("from pyflink.common import Types\nfrom pyflink.datastream import KeyedProcessFunction\n"
             "from pyflink.datastream.state import ListStateDescriptor\n")
DICT_ON_SELF = LIST_HEAD + """
class LastThree(KeyedProcessFunction):
    def open(self, runtime_context):
        self.last = {}

    def process_element(self, value, ctx):
        key = ctx.get_current_key()
        if key not in self.last:
            ctx.timer_service().register_event_time_timer(kc.END_OF_TIME)
        self.last[key] = (self.last.get(key, []) + [value])[-3:]

    def on_timer(self, timestamp, ctx):
        yield f"{ctx.get_current_key()},{' '.join(map(str, self.last.get(ctx.get_current_key(), [])))}"
"""


@pytest.mark.cluster
def test_01_4_a_dict_on_self_keyed_by_the_current_key_loses_what_the_killed_taskmanager_held(healthy_cluster):
    """Without the TaskManager the check kills, a dict on self keyed by ``get_current_key()`` would
    pass: the kill is what only keyed state survives."""
    fails("01", "01.4", "name other values than their last three", DICT_ON_SELF)


@pytest.mark.cluster
@pytest.mark.parametrize("answer, says", [
    ("env.get_config().set_global_job_parameters({'pipeline.object-reuse': 'true', 'parallelism.default': '1'})",
     "the job's (object reuse, parallelism)"),  # the tutorial's way: user parameters, read by nobody
    ("env.set_parallelism(1)", "the job's (object reuse, parallelism)"),
    ("env.set_object_reuse(True)", "has no attribute 'set_object_reuse'"),
], ids=["global job parameters", "object reuse missing", "a method that does not exist"])
def test_06_2_options_that_do_not_reach_the_job_fail(healthy_cluster, answer, says):
    fails("06", "06.2", says, f"def my_job_setup(env):\n    {answer}\n")


@pytest.mark.cluster
def test_02_2_a_prediction_that_misses_the_one_stale_read_fails_on_the_cluster(healthy_cluster):
    from labkit.pipelines import ttl
    script = ttl.keep_alive_script(2_000)
    final, again = sorted({command.at_ms for command in script})[-2:]
    never_stale = {(final, "reader"): "value", (final, "idle"): None, (again, "reader"): "value", (again, "idle"): None}
    says = fails("02", "02.2", "1 of 4 predictions differ from what the cluster did", script=script, final=final,
                 again=again, p={"ttl_ms": 2_000}, my_prediction=never_stale)
    assert "'value'" not in says and "None" not in says  # what the cluster returned stays out of sight


@pytest.mark.cluster
@pytest.mark.parametrize("rule, says", [
    ("return 'empty-user_id' if not event.user_id else None", "malformed lines counted by reason"),  # '  ' gets through
    ("return 'blank-user' if not event.user_id.strip() else None", "malformed lines counted by reason"),
], ids=["without strip", "another reason's name"])
def test_07_1_a_rule_that_misses_padded_ids_or_names_its_reason_differently_fails(healthy_cluster, rule, says):
    answer = f"def my_rule(event):\n    {rule}\n\nmy_checks = [my_rule]\n"
    fails("07", "07.1", says, code=_cell("07", "ex1_stream =") + "\n" + answer)


@pytest.mark.cluster
def test_00_2_a_savepoint_that_leaves_the_job_running_is_not_a_stop(healthy_cluster):
    namespace = {}
    code = _cell("00", "long_job = lk.submit") + "\nsavepoint_path = long_job.savepoint()\n"
    try:
        fails("00", "00.2", "the job is RUNNING, not FINISHED", code=code, p={"keys": 10}, namespace=namespace)
    finally:
        if "long_job" in namespace:
            namespace["long_job"].cancel()


@pytest.mark.cluster
def test_01_1_rocksdb_without_incremental_checkpoints_fails_on_the_cluster(healthy_cluster):
    # a smaller state than the chapter's: a full checkpoint writes all of it however small it is
    fails("01", "01.1", "they are full checkpoints", my_backend={"state.backend.type": "rocksdb"},
          p={"exercise_records": 2_000, "keys": 20, "document_chars": 200})


@pytest.mark.cluster
def test_04_2_the_tutorials_timer_set_once_per_session_fails_on_the_cluster(healthy_cluster):
    from labkit.pipelines import sessions
    fails("04", "04.2", "the busy user got", code=_cell("04", "def run_sessions"), lab=healthy_cluster,
          MySessionTimeout=sessions.TutorialSessionTimeout)


KEY_BY_UDF = """
from pyflink.table import DataTypes
from pyflink.table.udf import udf

def my_count_per_key(numbers, keys):
    key_of = udf(lambda n: n % keys, result_type=DataTypes.BIGINT())
    return numbers.select(key_of(col("n")).alias("k")).group_by(col("k")).select(col("k"), col("k").count.alias("c"))
"""
COUNT_FIRST = """
def my_count_per_key(numbers, keys):
    return numbers.select((col("n") % keys).alias("k")).group_by(col("k")).select(col("k").count.alias("c"), col("k"))
"""


@pytest.mark.cluster
@pytest.mark.parametrize("code, says", [(KEY_BY_UDF, "the plan runs Python: "), (COUNT_FIRST, "the rows (k, c) is")],
                         ids=["key computed by a udf", "columns swapped"])
def test_05_1_a_python_udf_or_swapped_columns_fail_on_the_cluster(healthy_cluster, code, says):
    fails("05", "05.1", says, code)


CHECKPOINTED = {"execution.checkpointing.interval": "1s"}


@pytest.mark.cluster
def test_03_1_a_resume_at_the_old_parallelism_or_from_scratch_fails(healthy_cluster):
    p = {"quick_records": 15_000, "keys": 30}  # what the chapter's job counts
    original = lk.submit(kc.build, name="t-03-1", config=lk.job_config(parallelism=2, **CHECKPOINTED),
                         records=p["quick_records"], keys=p["keys"], rate=3000)
    original.wait_running()
    original.wait_for_checkpoints(1, timeout=90)
    taken = original.savepoint()
    assert taken.startswith("file:") and (healthy_cluster.settings.savepoint_dir / taken.rsplit("/", 1)[1]).is_dir()
    stopped_at = original.stop_with_savepoint()
    assert original.state() == "FINISHED" and kc.read_counts(original.output) == {}  # stopped before the end
    same_parallelism = original.resubmit(stopped_at).wait_finished(240)
    restored = same_parallelism.checkpoints()["latest"]["restored"]
    assert restored["is_savepoint"] is True and restored["external_path"] == stopped_at
    assert same_parallelism.output == original.output  # the resumed job adds to what the stopped one wrote
    assert kc.read_counts(original.output) == kc.expected_counts(p["quick_records"], p["keys"])
    fails("03", "03.1", "the resumed job's parallelism", p=p, resumed=same_parallelism)
    from_scratch = lk.submit(kc.build, name="t-03-1-scratch", config=lk.job_config(parallelism=1), records=1_000,
                             keys=10)
    fails("03", "03.1", "did not restore any state", p=p, resumed=from_scratch.wait_finished(120))


@pytest.mark.cluster
def test_03_2_a_new_job_beside_the_retained_checkpoint_has_not_resumed_it(healthy_cluster):
    retained = {**CHECKPOINTED, "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}
    retained_job = lk.submit(kc.build, name="t-03-2", config=lk.job_config(**retained), records=10**9, keys=10,
                             rate=2000)
    retained_job.wait_running()
    retained_job.wait_for_checkpoints(2, timeout=90)
    retained_job.cancel()
    checkpoint_path = retained_job.latest_checkpoint()
    assert (healthy_cluster.settings.checkpoint_dir / retained_job.job_id).is_dir()
    fresh = lk.submit(kc.build, name="t-03-2-fresh", config=lk.job_config(**retained), records=1_000, keys=10)
    fails("03", "03.2", "the new job did not restore that checkpoint", p={"quick_records": 1_000, "keys": 10},
          checkpoint_path=checkpoint_path, from_checkpoint=fresh.wait_finished(120))


@pytest.mark.cluster
def test_01_2_write_buffers_while_rocksdb_stays_in_managed_memory_fail(healthy_cluster):
    fails("01", "01.2", "RocksDB is still sized from managed memory", code=_cell("01", "managed_total ="),
          lab=healthy_cluster, p={"keys": 20},
          my_rocksdb_memory={"state.backend.rocksdb.writebuffer.size": "16mb",
                             "state.backend.rocksdb.writebuffer.count": 2})


@pytest.mark.cluster
def test_06_1_network_memory_among_the_job_options_fails_and_the_lab_is_restored(healthy_cluster):
    """The check restarts the lab with the cluster options and again with the lab's defaults."""
    default_network = healthy_cluster.taskmanager_memory()["networkMemory"]
    everything_in_the_job = {"taskmanager.memory.network.min": "192mb", "taskmanager.memory.network.max": "192mb",
                             "pipeline.object-reuse": True, "parallelism.default": 1}
    fails("06", "06.1", "MiB of network memory", my_cluster_options={}, my_job_options=everything_in_the_job,
          taskmanager_memory=lambda: {"networkMemory": lk.current().taskmanager_memory()["networkMemory"] / 2**20})
    assert lk.up().taskmanager_memory()["networkMemory"] == default_network != 192 * 2**20


@pytest.mark.cluster
def test_07_3_network_buffers_alone_leave_records_waiting_for_their_bundle(healthy_cluster):
    from labkit.recommender import clickstream
    # the lab's 500 ms bundles, only the network flushed sooner: every run misses, so the check replays three times
    message = fails("07", "07.3", "over 1,000 ms", my_latency_options={"execution.buffer-timeout.interval": "10ms"},
                    stream=clickstream.generate_clickstream(150, malformed_fraction=0.005, seed=1),
                    p={"latency_rate": 100, "latency_seconds": 3, "warmup_seconds": 1})
    assert "in 3 runs" in message and "Python bundle to close" in message


KAFKA_HEAD = """
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import (KafkaOffsetsInitializer, KafkaRecordSerializationSchema,
                                                 KafkaSink, KafkaSource)

def my_kafka_source(bootstrap_servers, topic):
    builder = (KafkaSource.builder().set_bootstrap_servers(bootstrap_servers).set_topics(topic)
               .set_group_id(topic).set_starting_offsets(KafkaOffsetsInitializer.earliest())
               .set_value_only_deserializer(SimpleStringSchema()))
    return (builder.set_bounded(KafkaOffsetsInitializer.latest()) if BOUNDED else builder).build()

def my_kafka_sink(bootstrap_servers, topic):
    builder = (KafkaSink.builder().set_bootstrap_servers(bootstrap_servers)
               .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(topic)
                                      .set_value_serialization_schema(SimpleStringSchema()).build())
               .set_delivery_guarantee(GUARANTEE))
    return (builder.set_transactional_id_prefix(topic) if PREFIX else builder).build()
"""


@pytest.mark.cluster
@pytest.mark.parametrize("bounded, guarantee, prefix, says", [
    (True, "AT_LEAST_ONCE", False, "more than once"),
    (True, "EXACTLY_ONCE", False, "building your source or sink failed"),
    (False, "EXACTLY_ONCE", True, "never stops"),
], ids=["at-least-once sink", "no transactional id prefix", "unbounded source"])
def test_03_5_a_sink_that_writes_twice_or_cannot_be_built_or_a_source_that_never_ends_fails(
        healthy_cluster, bounded, guarantee, prefix, says):
    code = KAFKA_HEAD + f"BOUNDED, PREFIX = {bounded}, {prefix}\nGUARANTEE = DeliveryGuarantee.{guarantee}\n"
    fails("03", "03.5", says, code)


VECTOR_HEAD = """
import numpy as np
import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import udf
"""


@pytest.mark.cluster
@pytest.mark.parametrize("code, says", [
    (VECTOR_HEAD + "@udf(result_type=DataTypes.BIGINT())\ndef bucket_batch(amount):\n"
                   "    return 0 if amount < 10 else 1 if amount < 100 else 2 if amount < 1_000 else 3\n",
     "called once per record"),
    (VECTOR_HEAD + "@udf(result_type=DataTypes.BIGINT(), func_type='pandas')\ndef bucket_batch(amount):\n"
                   "    bounds = [amount <= 10, amount <= 100, amount <= 1_000]\n"
                   "    return pd.Series(np.select(bounds, [0, 1, 2], default=3))\n",
     "e.g. the amount 10"),
], ids=["row at a time", "bounds included"])
def test_05_3_a_row_at_a_time_function_or_shifted_bounds_fail(healthy_cluster, code, says):
    message = fails("05", "05.3", says, code)
    assert "np.select" not in message and "func_type" not in message  # hints point at the idea


SAVEPOINT_HEAD = "import time\nimport requests\n"
SAVEPOINT_THE_TUTORIALS_WAY = SAVEPOINT_HEAD + """
def take_savepoint(rest_url, job_id, target_directory):
    request_id = requests.post(f"{rest_url}/jobs/{job_id}/savepoints",
                               json={"target-directory": target_directory}).json()["request-id"]
    while True:
        status = requests.get(f"{rest_url}/jobs/{job_id}/savepoints/{request_id}").json()
        if status["status"]["id"] == "COMPLETED":
            return status["operation"].get("location")   # the tutorial never reads failure-cause
        time.sleep(0.5)
"""
SAVEPOINT_WITHOUT_THE_JOB_ID = SAVEPOINT_HEAD + """
def take_savepoint(rest_url, job_id, target_directory):
    request_id = requests.post(f"{rest_url}/jobs/{job_id}/savepoints",
                               json={"target-directory": target_directory}).json()["request-id"]
    while True:
        status = requests.get(f"{rest_url}/savepoints/{request_id}").json()   # the tutorial's status URL
        if status["status"]["id"] == "COMPLETED":
            if "failure-cause" in status["operation"]:
                raise RuntimeError("failed")
            return status["operation"]["location"]
        time.sleep(0.5)
"""


@pytest.mark.cluster
@pytest.mark.parametrize("code, says", [
    (SAVEPOINT_THE_TUTORIALS_WAY, "returned None instead of raising"),
    (SAVEPOINT_WITHOUT_THE_JOB_ID, "take_savepoint raised KeyError"),
], ids=["failure cause not read", "status URL without the job id"])
def test_03_6_a_savepoint_function_that_misses_a_failure_or_polls_the_wrong_url_fails(healthy_cluster, code, says):
    fails("03", "03.6", says, code)


WEIGHTED_HEAD = """
from pyflink.datastream import KeyedBroadcastProcessFunction
WEIGHTS = MapStateDescriptor("weights", Types.LONG(), Types.LONG())


class WeightedTotal(KeyedBroadcastProcessFunction):
    def __init__(self, classes):
        self.classes = classes

    def open(self, runtime_context):
        self.total = runtime_context.get_state(ValueStateDescriptor("total", Types.LONG()))

    def process_broadcast_element(self, rule, ctx):
        ctx.get_broadcast_state(WEIGHTS).put(rule[0], rule[1])
"""
RUNNING_TOTAL = WEIGHTED_HEAD + """
    def process_element(self, value, ctx):
        self.total.update((self.total.value() or 0) + value)
        weight = ctx.get_broadcast_state(WEIGHTS).get(ctx.get_current_key() % self.classes)
        yield as_line(ctx.get_current_key(), (weight or 0) * self.total.value())
"""
WEIGHTED_JOB = """

def weighted_totals(env, *, records, keys, weights, output):
    rules = env.from_collection(weights, type_info=Types.TUPLE([Types.LONG(), Types.LONG()])).broadcast(WEIGHTS)
    sequence_source(env, records).key_by(lambda n: n % keys, key_type=Types.LONG()).connect(rules) \\
        .process(WeightedTotal(len(weights)), output_type=Types.STRING()).sink_to(text_sink(output))
"""


@pytest.mark.cluster
def test_01_5_a_total_written_on_every_record_fails_on_the_cluster(healthy_cluster):
    """Applying the rule as each record passes writes a line per record (and reads rules that may
    not have arrived yet); the total is known when the input ends."""
    fails("01", "01.5", "expected one per key", RUNNING_TOTAL + WEIGHTED_JOB)


def _solution(chapter: str, exercise: str) -> str:
    """The chapter's solution cell of ``exercise``, as the learner would have written it."""
    notebook = nbformat.read(find_chapter(chapter), as_version=4)
    return next(c.source for c in notebook.cells if c.cell_type == "code" and "### BEGIN SOLUTION" in c.source
                and f"Exercise {exercise}" in _heading_before(notebook, c))


def _heading_before(notebook, cell) -> str:
    index = notebook.cells.index(cell)
    return next(c.source for c in reversed(notebook.cells[:index]) if "### Exercise" in c.source)


@pytest.mark.cluster
def test_04_4_windows_without_allowed_lateness_send_the_stragglers_to_the_late_output(healthy_cluster):
    code = _solution("04", "04.4").replace(".allowed_lateness(3 * 60_000)", "")
    assert "allowed_lateness" not in code
    fails("04", "04.4", "too many: records that come back within the allowed lateness", code)


@pytest.mark.cluster
def test_07_4_a_map_state_without_ttl_keeps_the_returning_users_old_interest(healthy_cluster):
    solution = _solution("07", "07.4")
    ttl = solution[solution.index("        descriptor.enable_time_to_live("):solution.index("        self.interests =")]
    fails("07", "07.4", "the returning user's old interest survived a pause longer than the TTL",
          solution.replace(ttl, ""))


def _script(tmp_path, replace: tuple[str, str] = ("", "")):
    notebook = nbformat.read(find_chapter("00"), as_version=4)
    body = next(c.source for c in notebook.cells if c.source.startswith("%%writefile")).split("\n", 1)[1]
    script = tmp_path / "event_types.py"
    script.write_text(body.replace(*replace))
    return script


def test_00_4_a_script_that_builds_its_job_at_import_fails_before_any_job(tmp_path):
    script = _script(tmp_path, ('if __name__ == "__main__":\n    count_event_types', 'if True:\n    count_event_types'))
    with pytest.raises(lk.CheckFailed, match="builds its job at import time"):
        lk.checks.check_script_job("00.4", script)


@pytest.mark.cluster
def test_00_4_a_script_in_streaming_mode_writes_every_update_and_fails(healthy_cluster, tmp_path):
    script = _script(tmp_path, ("    env.set_runtime_mode(RuntimeExecutionMode.BATCH)\n", ""))
    with pytest.raises(lk.CheckFailed, match="each count was written every time it changed"):
        lk.checks.check_script_job("00.4", script)


def test_the_late_window_exercises_stream_has_stragglers_on_both_sides_of_the_allowed_lateness():
    """04.4's stream: some planted records come back within the allowed lateness, some after it, and
    none whose fate a watermark up to 60 s of event time behind the ideal one could change."""
    from labkit.checks import whole_jobs as wj
    from labkit.pipelines import windows
    events, kinds = wj.late_events(), ("tumble-1m",)
    branch = windows.branch_label("tumble-1m", wj.LATE_BOUND_MS)
    assert not windows.ambiguous(events, wj.LATE_BOUND_MS, slack_ms=60_000, kinds=kinds,
                                 allowed_lateness_ms=wj.LATE_LATENESS_MS)
    taken = windows.reference(events, (wj.LATE_BOUND_MS,), kinds, allowed_lateness_ms=wj.LATE_LATENESS_MS)
    dropped = windows.reference(events, (wj.LATE_BOUND_MS,), kinds)
    assert 0 < taken.late[branch] < dropped.late[branch]


def test_the_profile_exercises_pauses_are_far_from_the_ttl():
    """07.4's replay: at its pace no (user, category) pauses near the TTL, one pauses far beyond it."""
    from labkit.checks import whole_jobs as wj
    from labkit.data import item_category
    last, pauses = {}, []
    for index, event in enumerate(wj.profile_events()):
        key, now_ms = (event.user_id, item_category(event.item_id)), index / wj.PROFILE_RATE * 1000
        if key in last:
            pauses.append(now_ms - last[key])
        last[key] = now_ms
    assert max(p for p in pauses if p < wj.PROFILE_TTL_MS) < wj.PROFILE_TTL_MS / 4
    assert min(p for p in pauses if p >= wj.PROFILE_TTL_MS) > 2 * wj.PROFILE_TTL_MS
