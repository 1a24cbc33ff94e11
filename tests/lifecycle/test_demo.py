from modelkit.lifecycle.demo import GUIDE_REQUEST, serve_and_ask

from .factory import DETECTOR, FORECASTER, promoted_setup


def test_demo_serves_the_promoted_models_and_prints_their_answers(tmp_path, monkeypatch, capsys):
    root, registry = promoted_setup(tmp_path)
    monkeypatch.setenv("MODELKIT_REGISTRY", str(registry))
    serve_and_ask(root, {DETECTOR: "v1", FORECASTER: "v1"})
    out = capsys.readouterr().out
    assert str(GUIDE_REQUEST["instances"]) in out
    assert out.count("HTTP 200") == 2 and '"model_version":"v1"' in out and '"scores":' in out
    assert f"{DETECTOR} v1: {root / DETECTOR / 'versions' / 'v1' / 'report.html'}" in out
