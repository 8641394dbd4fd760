"""Chapter 04's plain-Python reference: Flink's window, lateness and session rules worked by hand.
(Chapter 04 and exercise 04.4 compare the cluster's windows and late records with it.)"""
from labkit.data import START_MS, UserEvent
from labkit.pipelines import sessions, windows

MINUTE = 60_000


ORIGIN = START_MS - START_MS % MINUTE  # windows align to the epoch, so count from a whole minute


def _view(user, at_s):
    return UserEvent(user, "i0001", "view", ORIGIN + int(at_s * 1000), f"{user}-s0", {})


def test_reference_follows_flinks_window_rules_on_a_small_stream():
    """Worked by hand: bound 10 s; 'a' at 5 s, 50 s, 130 s, then 55 s arriving last (late for
    its 1-min window, which closed when 130 s arrived, but still inside the open session)."""
    arrivals = [_view("a", 5), _view("a", 50), _view("b", 61), _view("a", 130), _view("a", 55)]
    result = windows.reference(arrivals, bounds_ms=(10_000,), kinds=("tumble-1m", "slide-1m-30s", "session-2m"))
    tumble, slide, session = (windows.branch_label(k, 10_000) for k in ("tumble-1m", "slide-1m-30s", "session-2m"))
    at = lambda s: ORIGIN + s * 1000  # noqa: E731
    assert result.branch(tumble) == {("a", at(0)): (2, 0), ("b", at(60)): (1, 0), ("a", at(120)): (1, 0)}
    assert result.late[tumble] == 1 and result.late[slide] == 1
    assert result.branch(slide)[("a", at(30))] == (1, 0) and result.branch(slide)[("a", at(-30))] == (1, 0)
    assert result.branch(session) == {("a", at(5)): (4, 0), ("b", at(61)): (1, 0)}
    assert result.late[session] == 0


def test_the_reference_ends_a_session_after_inactivity_not_after_the_first_event():
    """The truth chapter 04 compares both session functions with (it runs them on the cluster)."""
    events = sessions.busy_and_idle_users()
    found = sessions.reference_sessions(events, MINUTE)
    busy = [s for s in found if s[0] == "busy"]
    idle = sorted(s for s in found if s[0] == "idle")
    assert len(busy) == 1 and busy[0][3] == sum(e.user_id == "busy" for e in events)
    assert busy[0][2] - busy[0][1] > 3 * MINUTE, "the busy user is active for longer than several timeouts"
    assert [s[3] for s in idle] == [2, 1], "the idle user's pause of 2 min 20 s ends a session"
