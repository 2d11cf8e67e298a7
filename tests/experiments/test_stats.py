from experiments import stats


def test_bootstrap_interval_brackets_the_mean_on_known_data():
    values = [0.0, 1.0] * 200  # mean 0.5, standard error 0.025
    mean, low, high = stats.bootstrap_ci(values)
    assert mean == 0.5
    assert 0.44 < low < 0.47 and 0.53 < high < 0.56  # ≈ mean ± 1.96 × 0.025
    assert stats.bootstrap_ci(values) == (mean, low, high)  # a fixed seed: same page, same numbers
    assert stats.bootstrap_ci([]) is None
    assert stats.bootstrap_ci([0.7]) == (0.7, 0.7, 0.7)


def test_sign_test_matches_the_exact_binomial():
    assert round(stats.sign_test(9, 1), 5) == round(2 * 11 / 1024, 5)
    assert stats.sign_test(5, 5) == 1.0
    assert stats.sign_test(0, 0) == 1.0
    assert stats.sign_test(20, 0) < 1e-5
