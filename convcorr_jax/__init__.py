"""convcorr-jax: what generic convnet features know about *where* things are.

A functional JAX/Flax reimplementation of
  * Long, Zhang, Darrell 2014, "Do Convnets Learn Correspondence?",
  * Razavian et al. 2015, "Persistent Evidence of Local Image Properties in Generic ConvNets",
  * Tompson et al. 2015, "Efficient Object Localization Using Convolutional Networks".

Importing the package has no side effects: no I/O, no device initialisation.
"""

__version__ = "0.1.0"
