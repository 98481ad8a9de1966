"""Hypothesis strategies the test packages share."""

from __future__ import annotations

from hypothesis import strategies as st


def any_json(*, text_size: int, key_size: int, max_leaves: int) -> st.SearchStrategy[object]:
    """Any JSON value ``json.loads`` could give (NaN and infinities too), nested lists and objects."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=text_size),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.text(max_size=key_size), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )
