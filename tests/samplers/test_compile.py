"""The samplers' fast path: frozen parameters, the compiled step's dispatch, the "auto" policy, and
(``slow``: each compiles) compiled samples equal to eager ones for MLP, masked, conditioned, stateful
and convolutional energies under Langevin, MALA and HMC."""

import copy
from typing import ClassVar

import pytest
import torch

import energyflow as ef
from energyflow.core.energy import energy_and_grad
from energyflow.samplers import cpu_passes
from energyflow.samplers import fast_path as fast
from energyflow.samplers.compiled_step import CompiledEnergy


def mlp(seed=0, **kwargs):
    torch.manual_seed(seed)
    return ef.MLPEnergy(4, hidden=(16, 16), **kwargs)


class EagerStep:
    """Stands in for `CompiledStep` without compiling: eager, but counts its calls."""

    instances: ClassVar[list] = []

    def __init__(self):
        self.compile_s, self.failed, self.misses, self.calls = None, None, 0, 0
        EagerStep.instances.append(self)

    def __call__(self, energy, x, **context):
        self.calls += 1
        if self.compile_s is None:
            self.compile_s = 0.0
        return energy_and_grad(energy, x, **context)


@pytest.fixture
def eager_steps(monkeypatch):
    EagerStep.instances = []
    monkeypatch.setattr(fast, "CompiledStep", EagerStep)
    return EagerStep.instances


def _requires_grad(energy):
    return [p.requires_grad for p in energy.parameters()]


def test_eager_chains_leave_parameters_alone_and_touch_no_grad():
    energy = mlp()
    seen = []
    ef.Langevin(steps=3, clamp=None).sample(energy, torch.rand(8, 4), callback=lambda i, x: seen.append(_requires_grad(energy)))
    assert seen == [[True] * 6] * 3
    assert all(p.grad is None for p in energy.parameters())


def test_compiled_chains_freeze_parameters_and_restore_them(eager_steps):
    energy = mlp()
    energy.body[0].bias.requires_grad_(False)  # a frozen parameter stays frozen
    before, seen = _requires_grad(energy), []
    ef.Langevin(steps=3, clamp=None).compiled(True).sample(
        energy, torch.rand(8, 4), callback=lambda i, x: seen.append(_requires_grad(energy)))
    assert seen == [[False] * 6] * 3
    assert _requires_grad(energy) == before and all(p.grad is None for p in energy.parameters())
    with pytest.raises(ValueError):
        ef.Langevin(steps=2).compiled(True).sample(energy, torch.rand(8, 5))  # wrong feature count
    assert _requires_grad(energy) == before


def test_energy_and_grad_dispatches_to_a_compiled_step_but_not_for_create_graph():
    energy, x = mlp(), torch.rand(5, 4)
    calls = []

    def step(inner, x, **context):
        calls.append(inner)
        return energy_and_grad(inner, x, **context)

    wrapped = CompiledEnergy(energy, step)
    values, grad = energy_and_grad(wrapped, x)
    assert calls == [energy]
    expected = energy_and_grad(energy, x)
    torch.testing.assert_close(values, expected[0])
    torch.testing.assert_close(grad, expected[1])
    energy_and_grad(wrapped, x.requires_grad_(True), create_graph=True)
    assert len(calls) == 1
    torch.testing.assert_close(wrapped.score(x), energy.score(x))
    assert wrapped.formula() == energy.formula() and wrapped.constrain(x) is x


def test_compiled_mode_is_checked_and_copies_the_sampler():
    sampler = ef.Langevin(steps=2)
    with pytest.raises(ValueError, match='mode must be true, false or "auto", got \'yes\''):
        sampler.compiled("yes")
    twin = sampler.compiled(True)
    assert twin == sampler and twin is not sampler
    assert twin.fast_path().mode is True and sampler.fast_path().mode is False


def test_compile_off_is_the_plain_sampler():
    energy, x0 = mlp(), torch.rand(16, 4)
    plain = ef.Langevin(steps=4, clamp=None).sample(energy, x0, generator=torch.Generator().manual_seed(0))
    off = ef.Langevin(steps=4, clamp=None).compiled(False).sample(energy, x0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(plain, off)


def test_forced_compile_uses_the_step_for_every_evaluation(eager_steps):
    energy, x0 = mlp(), torch.rand(16, 4)
    sampler = ef.MALA(steps=5, step_size=0.01).compiled(True)
    result = sampler.run(energy, x0, generator=torch.Generator().manual_seed(0))
    expected = ef.MALA(steps=5, step_size=0.01).run(energy, x0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(result.x, expected.x) and result.stats == expected.stats
    (step,) = eager_steps
    assert step.calls == 6  # the start and five proposals; the final evaluation reuses the last state
    assert sampler.fast_path().summary()[0]["state"] == "compiled"


def test_auto_never_compiles_a_small_run(eager_steps):
    energy = mlp()
    sampler = ef.Langevin(steps=5, clamp=None).compiled("auto", planned_steps=100 * 5)
    for _ in range(20):
        sampler.sample(energy, torch.rand(32, 4))
    assert eager_steps == []
    (record,) = sampler.fast_path().summary()
    assert record["state"] == "eager" and record["compile_estimate_s"] >= fast.COMPILE_BASE_S


def test_auto_without_a_plan_compiles_once_the_eager_time_would_have_paid(eager_steps, monkeypatch):
    monkeypatch.setattr(fast, "compile_estimate", lambda energy: 0.0)
    sampler = ef.Langevin(steps=3, clamp=None).compiled("auto")
    for _ in range(fast.EAGER_RUNS + 1):
        sampler.sample(mlp(), torch.rand(32, 4))
    assert len(eager_steps) == 1 and sampler.fast_path().summary()[0]["state"] == "probing"


def test_auto_compiles_a_long_run_then_probes_and_settles(eager_steps, monkeypatch):
    monkeypatch.setattr(fast, "compile_estimate", lambda energy: 1e-3)
    energy = mlp()
    messages = []
    sampler = ef.Langevin(steps=3, clamp=None).compiled("auto", planned_steps=10**9, log=messages.append)
    # eager runs, then the compiling run (untimed), then compiled and eager runs alternating
    for _ in range(fast.EAGER_RUNS + 1 + 2 * fast.PROBE_RUNS):
        sampler.sample(energy, torch.rand(32, 4))
    (record,) = sampler.fast_path().summary()
    assert record["state"] in ("compiled", "slower")  # the stand-in is as fast as eager; either is fair
    assert record["compiled_step_s"] > 0 and record["probe_eager_step_s"] > 0
    assert any("compiled the energy-and-gradient step for 32x4" in m for m in messages)
    (step,) = eager_steps
    assert step.calls == 3 * (fast.PROBE_RUNS + 1)


def test_auto_shares_the_plan_among_shapes_so_a_rare_shape_is_not_compiled(eager_steps, monkeypatch):
    # a run plans its training chains; an evaluation batch of another shape is not owed that plan
    monkeypatch.setattr(fast, "compile_estimate", lambda energy: 1.0)
    monkeypatch.setattr(fast.StepRecord, "eager_step", lambda self: 1e-3)  # times out of the decision
    energy = mlp()
    sampler = ef.Langevin(steps=3, clamp=None).compiled("auto", planned_steps=10**5)
    for _ in range(200):
        sampler.sample(energy, torch.rand(32, 4))
    for _ in range(fast.EAGER_RUNS + 1):
        sampler.sample(energy, torch.rand(7, 4))
    states = {tuple(r["shape"]): r["state"] for r in sampler.fast_path().summary()}
    assert states[(32, 4)] in ("compiled", "slower") and states[(7, 4)] == "eager"
    assert len(eager_steps) == 1


def test_a_step_that_cannot_compile_falls_back_to_eager_and_says_why():
    # a Python branch on a value of x: dynamo cannot trace it whole
    energy = ef.FunctionEnergy(lambda x: (x**2).sum(-1) if bool(x.sum() > 0) else x.sum(-1), name="branchy")
    messages = []
    sampler = ef.Langevin(steps=3, clamp=None).compiled(True, log=messages.append)
    x0 = torch.rand(8, 3)
    out = sampler.sample(energy, x0, generator=torch.Generator().manual_seed(0))
    expected = ef.Langevin(steps=3, clamp=None).sample(energy, x0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, expected)
    (record,) = sampler.fast_path().summary()
    assert record["state"] == "failed" and record["reason"]
    assert any("stays eager" in m for m in messages)


def test_a_run_builds_its_sampler_with_the_run_setting():
    class Ctx:
        data, compile, iterations = None, False, 50
        log = staticmethod(print)

    built = ef.Langevin(steps=4).build(Ctx())
    assert built.fast_path().mode is False and built.fast_path().planned_steps == 200
    assert ef.Langevin(steps=4).build(object()).fast_path().mode == "auto"  # a context without the fields


# --------------------------------------------------------------------------- compiled == eager (slow)
def _both(sampler, energy, x0, seed=0):
    eager = sampler.run(copy.deepcopy(energy), x0, generator=torch.Generator().manual_seed(seed))
    compiled = sampler.compiled(True)
    out = compiled.run(energy, x0, generator=torch.Generator().manual_seed(seed))
    (record,) = compiled.fast_path().summary()
    assert record["state"] == "compiled", record
    return eager, out


@pytest.mark.slow
@pytest.mark.parametrize("sampler", [
    ef.Langevin(steps=10, step_size=10.0, noise=0.005, grad_clip=0.01, clamp=(0.0, 1.0)),
    ef.Langevin(steps=10, step_size=0.01, noise="ula", grad_clip=None, clamp=None),
    ef.MALA(steps=10, step_size=0.01),
    ef.HMC(steps=3, step_size=0.05, leapfrog_steps=3),
], ids=["igebm", "ula", "mala", "hmc"])
def test_compiled_mlp_samples_equal_eager(sampler):
    eager, out = _both(sampler, mlp(), torch.rand(64, 4))
    torch.testing.assert_close(out.x, eager.x, rtol=1e-4, atol=1e-5)
    assert out.stats.keys() == eager.stats.keys()
    for key in eager.stats:
        assert out.stats[key] == pytest.approx(eager.stats[key], rel=1e-4, abs=1e-6)


@pytest.mark.slow
def test_compiled_masked_conditioned_samples_equal_eager_without_recompiling():
    energy = mlp(num_classes=3)
    mask = torch.tensor([True, False, False, True])
    observed = torch.tensor([0.3, 0.0, 0.0, 0.7])
    sampler = ef.Langevin(steps=5, step_size=0.1, noise=0.01, clamp=(0.0, 1.0))
    compiled = sampler.compiled(True)
    x0 = torch.rand(32, 4)
    for i in range(3):  # a new node every call, as the trainer binds labels: one graph serves them all
        labels = torch.randint(0, 3, (32,), generator=torch.Generator().manual_seed(i))
        bound = energy.condition(y=labels).mask(mask, observed)
        eager = sampler.sample(bound, x0, generator=torch.Generator().manual_seed(i))
        out = compiled.sample(bound, x0, generator=torch.Generator().manual_seed(i))
        torch.testing.assert_close(out, eager, rtol=1e-4, atol=1e-5)
        assert torch.equal(out[:, mask], observed[mask].expand(32, 2))
    (record,) = compiled.fast_path().records.values()
    assert record.state == "compiled" and record.step.misses == 0


@pytest.mark.slow
def test_compiled_step_keeps_an_energys_state_in_step():
    energy = ef.SpectralNorm().prepare(mlp())  # a power iteration per call, in place
    eager_energy = copy.deepcopy(energy)
    sampler = ef.Langevin(steps=4, step_size=0.1, noise=0.01, clamp=None)
    x0 = torch.rand(16, 4)
    eager = sampler.sample(eager_energy, x0, generator=torch.Generator().manual_seed(0))
    out = sampler.compiled(True).sample(energy, x0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, eager, rtol=1e-4, atol=1e-5)
    for (name, a), (_, b) in zip(energy.named_buffers(), eager_energy.named_buffers()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.slow
def test_compiled_convolutional_energy_equal_eager_in_the_callers_layout():
    class Conv(ef.Energy):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.head = torch.nn.Linear(8, 1)

        def forward(self, x):
            return self.head(torch.nn.functional.silu(self.conv(x)).mean((2, 3))).squeeze(-1)

    torch.manual_seed(0)
    energy, x0 = Conv(), torch.rand(8, 3, 8, 8)
    eager, out = _both(ef.Langevin(steps=5, clamp=(0.0, 1.0)), energy, x0)
    torch.testing.assert_close(out.x, eager.x, rtol=1e-4, atol=1e-5)
    assert out.x.is_contiguous()


# --------------------------------------------------------------------------- the CPU graph passes
def _traced(fn, *inputs):
    from torch.fx.experimental.proxy_tensor import make_fx

    return make_fx(fn, tracing_mode="fake")(*inputs)


@pytest.mark.skipif(cpu_passes.onednn_linear() is None, reason="this torch has no oneDNN linear")
def test_large_matrix_products_go_to_onednn_and_agree():
    x, w, b, d = torch.randn(256, 128), torch.randn(128, 128), torch.randn(128), torch.randn(256, 128)
    small = torch.randn(128, 2)

    def fn(x, w, b, d, small):
        return torch.addmm(b, x, w.t()), d @ w, x @ small  # the last is too thin for oneDNN to pay

    gm = _traced(fn, x, w, b, d, small)
    cpu_passes.onednn_matmuls(gm.graph)
    gm.recompile()
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert targets.count(torch.ops.energyflow.onednn_linear.default) == 2
    assert torch.ops.aten.mm.default in targets
    for got, expected in zip(gm(x, w, b, d, small), fn(x, w, b, d, small)):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_input_gradient_of_a_convolution_needs_no_input_values():
    grad, x, w = torch.randn(4, 8, 6, 6), torch.randn(4, 3, 6, 6), torch.randn(8, 3, 3, 3)

    def fn(grad, x, w):
        return torch.ops.aten.convolution_backward.default(
            grad, torch.sin(x), w, [0], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False])[0]

    gm = _traced(fn, grad, x, w)
    cpu_passes.input_free_conv_grads(gm.graph)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert torch.ops.aten.sin.default not in targets  # the input's values were never needed
    torch.testing.assert_close(gm(grad, x, w), fn(grad, x, w))
