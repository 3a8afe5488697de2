"""Algebra laws, conditioning, masking, printing and argument errors of Energy nodes."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import energyflow as ef
from energyflow.core import Or, Scaled, Sum


class Quadratic(ef.Energy):
    """A learnable quadratic energy with an optional class-dependent centre."""

    def __init__(self, dim: int = 3, num_classes: int = 4, name: str = "q"):
        super().__init__()
        self.centre = nn.Parameter(torch.randn(num_classes, dim))
        self.scale = nn.Parameter(torch.rand(()) + 0.5)
        self.name = name

    def forward(self, x, y=None):
        centre = self.centre[0] if y is None else self.centre[y]
        return self.scale * (x - centre).pow(2).sum(-1)

    def formula_name(self):
        return self.name


class Linear(ef.Energy):
    def __init__(self, dim=3, name="lin"):
        super().__init__()
        self.w = nn.Parameter(torch.randn(dim))
        self.name = name

    def forward(self, x):
        return x @ self.w

    def formula_name(self):
        return self.name


@pytest.fixture
def parts():
    torch.manual_seed(0)
    return Quadratic(name="a"), Quadratic(name="b"), Linear(name="c")


seeds = st.integers(0, 2**16)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, w=st.floats(0.1, 5.0), t=st.floats(0.2, 5.0))
def test_sum_scale_temperature_laws(seed, w, t):
    g = torch.Generator().manual_seed(seed)
    a, b = Quadratic(name="a"), Quadratic(name="b")
    x = torch.randn(7, 3, generator=g)
    torch.testing.assert_close((a + b)(x), a(x) + b(x))
    torch.testing.assert_close((a & b)(x), a(x) + b(x))
    torch.testing.assert_close((w * a)(x), w * a(x))
    torch.testing.assert_close((a * w)(x), w * a(x))
    torch.testing.assert_close((a / t)(x), a(x) / t)
    torch.testing.assert_close((a & ef.negate(b, alpha=w))(x), a(x) - w * b(x))
    torch.testing.assert_close((a & ~b)(x), a(x) - b(x))
    torch.testing.assert_close((a - w * b)(x), a(x) - w * b(x))
    torch.testing.assert_close((w * (a + b))(x), w * (a(x) + b(x)))
    torch.testing.assert_close((-(a / t))(x), -a(x) / t)
    or_t = ef.logical_or(a, b, temperature=t)(x)
    torch.testing.assert_close(or_t, -t * torch.logaddexp(-a(x) / t, -b(x) / t))


def test_or_is_a_soft_minimum(parts):
    a, b, _ = parts
    x = torch.randn(50, 3)
    low = ef.logical_or(a, b, temperature=1e-3)(x)
    torch.testing.assert_close(low, torch.minimum(a(x), b(x)), atol=1e-2, rtol=0)
    assert torch.all((a | b)(x) <= torch.minimum(a(x), b(x)) + 1e-6)


def test_sum_builtin_and_flattening(parts):
    a, b, c = parts
    total = sum([a, b, c])
    assert isinstance(total, Sum) and len(total.terms) == 3
    assert len(((a + b) + (c + a)).terms) == 4
    x = torch.randn(5, 3)
    torch.testing.assert_close(total(x), a(x) + b(x) + c(x))


def test_weights_multiply_and_double_negation(parts):
    a, b, _ = parts
    node = 2.0 * (3.0 * a)
    assert isinstance(node, Scaled) and node.weight == 6.0 and node.child is a
    assert (a / 2.0).weight == 0.5
    assert 1.0 * a is a
    x = torch.randn(4, 3)
    torch.testing.assert_close((~~a)(x), a(x))
    nested_or = (a | b) | a
    assert isinstance(nested_or, Or) and len(nested_or.terms) == 3


def test_operands_are_not_mutated_and_parameters_are_visible(parts):
    a, b, c = parts
    before = {k: v.clone() for k, v in a.state_dict().items()}
    node = 0.5 * a.condition(y=1) & ~b | c
    assert all(torch.equal(before[k], v) for k, v in a.state_dict().items())
    ids = {id(p) for p in node.parameters()}
    assert {id(p) for m in (a, b, c) for p in m.parameters()} == ids


def test_formula_is_one_compact_line(parts):
    a, b, _ = parts
    node = 0.5 * a.condition(y=1) & ef.negate(b.condition(y=2), alpha=0.5)
    assert node.formula() == "0.5*a[y=1] - 0.5*b[y=2]"
    assert ef.logical_or(a, b, temperature=2).formula() == "or(a, b; T=2)"


def test_condition_binds_and_broadcasts(parts):
    a, _, _ = parts
    x = torch.randn(6, 3)
    torch.testing.assert_close(a.condition(y=3)(x), a(x, y=torch.full((6,), 3)))
    labels = torch.arange(6) % 4
    torch.testing.assert_close(a.condition(y=labels)(x), a(x, y=labels))
    torch.testing.assert_close(a.condition(y=[2])(x), a(x, y=torch.full((6,), 2)))
    with pytest.raises(ValueError, match=r"context 'y' must be a scalar, one row or 6 rows.*got shape \(4,\)"):
        a.condition(y=torch.arange(4))(x)


def test_context_the_energy_does_not_accept(parts):
    a, _, c = parts
    with pytest.raises(TypeError, match=r"c got unexpected context 'y'; it accepts: no context"):
        c(torch.randn(2, 3), y=1)
    with pytest.raises(TypeError, match=r"unexpected context 'z'; it accepts: y"):
        a.condition(z=1)
    # A sum passes each term only the context it accepts.
    x = torch.randn(3, 3)
    torch.testing.assert_close((a + c)(x, y=torch.tensor([1, 2, 3])), a(x, y=torch.tensor([1, 2, 3])) + c(x))
    with pytest.raises(TypeError, match="unexpected context 'z'"):
        (a + c)(x, z=1)


def test_mask_clamps_positions(parts):
    a, _, _ = parts
    x = torch.randn(5, 3)
    mask = torch.tensor([True, False, True])
    observed = torch.tensor([0.5, 0.0, -1.0])
    masked = a.mask(mask, observed)
    torch.testing.assert_close(masked(x), a(torch.where(mask, observed, x)))
    assert a.mask(torch.zeros(3, dtype=torch.bool), observed) is a
    score = masked.score(x)
    assert torch.all(score[:, mask] == 0) and torch.any(score[:, ~mask] != 0)


def test_mask_errors(parts):
    a, _, _ = parts
    with pytest.raises(TypeError, match="expected a bool tensor, got dtype torch.int64"):
        a.mask(torch.tensor([1, 0, 1]), torch.zeros(3))
    with pytest.raises(ValueError, match=r"mask shape \(3,\) does not broadcast with observed shape \(2,\)"):
        a.mask(torch.tensor([True, False, True]), torch.zeros(2))
    masked = a.mask(torch.tensor([True, False]), torch.zeros(2))
    with pytest.raises(ValueError, match=r"mask: mask has shape \(2,\), expected \(4, 3\) \(the batch\) or \(3,\)"):
        masked(torch.randn(4, 3))


def test_score_is_minus_gradient_and_touches_no_parameter_grad(parts):
    a, _, _ = parts
    x = torch.randn(4, 3)
    expected = -2 * a.scale.detach() * (x - a.centre[0].detach())
    torch.testing.assert_close(a.score(x), expected)
    assert all(p.grad is None for p in a.parameters())


def test_bare_negation_refuses_to_be_sampled(parts):
    a, b, _ = parts
    with pytest.raises(ValueError, match="cannot sample from -b: every term has a negative weight: -E has no"):
        ef.Langevin(steps=1).sample(~b, torch.rand(2, 3))
    assert isinstance(~b, Scaled) and (~b).weight == -1.0
    out = ef.Langevin(steps=1).sample(a & ~b, torch.rand(2, 3))  # a sum with a positive term is fine
    assert out.shape == (2, 3)


def test_output_shape_and_input_errors(parts):
    class Bad(ef.Energy):
        def forward(self, x):
            return x.sum(-1, keepdim=True)

    with pytest.raises(ValueError, match=r"Bad: forward must return shape \(4,\).*got \(4, 1\)"):
        Bad()(torch.randn(4, 3))
    with pytest.raises(TypeError, match="expected x to be a torch.Tensor, got list"):
        parts[0]([1.0, 2.0])
    with pytest.raises(ValueError, match="temperature must be > 0, got -1"):
        parts[0] / -1
    with pytest.raises(ValueError, match="alpha must be > 0, got 0"):
        ef.negate(parts[0], alpha=0)
    assert parts[0].__add__("text") is NotImplemented


def test_named_is_the_same_energy_under_a_name():
    base = ef.MLPEnergy(2, num_classes=3)
    smiling = base.condition(y=1).named("smiling")
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(smiling(x), base(x, y=torch.ones(5, dtype=torch.long)))
    assert smiling.formula() == "smiling"
    assert (smiling & ~base.condition(y=2).named("young")).formula() == "smiling - young"
    assert smiling.named("happy").formula() == "happy" and isinstance(smiling.named("happy").child, ef.Conditioned)
    assert smiling.condition(y=1).formula() == "MLPEnergy[y=1]"  # same binding: the name no longer needed
    with pytest.raises(ValueError, match="already bound"):
        smiling.condition(y=2)  # a conflicting binding is still caught under the name
    with pytest.raises(ValueError, match="non-empty name"):
        base.named(" ")
