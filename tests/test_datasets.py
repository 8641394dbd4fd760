"""The committed samples in data/ are what the seeded generators produce, and `labkit data` writes them."""
from labkit import cli
from labkit.datasets import DATA, DATASETS, SAMPLE_LINES


def test_the_committed_samples_match_the_generators():
    for dataset in DATASETS.values():
        committed = dataset.sample_file().read_text().splitlines()
        assert committed == dataset.lines()[:SAMPLE_LINES], \
            f"{dataset.sample_file()} is stale: run `labkit data --samples-only`"


def test_labkit_data_writes_every_dataset_in_full_and_as_a_sample(tmp_path, capsys):
    assert cli.main(["data", "--out", str(tmp_path)]) == 0
    for dataset in DATASETS.values():
        full = dataset.full_file(tmp_path).read_text().splitlines()
        assert full == dataset.lines() and len(full) > SAMPLE_LINES
        assert dataset.sample_file(tmp_path).read_text().splitlines() == full[:SAMPLE_LINES]
    assert DATA.name == "data" and (DATA / "README.md").exists()
