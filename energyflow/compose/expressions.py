"""The concept algebra as text: ``"young & female & ~smiling"`` parsed into an energy.

`parse` reads an expression with Python's `ast` and accepts only a whitelist: concept names,
numbers, ``&`` (AND), ``|`` (OR), ``~`` (NOT), ``*`` (a weight) and parentheses. Precedence is
Python's (``~`` binds tightest, then ``*``, ``&``, ``|``). The tree is evaluated with the very
operators `Energy` defines, so ``parse("0.5*a & ~b", {"a": a, "b": b})`` is exactly
``0.5 * a & ~b``: same normal form, same formula, same values. Nothing is ever ``eval``-ed.

`parse_tree` gives the checked tree itself (`Concept`, `Weighted`, `And`, `Or`, `Not`), which
the ``compose`` task uses to count terms and to judge samples against each conjunct.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Mapping
from typing import Any

import torch
from attrs import frozen

from energyflow.core.energy import Energy
from energyflow.errors import CompositionError

__all__ = [
    "And", "CompositionError", "Concept", "Expr", "Not", "Or", "Weighted", "conjuncts", "evaluate",
    "parse", "parse_tree",
]


# --------------------------------------------------------------------------- the checked tree
@frozen
class Concept:
    """A concept by name."""

    name: str

    def __str__(self) -> str:
        return self.name


@frozen
class Weighted:
    """``weight * expr`` (or ``expr * weight``)."""

    weight: float
    expr: Expr

    def __str__(self) -> str:
        return f"{self.weight:g}*{_wrap(self.expr, (And, Or))}"


@frozen
class Not:
    """``~expr``."""

    expr: Expr

    def __str__(self) -> str:
        return f"~{_wrap(self.expr, (And, Or, Weighted))}"


@frozen
class And:
    """``left & right``."""

    left: Expr
    right: Expr

    def __str__(self) -> str:
        return f"{_wrap(self.left, (Or,))} & {_wrap(self.right, (Or, And))}"


@frozen
class Or:
    """``left | right``."""

    left: Expr
    right: Expr

    def __str__(self) -> str:
        return f"{self.left} | {_wrap(self.right, (Or,))}"


Expr = Concept | Weighted | Not | And | Or


def _wrap(expr: Expr, kinds: tuple[type, ...]) -> str:
    return f"({expr})" if isinstance(expr, kinds) else str(expr)


# --------------------------------------------------------------------------- parsing
_OPERATORS = {ast.BitAnd: "&", ast.BitOr: "|", ast.Mult: "*"}
_REFUSED = {
    ast.Call: "a call", ast.Attribute: "an attribute", ast.Subscript: "a subscript", ast.Lambda: "a lambda",
    ast.Compare: "a comparison", ast.BoolOp: "'and'/'or' (use & and |)", ast.IfExp: "a conditional expression",
    ast.JoinedStr: "an f-string", ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
    ast.ListComp: "a comprehension", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator", ast.Starred: "a starred expression", ast.NamedExpr: "an assignment",
    ast.Await: "an await", ast.Slice: "a slice",
}


def parse_tree(expr: str) -> Expr:
    """Check ``expr`` against the whitelist and return its tree (names are not looked up here).

    Raises:
        CompositionError: a syntax error, or the first piece outside the algebra, quoted.
    """
    if not isinstance(expr, str):
        raise CompositionError(f"expected an expression string, got {type(expr).__name__}")
    if not expr.strip():
        raise CompositionError("empty expression; write concepts joined by &, | and ~, e.g. 'young & ~smiling'")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        where = f" at column {e.offset}" if e.offset else ""
        raise CompositionError(f"cannot parse {expr!r}: {e.msg}{where}") from None
    text = expr.strip()
    result = _convert(tree.body, text)
    if isinstance(result, float):
        raise CompositionError(f"{expr!r} is a number, not a concept; name at least one concept")
    return result


def _piece(node: ast.AST, text: str) -> str:
    return ast.get_source_segment(text, node) or type(node).__name__


def _convert(node: ast.AST, text: str) -> Expr | float:
    if isinstance(node, ast.Name):
        return Concept(node.id)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        what = "a string" if isinstance(value, (str, bytes)) else f"the constant {value!r}"
        raise CompositionError(f"{what} is not allowed in a concept expression: {_piece(node, text)!r}")
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.Invert):
            sign = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not"}.get(type(node.op), type(node.op).__name__)
            raise CompositionError(f"{sign!r} is not allowed: {_piece(node, text)!r}; write NOT as ~name and "
                                   "weights as positive numbers, e.g. 0.5*name")
        inner = _convert(node.operand, text)
        if isinstance(inner, float):
            raise CompositionError(f"~ applies to concepts, not to a number: {_piece(node, text)!r}")
        return Not(inner)
    if isinstance(node, ast.BinOp):
        symbol = _OPERATORS.get(type(node.op))
        if symbol is None:
            raise CompositionError(f"the operator in {_piece(node, text)!r} is not allowed; "
                                   "use & (and), | (or), ~ (not) and number*concept")
        left, right = _convert(node.left, text), _convert(node.right, text)
        if symbol == "*":
            if isinstance(left, float) and isinstance(right, float):
                return left * right
            if isinstance(left, float) or isinstance(right, float):
                weight, body = (left, right) if isinstance(left, float) else (right, left)
                return Weighted(weight, body)  # type: ignore[arg-type]
            raise CompositionError(f"'*' needs a number on one side: {_piece(node, text)!r}; "
                                   "use & to combine two concepts")
        if isinstance(left, float) or isinstance(right, float):
            raise CompositionError(f"{symbol} combines concepts, not numbers: {_piece(node, text)!r}")
        return (And if symbol == "&" else Or)(left, right)
    what = _REFUSED.get(type(node), f"a {type(node).__name__} node")
    raise CompositionError(f"{what} is not allowed in a concept expression: {_piece(node, text)!r}; "
                           "only concept names, numbers, &, |, ~, * and parentheses")


# --------------------------------------------------------------------------- meaning
def names(tree: Expr) -> list[str]:
    """The concept names in ``tree``, in order, with repeats (the number of terms sampled)."""
    if isinstance(tree, Concept):
        return [tree.name]
    if isinstance(tree, (Weighted, Not)):
        return names(tree.expr)
    return names(tree.left) + names(tree.right)


def build(tree: Expr, leaf: Callable[[str], Any]) -> Any:
    """Fold ``tree`` with Python's operators over ``leaf(name)`` (energies, booleans, ...)."""
    if isinstance(tree, Concept):
        return leaf(tree.name)
    if isinstance(tree, Weighted):
        return tree.weight * build(tree.expr, leaf)
    if isinstance(tree, Not):
        return ~build(tree.expr, leaf)
    left, right = build(tree.left, leaf), build(tree.right, leaf)
    return left & right if isinstance(tree, And) else left | right


def _lookup(concepts: Mapping[str, Any]) -> Callable[[str], Any]:
    def leaf(name: str) -> Any:
        if name not in concepts:
            close = difflib.get_close_matches(name, list(concepts), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            known = ", ".join(sorted(concepts)) or "none"
            raise CompositionError(f"unknown concept {name!r}; {hint}known concepts: {known}")
        return concepts[name]

    return leaf


def parse(expr: str, concepts: Mapping[str, Energy]) -> Energy:
    """The energy of a concept expression: exactly what the `Energy` operators build.

    Args:
        expr: e.g. ``"young & female & ~eyeglasses"``, ``"(smiling & male) | (~smiling & ~male)"``,
            ``"0.5*smiling & ~eyeglasses"``.
        concepts: concept name -> energy (usually a conditioned energy, ``attr.condition(y=...)``).

    Raises:
        CompositionError: the expression is outside the algebra (the offending piece is quoted),
            or names an unknown concept (the known ones are listed).
    """
    for name, energy in concepts.items():
        if not isinstance(energy, Energy):
            raise CompositionError(f"concept {name!r} is a {type(energy).__name__}, not an Energy")
    lookup = _lookup(concepts)
    return build(parse_tree(expr), lambda name: lookup(name).named(name))


def evaluate(tree: Expr, truth: Mapping[str, Any]) -> Any:
    """The truth of ``tree`` given each concept's truth (bools or bool tensors); weights are ignored."""
    leaf = _lookup(truth)
    if isinstance(tree, Concept):
        return leaf(tree.name)
    if isinstance(tree, Weighted):
        return evaluate(tree.expr, truth)
    if isinstance(tree, Not):
        value = evaluate(tree.expr, truth)
        return ~value if isinstance(value, torch.Tensor) else not value
    left, right = evaluate(tree.left, truth), evaluate(tree.right, truth)
    return left & right if isinstance(tree, And) else left | right


def conjuncts(tree: Expr) -> list[Expr]:
    """The top-level terms of an AND (``a & (b | c) & ~d`` -> ``a``, ``b | c``, ``~d``)."""
    if isinstance(tree, And):
        return conjuncts(tree.left) + conjuncts(tree.right)
    if isinstance(tree, Weighted):
        return conjuncts(tree.expr)
    return [tree]
