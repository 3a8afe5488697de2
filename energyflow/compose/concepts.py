"""Named energies, concepts and the judging classifier of a recipe, and how labels reach them.

A recipe may declare several named energies (``[energies.NAME]``), each conditioned on some of
the dataset's label *columns* (CelebA's attributes, a scene's factors) and trained in the run or
loaded from an earlier run's checkpoint; concepts (``[concepts]``) bind an energy to column
values, ``smiling = { energy = "smiling", Smiling = 1 }``; a ``[classifier]`` judges samples.

`LabelCoding` turns columns into what a network is conditioned on. With one column and no
``drop`` an energy gets class labels ``(N,)``. Otherwise each column becomes a one-hot block
(binary: absent ``[1, 0]``, present ``[0, 1]``) and an *unobserved* column an all-zero block, so
present, absent and not given are three different inputs; ``drop`` hides each column of each
training sample with that probability, which teaches the network the unobserved case.
"""

from __future__ import annotations

import itertools
import keyword
from typing import Any

import attrs
import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow.core.energy import Energy
from energyflow.data.dataset import TensorData

__all__ = ["ClassifierSpec", "ConceptSpec", "LabelCoding", "NamedEnergySpec", "TermSum", "label_columns"]

_steps = v.optional([v.instance_of(int), v.ge(0)])


@frozen(kw_only=True)
class NamedEnergySpec:
    """One ``[energies.NAME]`` table (its network is ``net``, or the ``[energy]`` table)."""

    labels: tuple[str, ...] = field(default=(), converter=tuple, validator=v.deep_iterable(v.instance_of(str)),
                                    metadata={"help": "label columns the energy is conditioned on; [] for every column"})
    drop: float = field(default=0.0, converter=float, validator=[v.ge(0.0), v.lt(1.0)],
                        metadata={"help": "share of label columns hidden (unobserved) per training sample; > 0 lets "
                                          "concepts leave columns unobserved"})
    checkpoint: str | None = field(default=None, validator=v.optional(v.instance_of(str)),
                                   metadata={"help": "load this checkpoint.pt (or run folder) of an earlier run "
                                                     "instead of training"})
    iterations: int | None = field(default=None, validator=_steps,
                                   metadata={"help": "training steps for this energy; none: [train].iterations"})
    terms: tuple[str, ...] = field(default=(), converter=tuple, validator=v.deep_iterable(v.instance_of(str)),
                                   metadata={"help": "named energies trained together as this sum, each on its own "
                                                     "columns (then taken from it); [] for an energy of its own"})


@frozen(kw_only=True)
class ClassifierSpec:
    """The ``[classifier]`` table: a conditional energy network trained as a classifier of label columns."""

    labels: tuple[str, ...] = field(default=(), converter=tuple, validator=v.deep_iterable(v.instance_of(str)),
                                    metadata={"help": "columns to classify; []: every column the concepts use"})
    checkpoint: str | None = field(default=None, validator=v.optional(v.instance_of(str)),
                                   metadata={"help": "load this classifier.pt (or run folder) instead of training"})
    iterations: int = field(default=1000, validator=[v.instance_of(int), v.ge(0)],
                            metadata={"help": "training steps (cross-entropy of -E(x, column = value))"})
    batch_size: int = field(default=64, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "images per step"})
    lr: float = field(default=1e-3, converter=float, validator=v.gt(0.0), metadata={"help": "Adam learning rate"})


@frozen
class ConceptSpec:
    """A concept: the named ``energy`` bound to ``values`` of some of its label columns.

    ``judge`` (optional) is what the classifier checks instead of ``values``: other columns, when the
    energy's own do not say what a sample must show (a position energy trained on one-object scenes,
    judged by which cells of a several-object scene are occupied).
    ``posterior`` makes the concept ``-log p(values | x)`` of its energy: ``E(x | values)`` plus
    ``logsumexp`` over every value of those columns of ``-E(x | value)``, which keeps what the energy
    says about its columns and drops what it learned of x otherwise (the classifier form of
    p(x | a, b) ∝ p(x) p(a | x) p(b | x)).
    ``marginal`` makes it the energy's marginal over every value of its columns, ``-logsumexp_v -E(x | v)``:
    the p(x) of that decomposition; it binds no value, and the classifier checks nothing of it.
    """

    name: str
    energy: str
    values: dict[str, int]
    judge: dict[str, int] | None = None
    posterior: bool = False
    marginal: bool = False

    @property
    def judged(self) -> dict[str, int]:
        """The column values the classifier checks: ``judge``, or else ``values`` (none for a marginal)."""
        return self.values if self.judge is None else self.judge


def check_concept_name(name: str) -> str | None:
    """Why ``name`` cannot name a concept in an expression, or ``None``."""
    if not name.isidentifier() or keyword.iskeyword(name):
        return "a concept name must be a Python identifier that is not a keyword (letters, digits, _)"
    return None


# --------------------------------------------------------------------------- columns and coding
def label_columns(data: TensorData, split: str = "train") -> tuple[tuple[str, ...], torch.Tensor]:
    """The dataset's label columns and their values ``(N, F)`` (1-D class labels are one column ``y``)."""
    labels = data.train_labels if split == "train" else data.test_labels
    if data.train_labels is None:
        raise ValueError(f"dataset {data.name!r} has no labels; named energies are conditioned on label columns")
    if labels is None:
        labels = data.train_labels[:0]
    if data.train_labels.dim() == 1:
        return ("y",), labels.reshape(-1, 1)
    width = data.train_labels.shape[1]
    names = tuple(data.class_names) if data.class_names and len(data.class_names) == width else tuple(
        f"c{i}" for i in range(width))
    return names, labels


def column_sizes(data: TensorData) -> dict[str, int]:
    """How many values each column takes: ``max + 1`` over both splits (at least 2)."""
    names, train = label_columns(data, "train")
    _, test = label_columns(data, "test")
    if data.train_labels.dim() == 1 and data.num_classes:
        return {"y": int(data.num_classes)}
    both = torch.cat([train, test]).float()
    if both.numel() and (bool((both < 0).any()) or not bool((both == both.round()).all())):
        raise ValueError(f"dataset {data.name!r}: label columns must hold integer values 0, 1, ..., got others")
    tops = both.amax(0) if both.numel() else torch.zeros(len(names))
    return {name: max(2, int(top) + 1) for name, top in zip(names, tops.tolist())}


@frozen
class LabelCoding:
    """How a network sees some label columns: class labels, or one-hot blocks (all zero: unobserved).

    Attributes:
        columns: the coded columns, in order.
        sizes: how many values each takes.
        indices: their positions among the dataset's columns.
        as_class: one column coded as class labels ``(N,)`` (no unobserved state).
    """

    columns: tuple[str, ...]
    sizes: tuple[int, ...]
    indices: tuple[int, ...]
    as_class: bool

    @classmethod
    def of(cls, data: TensorData, columns: tuple[str, ...] = (), *, as_class: bool | None = None) -> LabelCoding:
        """The coding of ``columns`` of ``data`` (all columns for ``()``); ``as_class`` defaults to one column."""
        names, _ = label_columns(data)
        sizes = column_sizes(data)
        columns = tuple(columns) or names
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise ValueError(f"dataset {data.name!r} has no label column {unknown[0]!r}; its columns: {', '.join(names)}")
        as_class = len(columns) == 1 if as_class is None else as_class
        return cls(columns, tuple(sizes[c] for c in columns), tuple(names.index(c) for c in columns), as_class)

    @property
    def width(self) -> int:
        """What the network is told ``num_classes`` is."""
        return self.sizes[0] if self.as_class else sum(self.sizes)

    def value_names(self) -> tuple[str, ...]:
        if self.as_class:
            return tuple(f"{self.columns[0]}={i}" for i in range(self.sizes[0]))
        return tuple(f"{c}={i}" for c, n in zip(self.columns, self.sizes) for i in range(n))

    def encode_rows(self, columns: torch.Tensor) -> torch.Tensor:
        """Dataset label columns ``(N, F)`` to the network's labels: ``(N,)`` long or ``(N, width)`` float."""
        picked = columns[:, list(self.indices)].round().long()
        if self.as_class:
            return picked[:, 0]
        blocks = [torch.nn.functional.one_hot(picked[:, j].clamp(0, n - 1), n).float() for j, n in enumerate(self.sizes)]
        return torch.cat(blocks, dim=1)

    def encode(self, values: dict[str, int]) -> torch.Tensor:
        """One concept's values to a context value: a scalar label, or a ``(1, width)`` row (others unobserved)."""
        for column, value in values.items():
            if column not in self.columns:
                raise ValueError(f"no label column {column!r} here; the columns are: {', '.join(self.columns)}")
            size = self.sizes[self.columns.index(column)]
            if not 0 <= int(value) < size:
                raise ValueError(f"{column} = {value}: expected a value in 0..{size - 1}")
        if self.as_class:
            missing = [c for c in self.columns if c not in values]
            if missing:
                raise ValueError(f"the energy is conditioned on {missing[0]} as a class label: give {missing[0]} a value")
            return torch.tensor(int(values[self.columns[0]]))
        row = torch.zeros(1, self.width)
        offset = 0
        for column, size in zip(self.columns, self.sizes):
            if column in values:
                row[0, offset + int(values[column])] = 1.0
            offset += size
        return row

    def drop(self, labels: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
        """Hide each column of each row with probability ``p`` (its block becomes zeros: unobserved)."""
        if p <= 0 or self.as_class:
            return labels
        hidden = torch.rand((labels.shape[0], len(self.sizes)), generator=generator) < p
        mask = torch.repeat_interleave(hidden, torch.tensor(self.sizes), dim=1).to(labels.device)
        return labels.masked_fill(mask, 0.0)

    def view(self, data: TensorData) -> TensorData:
        """``data`` with its labels coded this way (the dataset a named energy trains on)."""
        _, train = label_columns(data, "train")
        _, test = label_columns(data, "test")
        return attrs.evolve(data, train_labels=self.encode_rows(train), test_labels=self.encode_rows(test),
                            num_classes=self.width, class_names=self.value_names())


def concept_truth(values: dict[str, int], predicted: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per sample, whether every column of a concept has its value in ``predicted`` (column -> values)."""
    truth: Any = None
    for column, value in values.items():
        hit = predicted[column] == int(value)
        truth = hit if truth is None else truth & hit
    if truth is None:
        raise ValueError("a concept without values cannot be judged")
    return truth


class TermSum(Energy):
    """Named energies trained together: ``E(x, y) = sum_t E_t(x, y_t)``, each term on its own columns.

    ``y`` is coded by ``coding`` (one-hot blocks over every term's columns). Each term receives its
    columns in its own coding; a term whose columns are all unobserved (zero blocks) in a row drops
    out of that row's sum. ``terms`` holds the term networks (``self.terms[i]``), whose weights are
    the named energies' weights.
    """

    context_keys = ("y",)

    def __init__(self, names: tuple[str, ...], nets: list[Energy], codings: list[LabelCoding], coding: LabelCoding):
        super().__init__()
        self.names = tuple(names)
        self.terms = torch.nn.ModuleList(nets)
        self.codings = tuple(codings)
        starts = dict(zip(coding.columns, itertools.accumulate((0, *coding.sizes))))
        self._slices = [[slice(starts[c], starts[c] + n) for c, n in zip(t.columns, t.sizes)] for t in codings]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for net, term, slices in zip(self.terms, self.codings, self._slices):
            blocks = [y[:, s] for s in slices]
            observed = torch.stack([b.abs().sum(1) > 0 for b in blocks]).any(0)
            labels = blocks[0].argmax(1) if term.as_class else torch.cat(blocks, dim=1)
            total = total + torch.where(observed, net(x, y=labels), torch.zeros_like(total))
        return total

    def formula(self) -> str:
        return " + ".join(self.names)
