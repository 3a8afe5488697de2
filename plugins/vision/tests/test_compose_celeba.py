"""recipes/compose_celeba.toml: its CPU smoke overrides run end to end on a tiny CelebA-layout folder, and
without the data it stops at once with one line naming the files, where CelebA is published and the key."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from energyflow.cli import make_app

RECIPE = Path(__file__).resolve().parents[3] / "recipes" / "compose_celeba.toml"
ATTRIBUTES = ["Bald", "Smiling", "Male", "Young", "Wavy_Hair", "Black_Hair", "Eyeglasses"]


def write_tiny_celeba(root: Path, train: int = 24, test: int = 8) -> None:
    """img_align_celeba/*.jpg (178x218, attribute i brightens band i), list_attr_celeba.txt, list_eval_partition.txt."""
    (root / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    attr_lines, parts = [str(train + test), " ".join(ATTRIBUTES)], []
    for i in range(1, train + test + 1):
        name = f"{i:06d}.jpg"
        values = rng.integers(0, 2, len(ATTRIBUTES))
        image = rng.integers(0, 80, (218, 178, 3), dtype=np.uint8)
        for j, on in enumerate(values):
            if on:
                image[40 + 20 * j : 55 + 20 * j, 40:140] = 230
        Image.fromarray(image).save(root / "img_align_celeba" / name)
        attr_lines.append(name + " " + " ".join("1" if v else "-1" for v in values))
        parts.append(f"{name} {0 if i <= train else 2}")
    (root / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")


def smoke_overrides() -> list[str]:
    """The --set pairs of the recipe's "CPU smoke run" comment (so the comment stays true)."""
    text = RECIPE.read_text()
    block = text[text.index("# CPU smoke run"):].split("\n\n")[0]
    words = shlex.split(" ".join(line.lstrip("# ") for line in block.splitlines()[1:]))
    return [w for prev, w in zip(words, words[1:]) if prev == "--set"]


def _run(*args: str):
    return CliRunner().invoke(make_app(), ["run", str(RECIPE), "--quiet", *args])


def test_compose_celeba_smoke_run_on_a_tiny_fixture(tmp_path):
    write_tiny_celeba(tmp_path / "celeba")
    sets = [s for s in smoke_overrides() if not s.startswith("data.root=")]
    assert len(sets) >= 10
    args = [f"--set=data.root={tmp_path / 'celeba'}", *(f"--set={s}" for s in sets), "--out", str(tmp_path / "run")]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for attribute in ("Smiling", "Male", "Young", "Wavy_Hair", "Black_Hair", "Eyeglasses"):
        assert 0.0 <= metrics[f"classifier_accuracy[{attribute}]"] <= 1.0
    expressions = json.loads(json.dumps(re.findall(r'^    "(.+)",$', RECIPE.read_text(), flags=re.M)))
    assert len(expressions) == 7
    for expr in expressions:
        assert 0.0 <= metrics[f"satisfied[{expr}]"] <= 1.0, expr
    assert "satisfied[young & female & smiling][smiling]" in metrics
    for name in ("smiling", "male", "young", "wavy_hair", "black_hair", "eyeglasses"):
        assert (tmp_path / "run" / "energies" / name / "checkpoint.pt").exists()
    assert (tmp_path / "run" / "compose.png").stat().st_size > 0


def test_compose_celeba_without_data_says_what_to_get_in_one_line(tmp_path):
    for root in ([], [f"--set=data.root={tmp_path / 'nowhere'}"], ["--set=data.root=none"]):
        result = _run(*root, "--out", str(tmp_path / "run"))
        assert result.exit_code == 1
        message = result.output.strip()
        assert "\n" not in message, message
        for piece in ("img_align_celeba", "list_attr_celeba.txt", "list_eval_partition.txt", "data.root",
                      "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"):
            assert piece in message, (piece, message)
        assert not (tmp_path / "run" / "energies").exists()
