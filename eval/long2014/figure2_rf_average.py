"""Long et al. 2014, Figure 2: average receptive fields of the k = 5, 50, 500 nearest neighbours of random seed
features (conv3/conv4/conv5 roles), contrast-stretched. Same databases and options as
eval/figure1_patch_reconstruction.py (which writes both figures); this entry point is kept for the paper's
numbering.

    python eval/figure2_rf_average.py [--n 400] [--image-size 192] [--max-images N] [--out runs/locality]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figure1_patch_reconstruction import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
