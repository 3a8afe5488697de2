"""Every image task end to end on tiny settings, through the recipe and Run machinery."""

from __future__ import annotations

import json
from pathlib import Path

import energyflow_vision.plugin
import numpy as np
import pytest
import torch
from energyflow_vision.nets import resnet32
from energyflow_vision.tasks import hidden_mask, salt_and_pepper
from PIL import Image
from vision_fixtures import ctx, task_sentences

from energyflow import Langevin
from energyflow.errors import RunError
from energyflow.recipe import parse_recipe
from energyflow.runtime import Run
from energyflow.tasks import percent
from energyflow.testing import fresh_plugin_manager, inline_plugin

TINY = """\
[run]
name = "tiny_vision"
seed = 1
device = "cpu"
threads = 1

[data]
kind = "digits"

[energy]
kind = "resnet32"
filters = 4
blocks = 1
conditional = {conditional}

[sampler]
kind = "langevin"
steps = 3

[buffer]
kind = "replay"
capacity = 64

[[regularizers]]
kind = "spectral_norm"

[[regularizers]]
kind = "l2_energy"
weight = 1.0

[train]
iterations = 3
batch_size = 16
lr = 1e-3
log_every = 1
checkpoint_every = 2

[task]
{task}
"""

GENERATE = """kind = "generate_images"
num_samples = 8
eval_samples = 16
chain_steps = 4
chain_rows = 2
chain_frames = 3
per_class = 2
max_classes = 3
nearest = 2
neighbours = 2
classifier_steps = 20
inception = "off"
long_samples = 12
long_steps = [2]
long_buffer_steps = 3
"""


@pytest.fixture(scope="module")
def pm():
    with fresh_plugin_manager() as manager, inline_plugin(energyflow_vision.plugin, "vision", manager):
        yield manager


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("classifier-cache")


def run_task(pm, out: Path, task: str, *, conditional: bool = False) -> dict[str, float]:
    recipe = parse_recipe(TINY.format(task=task, conditional=str(conditional).lower()), source="tiny.toml", pm=pm)
    return Run(recipe, out_dir=out, quiet=True, pm=pm).execute()


@pytest.fixture(scope="module")
def generated(pm, cache, tmp_path_factory):
    """A conditional tiny run of generate_images; later tasks load its checkpoint."""
    out = tmp_path_factory.mktemp("generate")
    metrics = run_task(pm, out, GENERATE + f'cache_dir = "{cache}"\n', conditional=True)
    return out, metrics


def test_generate_images_writes_pictures_and_metrics(generated):
    out, metrics = generated
    assert not (out / "samples_buffer.png").exists()  # samples.png is the buffer grid: no duplicate file
    for name in ("samples.png", "samples_fresh.png", "chains.png", "chain_energy.png",
                 "samples_by_class.png", "nearest.png", "checkpoint.pt", "metrics.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics)
    for key in ("loss", "gap", "energy_buffer", "energy_fresh", "energy_data", "nearest_l2", "nearest_ratio",
                "fresh_cfd", "fresh_cfd_real", "fresh_cfd_noise", "buffer_class_coverage", "buffer_cond_accuracy"):
        assert key in metrics, key
    assert metrics["fresh_samples"] == 16.0 and metrics["nearest_l2_test"] > 0
    said, judge = task_sentences(out), percent(metrics["buffer_classifier_accuracy"])
    assert len(said) == 4 and said[0].endswith("are classified as the class they were drawn for by a classifier "
                                               f"trained apart on the data (test accuracy {judge}) "
                                               "-> samples_by_class.png.")
    assert said[0].startswith(f"{percent(metrics['buffer_cond_accuracy'])} of replay-buffer samples and "
                              f"{percent(metrics['fresh_cond_accuracy'])} of chains from noise")
    assert "-> nearest.png" in said[2] and "chains continued from the buffer" in said[3] and "-> long_run.png" in said[3]


def test_a_digits_run_draws_pictures_people_can_read(generated):
    """Issue 19: every picture of a digits run is at least 300 px on its shorter side and has a title line."""
    out, _ = generated
    pictures = sorted(out.glob("*.png"))
    assert {"samples.png", "chains.png", "chain_energy.png", "nearest.png", "long_run.png"} <= {p.name for p in pictures}
    for path in pictures:
        with Image.open(path) as image:
            assert min(image.size) >= 300, (path.name, image.size)
            top = np.asarray(image.convert("L"))[:40]
        assert (top < 128).any(), f"{path.name}: no title at the top"


def test_inpaint_keeps_visible_pixels_exactly(pm, generated, tmp_path):
    checkpoint = generated[0] / "checkpoint.pt"
    task = f'kind = "inpaint"\ncheckpoint = "{checkpoint}"\nnum_images = 6\nrounds = 2\nshown = 3\n'
    metrics = run_task(pm, tmp_path, task, conditional=True)
    assert metrics["visible_max_change"] == 0.0 and metrics["hidden_share"] == 0.5
    assert 0 < metrics["mse_hidden"] != pytest.approx(metrics["mse_start"])  # the hidden pixels moved
    assert metrics["mse_start"] == pytest.approx(metrics["mse_noise_fill"])  # the default start is IGEBM's noise
    assert metrics["mse_noise_fill"] > 1 / 12 - 0.03  # uniform noise against any pixel value: at least 1/12
    assert (tmp_path / "inpaint.png").is_file() and not (tmp_path / "events.jsonl").exists()
    assert task_sentences(tmp_path) == [
        f"Inpainting the hidden bottom half (50.0% of the pixels) leaves a mean squared error of "
        f"{metrics['mse_hidden']:.4f} against the truth, against {metrics['mse_mean_fill']:.4f} for the training mean "
        f"and {metrics['mse_noise_fill']:.4f} for uniform noise (lower is better) -> inpaint.png."]


@pytest.mark.parametrize("init", ["mean", "buffer"])
def test_inpaint_starts_where_asked(pm, generated, tmp_path, init):
    checkpoint = generated[0] / "checkpoint.pt"
    task = f'kind = "inpaint"\ncheckpoint = "{checkpoint}"\nnum_images = 6\nrounds = 1\ninit = "{init}"\n'
    metrics = run_task(pm, tmp_path, task, conditional=True)
    assert metrics["visible_max_change"] == 0.0
    if init == "mean":  # the start is the baseline itself
        assert metrics["mse_start"] == pytest.approx(metrics["mse_mean_fill"])
    else:
        assert metrics["mse_start"] != pytest.approx(metrics["mse_mean_fill"])
        assert metrics["mse_start"] != pytest.approx(metrics["mse_noise_fill"])


@pytest.mark.parametrize("kind", ["inpaint", "denoise"])
def test_label_free_restoration_of_a_conditional_model_is_refused(pm, generated, tmp_path, kind):
    checkpoint = generated[0] / "checkpoint.pt"
    task = f'kind = "{kind}"\ncheckpoint = "{checkpoint}"\nnum_images = 4\nrounds = 1\nuse_labels = false\n'
    with pytest.raises(RunError, match=f"task {kind}: use_labels = false needs an unconditional energy"):
        run_task(pm, tmp_path, task, conditional=True)


def test_masked_langevin_moves_only_hidden_pixels():
    torch.manual_seed(0)
    energy = resnet32(1, filters=4, blocks=1)
    truth = torch.rand(4, 1, 8, 8)
    hidden = hidden_mask("random", (1, 8, 8), 4, random_fraction=0.3, generator=torch.Generator().manual_seed(0))
    start = torch.where(hidden, torch.rand_like(truth), truth)
    out = Langevin(steps=5, step_size=100.0).sample(energy.mask(~hidden, truth), start,
                                                   generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[~hidden], truth[~hidden])
    assert not torch.equal(out[hidden], start[hidden])


def test_denoise_scores_psnr(pm, generated, tmp_path):
    checkpoint = generated[0] / "checkpoint.pt"
    metrics = run_task(pm, tmp_path, f'kind = "denoise"\ncheckpoint = "{checkpoint}"\nnum_images = 5\nrounds = 1\n',
                       conditional=True)
    assert 5 < metrics["psnr_corrupted"] < 40 and abs(metrics["psnr_denoised"] - metrics["psnr_corrupted"]) > 0.01
    assert metrics["mse_corrupted"] > 0 and (tmp_path / "denoise.png").is_file()
    said = task_sentences(tmp_path)
    assert len(said) == 1 and f"PSNR from {metrics['psnr_corrupted']:.2f} dB to {metrics['psnr_denoised']:.2f} dB" in said[0]


def test_cross_class_runs_and_needs_a_conditional_model(pm, generated, cache, tmp_path):
    checkpoint = generated[0] / "checkpoint.pt"
    task = (f'kind = "cross_class"\ncheckpoint = "{checkpoint}"\nnum_images = 4\nshown = 2\nsteps = 4\nframes = 3\n'
            f'classifier_steps = 20\ncache_dir = "{cache}"\n')
    metrics = run_task(pm, tmp_path / "ok", task, conditional=True)
    assert (metrics["target_rate_after"] * 4).is_integer() and (tmp_path / "ok" / "cross_class.png").is_file()
    assert metrics["target_rate_after"] + metrics["source_rate_after"] <= 1.0  # target != source for every chain
    said = task_sentences(tmp_path / "ok")
    assert len(said) == 1 and said[0].startswith(f"After 4 steps under another class's energy, "
                                                 f"{percent(metrics['target_rate_after'])} of the chains")
    assert said[0].endswith("-> cross_class.png.")
    with pytest.raises(RunError, match="class-conditional"):
        run_task(pm, tmp_path / "bad", 'kind = "cross_class"\nsteps = 2\n')


def test_classify_compares_the_energy_classifier_with_the_baseline(pm, generated, tmp_path):
    checkpoint = generated[0] / "checkpoint.pt"
    task = f'kind = "classify"\ncheckpoint = "{checkpoint}"\nnum_images = 8\nbaseline_steps = 2\nbatch_size = 8\n'
    metrics = run_task(pm, tmp_path, task, conditional=True)
    assert {"clean_accuracy_energy", "clean_accuracy_softmax"} <= set(metrics) and (tmp_path / "classify.png").is_file()
    assert task_sentences(tmp_path) == [
        f"Test accuracy: {percent(metrics['clean_accuracy_energy'])} for the energy classifier (lowest energy over "
        f"the classes), {percent(metrics['clean_accuracy_softmax'])} for a softmax classifier of the same network "
        "-> classify.png (accuracy per class)."]


def test_unconditional_generate_without_scores(pm, tmp_path):
    task = GENERATE.replace("eval_samples = 16", "eval_samples = 0")
    metrics = run_task(pm, tmp_path, task)
    assert "fresh_cfd" not in metrics and (tmp_path / "samples_fresh.png").is_file()
    assert not (tmp_path / "samples_by_class.png").exists()
    said = task_sentences(tmp_path)  # no quality scores: memorisation and the long run remain
    assert len(said) == 2 and "-> nearest.png" in said[0] and "-> long_run.png" in said[1]


def test_corruptions():
    g = torch.Generator().manual_seed(0)
    images = torch.full((20, 3, 16, 16), 0.5)
    corrupted, hit = salt_and_pepper(images, 0.2, generator=g)
    assert 0.15 < hit.float().mean() < 0.25 and torch.equal(hit[:, 0], hit[:, 2])
    assert torch.allclose(corrupted.unique(), torch.tensor([0.1, 0.5, 0.9]))
    assert hidden_mask("bottom_half", (1, 4, 4), 1)[0, 0].tolist() == [[False] * 4] * 2 + [[True] * 4] * 2
    assert hidden_mask("box", (1, 4, 4), 1, box_fraction=0.5)[0, 0].sum() == 4
    with pytest.raises(ValueError, match="unknown region"):
        hidden_mask("diagonal", (1, 4, 4), 1)


def test_task_on_points_data_is_refused(pm, tmp_path):
    text = TINY.format(task='kind = "denoise"', conditional="false")
    text = text.replace('kind = "digits"', 'kind = "toy2d"').replace('kind = "resnet32"\nfilters = 4\nblocks = 1\n'
                                                                     "conditional = false", 'kind = "mlp"')
    recipe = parse_recipe(text, source="t.toml", pm=pm)
    with pytest.raises(RunError, match="needs image data"):
        Run(recipe, out_dir=tmp_path, quiet=True, pm=pm).execute()


def test_plugin_is_registered_through_its_entry_point():
    from importlib.metadata import entry_points

    from energyflow.registry import get_registry, make_plugin_manager

    eps = [ep for ep in entry_points(group="energyflow") if ep.name == "vision"]
    if not eps:
        pytest.skip("energyflow-vision is importable but not installed (pip install -e plugins/vision --no-deps)")
    assert eps[0].value == "energyflow_vision.plugin"
    manager = make_plugin_manager(entry_points=True)
    assert {"resnet32", "mnist_net"} <= set(get_registry("energy", manager).names())
    assert {"digits", "cifar10", "celeba", "imagenet32", "image_folder"} <= set(get_registry("dataset", manager).names())
    assert get_registry("task", manager).resolve("inpaint").plugin == "vision"
    assert ctx() is not None


def test_readme_and_hook_docstrings_name_every_registration():
    from energyflow_vision import plugin
    from energyflow_vision.data import DATASETS
    from energyflow_vision.nets import ENERGIES
    from energyflow_vision.tasks import TASKS

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for table, hook in ((ENERGIES, plugin.register_energies), (DATASETS, plugin.register_datasets),
                        (TASKS, plugin.register_tasks)):
        for name in table:
            assert f"`{name}`" in readme, f"plugins/vision/README.md does not name {name!r}"
            assert name in hook.__doc__, f"{hook.__name__}'s docstring does not name {name!r}"
