import os

# Tests run on the CPU, single-threaded XLA compile noise suppressed; multi-device tests spawn subprocesses
# with XLA_FLAGS=--xla_force_host_platform_device_count=8 themselves.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# XLA's CPU compiler at its fast-compile settings: the suite compiles thousands of small programs and runs each a
# few times, so compilation, not running, is most of its time (docs/testing.md measures both). The programs mean
# the same; `CONVCORR_TEST_XLA_DEFAULTS=1` runs the suite with XLA's default settings instead.
TEST_XLA_FLAGS = ("--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
                  if os.environ.get("CONVCORR_TEST_XLA_DEFAULTS", "") in ("", "0") else "")
os.environ["XLA_FLAGS"] = " ".join(f for f in (os.environ.get("XLA_FLAGS", ""), TEST_XLA_FLAGS) if f)


def xla_flags(devices: int | None = None) -> str:
    """XLA_FLAGS for a test's subprocess: the suite's compiler settings, plus `devices` forced host CPU devices."""
    forced = f"--xla_force_host_platform_device_count={devices}" if devices else ""
    return " ".join(f for f in (TEST_XLA_FLAGS, forced) if f)

import gc
import http.server
import importlib.util
import threading
from pathlib import Path
from typing import Callable

import pytest

from convcorr_jax.core.paths import real_data_root
from convcorr_jax.core.registry import Registry


def golden_backbones():
    """tests/golden/backbones/make_golden.py as a module (the torch-free parts: its images and random weights)."""
    spec = importlib.util.spec_from_file_location("make_golden_backbones",
                                                  Path(__file__).parent / "golden" / "backbones" / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def real_data():
    """Path to the real annotation files (shared/data/real); skips with the reason when absent."""
    root = real_data_root()
    if root is None:
        pytest.skip("real annotation files not found: set CONVCORR_REAL_DATA or place shared/data/real beside the repo")
    return root


@pytest.fixture(scope="session")
def flic_root(real_data):
    """The FLIC folder of the real data (examples.mat + images/); skips with the reason when absent."""
    return _flic_folder(real_data)


def _flic_folder(real_data: Path) -> Path:
    root = real_data / "flic"
    if not (root / "examples.mat").is_file() or not (root / "images").is_dir():
        pytest.skip(f"FLIC (examples.mat and images/) not found under the real data folder {real_data}")
    return root


@pytest.fixture(scope="session")
def flic_subset(real_data, tmp_path_factory):
    """A FLIC folder of real FLIC people: examples.mat with the first 6 examples of each of the first 10 training
    movies (by name) and the first 24 test examples, images/ links to their real images. Returns (folder, number
    of training people, number of test people)."""
    from convcorr_jax.data.flic import load_flic, write_flic_mat

    flic_root = _flic_folder(real_data)
    samples = list(load_flic(flic_root))
    movies = sorted({s.extras["moviename"] for s in samples if s.extras["istrain"]})[:10]
    train = [s for m in movies for s in [s for s in samples if s.extras["istrain"] and s.extras["moviename"] == m][:6]]
    test = [s for s in samples if s.extras["istest"]][:24]
    root = tmp_path_factory.mktemp("flic_subset")
    (root / "images").mkdir()
    for s in train + test:
        link = root / "images" / Path(s.image_path).name
        if not link.exists():
            link.symlink_to(flic_root / "images" / Path(s.image_path).name)
    write_flic_mat(root / "examples.mat", train + test, [True] * len(train) + [False] * len(test))
    return root, len(train), len(test)


@pytest.fixture
def pf_root(real_data):
    """The PF-WILLOW folder of the real data (PF-dataset-WILLOW, its sub-class folders) as a str; skips when absent."""
    root = real_data / "pf_willow" / "PF-dataset-WILLOW"
    if not root.is_dir():
        pytest.skip("pf_willow/PF-dataset-WILLOW not present in the real-data folder")
    return str(root)


# Caches (fetched weights, generated datasets) live in the repository's ignored .cache/ during tests, so a
# clean clone starts empty and repeated runs reuse them; set CONVCORR_CACHE to override.
os.environ.setdefault("CONVCORR_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "tests"))

# JAX's persistent compilation cache in that folder, as every `convcorr` command has it: a program compiled by one
# pytest worker or command-line subprocess is loaded, not compiled again, by the others.
from convcorr_jax import enable_compile_cache  # noqa: E402

enable_compile_cache()


@pytest.fixture(scope="module")
def loopback_http():
    """Start loopback HTTP servers: `start(lookup) -> base URL`, where `lookup(path) -> bytes | None` (None: 404).
    A path under `/cut/` serves the same body but announces its full length, sends a third and hangs up (an
    interrupted download). Servers stop at the end of the module."""
    servers = []

    def start(lookup: Callable[[str], bytes | None]) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                cut = self.path.startswith("/cut/")
                body = lookup(self.path.removeprefix("/cut") if cut else self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 3] if cut else body)
                self.wfile.flush()
                self.close_connection = cut

            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Loopback requests must not go through a proxy from the environment."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def pytest_collection_modifyitems(config, items):
    """Tests marked slow run first, so that under `pytest -n 2` (the Makefile's) they overlap the others."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_sessionfinish(session):
    """In a pytest-xdist worker, the objects left at the end (about 3 million after the fast tier) are frozen out of
    the garbage collector: pytest's last collection pass (its unraisable-exception check) over them took 2-3 s of
    the 5 s that execnet waits for a worker to end before it interrupts it (a KeyboardInterrupt printed after the
    last test). The process frees them when it exits."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        gc.freeze()


@pytest.fixture(scope="session")
def write_pose_run():
    """`write(cfg) -> run folder`: the run folder of a pose TrainConfig as `train` leaves it (config.json and a
    checkpoint at its last step) holding the initial parameters (seed cfg.seed), for tests of what reads a run."""
    import dataclasses

    import jax

    from convcorr_jax.core import io
    from convcorr_jax.pose import model
    from convcorr_jax.pose.training import checkpoints, stages

    def write(cfg) -> Path:
        run = cfg.run_dir()
        run.mkdir(parents=True, exist_ok=True)
        io.write_json(run / "config.json", dataclasses.asdict(cfg))
        params = model.init(jax.random.PRNGKey(cfg.seed), cfg.model)
        step = cfg.total_steps
        mgr = checkpoints.manager(run / "checkpoints")
        state = {"params": params, "opt": stages.init_opt(cfg, cfg.stage_of(step - 1), params)}
        checkpoints.save_checkpoint(mgr, step, state, cfg, {"next_index": step})
        mgr.close()
        return run

    return write


@pytest.fixture(scope="session")
def write_clip():
    """`write(path, frames)`: an H.264 video of frames (uint8 [T, H, W, 3], even sides) at 10 frames per second,
    written with PyAV (the video extra)."""
    import av
    import numpy as np

    def write(path: Path, frames) -> None:
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=10)
            s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            for f in frames:
                for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)

    return write


@pytest.fixture
def register_experiment(monkeypatch):
    """`register(exp_id, module_name, doc, config_cls, run) -> exp_id`: a fake experiment module (get_config ->
    config_cls(size=size), run) in sys.modules and the registry, for this test only."""
    import sys
    import types

    from convcorr_eval import registry

    def register(exp_id: str, module_name: str, doc: str, config_cls, run) -> str:
        mod = types.ModuleType(module_name, doc)
        mod.get_config = lambda size="default": config_cls(size=size)
        mod.run = run
        monkeypatch.setitem(sys.modules, module_name, mod)
        extended = Registry("experiment", {**registry.EXPERIMENTS, exp_id: module_name}, field="id")
        monkeypatch.setattr(registry, "EXPERIMENTS", extended)
        return exp_id

    return register


@pytest.fixture(scope="session")
def write_pf_willow():
    """`write(root, classes=("a(S)", "b(S)", "c(S)"), n=4) -> root`: PF-WILLOW-shaped sub-class folders under root,
    n random 40 x 30 images each with 10 keypoints (`pts_coord`, 1-based x and y rows); seed 0."""
    import numpy as np
    import scipy.io as sio
    from PIL import Image

    def write(root: Path, classes=("a(S)", "b(S)", "c(S)"), n: int = 4) -> Path:
        rng = np.random.default_rng(0)
        for c in classes:
            (root / c).mkdir(parents=True)
            for i in range(n):
                coords = np.stack([rng.uniform(1, 40, 10), rng.uniform(1, 30, 10)])
                sio.savemat(root / c / f"im{i}.mat", {"pts_coord": coords})
                Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(root / c / f"im{i}.png")
        return root

    return write


@pytest.fixture
def mobilenet_v2_prior():
    """MobileNetV2's real ImageNet network (the default CAM prior's classifier), loaded as `transfer_points` loads
    it; the test is skipped, saying why, where its weights cannot be reached."""
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.correspondence import points as points_module

    try:
        return points_module._load_network("mobilenet_v2")
    except InputError as e:
        if "not found" in str(e) or "download" in str(e):
            pytest.skip(f"MobileNetV2's ImageNet weights not reachable: {e}")
        raise


@pytest.fixture
def tiny_flic(tmp_path):
    """A FLIC folder (examples.mat + images/) of 4 frames of 360 x 240 (FLIC's shipped half resolution; imgdims
    480 x 720), random JPEG pixels, 2 train (movies "a", "b") and 2 test; returns the folder."""
    return _write_tiny_flic(tmp_path)


@pytest.fixture(scope="module")
def tiny_flic_module(tmp_path_factory):
    """`tiny_flic` made once for a test module (for a module's fixture that trains on it)."""
    return _write_tiny_flic(tmp_path_factory.mktemp("tiny_flic"))


def _write_tiny_flic(tmp_path):
    import dataclasses

    import numpy as np
    from PIL import Image

    from convcorr_jax.data.flic import FLIC_LABELLED_NAMES, write_flic_mat
    from convcorr_jax.data.types import KeypointSample

    root = tmp_path / "FLIC"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    samples = []
    for i in range(4):
        name = f"m{i}-{i + 1:08d}.jpg"
        Image.fromarray(rng.integers(0, 256, (240, 360, 3), np.uint8)).save(root / "images" / name, quality=90)
        pts = rng.uniform([60, 40], [300, 200], (11, 2)).astype(np.float32)
        box = np.array([100 + i, 50, 180, 150 + i], np.float32)
        samples.append(KeypointSample(points=pts, visible=np.ones(11, bool), names=FLIC_LABELLED_NAMES,
                                      bbox=np.zeros(4, np.float32), category="person", id=f"m{i}",
                                      image_path=name, extras={"imgdims": (480, 720, 3), "image_scale": 0.5,
                                                               "torso_box": box, "moviename": "ab"[i % 2]}))
    write_flic_mat(root / "examples.mat", [dataclasses.replace(s) for s in samples], istrain=[True, True, False, False])
    return root


@pytest.fixture
def nan_loss_at(monkeypatch):
    """nan_loss_at(step): pose training reads its loss as NaN at that 0-based step (`pose.training.loop._step_loss`)."""
    from convcorr_jax.pose.training import loop as pose_train

    def poison(at: int) -> None:
        real = pose_train._step_loss
        monkeypatch.setattr(pose_train, "_step_loss", lambda metrics, step: float("nan") if step == at
                            else real(metrics, step))

    return poison


@pytest.fixture
def count_compiles():
    """`with count_compiles() as n: ...` -> n[0]: the programs XLA compiled (or loaded from the persistent
    compilation cache) inside the block, jit-compiled functions and eager operations alike."""
    import contextlib

    import jax

    @contextlib.contextmanager
    def counting():
        n = [0]

        def listen(event: str, duration: float, **_) -> None:
            if event == "/jax/core/compile/backend_compile_duration":
                n[0] += 1

        jax.monitoring.register_event_duration_secs_listener(listen)
        try:
            yield n
        finally:
            jax.monitoring.unregister_event_duration_listener(listen)

    return counting


@pytest.fixture
def crop_arguments(monkeypatch) -> list:
    """The shapes of the images each call of the crop program (`core.geometry._crop`) gets, in call order: a list
    that fills as the test crops."""
    from convcorr_jax.core import geometry

    seen: list = []
    real = geometry._crop

    def spy(images, *args, **kwargs):
        seen.append(images.shape)
        return real(images, *args, **kwargs)

    monkeypatch.setattr(geometry, "_crop", spy)
    return seen


def overlap_in_turn(threads: list, first_in, second_in, first_out) -> None:
    """Called inside the section two threads overlap in: the first thread (threads[0]) says it is in and waits for
    the second to be in; the second says it is in and waits for the first to be out (`first_out`, set by the test
    once the first thread's call returned), so the second enters while the first is inside and leaves after it."""
    import threading

    if threading.current_thread() is threads[0]:
        first_in.set()
        assert second_in.wait(10)
    else:
        second_in.set()
        assert first_out.wait(10)
