"""The throughput a dashboard plots from a counter that moves a bundle at a time."""
import numpy as np
import pandas as pd

from labkit.dashboard import counter_rate


def bundled_counter(rate: float, bundle: int, interval: float, seconds: float,
                    stop_at: float | None = None) -> pd.DataFrame:
    """A numRecordsIn as the sampler sees it: it jumps by ``bundle`` whenever a bundle completes
    (every bundle / rate seconds), sampled every ``interval`` seconds."""
    times = np.round(np.arange(0, seconds, interval), 3)
    done = np.minimum(times, stop_at if stop_at is not None else seconds)
    return pd.DataFrame({"count.numRecordsIn": np.floor(done * rate / bundle) * bundle},
                        index=pd.Index(times, name="t"))


def test_a_counter_that_moves_a_bundle_at_a_time_gives_a_steady_rate():
    # a Python burst job: 12,500 records/s in bundles of 20,000 (a step every 1.6 s), sampled every
    # 0.5 s; 4 s of samples catch 2 or 3 steps, so a rate per window of samples swings 10k-15k
    frame = bundled_counter(rate=12_500, bundle=20_000, interval=0.5, seconds=40)
    per_samples = frame["count.numRecordsIn"].diff(8) / 4.0
    assert per_samples.dropna().loc[6:].max() / per_samples.dropna().loc[6:].min() >= 1.5
    rates = counter_rate(frame, "count.numRecordsIn").loc[6:]
    assert rates.notna().all()
    assert (rates / 12_500 - 1).abs().max() < 0.1, rates.describe()


def test_a_counter_that_stops_moving_reads_zero_once_it_has_missed_its_steps():
    frame = bundled_counter(rate=2_000, bundle=1_000, interval=0.5, seconds=60, stop_at=20)
    rates = counter_rate(frame, "count.numRecordsIn")
    assert abs(rates.loc[15] / 2_000 - 1) < 0.05
    assert (rates.loc[25:] == 0).all() and abs(rates.loc[20.5] / 2_000 - 1) < 0.05


def test_slow_bundles_are_measured_between_their_own_steps():
    # one bundle every 6 s, longer than the window: the rate still comes from two real steps
    frame = bundled_counter(rate=500, bundle=3_000, interval=0.5, seconds=60)
    rates = counter_rate(frame, "count.numRecordsIn").loc[13:]
    assert rates.notna().all() and (rates / 500 - 1).abs().max() < 0.05, rates.describe()
