"""Objective tests run in float64, so closed forms can be checked tightly."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _double():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
