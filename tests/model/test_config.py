"""Model configs: JSON round trips and the command line's config-field flags."""

from __future__ import annotations

import pytest

from model.config import ModelConfig, digits_config


def test_flags_set_config_fields_by_their_types() -> None:
    flags = "--write-steps 8 --distortions erase,flip --quadratic-energy --no-free-read-rates"
    flags += " --init-quadratic-strength 1e-4 --value-range 0,1 --energy conv"
    changes = ModelConfig.parse_flags(flags.split())
    assert changes == {
        "write_steps": 8,
        "distortions": ("erase", "flip"),
        "quadratic_energy": True,
        "free_read_rates": False,
        "init_quadratic_strength": 1e-4,
        "value_range": (0.0, 1.0),
        "energy": "conv",
    }
    config = digits_config(**changes)
    assert ModelConfig.from_json_dict(config.to_json_dict()) == config


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stepz", "5"], "no such option"),
        (["--name", "x"], "no such option"),  # set by the preset, not a flag
        (["--write-steps"], "needs a value"),
        (["8"], "no such option"),
        (["--no-write-steps"], "no such option"),  # only booleans negate
    ],
)
def test_bad_flags_are_refused(args: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelConfig.parse_flags(args)
