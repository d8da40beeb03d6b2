"""The publisher's subscription index (sans-IO unit tests)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from securemq.patterns.pubsub import FEW_TOPICS, SubscriptionIndex


def brute(subs: dict[bytes, set[str]], data: bytes) -> set[str]:
    return {who for topic, holders in subs.items() if data.startswith(topic) for who in holders}


def test_prefix_matching_and_empty_topic() -> None:
    idx = SubscriptionIndex()
    idx.add(b"ab", "p1")
    idx.add(b"", "p2")
    idx.add(b"abc", "p3")
    assert set(idx.match(b"abcd")) == {"p1", "p2", "p3"}
    assert set(idx.match(b"ab")) == {"p1", "p2"}
    assert set(idx.match(b"x")) == {"p2"}
    assert idx.matches(b"zzz")


def test_publisher_view_is_a_set_per_peer() -> None:
    idx = SubscriptionIndex()
    assert idx.add(b"a", "p") is True
    assert idx.add(b"a", "p") is False  # the same peer again: nothing new
    assert idx.remove(b"a", "p") is True  # one cancel removes it (libzmq's mtrie)
    assert list(idx.match(b"a")) == []


def test_subscriber_view_is_counted() -> None:
    idx = SubscriptionIndex(counted=True)
    idx.add(b"a", None)
    idx.add(b"a", None)
    assert idx.remove(b"a", None) is False
    assert idx.matches(b"abc")
    assert idx.remove(b"a", None) is True
    assert not idx.matches(b"abc")


def test_remove_all_reports_topics_nobody_holds() -> None:
    idx = SubscriptionIndex()
    idx.add(b"a", "p1")
    idx.add(b"a", "p2")
    idx.add(b"b", "p1")
    assert idx.remove_all("p1") == [b"b"]
    assert set(idx.match(b"a")) == {"p2"}


def test_huge_topic_and_many_topics_stay_cheap() -> None:
    # SECURITY-TESTS row 28: a 1 MiB topic is one entry; 100,000 topics are fine.
    idx = SubscriptionIndex()
    big = b"t" * (1 << 20)
    idx.add(big, "p")
    assert set(idx.match(big + b"!")) == {"p"}
    assert idx.remove(big, "p")
    for i in range(100_000):
        idx.add(b"topic-%d" % i, "p")
    assert set(idx.match(b"topic-99999/x")) == {"p"}
    assert len(idx) == 100_000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=4), st.sampled_from("abc"))),
       st.binary(max_size=8))
def test_matches_a_brute_force_model(ops: list[tuple[bool, bytes, str]], data: bytes) -> None:
    idx = SubscriptionIndex()
    model: dict[bytes, set[str]] = {}
    for add, topic, who in ops:
        if add:
            idx.add(topic, who)
            model.setdefault(topic, set()).add(who)
        else:
            idx.remove(topic, who)
            if topic in model:
                model[topic].discard(who)
                if not model[topic]:
                    del model[topic]
    assert set(idx.match(data)) == brute(model, data)
    assert idx.matches(data) == bool(brute(model, data))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=3)), max_size=60),
       st.binary(max_size=6))
def test_prefix_tuple_agrees_with_the_index(ops: list[tuple[bool, bytes]], data: bytes) -> None:
    """The SUB's shortcut (``startswith`` over ``prefixes``) answers as ``matches`` does,
    below and above FEW_TOPICS, after removals too."""
    idx = SubscriptionIndex(counted=True)
    for add, topic in ops:
        if add:
            idx.add(topic, None)
        else:
            idx.remove(topic, None)
        prefixes = idx.prefixes
        if len(idx) <= FEW_TOPICS:
            assert prefixes is not None and set(prefixes) == set(idx.subs)
            assert data.startswith(prefixes) == idx.matches(data)
        else:
            assert prefixes is None
