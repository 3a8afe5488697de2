"""The judge of compositions: a conditional energy network used as a classifier of label columns.

Trained by cross-entropy over the values of each column, ``logits = -E(x, column = value)`` with
the other columns unobserved; a sample satisfies a concept when the judge gives every column of
the concept its value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from energyflow.compose.concepts import LabelCoding, concept_truth, label_columns
from energyflow.core.energy import Energy
from energyflow.errors import RunError


class Judge:
    """A conditional energy network used as a classifier of label columns (``-E`` are the logits)."""

    def __init__(self, net: Energy, coding: LabelCoding):
        self.net = net
        self.coding = coding
        self.queries = [[coding.encode({column: value}) for value in range(size)]
                        for column, size in zip(coding.columns, coding.sizes)]
        self._all = torch.cat([q for column in self.queries for q in column])  # (Q, width)

    def logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per column, ``-E(x, column = value)`` for every value: ``(batch, values)``."""
        batch, queries = x.shape[0], self._all.to(x.device)
        xs = x.repeat_interleave(queries.shape[0], dim=0)
        ys = queries.repeat(batch, 1)
        scores = -self.net(xs, y=ys).reshape(batch, queries.shape[0])
        return list(scores.split(list(self.coding.sizes), dim=1))

    def fit(self, data: Any, spec: Any, generator: torch.Generator, phase: Any) -> None:
        """Cross-entropy over each column's values, Adam, ``spec.iterations`` steps of ``spec.batch_size``."""
        device = next(self.net.parameters()).device
        _, columns = label_columns(data)
        targets = columns[:, list(self.coding.indices)].round().long()
        optimizer = torch.optim.Adam(self.net.parameters(), lr=spec.lr)
        with phase("train classifier", spec.iterations) as advance:
            for _ in range(spec.iterations):
                idx = torch.randint(data.train.shape[0], (spec.batch_size,), generator=generator)
                logits = self.logits(data.train[idx].to(device))
                target = targets[idx].to(device)
                loss = sum(F.cross_entropy(lg, target[:, j]) for j, lg in enumerate(logits))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                advance(1)
        self.net.requires_grad_(False).eval()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 256) -> dict[str, torch.Tensor]:
        """Column -> predicted value per sample (CPU)."""
        device = next(self.net.parameters()).device
        parts: list[list[torch.Tensor]] = [[] for _ in self.coding.columns]
        for chunk in x.split(batch_size):
            for j, lg in enumerate(self.logits(chunk.to(device))):
                parts[j].append(lg.argmax(1).cpu())
        return {c: torch.cat(p) if p else torch.zeros(0, dtype=torch.long) for c, p in zip(self.coding.columns, parts)}

    def accuracy(self, data: Any, limit: int = 1000) -> dict[str, float]:
        """Per column, the share of test images classified right (at most ``limit``)."""
        if data.test_labels is None or data.test.shape[0] == 0:
            return {}
        _, columns = label_columns(data, "test")
        predicted = self.predict(data.test[:limit])
        return {c: float((predicted[c] == columns[:limit, i].round().long()).float().mean())
                for c, i in zip(self.coding.columns, self.coding.indices)}

    def satisfied(self, values: dict[str, int], predicted: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per sample, whether the classifier gives every column of a concept its value."""
        missing = [c for c in values if c not in predicted]
        if missing:
            raise RunError(f"the classifier does not classify {missing[0]!r}; add it to classifier.labels")
        return concept_truth(values, predicted)

    def state_dict(self) -> dict[str, Any]:
        """The network's weights and the columns (with their numbers of values) it classifies."""
        return {"net": self.net.state_dict(), "columns": list(self.coding.columns), "sizes": list(self.coding.sizes)}

    def load_state_dict(self, state: dict[str, Any], path: Path) -> None:
        """Load a `state_dict` read from ``path`` (named in errors); it must classify the same columns."""
        mine = (list(self.coding.columns), list(self.coding.sizes))
        theirs = (state.get("columns"), state.get("sizes"))
        if theirs != mine:
            raise RunError(f"classifier {path} classifies {theirs[0]} with {theirs[1]} values, but this recipe needs "
                           f"{mine[0]} with {mine[1]}; set classifier.labels or train a new one")
        try:
            self.net.load_state_dict(state["net"])
        except (KeyError, RuntimeError) as e:
            raise RunError(f"classifier {path} does not fit classifier.net: {' '.join(str(e).split())[:200]}") from e
        self.net.requires_grad_(False).eval()
