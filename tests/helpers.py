"""Small spec builders shared by tests (a test reads like a worked example around them)."""

from mlacalc.spec import spec_from_dict


def make_spec(attention: dict, *, layers: int = 2, hidden: int = 256, vocab: int = 1000, ffn: dict | None = None,
              **extra):
    """A tiny model around the given attention block; dense gated FFN of 512 unless ``ffn`` is given."""
    return spec_from_dict({"name": "tiny", "num_layers": layers, "hidden_size": hidden, "vocab_size": vocab,
                           "attention": attention, "ffn": ffn or {"kind": "dense", "intermediate_size": 512},
                           **extra})
