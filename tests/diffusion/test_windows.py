"""Noise windows and conditioning schedules shared by both processes (used by validation and the U-Net)."""

import pytest
import torch

from rhm_memo.diffusion import MaskedDiffusion, UniformDiffusion


@pytest.mark.parametrize("T", [10, 200, 37])
def test_uniform_windows_partition_the_steps(T):
    """Uniform: the k windows tile 1..T exactly; every draw of window w lies inside it."""
    proc = UniformDiffusion(4, num_steps=T)
    k = 10 if T >= 10 else T
    seen = []
    for w in range(k):
        t = proc.window_time(2000, w, k, torch.Generator().manual_seed(w))
        lo, hi = w * T // k + 1, (w + 1) * T // k
        assert t.dtype == torch.int64 and int(t.min()) >= lo and int(t.max()) <= hi
        assert set(t.tolist()) == set(range(lo, hi + 1))  # 2000 draws cover a window of <= 20 steps
        seen += list(range(lo, hi + 1))
    assert sorted(seen) == list(range(1, T + 1))


def test_masked_windows_cover_their_interval():
    """Masked: window w draws floats in (w/k, (w+1)/k]."""
    proc = MaskedDiffusion(4)
    for w in range(10):
        t = proc.window_time(5000, w, 10, torch.Generator().manual_seed(w))
        assert t.dtype == torch.float64
        assert float(t.min()) > w / 10 and float(t.max()) <= (w + 1) / 10 + 1e-12
        assert float(t.max() - t.min()) > 0.09  # spread over the whole window


@pytest.mark.parametrize(("window", "num"), [(-1, 10), (10, 10), (0, 0)])
def test_bad_windows_raise(window, num):
    """Window indices outside 0..k-1, or k < 1, are ValueErrors."""
    with pytest.raises(ValueError):
        UniformDiffusion(4, num_steps=20).window_time(3, window, num)
    with pytest.raises(ValueError):
        MaskedDiffusion(4).window_time(3, window, num)


def test_more_windows_than_steps_raise():
    """Uniform diffusion cannot split T steps into more than T windows."""
    with pytest.raises(ValueError, match="num_windows"):
        UniformDiffusion(4, num_steps=5).window_time(3, 0, 6)


def test_cond_schedules():
    """cond_schedule = conditioning on the time grid: from 1 at t=0, decreasing, to the noise floor."""
    u = UniformDiffusion(5, num_steps=50)
    cu = u.cond_schedule()
    assert cu.shape == (51,) and float(cu[0]) == 1.0 and bool((cu[1:] < cu[:-1]).all())
    torch.testing.assert_close(cu, u.conditioning(torch.arange(51)))
    m = MaskedDiffusion(5, num_steps=40, eps=1e-3)
    cm = m.cond_schedule()
    assert cm.shape == (41,) and float(cm[0]) == 1.0 and abs(float(cm[-1]) - 1e-3) < 1e-6
