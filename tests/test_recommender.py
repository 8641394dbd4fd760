"""Chapter 07's recommender: the clickstream, the model in plain Python, and the job on the real
cluster (exact profiles, the same lists as the reference, malformed lines counted by reason, and
state intact after a TaskManager kill)."""
import json
import subprocess
import sys

import pytest

import labkit as lk
from labkit.data import START_MS, UserEvent, item_category
from labkit.errors import LabError
from labkit.recommender import clickstream, evaluate, runs
from labkit.recommender import pipeline as rp
from labkit.recommender.model import PopularityBaseline, Profile, RecConfig, Recommender, SeedAlgorithm, rank

DAY_MS = 24 * 3_600_000


def _items_in_distinct_categories(count: int) -> list[str]:
    chosen, categories = [], set()
    for n in range(1000):
        item = f"i{n:05d}"
        if item_category(item) not in categories:
            chosen.append(item)
            categories.add(item_category(item))
        if len(chosen) == count:
            return chosen
    raise AssertionError("not enough categories")


X, Y, Z = _items_in_distinct_categories(3)


def _event(user, item, kind, ts, session, seq):
    return UserEvent(user, item, kind, ts, session, {"seq": seq})


# user a: view X, a day later click Y (same session name, so X and Y co-occur), then like X;
# user b: view Y and purchase Z in one session, then two days later a view of X in a new session.
KNOWN = [_event("a", X, "view", START_MS, "a-s0", 0),
         _event("b", Y, "view", START_MS + 1_000, "b-s0", 1),
         _event("b", Z, "purchase", START_MS + 1_000, "b-s0", 2),
         _event("a", Y, "click", START_MS + DAY_MS, "a-s0", 3),
         _event("a", X, "like", START_MS + DAY_MS, "a-s0", 4),
         _event("b", X, "view", START_MS + 1_000 + 2 * DAY_MS, "b-s1", 5)]
EXPECTED_PROFILES = {
    # a: X's 1.0 halves over the day, then +2 for Y's click and +3 for X's like
    "a": {"interests": {item_category(X): 3.5, item_category(Y): 2.0},
          "behaviour": {"click": 1, "like": 1, "view": 1}, "last_ts": START_MS + DAY_MS, "seen": 2},
    # b: Y 1.0 and Z 5.0, a quarter left after two days; then +1 for X
    "b": {"interests": {item_category(X): 1.0, item_category(Y): 0.25, item_category(Z): 1.25},
          "behaviour": {"purchase": 1, "view": 2}, "last_ts": START_MS + 1_000 + 2 * DAY_MS, "seen": 3},
}


def test_the_same_seed_gives_the_same_clickstream_with_its_realistic_structure():
    first, again = clickstream.generate_clickstream(60, seed=9), clickstream.generate_clickstream(60, seed=9)
    assert first.lines == again.lines
    events = first.events
    assert [e.metadata["seq"] for e in events] == list(range(len(events)))
    assert all(a.timestamp <= b.timestamp for a, b in zip(events, events[1:], strict=False))
    kinds = [e.event_type for e in events]
    assert kinds.count("view") > kinds.count("click") > max(kinds.count("like"), kinds.count("purchase")) > 0
    per_item = sorted((sum(1 for e in events if e.item_id == i) for i in {e.item_id for e in events}), reverse=True)
    assert per_item[0] >= 10 * per_item[len(per_item) // 2], "Zipf: the top item far above the median one"
    assert 0.75 < len(first.train) / len(events) < 0.85
    assert all(e.timestamp > 10**12 for e in events), "epoch milliseconds"


def test_profiles_decay_in_event_time_exactly():
    model = Recommender()
    model.run(KNOWN)
    assert {user: profile.as_dict() for user, profile in model.profiles.items()} == EXPECTED_PROFILES


def test_a_list_never_holds_the_current_or_a_seen_item_and_favours_the_users_categories():
    row = {X: 9.0, Y: 4.0, Z: 4.0, "i99999": 1.0}
    assert rank(row, X, seen=[], shares={}, config=RecConfig()) == [Y, Z, "i99999"]
    assert rank(row, "i99999", seen=[Y], shares={item_category(Z): 1.0}, config=RecConfig()) == [X, Z]
    assert rank(row, X, seen=[], shares={item_category(Z): 0.5}, config=RecConfig()) == [Z, Y, "i99999"]


def test_streaming_cf_beats_popularity_twice_and_the_seeds_algorithm_on_the_held_out_future():
    stream = clickstream.generate_clickstream(150, seed=1)
    targets = evaluate.held_out_targets(stream.events, stream.split_ms)
    ours = evaluate.hit_rate_ndcg({r.seq: r.items for r in Recommender().run(stream.events)}, targets)
    popular = evaluate.hit_rate_ndcg(PopularityBaseline(stream.train).lists(stream.events), targets)
    seed = evaluate.hit_rate_ndcg(SeedAlgorithm(stream.train).lists(stream.events, set(targets)), targets)
    assert len(targets) > 500
    assert ours[0] >= 2 * popular[0] and ours[1] >= 2 * popular[1], (ours, popular)
    assert seed[0] < popular[0], (seed, popular)


@pytest.mark.cluster
def test_the_job_keeps_exactly_the_expected_profiles_for_a_known_sequence(healthy_cluster):
    job = runs.run_bounded("t-rec-known", [e.to_json() for e in KNOWN], lk.job_config(parallelism=2),
                           emit_profiles=True)
    assert rp.read_profiles(job.output) == EXPECTED_PROFILES
    recs = {r.seq: r.items for r in rp.read_recommendations(job.output)}
    # Y's row holds Z (b's session) and X (a's): a has seen X, so a gets Z; X's row holds only Y,
    # which both a (seq 4) and b (seq 5) have seen
    assert recs == {0: (), 1: (), 2: (), 3: (Z,), 4: (), 5: ()}
    assert job.recoveries() == 0


@pytest.mark.cluster
def test_the_job_equals_the_reference_and_counts_malformed_lines_by_reason_without_restarting(healthy_cluster):
    stream = clickstream.generate_clickstream(60, seed=2, malformed_fraction=0.02)
    blank = [e.to_json().replace(f'"user_id":"{e.user_id}"', '"user_id":" "') for e in stream.events[:7]]

    def blank_user(event):
        return "empty-user_id" if not event.user_id.strip() else None

    job = runs.run_bounded("t-rec-exact", stream.lines + blank, lk.job_config(parallelism=1), checks=[blank_user])
    reference = Recommender().run(stream.events)
    assert [(r.seq, r.user, r.ts, r.items) for r in rp.read_recommendations(job.output)] == \
           [(r.seq, r.user, r.ts, r.items) for r in reference]
    assert sum(1 for r in reference if r.items) > len(reference) / 2, "most lists should be non-empty"
    counts = rp.read_malformed(job.output)
    assert counts == {**stream.malformed_counts(), "empty-user_id": 7}
    assert len(counts) >= 4
    assert job.recoveries() == 0
    # timed over the lists' own span, the rate beats the same lists over the step's whole running
    # time (which holds the Python worker's start-up)
    assert rp.lists_per_second(job.output) > len(reference) / job.vertex_seconds("recommend")
    with pytest.raises(LabError, match="no operator 'rank'"):
        job.vertex_seconds("rank")


@pytest.mark.cluster
def test_the_seeds_user_keyed_storage_never_sees_another_users_items(healthy_cluster):
    stream = clickstream.generate_clickstream(20, seed=4)
    job = lk.submit(rp.build_seed_matrix, name="t-seed-matrix", config=lk.job_config(parallelism=2),
                    events=runs.write_events("t-seed-matrix", stream.lines)).wait_finished()
    seen = rp.read_seed_matrix(job.output)
    assert seen["events"] == len(stream.events)
    assert seen["most entries visible"] == max(len({e.item_id for e in stream.events if e.user_id == u})
                                               for u in {e.user_id for e in stream.events})
    assert seen["most entries of other users visible"] == 0


def test_profiles_are_plain_json():
    profile = Profile()
    profile.apply(KNOWN[0], RecConfig())
    assert json.loads(json.dumps(profile.as_dict()))["behaviour"] == {"view": 1}


def test_a_gateway_without_the_kafka_connector_says_how_to_get_it():
    # a PyFlink process that never loaded the lab's connector jar (lk.remote_environment does)
    script = ("from pyflink.datastream import StreamExecutionEnvironment\n"
              "from labkit.recommender import pipeline as rp\n"
              "rp.kafka_lines(StreamExecutionEnvironment.get_execution_environment(), '127.0.0.1:9')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "LabError: the Kafka connector is not on this machine" in done.stderr
    assert "labkit jars" in done.stderr
