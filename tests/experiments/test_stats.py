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


def test_two_answers_are_compared_on_the_criteria_both_were_scored_on():
    """A grounded answer has a groundedness score an ungrounded one cannot have: the question
    by question comparison leaves it out, so equal knowledge-base support is a tie, not a
    loss for the ungrounded arm (its overall quality means differ: 0.75 against 0.5)."""
    from types import SimpleNamespace

    from experiments.selectors import Answer, _pairwise, compared_quality

    def answer(arm, **scores):
        return Answer("q1", "Q?", ("t",), arm, f"t{arm}", "ok", scores)

    grounded = answer(0, groundedness=1.0, kb_support=0.5, refusal=0.0)
    bare = answer(1, kb_support=0.5, refusal=0.0)
    assert (grounded.quality, bare.quality) == (0.75, 0.5)
    assert compared_quality(grounded, bare) == (0.5, 0.5)
    assert compared_quality(grounded, answer(1, refusal=1.0)) is None  # nothing in common

    pair = _pairwise(
        {"position": 1},
        0,
        {("q1", 0): grounded, ("q1", 1): bare},
        SimpleNamespace(question_ids=["q1"]),
    )
    assert (pair["wins"], pair["ties"], pair["losses"]) == (0, 1, 0)
