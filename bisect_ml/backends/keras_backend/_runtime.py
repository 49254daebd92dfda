"""TensorFlow and Keras, imported once, quietly, with a fixed thread count.

Every module of this package takes ``keras`` and ``tf`` from here, so the
environment is set before TensorFlow is first imported, whatever the import
order.
"""

from __future__ import annotations

import logging
import os

from bisect_ml._errors import BackendError
from bisect_ml.backends._common import THREADS_ENV, env_threads

# Both must be set before the first import of TensorFlow or Keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["THREADS_ENV", "keras", "tf", "threads"]

logger = logging.getLogger(__name__)

if keras.backend.backend() != "tensorflow":
    raise BackendError(
        "keras",
        f"needs Keras on TensorFlow, but KERAS_BACKEND is "
        f"{keras.backend.backend()!r}; unset it or set it to 'tensorflow'",
    )


def threads() -> int:
    """TensorFlow's intra- and inter-op thread count, from ``THREADS_ENV``."""
    return env_threads("keras")


def _configure() -> None:
    n = threads()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        # TensorFlow ran an op before this package was imported; its thread
        # pools are fixed for the life of the process.
        logger.warning(
            "TensorFlow was initialised before bisect-ml could set %d thread(s) "
            "(it uses %d intra-op, %d inter-op); results are reproducible only "
            "within processes that start the same way",
            n,
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        )
    # Every trial builds a new model, so tf.function warns about retracing.
    tf.get_logger().setLevel(logging.ERROR)


_configure()
