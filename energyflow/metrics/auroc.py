"""Area under the ROC curve from two sets of scores (Mann-Whitney U statistic)."""

from __future__ import annotations

from typing import Any

import torch


def _scores(name: str, values: Any) -> torch.Tensor:
    scores = torch.as_tensor(values).detach().reshape(-1).to("cpu", torch.float64)
    if scores.numel() == 0:
        raise ValueError(f"auroc: {name} is empty")
    if torch.isnan(scores).any():
        raise ValueError(f"auroc: {name} contains NaN")
    return scores


def auroc(scores_pos: Any, scores_neg: Any) -> float:
    """P(score of a positive > score of a negative), ties counting one half.

    Higher scores mean "more positive" (e.g. pass energies of out-of-distribution inputs as
    positives). Rank-based, so any monotone transform of the scores gives the same value.

    Args:
        scores_pos: scores of the positive examples (any shape; flattened).
        scores_neg: scores of the negative examples.

    Returns:
        The AUROC in ``[0, 1]``: 1 when every positive outscores every negative, 0.5 for
        identical score sets.
    """
    pos, neg = _scores("scores_pos", scores_pos), _scores("scores_neg", scores_neg)
    _, inverse, counts = torch.unique(torch.cat([pos, neg]), return_inverse=True, return_counts=True)
    # Tied values share the mean of the 1-based ranks they occupy.
    mean_rank = counts.cumsum(0).double() - (counts.double() - 1) / 2
    rank_sum = mean_rank[inverse[: pos.numel()]].sum().item()
    n_pos, n_neg = pos.numel(), neg.numel()
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
