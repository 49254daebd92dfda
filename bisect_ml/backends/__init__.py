"""Backends train an arm in one framework; each is imported only when used."""

from bisect_ml.backends._base import (
    BACKENDS,
    Backend,
    Outcome,
    get_backend,
    library_versions,
)

__all__ = ["BACKENDS", "Backend", "Outcome", "get_backend", "library_versions"]
