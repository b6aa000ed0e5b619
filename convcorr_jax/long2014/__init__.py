"""Long et al. 2014's keypoint protocols, on part-annotated instances: keypoint transfer through retrieved
neighbours (`retrieval_transfer.py`, their Table 2), feature locality (`locality.py`), keypoint classification
(`classification.py`, Table 3) and sliding-window keypoint prediction with a nearest-neighbour prior
(`prediction.py`, Table 4). Import the modules: `from convcorr_jax.long2014 import retrieval_transfer`.

Semantic point transfer between two images of one's own is `convcorr_jax.correspondence`, which imports nothing
from here."""
