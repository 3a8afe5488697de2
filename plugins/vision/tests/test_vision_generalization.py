"""The generalization tasks: dataset size/channels options, OOD sets, PGD, the class contrast, EWC, recipes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from energyflow_vision.data import DigitsSpec
from energyflow_vision.data.arrays import convert_channels
from energyflow_vision.evaluation.attacks import pgd
from energyflow_vision.evaluation.energy_classifier import calibrate, energy_logits
from energyflow_vision.evaluation.ood_sets import build_set, dataset_tables, generate
from energyflow_vision.nets import MnistEnergy
from energyflow_vision.regularizers import ClassContrast, ClassContrastLoss
from energyflow_vision.tasks.continual import EWC
from PIL import Image
from typer.testing import CliRunner
from vision_fixtures import ctx, task_sentences

from energyflow.cli import make_app
from energyflow.errors import RecipeError
from energyflow.recipe import load_recipe
from energyflow.regularizers.base import CDBatch

RECIPES = Path(__file__).resolve().parents[3] / "recipes"


# ------------------------------------------------------------------------------ size and channels
def test_channels_option_repeats_grey_and_weighs_rgb_like_pillow():
    data = DigitsSpec(size=16, channels=3, limit=20, test_limit=10).build(ctx())
    assert tuple(data.train.shape) == (20, 3, 16, 16) and tuple(data.test.shape) == (10, 3, 16, 16)
    assert torch.equal(data.test[:, 0], data.test[:, 2])
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    ours = convert_channels(torch.from_numpy(rgb).permute(2, 0, 1)[None], 1)[0, 0].numpy().astype(int)
    pillow = np.asarray(Image.fromarray(rgb).convert("L"), dtype=int)
    assert np.abs(ours - pillow).max() <= 1


# ------------------------------------------------------------------------------ OOD sets
def test_dataset_tables_are_checked_with_the_recipe_and_resolved():
    tables = dataset_tables({"big": {"kind": "digits", "size": 16}})
    assert tables["big"]["kind"] == "digits" and tables["big"]["size"] == [16, 16] and "split_seed" in tables["big"]
    with pytest.raises(ValueError, match=r"sets\.x\.sise: unknown option of dataset 'digits'; did you mean 'size'"):
        dataset_tables({"x": {"kind": "digits", "sise": 3}})
    with pytest.raises(RecipeError, match=r"ood_digits\.toml.*\[task\].*sets\.x\.kind = \"digitz\": no dataset named 'digitz'"):
        load_recipe(RECIPES / "ood_digits.toml", ['task.sets.x={kind="digitz"}'])


def test_sets_of_other_sizes_and_channels_reach_the_model_shape():
    base = DigitsSpec().build(ctx()).test[:30]
    same = build_set("rgb", dataset_tables({"rgb": {"kind": "digits", "channels": 3}})["rgb"], (1, 8, 8), 30,
                     torch.Generator().manual_seed(0))
    assert torch.allclose(same, base, atol=1 / 255 + 1e-6)  # grey -> RGB -> grey (luma weights sum to 1)
    big = build_set("big", {"kind": "digits", "size": 16}, (1, 8, 8), 30, torch.Generator().manual_seed(0))
    assert tuple(big.shape) == (30, 1, 8, 8) and big.min() >= 0 and big.max() <= 1
    auto = build_set("auto", {"kind": "digits"}, (3, 12, 12), 7, torch.Generator().manual_seed(0))
    assert tuple(auto.shape) == (7, 3, 12, 12)  # unset size and channels follow the model


def test_generated_sets():
    test = DigitsSpec().build(ctx()).test[:40]
    g = torch.Generator().manual_seed(0)
    sets = {name: generate(name, test, (0.0, 1.0), g, 4) for name in
            ("noise", "constant", "inverted", "interpolation", "resolution")}
    assert all(s.shape == test.shape and s.min() >= 0 and s.max() <= 1 for s in sets.values())
    assert torch.equal(sets["inverted"], 1 - test)
    assert (sets["constant"].flatten(1).std(1) == 0).all()
    pairs = (2 * sets["interpolation"]).flatten(1)
    assert not any(torch.allclose(row, 2 * t) for row, t in zip(pairs, test.flatten(1)))  # never x with itself


# ------------------------------------------------------------------------------ PGD
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_breaks_a_linear_classifier_exactly_past_its_margin(norm):
    w = torch.tensor([1.0, -2.0, 0.5, 3.0])
    x = torch.randn(64, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    labels = ((x.flatten(1) @ w) < 0).long()  # class 0 when w.x > 0: every image starts correct

    def logits(images):
        s = images.flatten(1) @ w
        return torch.stack([s, -s], 1)
    radius = (x.flatten(1) @ w).abs() / (w.abs().sum() if norm == "linf" else w.norm())
    for factor, broken in ((0.9, False), (1.1, True)):
        eps = float(radius.median()) * factor
        adv, _ = pgd(logits, x, labels, norm=norm, epsilon=eps, steps=20, generator=torch.Generator().manual_seed(0),
                     value_range=(-100.0, 100.0))
        size = (adv - x).flatten(1).abs().amax(1) if norm == "linf" else (adv - x).flatten(1).norm(dim=1)
        assert (size <= eps * (1 + 1e-5)).all()
        wrong = logits(adv).argmax(1) != labels
        assert torch.equal(wrong, radius < eps) if broken else not wrong[radius > eps].any()
    # handed on to another classifier, the last iterate goes deeper than the first misclassified point
    eps = float(radius.max()) * 2
    first, _ = pgd(logits, x, labels, norm=norm, epsilon=eps, steps=20, generator=torch.Generator().manual_seed(0),
                   value_range=(-100.0, 100.0))
    last, _ = pgd(logits, x, labels, norm=norm, epsilon=eps, steps=20, generator=torch.Generator().manual_seed(0),
                  value_range=(-100.0, 100.0), keep_first=False)
    loss = torch.nn.functional.cross_entropy
    assert (logits(last).argmax(1) != labels).all()
    assert loss(logits(last), labels, reduction="none").mean() > loss(logits(first), labels, reduction="none").mean() + 1


# ------------------------------------------------------------------------------ class contrast, calibration, EWC
@pytest.mark.parametrize("classes", ["batch", "all"])
def test_class_contrast_in_batch_mode_leaves_absent_classes_alone(classes):
    torch.manual_seed(0)
    energy = MnistEnergy((1, 8, 8), filters=4, stem_filters=4, num_classes=5)
    term = ClassContrastLoss(weight=1.0, classes=classes, num_classes=5)
    x, labels = torch.rand(6, 1, 8, 8), torch.tensor([1, 3, 1, 3, 3, 1])
    bound = energy.condition(y=labels)
    e = bound(x)
    term.loss(CDBatch(energy=bound, x_pos=x, x_neg=x, e_pos=e, e_neg=e, sampler=None)).backward()
    rows = energy.convs[0].inner.film.input_bias.grad.abs().sum(1)
    assert rows[1] > 0 and rows[3] > 0
    assert (rows[[0, 2, 4]] == 0).all() if classes == "batch" else (rows[[0, 2, 4]] > 0).all()
    logits = energy_logits(energy, x, 5)
    assert logits.shape == (6, 5) and torch.allclose(logits[:, 3], -energy(x, y=torch.full((6,), 3)))
    with pytest.raises(ValueError, match="integer class labels"):
        ClassContrast().build(ctx())  # no data: nothing to contrast


def test_calibrate_recovers_temperature_and_biases():
    g = torch.Generator().manual_seed(0)
    clean = torch.randn(4000, 3, generator=g) * 3
    labels = torch.distributions.Categorical(logits=clean + torch.tensor([1.0, 0.0, -1.0])).sample()
    temperature, bias = calibrate(clean * 0.01, labels)
    assert temperature == pytest.approx(0.01, rel=0.15)
    assert torch.allclose(bias - bias.mean(), torch.tensor([1.0, 0.0, -1.0]), atol=0.25)


def test_ewc_penalty_is_zero_at_the_anchor_and_grows_away_from_it():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    ewc = EWC(model, strength=10.0)
    ewc.consolidate(torch.randn(8, 1, 2, 2), torch.Generator().manual_seed(0), torch.device("cpu"))
    assert float(ewc.penalty().detach()) == 0.0
    with torch.no_grad():
        model[1].weight += 0.1
    assert float(ewc.penalty().detach()) > 0


# ------------------------------------------------------------------------------ recipes end to end
SHRINK = ["train.iterations=2", "train.batch_size=8", "sampler.steps=2", "energy.filters=4", "energy.stem_filters=4",
          "buffer.capacity=32", "data.limit=200", "data.test_limit=24"]
TASKS = {
    "ood_digits": (["task.num_images=12", "task.baseline_steps=2", "task.shown=2"],
                   [f"auroc_{s}_{k}" for s in ("noise", "constant", "inverted", "interpolation", "resolution")
                    for k in ("energy_min", "energy_lse", "grad_norm", "softmax")], "ood_hist_interpolation.png"),
    "robust_digits": (["task.num_images=8", "task.baseline_steps=2", "task.steps=2", "task.refine_steps=1",
                       "task.linf_epsilons=[0.1]", "task.l2_epsilons=[1.0]", "task.adaptive_images=2",
                       "task.adaptive_steps=2"],
                      ["clean_accuracy_energy", "clean_accuracy_softmax", "linf_0.1_energy", "linf_0.1_softmax",
                       "l2_1_energy_refined", "l2_1_energy_refined_bpda", "pgd_unconverged"], "robust.png"),
    "continual_digits": (["task.steps_per_task=2", "task.baseline_steps_per_task=2", "task.ewc_samples=2",
                          'task.tasks=[[0, 1], [2, 3]]'],
                         ["energy_final_average", "softmax_final_average", "ewc_final_average", "energy_after_task2"],
                         "continual.png"),
}

SUMMARY_OPENS = {  # the first sentence each task ends its run with
    "ood_digits": "AUROC of the energy score (energy_min) telling each set from the test images",
    "robust_digits": "Test accuracy: ",
    "continual_digits": "After learning 2 tasks one after another without replay, mean test accuracy over the tasks",
}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_generalization_recipe_runs_shrunk(name, tmp_path):
    path = RECIPES / f"{name}.toml"
    assert path.read_text().startswith(f"# {name}:")
    task_shrink, keys, picture = TASKS[name]
    args = ["run", str(path), "--out", str(tmp_path), "--quiet"]
    for item in SHRINK + task_shrink:
        args += ["--set", item]
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(keys) <= set(metrics) and all(math.isfinite(v) for v in metrics.values()), sorted(metrics)
    assert (tmp_path / picture).is_file()
    assert all(0.0 <= metrics[k] <= 1.0 for k in keys if "auroc" in k or "accuracy" in k or "final" in k)
    said = task_sentences(tmp_path)
    assert said and said[0].startswith(SUMMARY_OPENS[name]) and any("-> " in line for line in said), said


@pytest.mark.parametrize("name", ["ood_cifar10", "robust_cifar10"])
def test_cifar_recipes_pass_check(name):
    result = CliRunner().invoke(make_app(), ["check", str(RECIPES / f"{name}.toml")])
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------------------ disk sets: SVHN, CIFAR-100, textures
def write_svhn(folder: Path, n: int = 6) -> None:
    """train_32x32.mat and test_32x32.mat (format 2: X (32, 32, 3, N), y (N, 1) with 10 for the digit 0)."""
    from scipy.io import savemat

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(4)
    for name in ("train", "test"):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        savemat(folder / f"{name}_32x32.mat", {"X": x, "y": (np.arange(n) % 10 + 1).reshape(n, 1)})


def write_cifar100(root: Path, n: int = 6) -> np.ndarray:
    """cifar-100-python/ with the pickles train and test; returns the test images."""
    import pickle

    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for name in ("train", "test"):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"fine_labels": list(range(n)), b"coarse_labels": [i % 3 for i in range(n)]}, f)
    return data


def write_textures(folder: Path, per_class: int = 3) -> None:
    """DTD's layout: images/<texture>/*.jpg of varied sizes."""
    rng = np.random.default_rng(6)
    for texture in ("banded", "dotted"):
        for i in range(per_class):
            side = 40 + 7 * i
            (folder / texture).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (side, side + 5, 3), dtype=np.uint8)).save(folder / texture / f"{i}.jpg")


def test_svhn_and_cifar100_read_their_disk_layouts(tmp_path):
    from energyflow_vision.data import Cifar100Spec, DatasetLayoutError, SvhnSpec

    write_svhn(tmp_path / "svhn")
    svhn = SvhnSpec(root=str(tmp_path / "svhn")).build(ctx())
    assert tuple(svhn.test.shape) == (6, 3, 32, 32) and svhn.test_labels.tolist() == [1, 2, 3, 4, 5, 6]
    grey = SvhnSpec(root=str(tmp_path / "svhn"), size=8, channels=1).build(ctx())
    assert tuple(grey.test.shape) == (6, 1, 8, 8)
    test = write_cifar100(tmp_path)
    fine = Cifar100Spec(root=str(tmp_path)).build(ctx())
    assert fine.num_classes == 100 and torch.equal(fine.test, torch.from_numpy(test).view(6, 3, 32, 32).float() / 255)
    assert Cifar100Spec(root=str(tmp_path), labels="coarse").build(ctx()).num_classes == 20
    (tmp_path / "svhn" / "test_32x32.mat").unlink()
    with pytest.raises(DatasetLayoutError, match=r"svhn: missing file .*test_32x32\.mat; expected train_32x32\.mat"):
        SvhnSpec(root=str(tmp_path / "svhn")).build(ctx())
    with pytest.raises(DatasetLayoutError, match=r"cifar100: no root given; set data\.root"):
        Cifar100Spec().build(ctx())


def _cifar_tree(root: Path) -> list[str]:
    from vision_fixtures import write_cifar

    write_cifar(root / "data")
    write_svhn(root / "data" / "svhn")
    write_cifar100(root / "data")
    write_textures(root / "data" / "dtd" / "images")
    return [f"data.root={root / 'data'}", f"task.sets.svhn.root={root / 'data' / 'svhn'}",
            f"task.sets.cifar100.root={root / 'data'}", f"task.sets.textures.root={root / 'data' / 'dtd' / 'images'}"]


CIFAR_SHRINK = ["train.iterations=2", "train.batch_size=4", "sampler.steps=2", "energy.filters=4", "buffer.capacity=16",
                "run.device=cpu", "task.num_images=4", "task.baseline_steps=2"]


def test_ood_cifar10_runs_on_tiny_files_in_the_real_layouts(tmp_path):
    where = _cifar_tree(tmp_path)
    args = ["run", str(RECIPES / "ood_cifar10.toml"), "--out", str(tmp_path / "run"), "--quiet"]
    for item in CIFAR_SHRINK + where + ["task.batch_size=4"]:
        args += ["--set", item]
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for name in ("svhn", "cifar100", "textures", "noise", "constant", "interpolation"):
        assert 0.0 <= metrics[f"auroc_{name}_energy_min"] <= 1.0 and 0.0 <= metrics[f"auroc_{name}_softmax"] <= 1.0
    assert (tmp_path / "run" / "ood_hist_svhn.png").is_file()
    # a set whose files are missing is a one-line error before any training
    (tmp_path / "data" / "svhn" / "test_32x32.mat").unlink()
    args[3] = str(tmp_path / "run2")
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 1 and "svhn: missing file" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run2" / "checkpoint.pt").exists()


def test_robust_cifar10_runs_on_tiny_files_with_the_paper_bounds(tmp_path):
    where = _cifar_tree(tmp_path)[:1]
    args = ["run", str(RECIPES / "robust_cifar10.toml"), "--out", str(tmp_path / "run"), "--quiet"]
    for item in CIFAR_SHRINK + where + ["task.steps=2", "task.refine_steps=1", "task.batch_size=4"]:
        args += ["--set", item]
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"linf_0.0313725_energy", "l2_0.156863_softmax", "linf_0.0313725_energy_refined"} <= set(metrics), sorted(metrics)
    assert (tmp_path / "run" / "robust.png").is_file()


# ------------------------------------------------------------------------------ the OOD scores themselves
def test_energy_scores_match_their_formulas_on_a_quadratic_class_energy():
    from energyflow_vision.tasks.ood import energy_scores

    from energyflow import Energy

    class Quadratic(Energy):  # E(x, y) = |x - y / 4|^2: class y sits at the constant image y / 4
        context_keys = ("y",)

        def forward(self, x, y):
            return (x - y.float().view(-1, 1, 1, 1) / 4).pow(2).flatten(1).sum(1)

    x = torch.rand(5, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    scores = energy_scores(Quadratic(), x, num_classes=3)
    centres = torch.arange(3).float() / 4
    table = (x.flatten(1)[:, None, :] - centres[None, :, None]).pow(2).sum(2)  # (5, 3)
    assert torch.allclose(scores["energy_min"], table.min(1).values)
    assert torch.allclose(scores["energy_lse"], -torch.logsumexp(-table, 1))
    weights = (-table).softmax(1)  # d lse / dx = sum_y p(y | x) 2 (x - c_y)
    grad = (weights[:, :, None] * 2 * (x.flatten(1)[:, None, :] - centres[None, :, None])).sum(1)
    assert torch.allclose(scores["grad_norm"], grad.norm(dim=1), atol=1e-5)
