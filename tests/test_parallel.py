"""One parallelism type: the same rules for every calculator, and every command refuses the same values the same way."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.cli import main
from mlacalc.errors import ArgError
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec


def run(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


# (flags, model, what the one-line error names) for layouts no command may accept
INVALID = [
    (["--pp", "100"], "deepseek-v3", "--pp: 100 stages exceed the 61 layers"),
    (["--tp", "3"], "deepseek-v3", "--tp: 3 ranks cannot split 128 query heads"),
    (["--tp", "256"], "deepseek-v3", "--tp: 256 ranks cannot split 128 query heads"),
    (["--tp", "64"], "llama-3.1-8b", "--tp: 64 ranks cannot split 32 query heads"),
    (["--tp", "16", "--ep", "7"], "deepseek-v3", "--ep: expert-parallel ranks (7) must divide tp x dp"),
    (["--tp", "8", "--ep", "8"], "llama-3.1-8b", "--ep: expert parallelism needs an MoE model"),
    (["--sp"], "llama-3.1-8b", "--sp: sequence parallelism splits tokens over the TP ranks"),
    (["--dp-attention"], "deepseek-v3", "--dp-attention: data-parallel attention splits sequences"),
    (["--tp", "0"], "llama-3.1-8b", "--tp: must be a whole number from 1"),
]
COMMANDS = [["kv"], ["weights"], ["roofline"], ["fit"], ["train"]]


@pytest.mark.parametrize("flags,model,message", INVALID)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_every_command_refuses_the_same_layout_with_the_same_line(capsys, command, flags, model, message):
    code, out, err = run(capsys, *command, model, *flags)
    assert code == 2 and out == ""
    assert err.startswith("error: " + message) and err.count("\n") == 1, err


def test_inference_commands_refuse_degrees_they_do_not_model(capsys):
    for command in (["roofline"], ["fit"]):
        code, _, err = run(capsys, *command, "llama-3.1-8b", "--pp", "2")
        assert code == 2 and "does not model it" in err


def test_kv_weights_and_train_accept_pipeline_stages(capsys):
    for command in (["kv"], ["weights"], ["train"]):
        code, _, _ = run(capsys, *command, "deepseek-v3", "--pp", "61", "--json")
        assert code == 0


def test_kv_heads_split_or_replicate_by_the_stated_rule():
    p = Parallelism(tp=8)
    assert p.kv_share(8) == 1 / 8           # one head per rank
    assert p.kv_share(2) == 1 / 2           # 2 heads over 8 ranks: each rank keeps one, 4 copies of each
    assert p.kv_share(16) == 2 / 16
    assert p.kv_share(None) == 1.0          # an MLA latent: every rank holds all of it
    with pytest.raises(ArgError, match="cannot share 12 KV heads"):
        p.kv_share(12)
    assert Parallelism(tp=8, dp_attention=True).kv_share(8) == 1.0


def test_stage_ranges_cover_every_layer_once():
    assert [len(r) for r in Parallelism(pp=4).stage_ranges(61)] == [16, 16, 16, 13]


@settings(max_examples=60, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.integers(1, 61), dp=st.sampled_from([1, 2, 8]))
def test_stages_partition_the_layers_and_experts_divide(tp, pp, dp):
    p = Parallelism(tp=tp, pp=pp, dp=dp, ep=tp * dp if 256 % (tp * dp) == 0 else 1)
    p.check(load_spec("deepseek-v3"))
    layers = [i for r in p.stage_ranges(61) for i in r]
    assert layers == list(range(61))


def test_bools_and_non_integers_are_refused():
    for bad in (True, 1.5, "2", 0, -1, 2**21):
        with pytest.raises(ArgError):
            Parallelism(tp=bad)
