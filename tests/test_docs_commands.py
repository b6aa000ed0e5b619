"""Every command line of docs/commands.md and the README runs and writes what the docs say it writes.

A documented command is a line starting with `convcorr ` (or `.venv/bin/convcorr `) in a ```bash, ```sh or
```console block, `\\`-continued lines joined, the `# ...` comment and optional `[...]` groups left out. Each one
must have an entry in `RUNS` (a new or changed command line fails until it has one) saying what is added so it
runs in seconds (`--size tiny`, seeded random weights instead of downloaded ones, a few steps; never a flag the
docs set) and which files the docs say it writes. The data, images and points it names (PF-dataset-WILLOW,
FLIC, photo.jpg, ...) are files of the `work` fixture: synthetic data written in the real formats. The command
then runs in this process (`convcorr_cli.main.main`) from that folder and must exit 0 and leave those files.
`weights fetch` (a download of the real weights) is parsed, not run: downloading, verifying and converting are
tested against a loopback server in test_weights_fetch.py.
"""

from __future__ import annotations

import importlib
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from convcorr_cli.main import COMMANDS, Parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "commands.md", ROOT / "README.md")
BLOCK = re.compile(r"```(?:bash|sh|console)\n(.*?)```", re.DOTALL)
TINY = ["--size", "tiny"]
RANDOM = ["--weights", "random"]


def _strip_optional(text: str) -> str:
    while True:
        new = re.sub(r"\s*\[[^\[\]]*\]", "", text)
        if new == text:
            return new
        text = new


def documented() -> dict[str, str]:
    """{command line (normalised): where it is documented}."""
    out = {}
    for doc in DOCS:
        for block in BLOCK.findall(doc.read_text()):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                line = re.sub(r"^\$ ", "", line.strip())
                line = re.sub(r"\s+#.*$", "", line)
                if re.match(r"(\S*/)?convcorr ", line):
                    out[" ".join(_strip_optional(line).split()[1:])] = doc.name
    return out


# documented command (without `convcorr`) -> (what is added to run it in seconds, files the docs say it writes,
# relative to the working folder). Placeholders in the command (PLACES) are fixture paths.
RUNS: dict[str, tuple[list[str], list[str]]] = {
    "demo --only table1,table2": (["--size", "tiny", "--weights", "random", "--backbone", "caffenet"],
                                  ["runs/demo/report.md", "runs/demo/table1/metrics.json",
                                   "runs/demo/table2/metrics.json"]),
    "demo --size tiny": (["--only", "table1,data", "--weights", "random", "--backbone", "caffenet"],
                         ["runs/demo/report.md", "runs/demo/data/metrics.json"]),
    "demo --backbone vgg16": (["--size", "tiny", "--only", "table1", "--weights", "random"],
                              ["runs/demo/report.md", "runs/demo/table1/config.json"]),
    "weights fetch vgg16": ([], []),  # parsed only: a download
    "run long2014.table2 --size tiny --set transfer.beta=0.01": (
        ["--backbone", "caffenet", "--set", "weights=random"],
        [f"runs/long2014.table2/{f}" for f in ("config.json", "metrics.json", "report.md", "report.html")]),
    "run --list": ([], []),
    "run EXPERIMENT": (TINY + ["--backbone", "caffenet", "--set", "weights=random"],
                       [f"runs/long2014.table1/{f}" for f in ("config.json", "metrics.json", "report.md")]),
    "eval pf-willow --root PF-dataset-WILLOW": (
        TINY + ["--backbone", "caffenet", *RANDOM, "--json", "out.json"],
        ["out.json", "runs/long2014.pf_willow_*caffenet*/metrics.json"]),
    "eval pf-willow --root PF-dataset-WILLOW --backbone torchvision_alexnet --method bp --taps conv4 --set "
    "transfer.grid=conv4 --set transfer.normalise=false --set transfer.beta=0.1": (
        TINY + RANDOM + ["--classes", "car(S)", "--pairs", "1"],
        ["runs/long2014.pf_willow_*torchvision_alexnet*/metrics.json"]),
    "run long2014.pf_willow_validation --data-root PF-dataset-WILLOW": (
        TINY + ["--backbone", "caffenet", "--set", "weights=random", "--set", "rows=features=none"],
        ["runs/long2014.pf_willow_validation/metrics.json"]),
    "run long2014.table3 --set data=flic --data-root FLIC --set cv=true": (
        TINY + ["--backbone", "caffenet", "--set", "weights=random"], ["runs/long2014.table3/report.md"]),
    "run long2014.table4 --set data=flic --data-root FLIC --set prediction.max_negatives=none --set "
    "val_Cs=1e-6,1e-5,1e-4,1e-3 --set val_sift_Cs=0.1,1,10": (
        TINY + ["--backbone", "caffenet", "--set", "weights=random"], ["runs/long2014.table4/report.md"]),
    "run razavian2015.tables --set data=flic --data-root FLIC": (
        TINY + ["--backbone", "caffenet", "--set", "weights=random"], ["runs/razavian2015.tables/report.md"]),
    "train pose --config flic --set data_root=FLIC": (
        ["--set", "model.trunk_weights=random", "--set", "steps=1,0,0", "--set", "batch_size=2", "--set",
         "eval_limit=0", "--set", "checkpoint_every=1", "--logdir", "off", "--no-progress"],
        ["runs/pose_flic/config.json", "runs/pose_flic/checkpoints", "runs/pose_flic/metrics.json"]),
    "eval flic --model runs/pose_flic --root FLIC --json flic.json --figure fig15.png": (["--no-progress"],
                                                                                       ["flic.json", "fig15.png"]),
    "eval flic --model flic --root FLIC --split val": (["--no-progress"], []),  # the shipped model, read only
    "pose photo.jpg --out poses/": ([], ["poses/photo_pose.png"]),  # the shipped model
    "pose photo.jpg --person-box 40,10,470,511 --model flic_256 --json photo.json": ([], ["photo.json"]),
    "pose photo.jpg --person-box 15,15,370,511 --model flic_256 --out poses/": ([], ["poses/photo_pose.png"]),
    "pose photo.jpg --person-box 15,15,370,511 --out poses/": ([], ["poses/photo_pose.png"]),  # the default, person
    "pose photo.jpg --torso-box 40,60,350,511 --out poses/": ([], ["poses/photo_pose.png"]),  # flic, torso box
    "pose photo.jpg --model runs/pose_flic --out poses/": ([], ["poses/photo_pose.png"]),
    "pose photo.jpg --two-pass --torso 48,36 --json frame.json": ([], ["frame.json"]),  # flic_256, three passes
    "pose clip.mp4 --out poses/ --every 2": ([], ["poses/clip_pose.mp4", "poses/clip_pose.jsonl"]),
    "match car_a.png car_b.png --points car_a.json": (
        ["--backbone", "caffenet", *RANDOM, "--set", "image_size=96"], ["car_a_in_car_b.json", "car_a_in_car_b.png"]),
    "align LEFT.png RIGHT.png --dense --out DIR": (
        ["--backbone", "caffenet", *RANDOM, "--max-side", "128"], ["DIR/flow.npy", "DIR/energy.json", "DIR/warp.png"]),
    "run long2014.locality --set data=flic --data-root FLIC": (
        TINY + ["--backbone", "caffenet", "--set", "weights=random"], ["runs/long2014.locality/report.md"]),
    "features photo.jpg --backbone torchvision_alexnet --taps conv4,pool5 --out photo_feats.npz": (
        [], ["photo_feats.npz"]),  # on random weights shaped as the fetched ones (`_fetched_like`)
    "classify photo.jpg --json classes.json": (["--backbone", "caffenet", *RANDOM], ["classes.json"]),
    "data synth people --n 200 --seed 0 --out people": (["--n", "8", "--image-size", "64", "--no-progress"],
                                                        ["people/examples.mat", "people/annot/valid.h5"]),
}


def test_every_documented_command_has_a_run():
    docs = documented()
    assert len(docs) >= 20
    assert sorted(set(docs) - set(RUNS)) == [], "documented commands without an entry in RUNS"
    assert sorted(set(RUNS) - set(docs)) == [], "entries of RUNS no longer documented"


def test_placeholders_name_real_commands():
    for command in RUNS:
        assert command.split()[0] in COMMANDS, command


@pytest.fixture(scope="module")
def work(tmp_path_factory, write_pf_willow, write_clip):
    """The working folder: PF-WILLOW, FLIC (synthetic people) and the images and points the docs name."""
    from convcorr_jax.data.synthetic.datasets import write_dataset

    d = tmp_path_factory.mktemp("docs")
    write_pf_willow(d / "PF-dataset-WILLOW", classes=("car(S)", "duck(S)"), n=3)
    write_dataset("people", d / "FLIC", n=16, seed=0, image_size=64)
    _four_movies(d / "FLIC" / "examples.mat")
    rng = np.random.default_rng(0)
    for name in ("photo.jpg", "car_a.png", "car_b.png"):
        Image.fromarray(rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)).save(d / name)
    for name in ("LEFT.png", "RIGHT.png"):  # test_flow_dense's working size (96 x 128): its compiled programs
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(d / name)
    (d / "car_a.json").write_text("[[20, 30], [60, 40]]")
    write_clip(d / "clip.mp4", rng.integers(0, 255, (5, 48, 64, 3), dtype=np.uint8))
    return d


def _four_movies(path: Path) -> None:
    """The synthetic FLIC people as frames of four movies (the flic configs hold whole movies out for validation)."""
    ex = sio.loadmat(path)["examples"]
    for i in range(ex.shape[1]):
        ex[0, i]["moviename"] = np.array([f"movie{i % 4}"])
    sio.savemat(path, {"examples": ex})


ORDER = sorted(RUNS, key=lambda c: "runs/pose_flic" in c)  # after `train pose` wrote the run
# The longest runs, marked slow (`make test-all`): the three demos; table3 and table4 on FLIC (tests/test_experiments.py
# runs both at tiny size); `eval pf-willow` with BP on AlexNet's conv4 (the plain one stays); `align` (as
# tests/test_flow_dense.py runs it); `train pose` and the two commands that read its run (each would train its own);
# `pose photo.jpg --two-pass` (flic_256's three passes at its own scales: tests/test_pose_cli_trust.py runs the same
# two passes of flic_256 through `convcorr pose` at one scale and checks the torso box against `estimate`'s);
# `run long2014.table2 --size tiny` (tests/test_experiments.py runs long2014.table2 at tiny size on the same random
# CaffeNet); the plain `eval pf-willow` (the same tiny run on random CaffeNet as tests/test_pf_willow_transfer.py's
# cnn-ot_rhm case; the command's JSON and console are checked by its test_command_writes_json and by
# tests/test_units_labels.py).
SLOW = {c for c in RUNS if c.startswith(("demo ", "run long2014.table3 ", "run long2014.table4 ", "align ",
                                         "train pose ", "eval flic ", "pose photo.jpg --model runs/pose_flic",
                                         "eval pf-willow --root PF-dataset-WILLOW",
                                         "run long2014.table2 --size tiny ", "pose photo.jpg --two-pass "))}


@pytest.mark.parametrize("command", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in ORDER],
                         ids=[" ".join(c.split()[:3]) + f" ({i})" for i, c in enumerate(ORDER)])
def test_documented_command_runs_and_writes_what_the_docs_say(command, work, monkeypatch, capsys):
    extra, outputs = RUNS[command]
    monkeypatch.chdir(work)
    argv = shlex.split(command) + extra
    if command.startswith("run EXPERIMENT"):
        argv[1] = "long2014.table1"
    if command.startswith("weights fetch"):
        p = Parser(prog="convcorr weights")
        importlib.import_module("convcorr_cli.weights").add_arguments(p)
        args = p.parse_args(argv[1:])
        assert (args.action, args.name) == ("fetch", "vgg16")
        return
    if "runs/pose_flic" in command and not (work / "runs" / "pose_flic").is_dir():
        _train_flic_run(work)
    if argv[0] == "features":
        monkeypatch.setattr("convcorr_cli.features.load_backbone", _fetched_like)
    if command.startswith("data synth"):
        shutil.rmtree(work / "people", ignore_errors=True)
    assert main(argv) == 0, capsys.readouterr().err[-3000:]
    documented_args = shlex.split(command)
    backbone = documented_args[documented_args.index("--backbone") + 1] if "--backbone" in documented_args else None
    for out in outputs:
        found = list(work.glob(out))
        assert found, f"{command}: {out} not written"
        if backbone and out.endswith(("config.json", "metrics.json")):  # ran on the documented backbone
            assert backbone in found[0].read_text(), (command, out)


def _fetched_like(name: str, weights: str | None = None):
    """`load_backbone(name)` without a download: seeded random parameters with the layers the fetched weights
    have (torchvision_alexnet and vgg16 fetched without a URL: conv layers only, so an fc tap fails as it would)."""
    from convcorr_jax.weights import load_backbone

    backbone, params = load_backbone(name, "random")
    if name in ("torchvision_alexnet", "vgg16") and weights is None:
        params = {k: params[k] for k in backbone.conv_keys}
    return backbone, params


def _train_flic_run(work: Path) -> None:
    """runs/pose_flic as the documented `train pose --config flic` leaves it (its RUNS entry's few steps)."""
    extra, _ = RUNS["train pose --config flic --set data_root=FLIC"]
    assert main(["train", "pose", "--config", "flic", "--set", "data_root=FLIC", *extra]) == 0


def test_the_substituted_settings_keep_what_the_command_means():
    """What RUNS adds only makes a command small (size, weights, backbone, steps), never another command."""
    allowed = {"--size", "--weights", "--backbone", "--set", "--only", "--logdir", "--no-progress",
               "--json", "--max-side", "--n", "--image-size", "--classes", "--pairs"}
    for command, (extra, _) in RUNS.items():
        flags = {t for t in extra if t.startswith("--")}
        assert flags <= allowed, (command, flags - allowed)
        documented_flags = {t for t in shlex.split(command) if t.startswith("--")} - {"--set", "--n"}
        assert not flags & documented_flags, (command, flags & documented_flags)  # nothing the docs set, but
        # the number of samples (--n)
