import pytest

from .factory import write_test_registry


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A test registry (MODELKIT_REGISTRY) and an empty models root (MODELS_ROOT)."""
    path = write_test_registry(tmp_path / "registry.yaml")
    monkeypatch.setenv("MODELKIT_REGISTRY", str(path))
    monkeypatch.setenv("MODELS_ROOT", str(tmp_path / "models"))
    return path


@pytest.fixture
def root(tmp_path, registry):
    return tmp_path / "models"
