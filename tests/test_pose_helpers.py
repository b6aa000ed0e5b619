"""Tiny stand-in people generator for the pose tests (stick figures with the 16 MPII joints)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from convcorr_jax.pose.train import PoseArrays, torso_size

# MPII skeleton edges
EDGES = [(0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12), (12, 7),
         (7, 13), (13, 14), (14, 15)]


def stick_people(n: int, size: int = 32, seed: int = 0) -> PoseArrays:
    rng = np.random.default_rng(seed)
    imgs, pts, vis, norm = [], [], [], []
    for _ in range(n):
        s = size / 32.0
        c = np.array([size / 2, size / 2]) + rng.normal(0, 2 * s, 2)
        p = np.zeros((16, 2))
        p[6] = c + [0, 3 * s]
        p[7] = c - [0, 5 * s]
        p[8] = p[7] - [0, 2 * s]
        p[9] = p[8] - [0, 3 * s]
        p[2], p[3] = p[6] + [-3 * s, 0], p[6] + [3 * s, 0]
        p[12], p[13] = p[7] + [-4 * s, 0], p[7] + [4 * s, 0]
        for a, b, cc in ((2, 1, 0), (3, 4, 5), (12, 11, 10), (13, 14, 15)):
            ang = rng.uniform(0.3, 2.8)
            p[b] = p[a] + 5 * s * np.array([np.cos(ang), np.sin(ang)])
            ang2 = ang + rng.uniform(-0.8, 0.8)
            p[cc] = p[b] + 5 * s * np.array([np.cos(ang2), np.sin(ang2)])
        p = np.clip(p, 0, size - 1)
        im = Image.fromarray((rng.uniform(0, 60, (size, size, 3))).astype(np.uint8))
        d = ImageDraw.Draw(im)
        for i, (a, b) in enumerate(EDGES):
            d.line([tuple(p[a]), tuple(p[b])], fill=(255, 40 + 13 * i, 200 - 10 * i), width=max(1, int(s)))
        imgs.append(np.asarray(im))
        pts.append(p.astype(np.float32))
        v = np.ones(16, bool)
        vis.append(v)
        norm.append(torso_size(p))
    return PoseArrays(np.stack(imgs), np.stack(pts), np.stack(vis), np.asarray(norm, np.float32))


def test_train_cli_lists_every_config():
    """The `--config` help text (kept jax-free for a fast start-up) names exactly configs.NAMES."""
    import argparse

    from convcorr_jax import train_cli
    from convcorr_jax.pose import configs

    p = argparse.ArgumentParser()
    train_cli.add_arguments(p)
    pose = p._subparsers._group_actions[0].choices["pose"]
    helps = {a.dest: a.help for a in pose._actions}
    assert tuple(helps["config"].split(", ")) == configs.NAMES
