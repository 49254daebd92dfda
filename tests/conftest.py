"""Shared fixtures. ``BISECT_ML_TEST_SEED`` sweeps the fixed seed."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def seed() -> int:
    return int(os.environ.get("BISECT_ML_TEST_SEED", "0"))
