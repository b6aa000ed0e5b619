"""Long et al. 2014 methods: feature locality (patch databases, kNN reconstruction), keypoint transfer, keypoint
classification and keypoint prediction. Import the modules: `from convcorr_jax.correspondence import transfer`."""
