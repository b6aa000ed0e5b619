"""convcorr-jax: what generic convnet features know about *where* things are.

A functional JAX/Flax reimplementation of
  * Long, Zhang, Darrell 2014, "Do Convnets Learn Correspondence?",
  * Razavian et al. 2015, "Persistent Evidence of Local Image Properties in Generic ConvNets",
  * Tompson et al. 2015, "Efficient Object Localization Using Convolutional Networks".

Importing the package has no side effects beyond an import hook for the modules that moved (their former dotted
paths, kept one release): no I/O, no device initialisation. Call `enable_compile_cache()` first
in a script so that a second process loads the programs the first compiled:

    import convcorr_jax
    convcorr_jax.enable_compile_cache()
"""

from convcorr_jax.core.compile_cache import enable_compile_cache
from convcorr_jax.core.deprecation import alias_moved_modules

alias_moved_modules()  # the foundation modules' former paths (convcorr_jax.io, ...) for one release

__version__ = "0.1.0"
__all__ = ["enable_compile_cache"]
