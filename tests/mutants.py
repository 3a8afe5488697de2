"""Put each named bug back into a copy of the tree and check that the suite catches it.

Not a test module (pytest does not collect it): run ``python tests/mutants.py`` from the repository
root. Each row prints CAUGHT (the named tests failed with the bug in place) or SURVIVED.
"""
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUGS = [
    ("MALA jumps keep the Langevin Hastings term", "energyflow/samplers/mala.py",
     "            hastings = torch.where(jump, torch.zeros_like(hastings), hastings)", "            pass",
     "tests/samplers/test_mala_jumps.py"),
    ("2spirals box offset on the wrong side", "energyflow/data/toy2d.py",
     "lo = sign * arm + min(0.0, sign / 6)", "lo = sign * arm + max(0.0, sign / 6)", "tests/data/test_toy2d.py"),
    ("MALA Hastings term before the mask", "energyflow/samplers/mala.py",
     "proposal = ChainState(energy.constrain(moved))\n        proposal.evaluate(energy)\n        forward = per_sample_sum((proposal.x - mean) ** 2) / (4 * h)",
     "proposal = ChainState(energy.constrain(moved))\n        proposal.evaluate(energy)\n        forward = per_sample_sum((moved - mean) ** 2) / (4 * h)",
     "tests/test_wrong_answers.py"),
    ("Frechet with tr(sqrt(C1) sqrt(C2))", "energyflow/metrics/frechet.py",
     "    root1 = _psd_sqrt(cov1)\n    middle = root1 @ cov2 @ root1\n    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()",
     "    trace_sqrt = (_psd_sqrt(cov1) @ _psd_sqrt(cov2)).trace()",
     "tests/test_wrong_answers.py tests/metrics"),
    ("per-class buffer never restarts", "energyflow/buffers/replay.py",
     "rows = ~restart if labels is None else ~restart & (labels == c)",
     "rows = ~restart if labels is None else (labels == c)",
     "tests/test_wrong_answers.py tests/buffers"),
    ("KL term parameters not frozen", "energyflow/regularizers/terms.py",
     "functional_call(batch.energy, frozen_params, (x_kl,))",
     "batch.energy(x_kl)",
     "tests/test_wrong_answers.py tests/regularizers"),
    ("sample task ignores the checkpoint weights", "energyflow/runtime/run.py",
     '        self.loop.load_trainer(state, Path(path))',
     '        state["trainer"]["energy"] = self.trainer.energy.state_dict()\n        self.loop.load_trainer(state, Path(path))',
     "tests/test_wrong_answers.py tests/test_cli.py"),
    ("EMA applied from the wrong side", "energyflow/training/trainer.py",
     "avg.lerp_(live[name], 1.0 - self.ema_decay)", "avg.lerp_(live[name], self.ema_decay)",
     "tests/training"),
    ("class contrast on +E(x, y) instead of -E(x, y)", "plugins/vision/energyflow_vision/regularizers/class_contrast.py",
     "logits = energy_logits(energy.child, batch.x_pos, self.num_classes, present)",
     "logits = -energy_logits(energy.child, batch.x_pos, self.num_classes, present)",
     "plugins/vision/tests/test_vision_contrast_formula.py"),
    ("float32 IDX images cast to uint8", "plugins/vision/energyflow_vision/data/mnist.py",
     'rearrange(_as_bytes(name, split, arrays[f"{split}_images"]), "n h w -> n 1 h w")',
     'rearrange(arrays[f"{split}_images"].astype("uint8"), "n h w -> n 1 h w")',
     "plugins/vision/tests/test_vision_datasets.py"),
    ("AIS temperature on the wrong term", "energyflow/likelihood/ais.py",
     "return scale(base, 1.0 - beta) + scale(energy, beta)", "return scale(base, beta) + scale(energy, 1.0 - beta)",
     "tests/likelihood"),
    ("AIS forward increment sign flipped", "energyflow/likelihood/ais.py",
     "log_w -= d_beta * (e - e0)", "log_w += d_beta * (e - e0)", "tests/likelihood"),
    ("AIS log mean exp replaced by the mean of the logs", "energyflow/likelihood/ais.py",
     "return torch.logsumexp(t, dim=0) - math.log(t.shape[0])", "return t.mean(0)", "tests/likelihood"),
    ("reflected MALA with the unfolded Gaussian in the Hastings ratio", "energyflow/samplers/mala.py",
     "        forward = -log_folded_normal(proposal.x, mean, math.sqrt(2 * h), low, high)\n        backward = -log_folded_normal(state.x, proposal.x - h * proposal.grad, math.sqrt(2 * h), low, high)",
     "        forward = per_sample_sum((proposal.x - mean) ** 2) / (4 * h)\n        backward = per_sample_sum((state.x - proposal.x + h * proposal.grad) ** 2) / (4 * h)",
     "tests/samplers/test_reflection.py"),
    ("CIFAR labels outside 0..9 accepted", "plugins/vision/energyflow_vision/data/cifar.py",
     "if labels.size and (labels.min() < 0 or labels.max() >= num_classes):", "if False:",
     "plugins/vision/tests/test_vision_datasets.py"),
    ("DSM without the sigma^2 weight", "energyflow/training/objectives/dsm.py",
     "return 0.5 * (eps - sigma * grad).flatten(1).pow(2).sum(1).mean()",
     "return 0.5 * (eps / sigma - grad).flatten(1).pow(2).sum(1).mean()",
     "tests/training/objectives"),
    ("DSM score of the wrong sign", "energyflow/training/objectives/dsm.py",
     "(eps - sigma * grad)", "(eps + sigma * grad)", "tests/training/objectives"),
    ("SSM without the variance reduction", "energyflow/training/objectives/ssm.py",
     "square = grad.flatten(1).pow(2).sum(1) if variance_reduced else sv.pow(2)", "square = sv.pow(2)",
     "tests/training/objectives"),
    ("SSM Hessian term of the wrong sign", "energyflow/training/objectives/ssm.py",
     "sv = -(grad * v_).flatten(1).sum(1)", "sv = (grad * v_).flatten(1).sum(1)", "tests/training/objectives"),
    ("NCE noise term without the noise ratio", "energyflow/training/objectives/nce.py",
     "+ ratio * F.softplus(log_ratio_noise - log_nu).mean()", "+ F.softplus(log_ratio_noise - log_nu).mean()",
     "tests/training/objectives"),
    ("NCE data term of the wrong sign", "energyflow/training/objectives/nce.py",
     "F.softplus(log_nu - log_ratio_data)", "F.softplus(log_ratio_data - log_nu)", "tests/training/objectives"),
]
results = []
only = sys.argv[1:]  # names (or parts of names) to run; all by default
for name, path, old, new, tests in BUGS:
    if only and not any(o in name for o in only):
        continue
    dst = os.path.join(tempfile.gettempdir(), "energyflow-mutants")
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(SRC, dst, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "*.egg-info", "__pycache__"))
    text = open(os.path.join(dst, path)).read()
    assert text.count(old) == 1, (name, "pattern not found exactly once")
    open(os.path.join(dst, path), "w").write(text.replace(old, new))
    env = {**os.environ, "PYTHONPATH": f"{dst}:{dst}/plugins/vision"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests.split()],
                       cwd=dst, env=env, capture_output=True, text=True)
    last = r.stdout.strip().splitlines()[-1]
    results.append((name, "CAUGHT" if r.returncode else "SURVIVED", last))
    print(results[-1], flush=True)
