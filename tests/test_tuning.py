"""Chapters 05 and 06's mechanisms on the real cluster: where options take effect and what the latency
probe measures; the bottleneck rule's errors. (Chapter 06, section 5, finds the bottleneck of a job
on the cluster and asserts it, as its exercise 06.3 does on a stage chosen at random.)"""

import pandas as pd
import pytest

import labkit as lk
from labkit import experiments
from labkit.errors import LabError
from labkit.pipelines import keyed_count as kc
from labkit.pipelines import tuning as tu


def test_job_options_reach_the_job_and_global_job_parameters_are_only_user_config(healthy_cluster):
    def seed_style(env):
        env.get_config().set_global_job_parameters({"taskmanager.memory.process.size": "4096m"})
        env.get_config().set_global_job_parameters({"taskmanager.memory.network.fraction": "0.2"})
        kc.build(env, records=100, keys=5, output=lk.output_dir("t-options"))

    before = healthy_cluster.taskmanager_memory()
    job = lk.submit(seed_style, name="t-options",
                    config=lk.job_config(parallelism=1, **{"pipeline.object-reuse": True})).wait_finished()
    execution = healthy_cluster.rest.job_config(job.job_id)["execution-config"]
    assert (execution["object-reuse-mode"], execution["job-parallelism"]) == (True, 1)
    # each call replaced the previous map, and the TaskManager never saw either
    assert execution["user-config"] == {"taskmanager.memory.network.fraction": "0.2"}
    assert healthy_cluster.taskmanager_memory() == before


def test_latency_probe_times_every_record_and_bundle_time_holds_records(healthy_cluster):
    job = lk.submit(tu.build_latency_probe, name="t-probe",
                    config=lk.job_config("process", parallelism=1, **{"python.fn-execution.bundle.size": 100_000,
                                                                      "python.fn-execution.bundle.time": 2000}),
                    rate=2000, records=8000, keys=50)
    job.wait_finished(120)
    latencies = tu.read_latencies(job.output)
    assert len(latencies) == 8000
    # a second's input is far below 100,000 records, so bundles close by time: the first records
    # of each bundle wait for its 2-second clock. A floor: a slow machine only adds to it. (How
    # latency follows bundle.time, a comparison of runs, is chapter 05's and the bench's.)
    assert experiments.latency_summary(latencies)["p99_ms"] > 1500


def test_build_stages_rejects_unknown_stage_names():
    with pytest.raises(ValueError, match="the stages are"):
        tu.build_stages(None, records=1, work_ms={"parsing": 1.0}, output=None)


def test_a_run_without_task_metrics_is_a_clear_error_not_a_bottleneck():
    samples = pd.DataFrame({"job_state": ["RUNNING"] * 3, "job.numRestarts": [0.0] * 3})
    with pytest.raises(LabError, match="no busy or backpressured time among 3 samples"):
        experiments.stage_load(samples)


def test_a_probe_whose_input_ends_within_the_warm_up_is_a_clear_error_not_nan():
    # the tiny bench once got 3,000 records created within 1.99 s: every one inside the 2 s warm-up
    latencies = pd.DataFrame({"created_s": [0.0, 1.0, 1.99], "latency_ms": [700.0, 710.0, 720.0]})
    with pytest.raises(LabError, match=r"no record was created after the first 2 s .*3 records over 2.0 s"):
        experiments.latency_summary(latencies)
    assert experiments.latency_summary(latencies, warmup_s=1.0)["p50_ms"] == 715.0
