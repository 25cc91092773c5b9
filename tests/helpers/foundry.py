"""A stand-in for Foundry Local's SDK, as far as deploy and undeploy use it (its local catalog,
the model-info builder), for tests of the deploy logic without the native runtime."""

from __future__ import annotations

import pytest


class FakeModel:
    def __init__(self, model_id: str) -> None:
        self.id = model_id
        self.alias = model_id.split(":")[0]
        self.is_loaded = False

    def unload(self) -> None:
        self.is_loaded = False


class FakeCatalog:
    """The SDK's local catalog, as far as deploy and undeploy use it."""

    def __init__(self, ids: list[str]) -> None:
        self.models = {i: FakeModel(i) for i in ids}

    def get_model_variant(self, model_id: str):
        return self.models.get(model_id)

    def get_model(self, alias: str):
        return None

    def list_models(self):
        return list(self.models.values())

    def unregister_model(self, model_id: str) -> None:
        del self.models[model_id]

    def register_model(self, path: str, model_id: str, meta) -> FakeModel:
        self.models[model_id] = FakeModel(model_id)
        return self.models[model_id]


class FakeSdk:
    class ModelInfoBuilder:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def set_string_property(self, key: str, value: str) -> None:
            pass


def fake_foundry(monkeypatch: pytest.MonkeyPatch, catalog: FakeCatalog) -> None:
    """Deploy and undeploy use `catalog` through the stand-in SDK; no `foundry` CLI."""
    from slm_wizard.core.deploy import foundry

    monkeypatch.setattr(foundry, "sdk_available", lambda: True)
    monkeypatch.setattr(foundry, "_sdk", lambda: FakeSdk)
    monkeypatch.setattr(foundry, "local_catalog", lambda cache: catalog)
    from slm_wizard.core.base import proc

    monkeypatch.setattr(proc, "which", lambda *n: None)  # no `foundry` CLI listing
