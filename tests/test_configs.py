"""Every config option composes through Hydra and converts to the typed ExperimentConfig.

Options are discovered by globbing conf/ and sweeps/, so a new YAML file is covered without
touching this file.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from epinet_al.config import (
    EpinetHeadConfig,
    ExperimentConfig,
    MLPHeadConfig,
    check_compatible,
    to_experiment_config,
)
from epinet_al.networks.specs import HEADS
from epinet_al.paths import CONFIG_DIR
from tests.spec_contexts import head_context
from tests.tiny_configs import SWEEPS_DIR, compose_config, compose_sweep, experiment_config

# hydra/ holds launcher presets, task_head/ the specialisations picked by the primary config itself.
NOT_USER_GROUPS = {"hydra", "task_head"}
GROUPS = sorted(d.name for d in Path(CONFIG_DIR).iterdir() if d.is_dir() and d.name not in NOT_USER_GROUPS)
OPTIONS = [(group, f.stem) for group in GROUPS for f in sorted((Path(CONFIG_DIR) / group).glob("*.yaml"))]
# The field that names a group's option in the run's config (budget and trainer options are presets).
NAME_KEY = {"task": "name", "model": "name", "head": "name", "acquisition": "priority", "logger": "name"}
SWEEPS = sorted(f.stem for f in SWEEPS_DIR.glob("*.yaml"))


def context(group: str, option: str) -> list[str]:
    """The other options an option needs for a valid run: a GLUE task reads text through an encoder, etc."""
    if group == "task" and option != "testbed":
        return ["model=minilm"]
    if group == "model" and option != "identity":
        return ["task=sst2"]
    if group == "head":
        return head_context(option)  # from the head's capabilities
    return []


def test_discovery_found_the_groups():
    assert {"task", "model", "head", "acquisition", "budget", "trainer", "logger"} <= set(GROUPS)
    assert len(OPTIONS) >= len(GROUPS) * 1


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_converts(group, option):
    cfg = compose_config([f"{group}={option}", *context(group, option)])
    assert OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    experiment = to_experiment_config(cfg, devices=False)  # trainer=gpu on a machine without one
    assert isinstance(experiment, ExperimentConfig)
    # One name per concept: the file name is the value the run logs.
    if group in NAME_KEY:
        assert getattr(getattr(experiment, group), NAME_KEY[group]) == option


@pytest.mark.slow
@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_rejects_unknown_keys(group, option):
    # Each YAML starts from its schema, so a typo fails while composing, not deep inside a run.
    with pytest.raises(ConfigCompositionException, match="not_a_key"):
        compose_config([f"{group}={option}", f"{group}.not_a_key=1"])


def test_misspelt_key_fails_at_compose_time():
    with pytest.raises(ConfigCompositionException, match="index_dimm"):
        compose_config(["head=epinet", "head.index_dimm=3"])


def test_wrong_type_fails_at_compose_time():
    with pytest.raises(ConfigCompositionException, match="index_dim"):
        compose_config(["head=epinet", "head.index_dim=many"])


def test_unknown_option_fails_at_compose_time():
    with pytest.raises(ConfigCompositionException, match="nope"):
        compose_config(["acquisition=nope"])


def test_testbed_epinet_specialisation():
    cfg = experiment_config(["task=testbed", "head=epinet"])
    assert isinstance(cfg.head, EpinetHeadConfig)
    assert cfg.head.index_dim == 8
    assert cfg.head.train_index_samples == 8  # n_z follows index_dim
    assert cfg.head.prior == "ensemble"
    assert cfg.head.include_hidden is True
    assert cfg.head.epinet_hidden == [15, 15]
    assert cfg.head.prior_hidden == [5, 5]
    assert cfg.head.prior_scale == pytest.approx(0.3 / cfg.task.temperature)
    hot = experiment_config(["task=testbed", "head=epinet", "task.temperature=0.5"])
    assert hot.head.prior_scale == pytest.approx(0.6)


def test_command_line_overrides_the_specialisation():
    cfg = experiment_config(["task=testbed", "head=epinet", "head.index_dim=3", "head.prior=mlp"])
    assert cfg.head.index_dim == 3
    assert cfg.head.train_index_samples == 3
    assert cfg.head.prior == "mlp"


def test_specialisation_only_applies_to_its_head():
    cfg = experiment_config(["task=testbed", "head=mlp", "acquisition=entropy"])
    assert isinstance(cfg.head, MLPHeadConfig)
    assert cfg.head.train_index_samples == 1


# head.l2_scale as each model x head had it in conf/model_head/<model>_<head>.yaml before the rule replaced those
# files (none for tiny and the testbed: 1). MiniLM's were tuned on SST-2; BERT-base's carry them to 768-d features.
L2_SCALES = {
    "identity": dict.fromkeys(["mlp", "epinet", "dropout", "ensemble"], 1.0),
    "tiny": dict.fromkeys(["mlp", "epinet", "dropout", "ensemble", "encoder_dropout"], 1.0),
    "minilm": {"mlp": 0.01, "epinet": 0.1, "dropout": 0.01, "ensemble": 0.01, "encoder_dropout": 0.01},
    "bert_base": {"mlp": 0.005, "epinet": 0.06, "dropout": 0.005, "ensemble": 0.005, "encoder_dropout": 0.005},
}
L2_CASES = [(model, head, scale) for model, scales in L2_SCALES.items() for head, scale in scales.items()]


@pytest.mark.parametrize(("model", "head", "scale"), L2_CASES, ids=[f"{m}-{h}" for m, h, _ in L2_CASES])
def test_the_l2_rule_keeps_every_models_scale(monkeypatch, model, head, scale):
    task = ["task=testbed"] if model == "identity" else ["task=sst2", "model.finetune=full"]
    cfg = experiment_config([*task, f"model={model}", f"head={head}", "acquisition=uniform"])
    if model == "bert_base":  # a hub id: its width is read when the encoder loads (768: its config.json)
        from epinet_al import experiment

        assert cfg.head.l2_scale is None
        monkeypatch.setattr(experiment, "encoder_width", lambda model_cfg: 768)
        experiment.fill_encoder_l2_scale(cfg)
    assert cfg.head.l2_scale == scale


@pytest.mark.parametrize("model", ["minilm", "bert_base"])
def test_a_head_without_an_l2_rule_is_refused_on_wide_features(monkeypatch, model):
    monkeypatch.setitem(HEADS._specs, "mlp", dataclasses.replace(HEADS.get("mlp"), l2_rule=None))
    overrides = ["task=sst2", f"model={model}", "head=mlp", "acquisition=uniform"]
    with pytest.raises(ValueError, match=rf"^head 'mlp' has no rule for head.l2_scale on model={model}'s "):
        experiment_config(overrides)
    assert experiment_config([*overrides, "head.l2_scale=0.02"]).head.l2_scale == 0.02
    # The reference scale on the testbed's inputs needs no rule.
    assert experiment_config(["task=testbed", "head=mlp", "acquisition=uniform"]).head.l2_scale == 1.0


def test_command_line_overrides_the_encoders_l2_scale():
    cfg = experiment_config(["task=sst2", "model=minilm", "head=mlp", "acquisition=entropy", "head.l2_scale=0.5"])
    assert cfg.head.l2_scale == 0.5


@pytest.mark.parametrize("head", ["mlp", "epinet", "dropout", "ensemble"])
def test_testbed_keeps_the_reference_l2_scale(head):
    cfg = experiment_config(["task=testbed", f"head={head}", "acquisition=uniform"])
    assert cfg.head.l2_scale == 1.0


def sweep_jobs(name: str) -> list[ExperimentConfig]:
    """Every job of the sweep (the seed aside: it changes no check), from each swept section composed once.

    Swept options that set one section (``acquisition`` and ``acquisition.num_index_samples``; an agent and the
    head, priority or budget keys it sets) are composed together, so that one option does not undo another.
    """
    params = compose_sweep(name, [], return_hydra_config=True).hydra.sweeper.params or {}
    overrides = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items() if k != "seed"])
    base = OmegaConf.to_object(compose_sweep(name, []))
    sweeps_agents = any(override.key_or_group == "agent" for override in overrides)
    by_section: dict[str, list[list[str]]] = {}
    for override in overrides:
        key = override.key_or_group
        section = key.split(".")[0]
        if sweeps_agents and section in AGENT_SECTIONS:
            section = "agent"
        values = override.sweep_string_iterator() if override.is_sweep_override() else [override.value()]
        by_section.setdefault(section, []).append([f"{key}={value}" for value in values])
    axes = [
        [_fields(name, section, list(job)) for job in itertools.product(*options)]
        for section, options in by_section.items()
    ]
    return [dataclasses.replace(base, **{k: v for part in job for k, v in part}) for job in itertools.product(*axes)]


# The config sections an agent sets.
AGENT_SECTIONS = ("head", "acquisition", "budget")


def _fields(name: str, section: str, overrides: list[str]) -> list[tuple[str, object]]:
    """The config sections that one combination of a section's swept options sets."""
    cfg = OmegaConf.to_object(compose_sweep(name, overrides))
    keys = AGENT_SECTIONS if section == "agent" else (section,)
    return [(key, getattr(cfg, key)) for key in keys]


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEPS)
def test_every_job_of_a_sweep_is_valid(name):
    for job in sweep_jobs(name):
        check_compatible(job)
    assert isinstance(to_experiment_config(compose_sweep(name, []), devices=False), ExperimentConfig)
