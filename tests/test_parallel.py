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
    # stages of ceil(L / pp) layers that run out of layers first (review 2): 32 layers at pp 31 are 16 runs of
    # ceil(32 / 31) = 2, 15 stages empty; at pp 12, 11 runs of ceil(32 / 12) = 3 (10 x 3 + 2), one stage empty
    (["--pp", "31"], "llama-3.1-8b", "--pp: 31 stages leave 15 without layers: llama-3.1-8b's 32 layers in runs of "
                                     "ceil(32 / 31) = 2 fill 16; give a pp whose runs fill every stage, such as 16 or "
                                     "32 (the divisors of 32: 1, 2, 4, 8, 16, 32)"),
    (["--pp", "12"], "llama-3.1-8b", "--pp: 12 stages leave 1 without layers"),
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


def test_a_pp_whose_runs_fill_every_stage_is_accepted_and_the_nearest_are_suggested(capsys):
    """Llama-3.1-70B's 80 layers at pp 3 are runs of ceil(80 / 3) = 27: 27, 27, 26, every stage filled (not a
    divisor, still valid). Llama-3.1-8B's 32 layers: pp 11 is runs of 3 (10 x 3 + 2, 11 stages), pp 12 the same 11
    runs, pp 13-15 too (runs of 3), pp 16 runs of 2; so 12 names 11 below and 16 above."""
    from mlacalc.parallel import filled_stages

    assert [len(r) for r in Parallelism(pp=3).check(load_spec("llama-3.1-70b")).stage_ranges(80)] == [27, 27, 26]
    assert [filled_stages(32, p) for p in (11, 12, 13, 15, 16, 31, 32)] == [11, 11, 11, 11, 16, 16, 32]
    code, _, err = run(capsys, "train", "llama-3.1-8b", "--pp", "12")
    assert code == 2 and "such as 11 or 16" in err
    for command in (["kv"], ["weights"], ["train"]):
        assert run(capsys, *command, "llama-3.1-70b", "--pp", "3", "--json")[0] == 0


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
def test_stages_partition_the_layers_every_stage_holds_some_or_pp_is_refused(tp, pp, dp):
    from mlacalc.parallel import filled_stages

    p = Parallelism(tp=tp, pp=pp, dp=dp, ep=tp * dp if 256 % (tp * dp) == 0 else 1)
    if filled_stages(61, pp) < pp:          # runs of ceil(61 / pp) use the layers up before the last stage
        with pytest.raises(ArgError, match="without layers"):
            p.check(load_spec("deepseek-v3"))
        return
    p.check(load_spec("deepseek-v3"))
    stages = p.stage_ranges(61)
    assert [i for r in stages for i in r] == list(range(61))
    assert len(stages) == pp and all(len(r) > 0 for r in stages)


def test_bools_and_non_integers_are_refused():
    for bad in (True, 1.5, "2", 0, -1, 2**21):
        with pytest.raises(ArgError):
            Parallelism(tp=bad)
