"""Integer options (--tp, --block-size, --q-tokens, --zero, --reps, ...) take ASCII digits only.

click's int type calls Python's int(), which also reads "1_0" as 10 and other scripts' digits ("８" full-width,
"٣" Arabic-Indic) as numbers: `mlacalc kv deepseek-v3 --tp ８` ran at TP=8. mlacalc.units.parse_count refuses
those for counts; the integer options now do too (mlacalc.cli._strict_ints): one line, exit 2."""

import pytest

from helpers import refused, run

BAD = ["1_0", "８", "٣", "1e1", "0x8", "8.0", ""]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize("args", [
    ("kv", "deepseek-v3", "--tp"),
    ("kv", "deepseek-v3", "--block-size"),
    ("weights", "deepseek-v3", "--pp"),
    ("roofline", "deepseek-v3", "--q-tokens"),
    ("fit", "deepseek-v3", "--block-size"),
    ("train", "llama-2-7b", "--zero"),
    ("profile", "deepseek-v3", "--reps"),
])
def test_integer_options_refuse_anything_but_ascii_digits(capsys, args, value):
    refused(capsys, *args, value, words=f"{args[-1]}': {value!r} is not a whole number in ASCII digits")


@pytest.mark.parametrize("value, tp", [("8", 8), ("+8", 8), ("008", 8)])
def test_integer_options_still_take_plain_numbers(capsys, value, tp):
    code, out, err, _ = run(capsys, "kv", "deepseek-v3", "--tp", value, "--json")
    assert code == 0, err
    assert f'"tp": {tp}' in out
