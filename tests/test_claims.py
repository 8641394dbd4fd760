"""Every measured claim a chapter marks in its text is checked on the run, after it (labkit/claims.py)."""
import nbformat
import pytest

import labkit as lk
from labkit.chapters import chapters
from labkit.claims import unchecked


def _cells(path):
    return [(cell.cell_type, cell.source) for cell in nbformat.read(path, as_version=4).cells]


@pytest.mark.parametrize("chapter", sorted(chapters()))
def test_every_claim_a_chapter_marks_is_checked_after_it(chapter):
    assert unchecked(_cells(chapters()[chapter])) == []


@pytest.mark.parametrize("chapter", sorted(chapters()))
def test_every_chapter_checks_the_claims_its_text_makes(chapter):
    assert any("<!-- claim:" in source for kind, source in _cells(chapters()[chapter]) if kind == "markdown")


def test_a_marker_without_its_check_a_check_before_its_marker_and_a_double_marker_are_found():
    cells = [("markdown", "The source waits. <!-- claim: waits -->"),
             ("code", 'lk.claim("faster", rate > 2, f"{rate}")'),
             ("markdown", "It is faster. <!-- claim: faster --> Twice. <!-- claim: waits -->")]
    assert unchecked(cells) == [
        "claim 'faster' (cell 2) has no lk.claim('faster', ...) in a code cell after it",
        "claim 'waits' (cell 0) has no lk.claim('waits', ...) in a code cell after it",
        "claim 'waits' (cell 2) has no lk.claim('waits', ...) in a code cell after it",
        "claim 'waits' is marked twice",
        "lk.claim('faster', ...) (cell 1) has no <!-- claim: faster --> in the text before it"]
    assert unchecked(cells[:1] + [("code", 'lk.claim("waits", True, "x")')]) == []


def test_a_claim_that_does_not_hold_fails_with_what_was_measured(capsys):
    lk.claim("keeps-up", True, "1,000 records/s")
    assert "✓ keeps-up: 1,000 records/s" in capsys.readouterr().out
    with pytest.raises(lk.ClaimFailed, match="'keeps-up' does not hold on this run: 600 records/s") as info:
        lk.claim("keeps-up", False, "600 records/s")
    assert info.value.hint
