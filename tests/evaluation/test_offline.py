"""Each built-in offline check on hand-made cases with known answers."""

from evaluation.offline import (
    Passage,
    TurnInput,
    citation_validity,
    context_relevance,
    evaluate,
    groundedness,
    refusal,
)

PASSAGES = (
    Passage(
        1,
        "Every paid instance takes a daily snapshot that is kept for seven days. "
        "Restoring cannot be undone.",
        "Backups",
    ),
    Passage(
        2, "Invoices are issued on the first day of each month. You can pay by card.", "Pricing"
    ),
)


def _turn(answer, question="How long are snapshots kept?", passages=PASSAGES):
    return TurnInput(question, answer, passages)


def test_a_sentence_copied_from_a_passage_is_grounded_and_names_its_passage():
    result = groundedness(
        _turn("Every paid instance takes a daily snapshot that is kept for seven days.")
    )
    assert result.value == 1.0
    assert result.details["sentences"][0]["passage"] == 1


def test_a_changed_number_is_not_grounded():
    result = groundedness(
        _turn("Every paid instance takes a daily snapshot that is kept for nine days.")
    )
    assert result.value < 0.7 and not result.details["sentences"][0]["supported"]


def test_a_changed_unit_is_not_grounded():
    result = groundedness(
        _turn("Every paid instance takes a daily snapshot that is kept for seven weeks.")
    )
    assert result.value < 0.7


def test_a_flipped_negation_is_not_grounded():
    assert groundedness(_turn("Restoring can be undone.")).value < 0.7
    assert groundedness(_turn("Restoring cannot be undone.")).value == 1.0


def test_a_name_the_passages_never_mention_is_not_grounded():
    result = groundedness(_turn("Every paid Kubernetes instance takes a daily snapshot."))
    assert result.value < 0.7


def test_groundedness_is_the_share_of_supported_sentences():
    answer = "Restoring cannot be undone. The moon is made of green cheese and blue paint."
    result = groundedness(_turn(answer))
    assert [s["supported"] for s in result.details["sentences"]] == [True, False]
    assert 0.4 <= result.value <= 0.6


def test_an_answer_given_no_passages_gets_no_groundedness_score():
    # nothing to be grounded in: not applicable, rather than 0 for every ungrounded answer
    assert groundedness(_turn("Restoring cannot be undone.", passages=())) is None
    assert evaluate(_turn("Restoring cannot be undone.", passages=()), ["groundedness"]) == []


def test_citations_must_name_a_given_passage_that_supports_the_sentence():
    good = citation_validity(_turn("Restoring cannot be undone [1]. You can pay by card [2]."))
    assert good.value == 1.0
    wrong_passage = citation_validity(_turn("Restoring cannot be undone [2]."))
    assert wrong_passage.value == 0.0 and "[2]" in wrong_passage.reason
    missing = citation_validity(_turn("Restoring cannot be undone [7]."))
    assert missing.value == 0.0 and missing.details["checks"][0]["why"] == "no such passage"


def test_an_answer_without_citations_gets_no_citation_score():
    assert citation_validity(_turn("Restoring cannot be undone.")) is None


def test_context_relevance_is_the_share_of_passages_about_the_question():
    result = context_relevance(_turn("x", question="How long is a daily snapshot kept?"))
    assert result.value == 0.5
    assert [p["relevant"] for p in result.details["passages"]] == [True, False]


def test_i_dont_know_is_a_refusal_and_not_scored_wrong():
    turn = _turn("I don't know; the documents do not say.")
    assert refusal(turn).value == 1.0
    assert groundedness(turn) is None and citation_validity(turn) is None
    names = {r.criterion for r in evaluate(turn)}
    assert names == {"refusal", "context_relevance"}


def test_the_offline_model_refusal_is_recognised():
    turn = _turn(
        "The knowledge base does not seem to cover this. The closest passage I found is "
        "from *Backups* [1], but it does not answer the question."
    )
    assert refusal(turn).value == 1.0


def test_an_ordinary_answer_is_not_a_refusal():
    assert refusal(_turn("Snapshots are kept for seven days [1].")).value == 0.0


# kb_support: the answer against the knowledge base's passages, grounded or not
def test_kb_support_scores_an_answer_by_what_the_knowledge_base_says():
    from evaluation.offline import kb_support

    question = "How long are daily snapshots kept?"
    right = TurnInput(question, "A daily snapshot is kept for seven days.")  # given no passages
    wrong = TurnInput(question, "A daily snapshot is kept for nine days.")
    assert kb_support(right, PASSAGES).value == 1.0
    assert kb_support(wrong, PASSAGES).value < 0.5
    assert kb_support(right, PASSAGES).details["knowledge"][0] == {"rank": 1, "title": "Backups"}


def test_kb_support_counts_a_refusal_wrong_only_when_the_knowledge_base_has_the_answer():
    from evaluation.offline import kb_support

    declined = kb_support(_turn("I don't know."), PASSAGES)
    assert declined.value == 0.0 and "Backups" in declined.reason
    # nothing in the knowledge base is about the question: it cannot say, so no score at all
    assert kb_support(_turn("I don't know.", question="Which GPU types exist?"), PASSAGES) is None
    assert kb_support(_turn("A fact.", question="Which GPU types exist?"), PASSAGES) is None
    assert kb_support(_turn("Seven days."), ()) is None  # an empty knowledge base
