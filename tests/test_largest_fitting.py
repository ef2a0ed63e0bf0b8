"""mlacalc.units.largest_fitting: the binary search fit's max_context and vLLM's hybrid pages share."""

from hypothesis import given, strategies as st

from mlacalc.units import largest_fitting


def test_largest_fitting_by_hand():
    # 7 bytes a token against 100 bytes: 14 tokens (98 B) fit, 15 (105 B) do not
    assert largest_fitting(lambda n: 7 * n <= 100, 1000) == 14
    assert largest_fitting(lambda n: 7 * n <= 100, 10) == 10          # the limit itself fits
    assert largest_fitting(lambda n: 7 * n <= 6, 1000) == 0           # not even one
    assert largest_fitting(lambda n: True, 1) == 1


@given(st.integers(1, 10**6), st.integers(0, 10**7), st.integers(1, 10**7))
def test_largest_fitting_is_the_threshold(cost, budget, limit):
    calls = []

    def fits(n):
        calls.append(n)
        return n * cost <= budget

    got = largest_fitting(fits, limit)
    assert got == min(limit, budget // cost)
    assert len(calls) <= limit.bit_length() + 3                       # a binary search, not a scan
