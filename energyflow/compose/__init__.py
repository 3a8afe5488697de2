"""Composition: concept expressions parsed into energies, label coding for named energies, the judge.

``ef.compose.parse("young & female & ~smiling", concepts)`` builds exactly the energy the
operators build. A recipe's named energies are conditioned on some of the dataset's label
columns (`LabelCoding`); concepts bind them to column values; the `Judge` (a classifier of
label columns) tells whether a sample satisfies an expression.
"""

from energyflow.compose.concepts import (
    ClassifierSpec,
    ConceptSpec,
    LabelCoding,
    NamedEnergySpec,
    TermSum,
    check_concept_name,
    column_sizes,
    concept_truth,
    label_columns,
)
from energyflow.compose.expressions import (
    And,
    Concept,
    Expr,
    Not,
    Or,
    Weighted,
    conjuncts,
    evaluate,
    names,
    parse,
    parse_tree,
)
from energyflow.compose.judge import Judge
from energyflow.errors import CompositionError

__all__ = [
    "And", "ClassifierSpec", "CompositionError", "Concept", "ConceptSpec", "Expr", "Judge", "LabelCoding",
    "NamedEnergySpec", "Not", "Or", "TermSum", "Weighted", "check_concept_name", "column_sizes", "concept_truth",
    "conjuncts", "evaluate", "label_columns", "names", "parse", "parse_tree",
]
