"""The statistics on the results page, with numpy only (no scipy needed for these two).

- `bootstrap_ci`: the percentile bootstrap of the mean (resampling answers with replacement,
  a fixed seed so a page shows the same interval every time). With n answers it needs no
  assumption about the scores' distribution, which is far from normal for 0/1-ish checks.
- `sign_test`: the exact two-sided binomial sign test on wins vs losses (ties dropped), the
  classic paired test for "is B better than A on the same questions" without assuming sizes.
"""

from __future__ import annotations

from math import comb

RESAMPLES = 2000


def bootstrap_ci(
    values, *, level: float = 0.95, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float, float] | None:
    """(mean, low, high) of the mean, or None without values."""
    # numpy when a results page asks for an interval, not with the URLconf: the web
    # worker imports this module through experiments.views (~9 MB it otherwise never uses).
    import numpy as np

    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return None
    mean = float(data.mean())
    if data.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    # resample in blocks so 10k answers × 2,000 resamples stays within a few MB
    means = np.empty(resamples)
    block = max(1, 2_000_000 // data.size)
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        picks = rng.integers(0, data.size, size=(stop - start, data.size))
        means[start:stop] = data[picks].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return mean, float(low), float(high)


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact p-value that wins and losses are equally likely (ties excluded)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
