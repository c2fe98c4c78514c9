import pytest

from evoforge import config as cfg


def test_defaults_validate():
    c = cfg.validate({})
    assert c.search.num_islands == 4
    assert c.evaluation.max_in_flight >= 1


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(cfg.ConfigError) as e:
        cfg.validate({"search": {"num_islandz": 3}})
    assert "search.num_islandz: unknown key" in str(e.value)


def test_unknown_section_is_an_error():
    with pytest.raises(cfg.ConfigError, match="bogus: unknown key"):
        cfg.validate({"bogus": {}})


def test_type_errors_are_reported_with_the_key():
    with pytest.raises(cfg.ConfigError, match="run.iterations"):
        cfg.validate({"run": {"iterations": "many"}})


def test_ratio_constraint():
    with pytest.raises(cfg.ConfigError, match="at most 1"):
        cfg.validate({"search": {"exploitation_ratio": 0.8, "exploration_ratio": 0.5}})


def test_yaml_loading_and_errors(tmp_path):
    good = tmp_path / "c.yaml"
    good.write_text("llm:\n  models:\n    - name: m\n      weight: 2\nrun:\n  iterations: 7\n")
    c = cfg.load(good)
    assert c.run.iterations == 7 and c.llm.models[0].weight == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [1, 2\n")
    with pytest.raises(cfg.ConfigError, match="not valid YAML"):
        cfg.load(bad)
    notmap = tmp_path / "list.yaml"
    notmap.write_text("- 1\n")
    with pytest.raises(cfg.ConfigError, match="mapping"):
        cfg.load(notmap)
    with pytest.raises(cfg.ConfigError, match="not found"):
        cfg.load(tmp_path / "missing.yaml")


def test_merge_is_deep_and_override_wins():
    merged = cfg.merge({"run": {"iterations": 1, "seed": 3}}, {"run": {"iterations": 5}})
    assert merged == {"run": {"iterations": 5, "seed": 3}}


def test_docs_cover_every_key():
    text = cfg.docs_markdown()
    for section, field in cfg.Config.model_fields.items():
        for key in field.annotation.model_fields:
            assert f"`{key}`" in text, key
