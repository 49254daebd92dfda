"""bisect-ml: find why a PyTorch model and its Keras port train to different errors."""

__version__ = "0.1.0"
