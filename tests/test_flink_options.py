"""A job's configuration is checked against Flink's own options before it is submitted: a typo is
named with the key it probably meant, a value of the wrong form is two lines, not a Java stack."""
import warnings

import pytest

import labkit as lk
from labkit.flink_options import BadOption, UnknownOption, check_options, known_options
from labkit.jobs import _flink_value


def test_flinks_options_are_read_from_its_own_classes_python_ones_included():
    options = known_options()
    for key in ("execution.checkpointing.interval", "state.backend.type", "parallelism.default",
                "python.execution-mode", "python.fn-execution.bundle.size", "taskmanager.memory.network.fraction"):
        assert key in options, key


def test_a_misspelt_key_is_warned_about_with_the_key_it_probably_meant():
    with pytest.warns(UnknownOption, match=r"'execution.checkpointing.intervall' is not a Flink option: Flink ignores "
                                           r"it. Did you mean 'execution.checkpointing.interval'\?"):
        check_options({"execution.checkpointing.intervall": "1s"})
    with pytest.warns(UnknownOption, match=r"'my.own.setting' is not a Flink option: Flink ignores it$"):
        check_options({"my.own.setting": "x"})


@pytest.mark.parametrize("key, value, says", [
    ("execution.checkpointing.interval", "two seconds", "is not a duration such as '2 s'"),
    ("parallelism.default", "two", "is not a whole number"),
    ("taskmanager.memory.network.max", "lots", "is not a size such as '64 mb'"),
    ("execution.checkpointing.mode", "MOSTLY_ONCE", "is not one of EXACTLY_ONCE, AT_LEAST_ONCE"),
    ("python.execution-mode", "threads", "is not one of process, thread"),
])
def test_a_value_of_the_wrong_form_is_two_lines_naming_the_form(key, value, says):
    with pytest.raises(BadOption) as bad:
        check_options({key: value}, _flink_value)
    assert str(bad.value).startswith(f"{key}: {value!r} {says}") and bad.value.hint
    assert len(str(bad.value).splitlines()) == 2  # the message, and the hint with Flink's reason


def test_the_lab_presets_and_well_formed_values_pass_in_silence():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for preset in ("lab", "process", "pyflink"):
            config = lk.job_config(preset, **{"execution.checkpointing.interval": "2s", "state.backend.type": "rocksdb",
                                              "execution.checkpointing.mode": "AT_LEAST_ONCE"})
            check_options(config, _flink_value)
        check_options({"python.execution-mode": "thread", "parallelism.default": 3,
                       "execution.checkpointing.unaligned.enabled": True}, _flink_value)
