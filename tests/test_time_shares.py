"""Busy, backpressured and idle time per sampling interval, from Flink's accumulated times
(labkit.metrics.time_shares), and stale samples drawn as gaps (labkit.dashboard)."""
import math

import numpy as np
import pandas as pd

from labkit.dashboard import counter_rate, with_gaps
from labkit.metrics import time_shares


def _frame(rows):
    """rows: (t, busy, backpressured, idle, numRecordsIn) of one vertex, accumulated."""
    return pd.DataFrame([{"t": t, "job_state": "RUNNING", "op.accumulatedBusyTimeMs": b,
                          "op.accumulatedBackPressuredTimeMs": bp, "op.accumulatedIdleTimeMs": i,
                          "op.numRecordsIn": n} for t, b, bp, i, n in rows]).set_index("t")


def test_each_span_gets_its_own_share_not_a_sixty_second_average():
    # two subtasks: 2,000 ms of task time per second; busy all of the first second, then idle
    frame = time_shares(_frame([(0, 100, 0, 0, 0), (1, 2100, 0, 0, 500), (2, 2100, 0, 2000, 500),
                                (3, 2600, 1500, 2000, 900)]), window_s=1.0)
    assert frame["op.busyTimeMsPerSecond"].tolist()[1:] == [1000.0, 0.0, 250.0]
    assert frame["op.idleTimeMsPerSecond"].tolist()[1:] == [0.0, 1000.0, 0.0]
    assert frame["op.backPressuredTimeMsPerSecond"].tolist()[3] == 750.0
    assert math.isnan(frame["op.busyTimeMsPerSecond"].iloc[0])


def test_a_repeated_snapshot_is_stale_its_counter_unknown_and_the_next_share_spans_both_intervals():
    frame = time_shares(_frame([(0, 0, 0, 0, 0), (1, 800, 0, 200, 400), (2, 800, 0, 200, 400),
                                (3, 1400, 400, 200, 1000)]), window_s=1.0)
    assert frame["op.stale"].tolist() == [False, False, True, False]
    assert math.isnan(frame["op.numRecordsIn"].iloc[2]) and frame["op.numRecordsIn"].iloc[3] == 1000
    assert math.isnan(frame["op.busyTimeMsPerSecond"].iloc[2])
    assert frame["op.busyTimeMsPerSecond"].iloc[3] == 600.0
    assert frame["op.backPressuredTimeMsPerSecond"].iloc[3] == 400.0


def test_the_interval_across_a_restart_gets_no_share_and_busy_time_not_yet_known_is_skipped():
    frame = time_shares(_frame([(0, float("nan"), 0, 0, 0), (1, 900, 0, 100, 100), (2, 1800, 0, 200, 200),
                                (3, 50, 0, 10, 5), (4, 950, 0, 110, 105)]), window_s=1.0)
    shares = frame["op.busyTimeMsPerSecond"]
    assert math.isnan(shares.iloc[0]) and math.isnan(shares.iloc[1]) and math.isnan(shares.iloc[3])
    assert shares.iloc[2] == 900.0 and shares.iloc[4] == 900.0


def test_a_wait_flink_adds_only_at_its_five_second_update_is_not_read_as_busy():
    # one subtask waits for buffers all the time: Flink's clock counts the wait as busy until its
    # metric update adds it to the backpressured time, every 5 s (at t = 5, 10, 15, ...)
    rows = []
    for t in range(0, 21):
        backpressured = 5000 * (t // 5)
        rows.append((t, 1000 * t - backpressured, backpressured, 0, 0))
    frame = time_shares(_frame(rows))
    over_five = frame["op.backPressuredTimeMsPerSecond"].loc[5:]
    assert (over_five == 1000.0).all(), over_five
    per_second = time_shares(_frame(rows), window_s=1.0)["op.backPressuredTimeMsPerSecond"].loc[1:]
    assert set(per_second.dropna()) == {0.0, 1000.0}  # what a one-second span would have drawn


def test_a_stale_sample_is_a_gap_in_the_rate_and_a_long_silence_breaks_the_line():
    frame = time_shares(_frame([(t, 1000 * t, 0, 0, 1000 * t) for t in range(0, 6)]
                               + [(t, 5000, 0, 0, 5000) for t in range(6, 16)]
                               + [(t, 1000 * t, 0, 0, 1000 * t) for t in range(16, 20)]))
    rates = counter_rate(frame, "op.numRecordsIn")
    assert rates.loc[6:15].isna().all()  # the REST layer repeated one snapshot: unknown, not zero
    assert abs(rates.loc[18] - 1000) < 1
    line = with_gaps(rates)
    gap = line[(line.index > 5) & (line.index < 16)]
    assert len(gap) == 1 and np.isnan(gap.iloc[0])  # one break where ten samples were stale
    one_missing = with_gaps(pd.Series([1.0, np.nan, 3.0, 4.0], index=[0.0, 1.0, 2.0, 3.0]))
    assert one_missing.notna().all() and len(one_missing) == 3  # a single stale sample is joined over
