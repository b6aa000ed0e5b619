"""razavian2015 experiments."""
