"""bp_solver runs its checkerboard iterations in one `lax.scan` with the parity traced: the same labellings, bit for
bit, as the iterations unrolled with a static parity each, and the same messages (bit for bit without per-node
offsets or edge factors; with them, XLA:CPU may contract the tilt's and the factors' multiply-adds in one program
and not in the other, so messages agree to float rounding)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.flow import bp_messages, bp_solver, bp_windows
from convcorr_jax.flow.cost_volume import cost_volume


def _unrolled(cost, msgs, iters, win, schedule, offsets, cap, edge_scale):
    """Both schedules unrolled in Python, parity t % 2 a constant at iteration t: (msgs, labels [iters, h, w, 2])."""
    tilts = None if offsets is None else bp_messages.neighbour_differences(offsets)
    scales = None if edge_scale is None else bp_messages.edge_factors(edge_scale)
    ys, _, xs, _ = win
    base = jnp.asarray(np.stack(np.broadcast_arrays(ys[:, None], xs[None, :]), -1), jnp.int32)
    one, w, labels = jnp.float32(1.0), cost.shape[1], []
    if schedule == "masked":
        for t in range(iters):
            msgs = bp_messages.half_step_masked(cost, msgs, one, t % 2, win, "auto", tilts, cap, scales)
            labels.append(bp_messages.argmin_label(cost + msgs[0] + msgs[1] + msgs[2] + msgs[3]) + base)
        return msgs, jnp.stack(labels)
    c = bp_messages.to_classes(cost)
    split = [bp_messages.to_classes(m) for m in msgs]
    ins = [tuple(s[k] for s in split) for k in (0, 1)]
    cls = lambda xs, fill=0.0: (None if xs is None
                                else [tuple(bp_messages.to_classes(x, fill)[k] for x in xs) for k in (0, 1)])
    tilt_cls, scale_cls = cls(tilts), cls(scales, 1.0)
    b = c[0] + ins[0][0] + ins[0][1] + ins[0][2] + ins[0][3]
    lab = bp_messages.argmin_label(b)
    for t in range(iters):
        par = t % 2
        m = ins[1 - par] = bp_messages.half_step_classes(b, ins[par], one, par, win, "auto", w,
                                                        None if tilts is None else tilt_cls[par], cap,
                                                        None if scales is None else scale_cls[par])
        b = c[1 - par] + m[0] + m[1] + m[2] + m[3]
        lab_r = bp_messages.argmin_label(b)
        labels.append(bp_messages.from_classes(*((lab, lab_r) if par == 0 else (lab_r, lab)), w) + base)
        lab = lab_r
    return tuple(bp_messages.from_classes(m0, m1, w) for m0, m1 in zip(*ins)), jnp.stack(labels)


@pytest.mark.parametrize("iters", [1, 3])  # one step; several, both parities, ending on an odd one
@pytest.mark.parametrize("extras", [False, True])
def test_scanned_iterations_equal_unrolled(iters, extras):
    """Both schedules on a coarse cropped level (label windows differ per node, so the window shifts differ by
    parity) and, with extras, per-node offsets, a truncation and per-edge factors on whole label sets."""
    rng = np.random.default_rng(3)
    if extras:
        hw, k, crop = (5, 6), 0, False
        cost = rng.uniform(0, 3, size=(*hw, 4, 5)).astype(np.float32)
        labels = cost.shape[2:]
        offsets = jnp.asarray(rng.normal(size=(*hw, 2)) * 2, jnp.float32)
        edge = jnp.asarray(rng.uniform(0.1, 1.0, size=(*hw, 2)), jnp.float32)
        cap = np.float32(2.0)
    else:
        hw, k, crop = (7, 9), 1, True
        fs, ft = rng.normal(size=(2, *hw, 3)).astype(np.float32)
        cost = np.asarray(cost_volume(fs, ft, (hw[0] - 1, hw[1] - 1)))
        labels = cost.shape[2:]
        offsets = edge = cap = None
    win = (*bp_windows.axis_windows(hw[0], labels[0], k, crop), *bp_windows.axis_windows(hw[1], labels[1], k, crop))
    ck = bp_windows.crop_labels(bp_windows.block_sum(jnp.asarray(cost), k), *win)
    m0 = tuple(jnp.asarray(rng.uniform(0, 2, size=ck.shape), jnp.float32) for _ in range(4))
    for schedule in ("masked", "active"):
        # both compiled with the same inputs (as in `solve`): run op by op, or with the offsets as constants, a
        # multiply-add can round apart from its fused form
        unrolled = jax.jit(lambda c, m, o, e: _unrolled(c, m, iters, win, schedule, o, cap, e))
        ref_msgs, ref_labels = unrolled(ck, m0, offsets, edge)
        msgs, lab = jax.jit(lambda c, m, o, e: bp_solver._bp_level(c, m, jnp.float32(1.0), iters, win, "auto",
                                                                   schedule, o, cap, e))(ck, m0, offsets, edge)
        np.testing.assert_array_equal(np.asarray(lab), np.asarray(ref_labels))
        for a, b in zip(msgs, ref_msgs):
            if extras:
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-4)
            else:
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
