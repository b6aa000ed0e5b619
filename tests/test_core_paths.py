"""`paths.lies_inside`: the one check that an output path is not inside a folder a command reads or another writes
(`eval.runner._check_out` for a run's --out, `convcorr_cli.eval_output.check_outside` for output files)."""

import os
from pathlib import Path

import pytest

from convcorr_jax.core.paths import lies_inside


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    """In tmp_path (the working folder): data/sub/one.txt, data2/, out/, a link "linked" -> data, a link
    "subdir" -> data/sub, a link data/escape -> out/x.json, a link "inward" -> data/one.json, a link loop
    "loop" -> "loop", data/loop -> data/loop and a folder link data/away -> data2."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "sub" / "one.txt").write_text("1")
    (tmp_path / "data2").mkdir()
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "linked")
    os.symlink(tmp_path / "data" / "sub", tmp_path / "subdir")
    os.symlink(tmp_path / "out" / "x.json", tmp_path / "data" / "escape")
    os.symlink(tmp_path / "data" / "one.json", tmp_path / "inward")
    os.symlink(tmp_path / "data2", tmp_path / "data" / "away")
    os.symlink("loop", tmp_path / "loop")
    os.symlink("loop", tmp_path / "data" / "loop")
    return tmp_path


@pytest.mark.parametrize("path, folder, inside", [
    ("data", "data", True),  # the folder itself
    ("data/sub/one.txt", "data", True),
    ("data/new/deeper/x.json", "data", True),  # need not exist
    ("data2/x.json", "data", False),  # a name that only starts like the folder's
    ("x.json", "data", False),
    (".", "data", False),  # the folder's parent
    ("data/../x.json", "data", False),  # ".." leaves it
    ("data2/../data/x.json", "data", True),  # ".." comes back into it
    ("linked/x.json", "data", True),  # through a link to the folder
    ("data/x.json", "linked", True),  # the folder named through a link
    ("subdir/../x.json", "data", True),  # ".." after a link: the link's target's parent, data/
    ("data/escape", "data", True),  # a link in the folder to a file outside: a write replaces the link there
    ("data/escape", "out", True),  # ... and it leads outside too
    ("inward", "data", True),  # a link outside to a file inside
    ("loop", "data", False),  # a link loop: no error
    ("data/loop", "data", True),
    ("data/away", "data", True),  # a link in the folder to a folder outside
    ("data/away/x.json", "data", True),  # ... and a path below it: read as part of the folder
    ("data/away/new/../x.json", "data", True),  # ".." that stays below the link's target
    ("data/away/../x.json", "data", False),  # ".." after the link: data2's parent, outside
    ("data2/x.json", "data/away", True),  # the folder named through that link
    ("runs/r/a.json", "runs/r", True),  # a folder that does not exist yet
    ("runs/r2/a.json", "runs/r", False),
    ("data/sub/one.txt", "data/sub/one.txt", True),  # a file as the folder: the file itself
    ("data/sub/two.txt", "data/sub/one.txt", False),
])
def test_lies_inside_by_where_the_paths_lead(tree, path, folder, inside):
    assert lies_inside(path, folder) is inside
    assert lies_inside(tree / path, tree / folder) is inside  # absolute or relative: the same answer


def test_both_callers_refuse_a_link_in_the_folder_and_take_a_link_loop(tree):
    """A link inside the folder to a file outside passed both checks (they looked at the target only), and the
    write then replaced the link with the output inside the folder; a link loop was a RuntimeError (a traceback)
    in the command line's check."""
    from convcorr_cli.eval_output import check_outside
    from convcorr_jax.core.errors import InputError

    with pytest.raises(InputError, match=r"data/escape: field '--json': expected a path outside the model's folder"):
        check_outside({"--json": "data/escape"}, "data", "the model's folder data")
    check_outside({"--json": "loop"}, "data", "the model's folder data")  # outside: no error


def test_refuse_inside_is_the_one_wording_of_the_three_checks(tree):
    """`paths.refuse_inside` words the refusal for the run's --out (`eval.runner._check_out`), a training run's
    folders (`convcorr_train.pose.check_outside_data`) and the commands' output files (`eval_output.check_outside`):
    the source the user gave, the flag, "a <folder|path> outside <what>"; nothing given is no check."""
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.core.paths import refuse_inside

    with pytest.raises(InputError) as e:
        refuse_inside("data/sub/run", "data", "data/sub", "--out", "data_root data (read, never written)", "folder")
    assert str(e.value) == ("data/sub: field '--out': expected a folder outside data_root data (read, never written), "
                            "got a path inside it")
    with pytest.raises(InputError, match=r"^linked/x.json: field '--json': expected a path outside the folder data,"):
        refuse_inside("linked/x.json", "data", "linked/x.json", "--json", "the folder data")
    for path, folder in (("data2/x.json", "data"), (None, "data"), ("data/x.json", None), ("", "data")):
        refuse_inside(path, folder, path, "--json", "the folder data")  # outside, or nothing to check: no error


def test_real_data_root_expands_a_leading_tilde(tmp_path, monkeypatch):
    """CONVCORR_REAL_DATA=~/real (quoted, or set in a file a shell does not expand) was looked for as ./~/real and,
    not found there, silently fell back to the folder beside the repository."""
    from convcorr_jax.core.paths import real_data_root

    monkeypatch.setenv("HOME", str(tmp_path / "my home"))
    (tmp_path / "my home" / "réal data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVCORR_REAL_DATA", "~/réal data")
    assert real_data_root() == tmp_path / "my home" / "réal data"
