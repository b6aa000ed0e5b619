"""Deprecated: moved to `convcorr_jax.data.mpii_eval_files` (the MPII evaluation files, beside `data.mpii`).

This module re-exports its names for one release and warns on import; import them from
`convcorr_jax.data.mpii_eval_files`.
"""

import warnings

from convcorr_jax.data.mpii_eval_files import NUM_JOINTS, MPIIEvalSet, read_eval_h5, read_preds, write_preds

warnings.warn("convcorr_jax.pose.mpii_files is deprecated and will be removed in the next release: import from "
              "convcorr_jax.data.mpii_eval_files", DeprecationWarning, stacklevel=2)

__all__ = ["NUM_JOINTS", "MPIIEvalSet", "read_eval_h5", "read_preds", "write_preds"]
