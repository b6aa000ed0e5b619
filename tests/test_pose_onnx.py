"""ONNX export of a pose model's coarse heat-map network (`convcorr_jax.pose.export.onnx_file`, `convcorr pose
--export-onnx`): the file run by onnxruntime gives JAX's heat-maps."""

import dataclasses
import logging
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_cli.main import main
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.optional import MissingExtra
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose import model
from convcorr_jax.pose.estimation import PoseModel, load
from convcorr_jax.pose.export.onnx_file import NOT_EXPORTED, _foreign_quiet, export_onnx
from convcorr_jax.pose.training.config import TrainConfig

ort = pytest.importorskip("onnxruntime")
jax2onnx = pytest.importorskip("jax2onnx")

BATCH = 4
TOLERANCE = 1e-4  # max abs difference of the heat-maps (float32; the maps' peaks are about 1)


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """n deterministic random RGB crops, float32 [n, size, size, 3] in [0, 1] (uint8 / 255)."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8).astype(np.float32) / 255


def _onnx_heatmaps(path: Path, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["coarse_hm"]
    return session.run(["coarse_hm"], {"images": images})[0]


def _jax_heatmaps(run: PoseModel, images: np.ndarray) -> np.ndarray:
    cfg = run.config.model
    return np.asarray(jax.jit(lambda x: model.apply_coarse(run.params, x, cfg)[0])(images))


@pytest.fixture(scope="module")
def flic_export(tmp_path_factory):
    """The shipped model flic exported at batch 4 by `convcorr pose --export-onnx` in a fresh process, as a user
    runs it (one export for the module's tests; jax2onnx's plugin loader runs in that process): (file, stdout,
    exit code, stderr)."""
    path = tmp_path_factory.mktemp("onnx") / "flic_coarse.onnx"
    r = subprocess.run([sys.executable, "-m", "convcorr_cli", "pose", "--export-onnx", str(path), "--model", "flic",
                        "--batch", str(BATCH)], capture_output=True, text=True, timeout=600)
    return path, r.stdout, r.returncode, r.stderr


def test_flic_onnx_heatmaps_match_jax(flic_export):
    path, _, code, err = flic_export
    assert code == 0, err
    run = load("flic")
    cfg = run.config.model
    images = _images(BATCH, cfg.image_size)
    got = _onnx_heatmaps(path, images)
    want = _jax_heatmaps(run, images)
    assert got.shape == want.shape == (BATCH, cfg.map_size, cfg.map_size, len(run.names)) == (4, 16, 16, 11)
    assert np.abs(got - want).max() <= TOLERANCE
    # the documented read-out of the file's heat-maps: the same points as JAX's maps give (input pixels)
    xy = np.asarray(hmap.map_to_image(hmap.subpixel_argmax(jnp.asarray(got)), cfg.pool))
    np.testing.assert_allclose(xy, np.asarray(hmap.map_to_image(hmap.subpixel_argmax(jnp.asarray(want)), cfg.pool)),
                               atol=1e-2)
    assert xy.shape == (BATCH, 11, 2) and np.all((xy >= 0) & (xy <= cfg.image_size - 1))


def test_cli_writes_the_file_and_prints_what_was_exported(flic_export):
    path, stdout, code, stderr = flic_export
    assert code == 0 and path.is_file() and path.stat().st_size > 1_000_000
    assert not list(path.parent.glob(".*.writing-*"))  # written atomically: no temporary file left
    # the command's own two lines and nothing else: none of jax2onnx's plugin-loader tracebacks or log lines
    assert stderr == "", stderr[:2000]
    lines = stdout.strip().splitlines()
    assert len(lines) == 2, stdout[:2000]
    assert all(line.startswith("pose: ") for line in lines) and "Traceback" not in stdout + stderr
    assert f"wrote {path}" in lines[0] and "images float32 [4, 128, 128, 3]" in lines[0]
    assert "coarse_hm float32 [4, 16, 16, 11]" in lines[0] and "stride 8" in lines[0] and "lsho" in lines[0]
    assert lines[1] == f"pose: {NOT_EXPORTED}"


def _tiny_run() -> PoseModel:
    """A random paper-architecture model (LCN pyramid, three banks, bilinear upsampling), 32 px input, 3 joints."""
    cfg = model.ModelConfig(num_joints=3, image_size=32, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=16,
                            out_init_std=1.0)
    params = model.init(jax.random.PRNGKey(0), cfg)
    return PoseModel(path=Path("tiny"), config=TrainConfig(model=cfg), params=params, names=("a", "b", "c"),
                   skeleton=((0, 1), (1, 2)))


def test_export_onnx_paper_model_and_description(tmp_path, capsys, caplog):
    run = _tiny_run()
    path = tmp_path / "sub" / "tiny.onnx"
    root_handlers = list(logging.getLogger().handlers)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        info = export_onnx(run, path, batch=2)
    # a Python caller hears nothing from jax2onnx either, and its logging is as it was
    assert capsys.readouterr() == ("", "") and not caplog.records and not warned
    assert logging.getLogger().handlers == root_handlers and logging.root.manager.disable == logging.NOTSET
    assert info == {"path": str(path), "model": "tiny", "opset": 17, "batch": 2, "image_size": 32, "stride": 8,
                    "names": ["a", "b", "c"], "inputs": {"images": [2, 32, 32, 3]},
                    "outputs": {"coarse_hm": [2, 4, 4, 3]}, "dtype": "float32", "bytes": path.stat().st_size,
                    "not_exported": [NOT_EXPORTED]}
    images = _images(2, 32, seed=1)
    want = _jax_heatmaps(run, images)
    assert np.abs(want).max() > 0.1  # maps of a size to compare
    assert np.abs(_onnx_heatmaps(path, images) - want).max() <= TOLERANCE


def test_the_fine_model_crop_has_no_jax2onnx_lowering():
    # NOT_EXPORTED's reason: when this starts to pass through, export the fine model too
    cfg = model.ModelConfig(num_joints=2, image_size=32, context=16)
    feats = jax.ShapeDtypeStruct((1, 16, 16, 4), jnp.float32)
    origin = jax.ShapeDtypeStruct((1, 2, 2), jnp.int32)
    with pytest.raises(AssertionError) as failed:  # in jax2onnx's lowering of the batched gather
        jax2onnx.to_onnx(lambda f, o: model.crop(f, o, 0, cfg), [feats, origin])
    assert any("gather" in entry.path.name for entry in failed.traceback)


def test_a_failed_conversion_is_one_line_and_the_library_noise_stays_quiet(tmp_path, monkeypatch, capsys):
    def failing(*args, **kwargs):
        print("plugin noise on stdout")
        print("Traceback (most recent call last): noise", file=sys.stderr)
        logging.getLogger("jax2onnx.plugins.plugin_system").warning("Skipping import of x")
        warnings.warn("a foreign warning", stacklevel=1)
        raise AssertionError("no lowering for gather\nsecond line")

    monkeypatch.setattr(jax2onnx, "to_onnx", failing)
    with pytest.raises(InputError) as e:
        export_onnx(_tiny_run(), tmp_path / "x.onnx")
    msg = str(e.value)
    assert msg.startswith("export_onnx: field 'run': expected a coarse network jax2onnx can convert, got "
                          "AssertionError: no lowering for gather (raised at ")
    assert "\n" not in msg and "second line" not in msg and isinstance(e.value.__cause__, AssertionError)
    assert capsys.readouterr() == ("", "") and not (tmp_path / "x.onnx").exists()
    assert logging.root.manager.disable == logging.NOTSET


def test_bad_batch_and_path(tmp_path):
    run = _tiny_run()
    for batch in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="batch"):
            export_onnx(run, tmp_path / "x.onnx", batch=batch)
    with pytest.raises(InputError, match="existing folder"):
        export_onnx(run, tmp_path, batch=1)
    assert not list(tmp_path.iterdir())


def test_a_path_in_the_model_folder_is_refused_and_its_files_kept(tmp_path):
    folder = tmp_path / "model"
    (folder / "frames").mkdir(parents=True)
    (folder / "params.npz").write_bytes(b"the model's parameters")
    run = dataclasses.replace(_tiny_run(), path=folder)
    for path in (folder / "params.npz", folder / "x.onnx", folder / "frames" / "x.onnx", tmp_path / "." / "model" /
                 "model.json"):
        with pytest.raises(InputError, match="outside the model's folder"):
            export_onnx(run, path)
    assert sorted(p.name for p in folder.rglob("*")) == ["frames", "params.npz"]
    assert (folder / "params.npz").read_bytes() == b"the model's parameters"


def test_an_existing_file_is_replaced_only_when_it_is_an_earlier_export(tmp_path, capsys):
    """A user's file at the path (a .onnx that is not this export's too) is refused in one line before the
    conversion and left as it was; the file an earlier export wrote is replaced."""
    run = _tiny_run()
    notes = tmp_path / "notes.onnx"
    notes.write_bytes(b"mine")
    with pytest.raises(InputError, match="nothing was written"):
        export_onnx(run, notes)
    assert main(["pose", "--export-onnx", str(notes)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert notes.read_bytes() == b"mine"
    first = export_onnx(run, tmp_path / "x.onnx")
    assert export_onnx(run, tmp_path / "x.onnx", batch=2)["bytes"] == (tmp_path / "x.onnx").stat().st_size
    assert first["batch"] == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["notes.onnx", "x.onnx"]


def test_missing_jax2onnx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "jax2onnx", None)  # as if not installed
    with pytest.raises(MissingExtra, match=r"jax2onnx: pip install 'convcorr-jax\[onnx\]'"):
        export_onnx(_tiny_run(), tmp_path / "x.onnx")


@pytest.mark.parametrize("argv, field", [
    (["--export-onnx", "{tmp}/a_file/x.onnx"], "--export-onnx"),  # the parent is a file
    (["--export-onnx", "{tmp}"], "--export-onnx"),  # an existing folder
    (["--export-onnx", "{tmp}/x.onnx", "--batch", "0"], "--batch"),
    (["--export-onnx", "{tmp}/x.onnx", "photo.jpg"], "--export-onnx"),  # images too
    (["--export-onnx", "{tmp}/x.onnx", "--flip"], "--export-onnx"),
    (["--export-onnx", "{tmp}/x.onnx", "--model", "no_such_model"], "no_such_model"),
    (["photo.jpg", "--batch", "2"], "--batch"),  # --batch without --export-onnx
])
def test_cli_bad_arguments_give_one_line(tmp_path, capsys, argv, field):
    (tmp_path / "a_file").write_text("not a folder")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(["pose", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("convcorr pose: error:") and field in err
    assert not list(tmp_path.glob("*.onnx"))


def test_conversions_in_two_threads_give_the_streams_and_logging_back():
    """Two exports' quiet blocks in two threads, the second started while the first is inside: afterwards sys.stdout,
    sys.stderr and logging are the program's again. Before, each block put back what it found: the second found the
    first's buffer and put it back after the first had left (the program's output swallowed for good, logging off)."""
    streams, disabled = (sys.stdout, sys.stderr), logging.root.manager.disable
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with _foreign_quiet():
            first_in.set()
            second_in.wait(1)  # the second cannot come in while this block runs: it waits for it
        first_out.set()

    def second():
        assert first_in.wait(10)
        with _foreign_quiet():
            second_in.set()
            assert first_out.wait(10)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert (sys.stdout, sys.stderr) == streams and logging.root.manager.disable == disabled
