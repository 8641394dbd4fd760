"""Long waits show what they wait for and for how long at most; headless runs stay quiet."""
import time

from labkit import progress


def test_a_wait_longer_than_two_seconds_shows_what_and_the_limit(monkeypatch, capsys):
    monkeypatch.setattr(progress, "_visible", lambda: True)
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.1)
    with progress.Waiting("job t-count to be finished", at_most=300) as wait:
        wait.tick()
        time.sleep(0.15)
        wait.tick()
    shown = capsys.readouterr().err
    assert "waiting for job t-count to be finished (at most 300 s)" in shown and "/300 s" in shown


def test_a_short_wait_shows_nothing(monkeypatch, capsys):
    monkeypatch.setattr(progress, "_visible", lambda: True)
    with progress.Waiting("a short thing", at_most=60) as wait:
        wait.tick()
    assert capsys.readouterr().err == ""


def test_a_headless_run_shows_nothing(monkeypatch, capsys):
    monkeypatch.setattr(progress, "_visible", lambda: True)
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.0)
    with progress.Waiting("a headless wait", at_most=60, headless=True) as wait:
        wait.tick()
    assert capsys.readouterr().err == ""
