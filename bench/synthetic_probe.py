"""Are the synthetic faces informative? Landmark NME of image-blind and image-reading linear predictors.

    python bench/synthetic_probe.py [--n 400] [--seed 0]

Mean shape (image-blind) vs ridge regression (RidgeCV, scikit-learn) from: raw pixels (24 x 24 RGB, the paper's
"RGB + ridge"), MobileNetV2's global-average "pool" (1280-d, l2-normalised), and its spatial "block16" grid
(4 x 4 x 320 at 128 px, flattened, l2-normalised: like AlexNet's fc6 input, it keeps the layout).
Also R^2 of ridge predictions of face attributes from each representation.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from PIL import Image
    from sklearn.linear_model import RidgeCV

    from convcorr_jax.core import runinfo
    from convcorr_jax.data import synthetic as synthetic_data
    from convcorr_jax.data.faces300w import interocular_distance
    from convcorr_jax.features.extract import extract
    from convcorr_jax.weights import load_pretrained

    print(runinfo.header("bench synthetic probe (faces)", vars(args), args.seed))
    with runinfo.timed() as total:
        tr = synthetic_data.load_faces(n=args.n, seed=args.seed, split="train")
        te = synthetic_data.load_faces(n=args.n, seed=args.seed, split="test")
        bb, params = load_pretrained("mobilenet_v2")

        def cnn(ss, tap):
            f = extract(bb, params, np.stack([s.image for s in ss]), [tap], batch_size=32)[tap].reshape(len(ss), -1)
            return f / np.linalg.norm(f, axis=1, keepdims=True)

        def rgb(ss):
            return np.stack(
                [
                    np.asarray(Image.fromarray(s.image).resize((24, 24), Image.Resampling.BILINEAR), np.float32).ravel()
                    / 255
                    for s in ss
                ]
            )

        feats = {
            "RGB 24x24": (rgb(tr), rgb(te)),
            "MobileNetV2 pool": (cnn(tr, "pool"), cnn(te, "pool")),
            "MobileNetV2 block16 (4x4 grid)": (cnn(tr, "block16"), cnn(te, "block16")),
        }
        Ytr = np.stack([s.points.ravel() for s in tr])
        Yte = np.stack([s.points for s in te])
        io = interocular_distance(Yte)
        nme = lambda P: float((np.linalg.norm(P - Yte, axis=-1).mean(1) / io).mean())  # noqa: E731
        attrs = ("yaw", "roll", "smile", "mouth_open", "glasses", "male")
        at = lambda ss, k: np.array([s.extras["attributes"][k] for s in ss])  # noqa: E731
        rows = [("mean shape (image-blind)", nme(np.broadcast_to(Ytr.reshape(-1, 68, 2).mean(0), Yte.shape)), {})]
        for name, (Xtr, Xte) in feats.items():
            m = RidgeCV(alphas=np.logspace(-4, 4, 17)).fit(Xtr, Ytr)
            r2 = {k: RidgeCV(alphas=np.logspace(-4, 4, 17)).fit(Xtr, at(tr, k)).score(Xte, at(te, k)) for k in attrs}
            rows.append((name + " + ridge", nme(m.predict(Xte).reshape(-1, 68, 2)), r2))
        print(f"\n{len(tr)} train / {len(te)} test faces, 128 px, seed {args.seed}\n")
        print("| predictor | NME (inter-ocular) | " + " | ".join(f"R2 {k}" for k in attrs) + " |")
        print("|---|---|" + "---|" * len(attrs))
        for name, e, r2 in rows:
            print(f"| {name} | {e:.3f} | " + " | ".join(f"{r2[k]:.2f}" if k in r2 else "-" for k in attrs) + " |")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
