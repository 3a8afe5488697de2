"""A named energy loads the checkpoint of an ordinary single-energy run (digits_conditional) and composes."""

from __future__ import annotations

from pathlib import Path

import torch

from energyflow.recipe import parse_recipe
from energyflow.runtime import Run

RECIPES = Path(__file__).resolve().parents[3] / "recipes"

COMPOSE = """
[run]
plugins = ["energyflow-vision"]
threads = 1
[data]
kind = "digits"
[energy]
kind = "mnist_net"
filters = 32
stem_filters = 32
conditional = true
[energies.digit]
labels = ["y"]
checkpoint = "{checkpoint}"
[concepts]
three = {{ energy = "digit", y = 3 }}
seven = {{ energy = "digit", y = 7 }}
[sampler]
kind = "langevin"
steps = 20
clamp = [0.0, 1.0]
[buffer]
kind = "replay"
per_class = true
reinit_prob = 0.2
[[regularizers]]
kind = "spectral_norm"
[[regularizers]]
kind = "l2_energy"
[task]
kind = "compose"
expressions = ["three", "three | seven", "three & ~seven"]
samples = 4
steps = 3
"""


def test_named_energy_from_a_plain_run_checkpoint(tmp_path):
    plain = parse_recipe((RECIPES / "digits_conditional.toml").read_text(), source="digits_conditional.toml",
                         overrides=["train.iterations=3", 'task={kind = "sample", num_samples = 4, chain_steps = 2, '
                                    "from_buffer = false}"])
    Run(plain, out_dir=tmp_path / "plain", quiet=True).train()
    recipe = parse_recipe(COMPOSE.format(checkpoint=tmp_path / "plain"), source="compose.toml")
    run = Run(recipe, out_dir=tmp_path / "compose", quiet=True)
    metrics = run.execute()
    saved = torch.load(tmp_path / "plain" / "checkpoint.pt", weights_only=True)["trainer"]["energy"]
    loaded = run.named.energy("digit").state_dict()
    assert loaded.keys() == saved.keys() and any(k.endswith("_u") for k in saved)  # spectral norm's state too:
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)  # composed energies sample in eval mode
    assert not run.named.energy("digit").training
    assert set(metrics) >= {"energy[three]", "energy[three | seven]", "energy[three & ~seven]"}
    assert (tmp_path / "compose" / "compose.png").stat().st_size > 0
