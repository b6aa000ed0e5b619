"""long2014 experiments."""
