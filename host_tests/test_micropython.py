"""The MicroPython pass: the same scripts on the real MicroPython unix port
(board-sized heap) and on CPython must print the same bytes."""
import pytest

from runtimes import run_script

DIFFERENTIAL = ["engine_frames.py", "codec_vectors.py", "store_powercut.py", "tariff_year.py"]


@pytest.mark.parametrize("script", DIFFERENTIAL)
def test_same_output_on_both_runtimes(script, tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "m").mkdir()
    cpy = run_script("cpython", script, str(tmp_path / "c"))
    mpy = run_script("micropython", script, str(tmp_path / "m"))
    assert cpy.strip(), "the script printed nothing"
    assert mpy == cpy


def test_store_powercut_never_mixes_on_micropython(tmp_path):
    out = run_script("micropython", "store_powercut.py", str(tmp_path))
    lines = out.splitlines()[1:]
    assert lines and all(l.split()[1] == "old" for l in lines), out


def test_steady_state_tick_allocates_nothing(tmp_path):
    out = run_script("micropython", "heap_tick.py", str(tmp_path))
    assert "heap_lock ticks 1200 ok frames 0" in out, out
