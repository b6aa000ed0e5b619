"""The batched solvers behind `svm.fit_binary`, jit-compiled and vmapped over problems (X read once per step for all
of them): the primal truncated Newton-CG for the squared hinge and LIBLINEAR's dual coordinate descent; `svm`'s
docstring gives their stopping rules.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

_HI = jax.lax.Precision.HIGHEST


# ----------------------------------------------------------------------------------------- primal Newton-CG
def _newton_one(X, y, mask, C, tol, max_iter, cg_iter):
    """One squared-hinge problem: X [N, D], y [N] in {-1, +1}, mask [N] in {0, 1}, C scalar -> w [D]."""
    d = X.shape[1]
    cm = C * mask

    def fun_grad(w):
        z = jnp.dot(X, w, precision=_HI)
        viol = jnp.maximum(0.0, 1.0 - y * z)
        f = 0.5 * jnp.dot(w, w) + jnp.sum(cm * viol * viol)
        g = w - 2.0 * jnp.dot(cm * viol * y, X, precision=_HI)
        return f, g, (viol > 0).astype(X.dtype) * cm

    def hvp(active, v):
        return v + 2.0 * jnp.dot(active * jnp.dot(X, v, precision=_HI), X, precision=_HI)

    def cg(active, g):
        # solve H p = -g, stop at ||r|| <= 0.1 ||g|| (inexact Newton) or cg_iter steps
        def cond(s):
            i, _, r, _, rr = s
            return (i < cg_iter) & (jnp.sqrt(rr) > 0.1 * jnp.linalg.norm(g))

        def body(s):
            i, p, r, q, rr = s
            hq = hvp(active, q)
            a = rr / jnp.maximum(jnp.dot(q, hq), 1e-30)
            p = p + a * q
            r = r - a * hq
            rr2 = jnp.dot(r, r)
            q = r + (rr2 / jnp.maximum(rr, 1e-30)) * q
            return i + 1, p, r, q, rr2

        r0 = -g
        s = jax.lax.while_loop(cond, body, (0, jnp.zeros_like(g), r0, r0, jnp.dot(r0, r0)))
        return s[1]

    w0 = jnp.zeros((d,), X.dtype)
    f0, g0, a0 = fun_grad(w0)
    gnorm0 = jnp.linalg.norm(g0)

    def cond(s):
        it, _, _, g, _, stalled = s
        return (it < max_iter) & (jnp.linalg.norm(g) > tol * gnorm0) & ~stalled

    def body(s):
        it, w, f, g, active, _ = s
        p = cg(active, g)
        gp = jnp.dot(g, p)

        def ls_cond(t):
            return (t > 1e-8) & (fun_grad(w + t * p)[0] > f + 1e-2 * t * gp)

        t = jax.lax.while_loop(ls_cond, lambda t: t * 0.5, jnp.asarray(1.0, X.dtype))
        f2, g2, active2 = fun_grad(w + t * p)
        # float32 floor (no Armijo step, or one lowering neither f nor ||g||): keep w and stop, not max_iter noise steps
        stalled = (t <= 1e-8) | ((f2 >= f) & (jnp.linalg.norm(g2) >= jnp.linalg.norm(g)))
        keep = functools.partial(jnp.where, stalled)
        return it + 1, keep(w, w + t * p), keep(f, f2), keep(g, g2), keep(active, active2), stalled

    it, w, f, g, _, stalled = jax.lax.while_loop(cond, body, (0, w0, f0, g0, a0, jnp.asarray(False)))
    return w, it, jnp.linalg.norm(g) / jnp.maximum(gnorm0, 1e-30), stalled


@functools.partial(jax.jit, static_argnames=("max_iter", "cg_iter"))
def _newton_batched(X, Y, M, C, tol, max_iter, cg_iter):
    return jax.vmap(_newton_one, in_axes=(None, 0, 0, 0, None, None, None))(X, Y, M, C, tol, max_iter, cg_iter)


# ------------------------------------------------------------------------------------ dual coordinate descent
def _dcd_one(X, qdiag, y, mask, C, perms, loss_l1, tol, max_iter):
    """LIBLINEAR dual CD for one problem. perms [max_iter, N] sample orders; returns w [D], epochs, spread."""
    n, d = X.shape
    upper = jnp.where(loss_l1, C, jnp.inf)
    dii = jnp.where(loss_l1, 0.0, 0.5 / C)
    qii = qdiag + dii

    def epoch(state):
        ep, w, alpha, _ = state

        def step(j, s):
            w, alpha, pgmax, pgmin = s
            i = perms[ep, j]
            xi = X[i]
            active = mask[i] > 0
            g = y[i] * jnp.dot(w, xi, precision=_HI) - 1.0 + dii * alpha[i]
            a = alpha[i]
            pg = jnp.where(a <= 0, jnp.minimum(g, 0.0), jnp.where(a >= upper, jnp.maximum(g, 0.0), g))
            pg = jnp.where(active, pg, 0.0)
            new_a = jnp.clip(a - g / jnp.maximum(qii[i], 1e-30), 0.0, upper)
            new_a = jnp.where(active & (pg != 0), new_a, a)
            w = w + (new_a - a) * y[i] * xi
            return w, alpha.at[i].set(new_a), jnp.maximum(pgmax, pg), jnp.minimum(pgmin, pg)

        w, alpha, pgmax, pgmin = jax.lax.fori_loop(0, n, step, (w, alpha, -jnp.inf, jnp.inf))
        return ep + 1, w, alpha, pgmax - pgmin

    def cond(state):
        ep, _, _, spread = state
        return (ep < max_iter) & (spread > tol)

    init = (0, jnp.zeros((d,), X.dtype), jnp.zeros((n,), X.dtype), jnp.asarray(jnp.inf, X.dtype))
    ep, w, _, spread = jax.lax.while_loop(cond, epoch, init)
    return w, ep, spread


@functools.partial(jax.jit, static_argnames=("max_iter",))
def _dcd_batched(X, Y, M, C, perms, loss_l1, tol, max_iter):
    qdiag = jnp.sum(X * X, axis=1)
    f = jax.vmap(_dcd_one, in_axes=(None, None, 0, 0, 0, None, None, None, None))
    return f(X, qdiag, Y, M, C, perms, loss_l1, tol, max_iter)
