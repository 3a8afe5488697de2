"""`ef.compose.parse`: the whitelist, precedence, weights, NOT, and equality with the operators."""

from __future__ import annotations

import pytest
import torch

import energyflow as ef
from energyflow.compose.expressions import conjuncts, evaluate, names, parse, parse_tree
from energyflow.core import Or, Scaled, Sum
from energyflow.errors import CompositionError


def _gauss(center: float) -> ef.Energy:
    return ef.GaussianEnergy(torch.full((2,), center), torch.eye(2))


@pytest.fixture
def concepts() -> dict[str, ef.Energy]:
    return {"a": _gauss(0.0), "b": _gauss(1.0), "c": _gauss(-1.0), "young": _gauss(2.0)}


OPERATOR_FORMS = [
    ("a & b", lambda a, b, c: a & b),
    ("a | b", lambda a, b, c: a | b),
    ("a & ~b", lambda a, b, c: a & ~b),
    ("0.5*a & ~b", lambda a, b, c: 0.5 * a & ~b),
    ("a*0.5 & b", lambda a, b, c: a * 0.5 & b),
    ("a | b & c", lambda a, b, c: a | b & c),
    ("(a | b) & c", lambda a, b, c: (a | b) & c),
    ("~a & b | c", lambda a, b, c: ~a & b | c),
    ("2*(a & b) | c", lambda a, b, c: 2 * (a & b) | c),
    ("(a & b) | (~a & ~b) & c", lambda a, b, c: (a & b) | (~a & ~b) & c),
    ("~~a & b", lambda a, b, c: ~~a & b),
    ("2*3*a & b", lambda a, b, c: 2 * 3 * a & b),
    ("a & ~(b | c)", lambda a, b, c: a & ~(b | c)),
    ("a | b | c", lambda a, b, c: a | b | c),
]


@pytest.mark.parametrize(("text", "build"), OPERATOR_FORMS, ids=[t for t, _ in OPERATOR_FORMS])
def test_parse_is_the_operator_algebra(concepts, text, build):
    a, b, c = (concepts[k].named(k) for k in "abc")
    parsed, direct = parse(text, concepts), build(a, b, c)
    assert type(parsed) is type(direct)
    assert parsed.formula() == direct.formula()
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) * 2
    torch.testing.assert_close(parsed(x), direct(x), rtol=0, atol=0)


def test_formula_names_each_concept(concepts):
    parsed = parse("young & ~a | 0.5*b", concepts)
    assert parsed.formula() == "((young - a) | 0.5*b)"
    assert "GaussianEnergy" not in parse("a & b", concepts).formula()
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(2))
    young, a, b = concepts["young"], concepts["a"], concepts["b"]
    torch.testing.assert_close(parsed(x), ((young & ~a) | 0.5 * b)(x), rtol=0, atol=0)


def test_precedence_is_pythons(concepts):
    a, b, c = concepts["a"], concepts["b"], concepts["c"]
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    # & binds tighter than |: a | b & c is a | (b & c), not (a | b) & c
    assert torch.equal(parse("a | b & c", concepts)(x), (a | (b & c))(x))
    assert not torch.allclose(parse("a | b & c", concepts)(x), ((a | b) & c)(x))
    # ~ binds tighter than &: ~a & b is (~a) & b
    assert torch.equal(parse("~a & b", concepts)(x), (b(x) - a(x)))
    # * binds tighter than &
    assert torch.equal(parse("0.5*a & b", concepts)(x), 0.5 * a(x) + b(x))


def test_weights_and_negation_follow_the_normal_form(concepts):
    energy = parse("0.5*a & ~b", concepts)
    assert isinstance(energy, Sum)
    weights = [t.weight if isinstance(t, Scaled) else 1.0 for t in energy.terms]
    assert weights == [0.5, -1.0]
    assert parse("~~a", concepts).child is concepts["a"]  # a weight of 1 disappears (the name stays)
    twice = parse("2*~a", concepts)
    assert isinstance(twice, Scaled) and twice.weight == -2.0
    assert isinstance(parse("a | b", concepts), Or)


def test_bare_not_parses_but_cannot_be_sampled(concepts):
    energy = parse("~a", concepts)
    assert not energy.samplable
    with pytest.raises(ValueError, match="no normalisable density"):
        energy.check_samplable()


def test_unknown_name_lists_the_known_concepts(concepts):
    with pytest.raises(CompositionError, match=r"unknown concept 'yuong'; did you mean 'young'\? known concepts: "
                                               r"a, b, c, young"):
        parse("a & yuong", concepts)


REFUSED = [
    ("f(a)", "a call", "f(a)"),
    ("a.b", "an attribute", "a.b"),
    ("a[0]", "a subscript", "a[0]"),
    ("lambda: a", "a lambda", "lambda: a"),
    ("'a'", "a string", "'a'"),
    ("a & 'b'", "a string", "'b'"),
    ("a < b", "a comparison", "a < b"),
    ("a and b", "'and'/'or'", "a and b"),
    ("a + b", "the operator", "a + b"),
    ("a - b", "the operator", "a - b"),
    ("a / 2", "the operator", "a / 2"),
    ("a ** 2", "the operator", "a ** 2"),
    ("a ^ b", "the operator", "a ^ b"),
    ("-a", "'-' is not allowed", "-a"),
    ("-0.5*a", "'-' is not allowed", "-0.5"),
    ("not a", "'not' is not allowed", "not a"),
    ("a * b", "needs a number on one side", "a * b"),
    ("a & 2", "combines concepts, not numbers", "a & 2"),
    ("~2 & a", "~ applies to concepts", "~2"),
    ("True & a", "the constant True", "True"),
    ("[a, b]", "a list", "[a, b]"),
    ("(a, b)", "a tuple", "(a, b)"),
    ("a if b else c", "a conditional expression", "a if b else c"),
    ("(x := a)", "an assignment", "x := a"),
    ("2*3", "is a number", "2*3"),
]


@pytest.mark.parametrize(("text", "what", "piece"), REFUSED, ids=[t for t, _, _ in REFUSED])
def test_refused_constructs_are_named(concepts, text, what, piece):
    with pytest.raises(CompositionError) as info:
        parse(text, concepts)
    message = str(info.value)
    assert what in message
    assert piece in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["", "   ", "a &", "a & & b", "(a"])
def test_syntax_errors_are_one_line(concepts, text):
    with pytest.raises(CompositionError, match=r"empty expression|cannot parse"):
        parse(text, concepts)


def test_nothing_is_evaluated(concepts):
    with pytest.raises(CompositionError, match="a call"):
        parse("__import__('os').system('false')", concepts)


def test_tree_helpers():
    tree = parse_tree("young & 0.5*female & ~(smiling | male)")
    assert names(tree) == ["young", "female", "smiling", "male"]
    assert [str(t) for t in conjuncts(tree)] == ["young", "female", "~(smiling | male)"]
    truth = {"young": torch.tensor([True, True, False]), "female": torch.tensor([True, True, True]),
             "smiling": torch.tensor([False, True, False]), "male": torch.tensor([False, False, False])}
    assert evaluate(tree, truth).tolist() == [True, False, False]
    assert evaluate(parse_tree("~young"), {"young": True}) is False
    assert str(parse_tree("(a & b) | ~c & 2*d")) == "a & b | ~c & 2*d"
