"""Tree-structured MRF spatial model over joint locations (Tompson et al. 2014, used by Tompson et al. 2015 Sec. 3.3
to condition the coarse heat-maps on the given torso position).

The model in four modules: its settings and tree (`config`), its inference (`inference`), its priors (`priors`)
and its files (`files`); this package gathers their public names.

    cfg = FLIC_VALIDATED                                                   # every setting, chosen on FLIC
    log_priors = learn_priors(points_px, visible, torso_px, stride=8, cfg=cfg)   # [E, 15, 15] from training points
    refined = apply_spatial_model(coarse_hm, torso_cells, log_priors, cfg)      # [N, H, W, K]
    save_model(run_dir, cfg, log_priors)                   # spatial.json + spatial_priors.npy
    cfg, log_priors = load_spatial_model(run_dir)          # the same back

    edges = FLIC_EDGES                  # (parent, child) node pairs, torso = 11; any skeleton: for_skeleton(sk, cfg)
    pts, vis = with_torso(points_cells, visible, torso_cells)            # [N, 12, 2], [N, 12]
    log_priors = offset_priors(pts, vis, edges, kernel_size=31, sigma=1.0, floor=1e-4)   # [E, 31, 31]
    log_priors = priors_from_pixels(points_px, visible, torso_px, stride=8)              # the same from pixels
"""

from __future__ import annotations

from convcorr_jax.pose.spatial.config import (FLIC_EDGES, FLIC_TORSO, FLIC_VALIDATED, METHODS, MODES, OUTPUTS, Edges,
                                              SpatialConfig, for_skeleton, tree_structure)
from convcorr_jax.pose.spatial.files import CONFIG_FILE, PRIORS_FILE, load_spatial_model, save_model
from convcorr_jax.pose.spatial.inference import (apply_spatial_model, heatmap_log_unary, marginals, node_log_unaries,
                                                 select_peaks, torso_log_unary, tree_messages)
from convcorr_jax.pose.spatial.priors import (fit_priors, learn_priors, marginal_nll, offset_histograms, offset_priors,
                                              priors_from_pixels, with_torso)

__all__ = ["CONFIG_FILE", "FLIC_EDGES", "FLIC_TORSO", "FLIC_VALIDATED", "METHODS", "MODES", "OUTPUTS", "PRIORS_FILE",
           "Edges", "SpatialConfig", "apply_spatial_model", "fit_priors", "for_skeleton", "heatmap_log_unary",
           "learn_priors", "load_spatial_model", "marginal_nll", "marginals", "node_log_unaries", "offset_histograms",
           "offset_priors", "priors_from_pixels", "save_model", "select_peaks", "torso_log_unary", "tree_messages",
           "tree_structure", "with_torso"]
