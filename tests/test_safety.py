"""Names that become folders and the paths labkit deletes or writes: nothing a learner types can
reach outside the lab's folder."""
import pytest

from labkit.cli import main
from labkit.errors import BadName, OutsideLab
from labkit.outputs import output_dir
from labkit.settings import LabSettings, inside

HOSTILE = ["..", "../..", "../x", "/tmp", "/", "~", "~/x", "a/b", "a b", ".hidden", "", "x" * 65, "ä", "a\nb"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_lab_name_that_is_not_a_plain_word_is_refused(name):
    with pytest.raises(BadName, match="is not allowed"):
        LabSettings(name=name)


@pytest.mark.parametrize("name", ["default", "alice", "ch03-kill", "lab_2"])
def test_plain_lab_names_are_accepted(name, tmp_path):
    assert LabSettings(name=name, home=tmp_path).lab_dir == tmp_path / name


def test_reset_of_a_hostile_lab_name_deletes_nothing(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    (home / "default").mkdir(parents=True)
    (home / "keep.txt").write_text("mine")
    monkeypatch.setenv("LABKIT_HOME", str(home))
    monkeypatch.delenv("LABKIT_REST_URL", raising=False)
    for name in ("..", "../..", "/", "~"):
        assert main(["--lab", name, "reset"]) == 2
        assert "is not allowed" in capsys.readouterr().err
    assert (home / "keep.txt").read_text() == "mine" and (home / "default").is_dir()


@pytest.mark.parametrize("name", HOSTILE)
def test_an_output_name_that_is_not_a_plain_word_is_refused(name):
    with pytest.raises(BadName):
        output_dir(name)


def test_only_paths_strictly_inside_the_root_pass(tmp_path):
    root = tmp_path / "lab"
    (root / "output").mkdir(parents=True)
    (root / "escape").symlink_to(tmp_path)
    assert inside(root, root / "output" / "x") == (root / "output" / "x").resolve()
    for path in (root, root / "..", root / "output" / ".." / "..", root / "escape" / "other", tmp_path / "other"):
        with pytest.raises(OutsideLab):
            inside(root, path)
