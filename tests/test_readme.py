"""README's set-up commands stay true: CI runs exactly the test command, the API snippet parses."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def bash_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", README, re.DOTALL)]


def test_readme_opens_with_the_two_setup_commands():
    first, second = bash_blocks()[:2]
    assert first.startswith("pip install torch==2.13.0") and "energyflow run recipes/" in first
    assert second.startswith("pip install torch==2.13.0") and second.endswith("python -m pytest")
    recipe = re.search(r"energyflow run (recipes/\S+\.toml)", first).group(1)
    assert (ROOT / recipe).is_file()


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert bash_blocks()[1] in ci_lines


def test_python_api_snippet_parses():
    code = re.search(r"## The Python API in ten lines\n\n```python\n(.*?)```", README, re.DOTALL).group(1)
    ast.parse(code)
    assert len(code.strip().splitlines()) <= 12


def test_composition_snippet_runs():
    import torch

    import energyflow as ef

    code = re.search(r"## Composition\n.*?```python\n(.*?)```", README, re.DOTALL).group(1)
    assert len(code.strip().splitlines()) <= 6
    scope = {"torch": torch, "ef": ef}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102  our own README
    assert scope["x"].shape == (16, 2)
    assert scope["both"].formula() == "smiling + young"
    x = torch.rand(4, 2)
    assert torch.equal(scope["both"](x), (scope["smiling"] & scope["young"])(x))


def test_every_readme_python_block_runs_as_pasted(capsys):
    """Each ```python block of README.md runs on its own, in a fresh namespace, and prints something."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README.md has no python block"
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), {"__name__": "__readme__"})
        assert capsys.readouterr().out.strip(), f"README.md python block {i + 1} prints nothing"
