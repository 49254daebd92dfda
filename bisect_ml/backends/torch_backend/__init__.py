"""The PyTorch backend; imports torch, so it is loaded only when chosen."""

from bisect_ml.backends.torch_backend._backend import TorchBackend

__all__ = ["TorchBackend"]
