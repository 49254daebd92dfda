"""The Keras 3 (TensorFlow) backend.

Importing this package imports TensorFlow, with its C++ logging quietened and
its thread pools sized by ``BISECT_ML_THREADS`` (default 1).
"""

from bisect_ml.backends.keras_backend._backend import KerasBackend

__all__ = ["KerasBackend"]
