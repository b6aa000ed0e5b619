"""Keypoint carry: source keypoints moved into the target by the best matches of the grid nodes around them.

Keypoint transfer (`transfer_keypoints`, HPF's `predict_kps`): a source keypoint p is carried by the source
nodes whose box [x - r, x + r] x [y - r, y + r] around their centre contains p (r = `radius` pixels; HPF uses
half the receptive field of its first layer), or by the nearest node when none does; each carrier i moves p by
its match, to trg_xy[best_i] + (p - src_xy[i]), and the prediction is the mean over the carriers (optionally
trimmed: only the carriers within `trim` pixels of the carriers' coordinate-wise median are averaged; optionally
scaled: the offset p - src_xy[i] is multiplied per axis by the pair's spread ratio, `spread_ratio`).

Optionally only forward-backward consistent nodes carry (`cycle_consistent`: the best match of a node's best match
lies back within a tolerance of it; tolerance 0 is mutual nearest neighbours). The matches come from
`matching.match_best`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MIN_SPREAD_NODES = 5  # fewer counted nodes than this: `spread_ratio` is 1 (no scale from too few matches)
SPREAD_CLIP = 2.0  # PointTransferConfig.carry_scale's clip: the ratio kept within [1/2, 2] (chosen on PF-WILLOW)


def _carrier_median(moved: jax.Array, carriers: jax.Array) -> jax.Array:
    """Coordinate-wise median [K, 2] of moved [K, Ns, 2] over the carriers (bool [K, Ns], at least one per row;
    the mean of the two middle values for an even count)."""
    srt = jnp.sort(jnp.where(carriers[..., None], moved, jnp.inf), axis=1)
    n = jnp.sum(carriers, axis=1)

    def nth(i):
        return jnp.take_along_axis(srt, jnp.broadcast_to(i[:, None, None], (i.shape[0], 1, 2)), axis=1)[:, 0]

    return 0.5 * (nth((n - 1) // 2) + nth(n // 2))


def spread_ratio(src_xy: jax.Array, trg_xy: jax.Array, weight: jax.Array, clip: float | jax.Array) -> jax.Array:
    """How much larger, per axis, the matched target nodes spread than their source nodes: the pair's scale.

    Args:
      src_xy, trg_xy: [Ns, 2] (x, y) pixels of each source node and of its match.
      weight: bool [Ns] the nodes that count.
      clip: the largest ratio (> 1); the ratio is clipped to [1 / clip, clip].

    Returns:
      float32 jax array [2]: std of trg_xy over the counted nodes / std of src_xy over them, per axis; 1 with fewer than
      `MIN_SPREAD_NODES` counted nodes, and 1 on an axis where the counted source nodes do not spread (all in one
      row or column: the ratio is undefined there).
    """
    w = weight.astype(jnp.float32)[:, None]
    n = jnp.sum(w)

    def std(x):
        mean = jnp.sum(w * x, 0) / jnp.maximum(n, 1.0)
        return jnp.sqrt(jnp.sum(w * (x - mean) ** 2, 0) / jnp.maximum(n, 1.0))

    src_std = std(src_xy.astype(jnp.float32))
    ratio = jnp.clip(std(trg_xy.astype(jnp.float32)) / jnp.maximum(src_std, 1e-6), 1.0 / clip, clip)
    return jnp.where((n >= MIN_SPREAD_NODES) & (src_std > 1e-6), ratio, 1.0)  # no source spread: no scale


@jax.jit
def transfer_keypoints(best: jax.Array, src_xy: jax.Array, trg_xy: jax.Array, points: jax.Array,
                       radius: float | jax.Array, keep: jax.Array | None = None,
                       trim: float | jax.Array | None = None, sigma: float | jax.Array | None = None,
                       scale_clip: float | jax.Array | None = None) -> jax.Array:
    """Move source keypoints into the target by the matches of their carrier nodes (HPF's transfer).

    Args:
      best: int [Ns] the target node of each source node.
      src_xy, trg_xy: [Ns, 2], [Nt, 2] (x, y) pixels of the nodes (any real dtype, or nested lists; taken as float32).
      points: [K, 2] (x, y) source pixels (likewise).
      radius: p's carriers: the nodes i with |p - src_xy[i]| <= radius px in x and in y, else the nearest node.
      keep: [Ns] the nodes that carry, bool or 0 / 1 of any dtype (nearest kept node if none within radius; all if
        none kept; None: all).
      trim: None (HPF's mean over all carriers), or pixels: only the carriers whose moved point lies within `trim`
        (Euclidean) of the carriers' coordinate-wise median are averaged (all carriers if none does).
      sigma: None (the carriers weigh the same), or pixels: carrier i weighs exp(-|p - src_xy[i]|^2 / (2 sigma^2)),
        a Gaussian of its distance to the point.
      scale_clip: None (offsets carried as they are, HPF), or c > 1: each offset p - src_xy[i] is multiplied per
        axis by `spread_ratio` of the carrying nodes (`keep`) and their matches, clipped to [1 / c, c], before the
        trim.

    Returns:
      float32 jax array [K, 2] pixels: the (weighted) mean over the carriers i of trg_xy[best[i]] + s * (p - src_xy[i]),
      s = 1 or the pair's spread ratio.
    """
    p = jnp.asarray(points, jnp.float32)
    s = jnp.asarray(src_xy, jnp.float32)
    ok = jnp.ones(s.shape[0], bool) if keep is None else jnp.asarray(keep, bool)
    ok = jnp.where(jnp.any(ok), ok, True)
    d = p[:, None, :] - s[None, :, :]  # [K, Ns, 2]
    inside = jnp.all(jnp.abs(d) <= radius, axis=-1) & ok[None, :]
    dist = jnp.where(ok[None, :], jnp.sum(d * d, -1), jnp.inf)
    nearest = jax.nn.one_hot(jnp.argmin(dist, axis=1), s.shape[0], dtype=bool)
    carriers = jnp.where(jnp.any(inside, axis=1, keepdims=True), inside, nearest)
    matched = jnp.asarray(trg_xy, jnp.float32)[jnp.asarray(best)]
    s_d = d if scale_clip is None else d * spread_ratio(s, matched, ok, scale_clip)
    moved = matched[None, :, :] + s_d  # [K, Ns, 2]
    if trim is not None:
        near = carriers & (jnp.linalg.norm(moved - _carrier_median(moved, carriers)[:, None], axis=-1) <= trim)
        carriers = jnp.where(jnp.any(near, axis=1, keepdims=True), near, carriers)
    w = carriers.astype(jnp.float32)
    if sigma is not None:  # relative to the nearest carrier's weight (1), so a far fallback carrier never weighs 0
        # the carriers are kept nodes, where `dist` is the squared distance to the point
        sq = dist - jnp.min(jnp.where(carriers, dist, jnp.inf), axis=1, keepdims=True)
        w = jnp.where(carriers, jnp.exp(-sq / (2.0 * sigma * sigma)), 0.0)
    return jnp.sum(w[..., None] * moved, 1) / jnp.sum(w, 1)[:, None]


def cycle_consistent(forward: jax.Array, backward: jax.Array, src_xy: jax.Array, tolerance: float | jax.Array
                     ) -> jax.Array:
    """Forward-backward consistency of each source node's best match.

    Args:
      forward, backward: int [..., Ns] the best target of each source node; int [..., Nt] the reverse.
      src_xy, tolerance: [Ns, 2] (x, y) pixels of the source nodes; pixels (Euclidean; 0: mutual nearest neighbours).

    Returns:
      bool jax array [..., Ns]: backward[..., forward[i]] lies within `tolerance` pixels of node i.
    """
    back = jnp.take_along_axis(backward, forward, axis=-1)
    s = src_xy.astype(jnp.float32)
    d = jnp.linalg.norm(s[back] - s, axis=-1)
    return d <= tolerance + 1e-6


def _transfer_from_matrix(confidence: jax.Array, src_xy: jax.Array, trg_xy: jax.Array, points: jax.Array,
                         radius: float | jax.Array) -> jax.Array:
    """`transfer_keypoints` with each source node's best target the argmax of its row of a matrix.

    Args:
      confidence: [Ns, Nt] correlation / transport / confidence matrix, larger is better.
      src_xy, trg_xy, points, radius: as `transfer_keypoints`.

    Returns:
      float32 [K, 2] pixels.
    """
    return transfer_keypoints(jnp.argmax(confidence, axis=1), src_xy, trg_xy, points, radius)
