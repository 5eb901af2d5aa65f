"""Fixtures shared by the training tests."""

from functools import partial

import pytest
import torch
import torch._dynamo


@pytest.fixture
def eager_compile(monkeypatch):
    """torch.compile with Dynamo's "eager" backend (traces, no Inductor code generation: a real compile of even a
    tiny backbone takes over 20 s on CPU); Dynamo's caches are reset before and after."""
    torch._dynamo.reset()
    monkeypatch.setattr(torch, "compile", partial(torch.compile, backend="eager"))
    yield
    torch._dynamo.reset()
