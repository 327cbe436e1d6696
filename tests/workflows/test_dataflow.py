"""The randomness a state draws: seeded from the attempt's seed, on first draw only."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from modelyard.workflows.dataflow import SeededOnFirstDraw

DRAWS = st.lists(
    st.one_of(
        st.tuples(st.just("random")),
        st.tuples(st.just("bits"), st.integers(1, 256)),
        st.tuples(st.just("range"), st.integers(-1000, 0), st.integers(1, 10**12)),
        st.tuples(st.just("uniform"), st.floats(0, 10), st.floats(10, 20)),
        st.tuples(st.just("choice"), st.lists(st.integers(), min_size=1)),
    ),
    max_size=20,
)


def draw(generator: random.Random, how: tuple[object, ...]) -> object:
    match how:
        case ("random",):
            return generator.random()
        case ("bits", int(k)):
            return generator.getrandbits(k)
        case ("range", int(low), int(high)):
            return generator.randrange(low, high)
        case ("uniform", float(low), float(high)):
            return generator.uniform(low, high)
        case ("choice", list(values)):
            return generator.choice(values)
    raise AssertionError(how)


@given(seed=st.text(), draws=DRAWS)
def test_it_draws_exactly_what_a_generator_seeded_at_once_draws(
    seed: str, draws: list[tuple[object, ...]]
) -> None:
    """Replays depend on it: the same seed gives the same values, whatever is drawn."""
    later, now = SeededOnFirstDraw(seed), random.Random(seed)

    assert [draw(later, how) for how in draws] == [draw(now, how) for how in draws]


def test_seeding_it_again_by_hand_works_as_for_any_generator() -> None:
    generator = SeededOnFirstDraw("first")
    generator.seed("second")

    assert generator.random() == random.Random("second").random()
