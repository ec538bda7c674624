"""Shared fixtures. Tests that need the default model carry the `model` marker; the model is installed by
the normal set-up, so a missing model is an error here, never a skip."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    from mctsr_native.models import default_model_path as find

    return find()
