"""The one normal form of the Energy algebra: structure, samplability, merges, conflicts, printing."""

import inspect
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import energyflow as ef
from energyflow.core import Conditioned, Masked, Or, Scaled, Sum, scale

NEGATIVE = (
    "every term has a negative weight: -E has no normalisable density; "
    "combine it with a positive energy, e.g. a & ~b"
)


class Attr(ef.Energy):
    """An energy with a user layer inside and two context keys, named in formulas."""

    def __init__(self, name: str, dim: int = 3):
        super().__init__()
        self.net = nn.Linear(dim, 1)
        self.name = name

    def forward(self, x, y=None, z=None):
        out = self.net(x).squeeze(-1) + x.pow(2).sum(-1)
        out = out if y is None else out + torch.as_tensor(y, dtype=x.dtype)
        return out if z is None else out * (1 + torch.as_tensor(z, dtype=x.dtype).abs())

    def formula_name(self):
        return self.name


@pytest.fixture
def abc():
    torch.manual_seed(0)
    return Attr("a"), Attr("b"), Attr("c")


def structure(e):
    """The node tree as nested tuples (leaves by identity), to compare forms exactly."""
    if isinstance(e, Scaled):
        return ("Scaled", e.weight, structure(e.child))
    if isinstance(e, Sum):
        return ("Sum", tuple(structure(t) for t in e.terms))
    if isinstance(e, Or):
        return ("Or", e.temperature, tuple(structure(t) for t in e.terms))
    if isinstance(e, Conditioned):
        return ("Conditioned", tuple((k, v.tolist()) for k, v in e.bound().items()), structure(e.child))
    if isinstance(e, Masked):
        return ("Masked", e.mask_.tolist(), e.observed.tolist(), structure(e.child))
    return ("leaf", id(e))


def leaf(e):
    return ("leaf", id(e))


# ---------------------------------------------------------------------- NOT and weights
def test_not_is_a_negative_weight(abc):
    a, b, _ = abc
    assert structure(~b) == ("Scaled", -1.0, leaf(b))
    assert structure(~a) == structure(-1 * a) == structure(-a) == structure(ef.negate(a))
    assert structure(ef.negate(b, 0.5)) == ("Scaled", -0.5, leaf(b))
    assert structure(2 * ~b) == ("Scaled", -2.0, leaf(b))
    assert (~~b) is b and ef.negate(ef.negate(b)) is b
    assert not hasattr(ef.core, "Not")


def test_and_not_is_a_sum_with_a_negative_weight(abc):
    a, b, _ = abc
    expected = ("Sum", (leaf(a), ("Scaled", -1.0, leaf(b))))
    assert structure(a & ~b) == structure(a + (-1) * b) == structure(a - b) == expected
    x = torch.randn(5, 3)
    torch.testing.assert_close((a & ~b)(x), (a + (-1) * b)(x))
    torch.testing.assert_close((a & ~b)(x), a(x) - b(x))


def test_weights_distribute_over_sums_and_vanish_at_one(abc):
    a, b, c = abc
    assert structure(3 * (a + b)) == ("Sum", (("Scaled", 3.0, leaf(a)), ("Scaled", 3.0, leaf(b))))
    assert structure(~(a - b)) == ("Sum", (("Scaled", -1.0, leaf(a)), leaf(b)))
    assert structure((a + 2 * b) / 2) == ("Sum", (("Scaled", 0.5, leaf(a)), leaf(b)))
    assert scale(a, 1.0) is a and 1 * a is a and a / 1 is a
    assert structure(0.5 * (4 * c)) == ("Scaled", 2.0, leaf(c))
    node = 2 * (a | b)  # an OR is not a sum: the weight stays outside it
    assert structure(node) == ("Scaled", 2.0, ("Or", 1.0, (leaf(a), leaf(b))))


@settings(max_examples=25, deadline=None)
@given(w1=st.floats(0.1, 4), w2=st.floats(0.1, 4), t=st.floats(0.2, 5))
def test_weights_multiply_through_any_chain(w1, w2, t):
    a, b = Attr("a"), Attr("b")
    node = w1 * (w2 * ~(a + b) / t)
    w = -w1 * w2 / t
    assert isinstance(node, Sum) and [type(term) for term in node.terms] == [Scaled, Scaled]
    assert [term.child for term in node.terms] == [a, b]
    assert all(term.weight == pytest.approx(w) for term in node.terms)
    x = torch.randn(4, 3)
    torch.testing.assert_close(node(x), w * (a(x) + b(x)), rtol=1e-4, atol=1e-4)


def test_sums_flatten_and_ors_at_one_temperature_merge(abc):
    a, b, c = abc
    assert structure((a + b) + (c - a)) == ("Sum", (leaf(a), leaf(b), leaf(c), ("Scaled", -1.0, leaf(a))))
    assert structure((a | b) | c) == ("Or", 1.0, (leaf(a), leaf(b), leaf(c)))
    two = ef.logical_or(ef.logical_or(a, b, temperature=2), c)
    assert len(two.terms) == 2 and two.terms[0].temperature == 2.0
    with pytest.raises(ValueError, match="Sum: expected at least one energy, got none"):
        Sum([])


# ---------------------------------------------------------------------- samplability
@pytest.mark.parametrize("build", [lambda a, b: ~b, lambda a, b: -2 * a, lambda a, b: ~a + ~b,
                                   lambda a, b: (~b).condition(y=1), lambda a, b: ef.negate(a + b, 3)])
def test_all_negative_energies_refuse_to_be_sampled_and_say_why(abc, build):
    a, b, _ = abc
    energy = build(a, b)
    assert energy.samplable is False
    with pytest.raises(ValueError, match=f"^cannot sample from {re.escape(energy.formula())}: ") as info:
        energy.check_samplable()
    assert str(info.value).endswith(NEGATIVE)
    with pytest.raises(ValueError, match="every term has a negative weight"):
        ef.Langevin(steps=1).sample(energy, torch.zeros(2, 3))


def test_samplability_of_mixed_and_wrapped_energies(abc):
    a, b, c = abc
    m, o = torch.tensor([True, False, False]), torch.zeros(3)
    for fine in (a & ~b, a - 2 * b + c, a | b, a.condition(y=1), a.mask(m, o), (a & ~b).mask(m, o)):
        assert fine.samplable is True
        fine.check_samplable()
    for bad in (a | ~b, (~b).mask(m, o), Conditioned(Scaled(b, -1), {"y": 1}), Masked(Scaled(b, -1), m, o),
                0 * a):
        assert bad.samplable is False
        with pytest.raises(ValueError, match="cannot sample from"):
            bad.check_samplable()
    with pytest.raises(ValueError, match=r"every term of Or needs a density; -b has none \(every term has"):
        (a | ~b).check_samplable()


# ---------------------------------------------------------------------- conditions
def test_nested_conditions_merge_into_one_node(abc):
    a, _, _ = abc
    node = a.condition(y=1).condition(z=2)
    assert structure(node) == ("Conditioned", (("y", 1), ("z", 2)), leaf(a))
    x = torch.randn(4, 3)
    torch.testing.assert_close(node(x), a(x, y=torch.ones(4), z=torch.full((4,), 2.0)))
    assert a.condition() is a and node.condition() is node
    assert node.condition(y=torch.tensor(1)) is node  # the same value again is fine
    # A weight stays outermost and a mask above, so conditions merge through both.
    m, o = torch.tensor([True, False, False]), torch.zeros(3)
    weighted = (2 * a.condition(y=1)).condition(z=2)
    assert structure(weighted) == ("Scaled", 2.0, ("Conditioned", (("y", 1), ("z", 2)), leaf(a)))
    assert structure(a.mask(m, o).condition(y=1).condition(z=2)) == structure(
        a.condition(y=1, z=2).mask(m, o)
    )


def test_rebinding_a_key_to_another_value_is_an_error(abc):
    a, _, _ = abc
    with pytest.raises(ValueError, match=r"condition: 'y' is already bound to 1; cannot bind it to 2"):
        a.condition(y=1).condition(y=2)
    labels = torch.arange(6)
    with pytest.raises(ValueError, match=r"'y' is already bound to <\(6,\)>; cannot bind it to 3"):
        (0.5 * a.condition(y=labels)).condition(y=3)
    node = a.condition(y=labels)
    assert node.condition(y=torch.arange(6)) is node  # equal tensors bind nothing new


# ---------------------------------------------------------------------- masks
def test_mask_requires_observed_and_an_empty_mask_is_the_same_energy(abc):
    a, _, _ = abc
    assert inspect.signature(a.mask).parameters["observed"].default is inspect.Parameter.empty
    with pytest.raises(TypeError):
        a.mask(torch.tensor([True, False, False]))
    assert a.mask(torch.zeros(3, dtype=torch.bool), torch.ones(3)) is a
    with pytest.raises(TypeError, match="expected a bool tensor, got None"):
        a.mask(None, torch.ones(3))


def test_nested_masks_merge_into_one_node(abc):
    a, _, _ = abc
    m1, o1 = torch.tensor([True, True, False]), torch.tensor([1.0, 2.0, 0.0])
    m2, o2 = torch.tensor([False, True, True]), torch.tensor([9.0, 2.0, 3.0])
    node = a.mask(m1, o1).mask(m2, o2)
    assert isinstance(node, Masked) and node.child is a
    assert node.mask_.tolist() == [True, True, True] and node.observed.tolist() == [1.0, 2.0, 3.0]
    x = torch.randn(4, 3)
    torch.testing.assert_close(node(x), a(torch.tensor([1.0, 2.0, 3.0]).expand(4, 3)))
    torch.testing.assert_close(node.constrain(x), torch.tensor([1.0, 2.0, 3.0]).expand(4, 3))
    assert structure((2 * a).mask(m1, o1)) == ("Scaled", 2.0, structure(a.mask(m1, o1)))


def test_nested_masks_that_disagree_are_an_error(abc):
    a, b, _ = abc
    m = torch.tensor([True, False, False])
    with pytest.raises(ValueError, match="mask: overlapping masks clamp the same positions to different observed"):
        a.mask(m, torch.zeros(3)).mask(m, torch.ones(3))
    with pytest.raises(ValueError, match="overlapping masks clamp the same positions to different observed"):
        (a + b.mask(m, torch.zeros(3))).mask(m, torch.ones(3))
    with pytest.raises(ValueError, match=r"cannot merge a mask of shape \(2,\) into one of shape \(3,\)"):
        a.mask(m, torch.zeros(3)).mask(torch.tensor([True, False]), torch.zeros(2))


def test_sum_and_or_of_conflicting_masks_are_errors_at_construction(abc):
    a, b, c = abc
    m1 = torch.tensor([True, True, False])
    m2 = torch.tensor([[False, True, True]]).expand(4, 3)  # batch shaped: still comparable
    left, right = a.mask(m1, torch.zeros(3)), b.mask(m2, torch.ones(4, 3))
    with pytest.raises(ValueError, match=r"Sum: overlapping masks clamp .* \(mask\(a, 2/3\) and mask\(b, 8/12\)\)"):
        left + right
    with pytest.raises(ValueError, match="Or: overlapping masks clamp the same positions"):
        c | left | right
    with pytest.raises(ValueError, match="Sum: overlapping masks"):
        left & ~right
    agreeing = b.mask(m2, torch.zeros(4, 3))
    both = left + agreeing  # the overlap agrees: fine, and constrain clamps the union
    torch.testing.assert_close(both.constrain(torch.full((4, 3), 5.0)), torch.zeros(4, 3))
    apart = a.mask(m1, torch.zeros(3)) + b.mask(torch.tensor([True, False]), torch.ones(2))  # never one batch
    assert len(apart.terms) == 2


# ---------------------------------------------------------------------- printing
def test_formula_strings(abc):
    a, b, _ = abc
    assert (0.5 * a.condition(y=1) - 0.5 * a.condition(y=2)).formula() == "0.5*a[y=1] - 0.5*a[y=2]"
    assert (a + b).formula() == "a + b"
    assert (~a).formula() == "-a"
    assert (~a + 2 * b).formula() == "-a + 2*b"
    assert (a & ef.negate(b, 2)).formula() == "a - 2*b"
    assert (a | b).formula() == "(a | b)"
    assert ef.logical_or(a, b, temperature=2).formula() == "or(a, b; T=2)"
    assert ((a + b) | a).formula() == "((a + b) | a)"
    assert (a + b).condition(y=1).formula() == "(a + b)[y=1]"
    assert a.condition(y=torch.arange(64)).formula() == "a[y=<(64,)>]"
    mask = torch.arange(64).reshape(8, 8) % 2 == 0
    assert a.mask(mask, torch.zeros(8, 8)).formula() == "mask(a, 32/64)"
    assert ef.MLPEnergy(2).formula() == ef.MLPEnergy(2).formula_name()
    assert not hasattr(ef.Energy, "extra_label")


def test_print_is_the_module_tree_with_the_users_layers(abc):
    a, b, _ = abc
    assert type(a).__repr__ is nn.Module.__repr__
    node = 0.5 * a.condition(y=1) - 0.5 * b.condition(y=torch.arange(64))
    text = str(node)
    assert text.startswith("Sum(\n")
    assert "Linear(in_features=3, out_features=1, bias=True)" in text
    assert "weight=0.5" in text and "weight=-0.5" in text
    assert "y=1" in text and "y=<(64,)>" in text
    mask = torch.tensor([True, False, True])
    assert "clamped=2/3" in str(a.mask(mask, torch.zeros(3)))
    assert "temperature=2" in str(ef.logical_or(a, b, temperature=2))


def test_error_messages_name_the_formula_on_one_line(abc):
    a, b, _ = abc
    with pytest.raises(TypeError, match=r"^a - b got unexpected context 'w'; it accepts: y, z$"):
        (a - b)(torch.randn(2, 3), w=1)
    with pytest.raises(TypeError, match=r"^a\[y=1\] got unexpected context 'y'; it accepts: z$"):
        a.condition(y=1)(torch.randn(2, 3), y=2)
