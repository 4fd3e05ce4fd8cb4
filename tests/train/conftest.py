"""Fixtures shared by the training tests."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small tensors: one thread is as fast, and two OpenMP threads on a busy
    2-core machine stall each other for seconds."""
    try:
        import torch
    except ImportError:  # modules that need torch skip themselves
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
