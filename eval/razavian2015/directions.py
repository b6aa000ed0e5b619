"""Razavian et al. 2015 Fig. 6 (eqs. 6-7): a semantic direction for a synthetic-face attribute, decoded to RGB.

    convcorr run razavian2015.directions --set attribute=yaw      # any key of the faces' extras["attributes"]
    convcorr run razavian2015.directions --size tiny --backbone caffenet --set weights=random

Prints the attribute regressor's test R^2 and how well the attribute regressed back from the decoded images
follows the step along the direction (mean Pearson r).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.regression import directions, rgb
from convcorr_jax.regression.features import resize_images
from convcorr_eval.experiment import Context, Result, require_data
from convcorr_eval.razavian2015 import common, data
from convcorr_eval.razavian2015.figures import image_grid, save_image, to_uint8
from convcorr_eval.report import markdown_table

STEPS = 7


@dataclasses.dataclass(frozen=True)
class Config(common.Config):
    """Fig. 6 on the synthetic faces' attribute `attribute`."""


def get_config(size: str = "default") -> Config:
    return common.config_at(Config, size)


def section(cfg: common.Config, desc: common.Descriptors, figdir, train, test) -> tuple[str, dict]:
    """Eq. 6-7 / Fig. 6 on the synthetic faces' attribute `cfg.attribute`: (markdown, metrics). InputError naming
    a face that holds only its path (`KeypointSample.loaded_image`)."""
    name = cfg.attribute
    im_tr = np.stack([s.loaded_image() for s in train])
    im_te = np.stack([s.loaded_image() for s in test])
    a_tr = np.array([s.extras["attributes"][name] for s in train], np.float64)
    a_te = np.array([s.extras["attributes"][name] for s in test], np.float64)
    return attribute_section(cfg, desc, figdir, im_tr, a_tr, im_te, a_te, f"attribute `{name}` of the synthetic faces",
                             name)


def attribute_section(cfg: common.Config, desc: common.Descriptors, figdir, im_tr, a_tr, im_te, a_te, what: str,
                      name: str, tag: str = "", decoder: rgb.RGBResult | None = None) -> tuple[str, dict]:
    """Eq. 6-7 / Fig. 6 for attribute values a_tr [N], a_te [M] of images im_tr, im_te: the direction, its test
    R^2, the RGB decoding of test descriptors moved along it (figure `razavian_fig6_directions{tag}.png`) and how
    well the attribute regressed back from the decoded images follows the step: (markdown, metrics). `decoder`:
    the Fig. 4 reconstruction already fitted on the same descriptors and images (else it is fitted here)."""
    F_tr, F_te = desc.main(im_tr), desc.main(im_te)
    d = directions.learn_direction(F_tr, a_tr, seed=cfg.seed)
    pred = F_te @ d.model.W + d.model.b
    r2 = 1 - np.mean((pred - a_te) ** 2) / max(np.var(a_te), 1e-12)
    dec = decoder if decoder is not None else rgb.rgb_reconstruction(F_tr, im_tr, F_te, im_te, seed=cfg.seed,
                                                                      extend_top=common.EXTEND_TOP)
    k = min(4, len(im_te))
    moved = directions.move_along(d, F_te[:k], steps=STEPS)  # [k, STEPS, d]
    strips = rgb.decode(dec.model, moved.reshape(-1, moved.shape[-1])).reshape(k, STEPS, rgb.SIZE, rgb.SIZE, 3)
    # does the decoded image carry the attribute? describe the decoded images again and regress the attribute
    redesc = desc.main(resize_images(to_uint8(strips.reshape(-1, rgb.SIZE, rgb.SIZE, 3)), im_tr.shape[1:3]))
    a_back = (redesc @ d.model.W + d.model.b).reshape(k, STEPS)
    rho = float(np.mean([np.corrcoef(np.arange(STEPS), a_back[i])[0, 1] for i in range(k)]))
    rows = [[to_uint8(dec.originals[i])] + list(to_uint8(strips[i])) for i in range(k)]
    fig = f"razavian_fig6_directions{tag}.png"
    save_image(figdir / fig, image_grid(rows), scale=2,
               col_titles=("original", *(f"step {s + 1}" for s in range(STEPS))),
               title=f"Fig. 6: test descriptors moved along the attribute direction, decoded to RGB ({what})")
    md = [f"**Fig. 6 semantic direction** ({what}): attribute regressor test "
          f"R^2 {r2:.3f}; moving along the direction over t in [{d.t_range[0]:.3f}, {d.t_range[1]:.3f}] and "
          f"decoding to RGB (the Fig. 4 decoder, lambda {common.lambda_text(dec.lam, dec.edge)} by 4-fold CV; "
          f"held-out MAE {dec.mae:.3f}); the attribute regressed back from the decoded images correlates with t at "
          f"{rho:.2f} (mean Pearson over {k} test images).", "",
          markdown_table(["attribute", "train / test images", "regressor test R^2", "decoded attribute vs step (r)"],
                         [[name, f"{len(im_tr)} / {len(im_te)}", r2, rho]], "{:.3f}"), "",
          f"![directions](figures/{fig}) (first column: 46x46 target of the original; then the decoded strip)", ""]
    return "\n".join(md), {"attribute": name, "r2": float(r2), "decoded_attribute_corr": rho, "rgb_mae": dec.mae,
                            "rgb_lambda": dec.lam, "rgb_lambda_edge": dec.edge}


def summary(m: dict) -> str:
    return f"{m['attribute']} R^2 {m['r2']:.3f}, decoded r {m['decoded_attribute_corr']:.2f}"


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("synthetic",))
    # Fig. 6 reads the headline descriptor alone: without `extra_descriptor` the report announces no second row
    desc = common.make_descriptors(dataclasses.replace(cfg, extra_descriptor=None))
    md, m = section(cfg, desc, ctx.figures, *data.synthetic_faces(cfg))
    return Result(summary(m), f"Descriptor: {desc.text}.\n\n{md}", m)
