"""The model resolver and load-time errors: missing, non-GGUF, truncated files fail clearly, never crash."""

from __future__ import annotations

import pytest

from mctsr_native.errors import InvalidModelError, ModelNotFoundError
from mctsr_native.models import check_gguf, default_model_path, resolve_model


def test_missing_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found.*gguf"):
        resolve_model(tmp_path / "nope.gguf")


def test_not_a_gguf(tmp_path):
    p = tmp_path / "model.gguf"
    p.write_text("<html>404 Not Found</html>")
    with pytest.raises(InvalidModelError, match="not a GGUF"):
        check_gguf(p)


def test_directory_is_not_a_model(tmp_path):
    with pytest.raises(InvalidModelError, match="not a file"):
        check_gguf(tmp_path)


def test_header_only_file_is_truncated(tmp_path):
    p = tmp_path / "short.gguf"
    p.write_bytes(b"GGUF\x03\x00")
    with pytest.raises(InvalidModelError, match="truncated"):
        check_gguf(p)


def test_environment_variable_picks_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MCTSR_MODEL", str(tmp_path / "elsewhere.gguf"))
    with pytest.raises(ModelNotFoundError, match="elsewhere.gguf"):
        resolve_model(None)


@pytest.mark.model
def test_default_model_is_installed_and_is_a_gguf():
    p = default_model_path()
    assert p.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert check_gguf(p) == p
    assert p.stat().st_size > 90_000_000


@pytest.mark.model
def test_truncated_real_model_is_refused_by_llama_cpp_without_crashing(tmp_path, default_model_path):
    from mctsr_native.generation.llama import LlamaBackend

    p = tmp_path / "cut.gguf"
    with open(default_model_path, "rb") as f:
        p.write_bytes(f.read(2_000_000))
    with pytest.raises(InvalidModelError, match="could not load"):
        LlamaBackend(p, n_ctx=256)
