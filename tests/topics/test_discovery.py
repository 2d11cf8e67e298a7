"""The discovery algorithm on its own (topics/discovery.py): no database."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from bench.topics_data import TOPICS, questions
from topics.discovery import Params, discover, match_communities


def _run(qs, seed=0):
    return discover([q.text for q in qs], [q.chunks for q in qs], params=Params(seed=seed))


def test_the_same_questions_and_seed_give_the_same_topics():
    qs = questions(15)
    first, second = _run(qs, seed=3), _run(qs, seed=3)
    assert np.array_equal(first.labels, second.labels)
    assert np.array_equal(first.scores, second.scores)
    assert [c.terms for c in first.communities] == [c.terms for c in second.communities]


def test_discovered_topics_match_the_known_topics():
    qs = questions(30)
    result = _run(qs)
    assert adjusted_rand_score([q.topic for q in qs], result.labels) >= 0.8
    assert 20 <= len(result.communities) <= 28


def test_labels_are_the_members_distinctive_words_not_the_shared_filler():
    qs = questions(30)
    result = _run(qs)
    filler = {"hi", "hello", "team", "quick", "question", "urgent", "thanks", "account", "help"}
    for community in result.communities:
        members = [qs[i] for i in community.members]
        words = {w for q in members for w in q.text.lower().replace(",", " ").split()}
        assert community.terms and set(community.terms) <= words
        assert not set(community.terms) & filler
        majority = np.bincount([q.topic for q in members]).argmax()
        vocabulary = set(TOPICS[list(TOPICS)[majority]])
        assert len(set(community.terms[:3]) & vocabulary) >= 2, community.terms


def test_questions_sharing_passages_group_even_when_worded_differently():
    texts = [f"unrelated words number {w}" for w in ("alpha", "beta", "gamma", "delta")] * 3
    contexts = [("a1", "a2", "a3")] * 6 + [("b1", "b2", "b3")] * 6
    result = discover(texts, contexts, params=Params(min_size=3, passage_weight=0.8))
    assert len(set(result.labels[:6])) == 1 and len(set(result.labels[6:])) == 1
    assert result.labels[0] != result.labels[6]


def test_tiny_communities_go_to_other():
    qs = questions(10)
    texts = [q.text for q in qs] + ["zebra xylophone quasar"] * 2
    contexts = [q.chunks for q in qs] + [("z1",)] * 2
    result = discover(texts, contexts, params=Params(min_size=5))
    assert (result.labels[-2:] == -1).all()
    assert (result.scores[-2:] == 0).all()


def test_an_empty_or_single_question_input_finds_nothing():
    assert len(discover([], []).communities) == 0
    assert discover(["only one"], [()]).labels.tolist() == [-1]


def test_a_community_keeps_its_topic_when_most_members_persist():
    previous = {"billing": {1, 2, 3, 4}, "shipping": {5, 6, 7, 8}}
    current = [{5, 6, 7, 20, 21}, {1, 2, 3, 4, 9}, {30, 31}]
    assert match_communities(previous, current) == {0: "shipping", 1: "billing"}


def test_a_community_that_barely_overlaps_gets_a_new_topic():
    previous = {"billing": {1, 2, 3, 4, 5, 6}}
    assert match_communities(previous, [{1, 2, 40, 41}]) == {}
