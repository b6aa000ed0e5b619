import os

# Tests run on the CPU, single-threaded XLA compile noise suppressed; multi-device tests spawn subprocesses
# with XLA_FLAGS=--xla_force_host_platform_device_count=8 themselves.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path

import pytest

from convcorr_jax.paths import real_data_root


@pytest.fixture(scope="session")
def real_data():
    """Path to the real annotation files (shared/data/real); skips with the reason when absent."""
    root = real_data_root()
    if root is None:
        pytest.skip("real annotation files not found: set CONVCORR_REAL_DATA or place shared/data/real beside the repo")
    return root


# Caches (fetched weights, generated datasets) live in the repository's ignored .cache/ during tests, so a
# clean clone starts empty and repeated runs reuse them; set CONVCORR_CACHE to override.
os.environ.setdefault("CONVCORR_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "tests"))
