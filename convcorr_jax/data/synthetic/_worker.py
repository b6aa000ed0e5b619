"""Worker process of `datasets.write_dataset`: renders and writes one shard of a synthetic set.

    python -m convcorr_jax.data.synthetic._worker KIND SEED SIZE ROOT NOISE WORKERS SHARD OUT.pkl

Writes the per-sample files of indices i with i % WORKERS == SHARD (i < N given on stdin as one line), prints
one line per finished sample (for the parent's progress bar) and pickles the annotations to OUT.pkl.
A separate interpreter (not multiprocessing) so that callers need no `__main__` guard and no fork happens.
"""

from __future__ import annotations

import pickle
import sys


def main(argv: list[str]) -> int:
    """Render and write one shard of a synthetic set (module docstring); N is read from stdin.

    Args:
        argv: the 8 command-line strings KIND SEED SIZE ROOT NOISE WORKERS SHARD OUT.pkl: dataset kind, seed, image
            side (px), the set's root folder, annotation noise sigma (px, people), number of workers, this worker's
            shard, the pickle to write.

    Returns:
        0, the exit status. Writes the per-sample files of indices i < N with i % WORKERS == SHARD, one stdout line
        (i) per finished sample, and the pickled list of their annotations to OUT.pkl (atomically).
    """
    from convcorr_jax.data.synthetic.datasets import _write_one
    from convcorr_jax.core.io import atomic_path

    kind, seed, size, root, noise, workers, shard, out = argv
    n = int(sys.stdin.readline())
    anns = []
    for i in range(int(shard), n, int(workers)):
        anns.append(_write_one((kind, i, int(seed), int(size), root, float(noise))))
        sys.stdout.write(f"{i}\n")
        sys.stdout.flush()
    with atomic_path(out) as tmp:
        tmp.write_bytes(pickle.dumps(anns, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
