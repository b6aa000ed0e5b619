"""tompson2015 experiments."""
