import json
from dataclasses import replace

import pytest

from nnunet_svl.runtime.config import CONFIG_ENV_VAR, SVLConfig, epoch_boundary, resolve_config
from nnunet_svl.runtime.errors import SVLInputError


def test_defaults_are_valid_and_follow_pixelrl():
    cfg = SVLConfig().validate()
    assert (cfg.t_max, cfg.gamma, cfg.entropy_weight, cfg.action_scale) == (5, 0.95, 0.01, 0.3)


def test_json_file_overrides_trainer_values(tmp_path):
    base = replace(SVLConfig(), use_rl=True, t_max=3)
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps({"t_max": 2, "gamma": 0.5, "state_mode": "intensity"}))
    cfg = resolve_config(base, environ={CONFIG_ENV_VAR: str(f)})
    assert (cfg.use_rl, cfg.t_max, cfg.gamma, cfg.state_mode) == (True, 2, 0.5, "intensity")
    # without the variable the trainer's own values stay in force
    assert resolve_config(base, environ={}).t_max == 3


@pytest.mark.parametrize("content, fragment", [
    ({"t_maxx": 2}, "unknown config key"),
    ({"t_max": 0}, "'t_max'=0"),
    ({"gamma": 1.5}, "'gamma'=1.5"),
    ({"t_max": 2.5}, "must be an integer"),
    ({"use_rl": 1}, "must be true or false"),
    ({"alpha_value": 0.7, "beta_policy": 0.5}, "beta_policy must not exceed 1"),
    ({"state_mode": "pixels"}, "state_mode"),
])
def test_bad_config_file_names_the_file(tmp_path, content, fragment):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(content))
    with pytest.raises(SVLInputError) as e:
        resolve_config(SVLConfig(), environ={CONFIG_ENV_VAR: str(f)})
    msg = str(e.value)
    assert str(f) in msg and fragment in msg and "Fix:" in msg and "\n" not in msg


def test_unreadable_config_files(tmp_path):
    with pytest.raises(SVLInputError, match="does not exist"):
        resolve_config(SVLConfig(), environ={CONFIG_ENV_VAR: str(tmp_path / "nope.json")})
    f = tmp_path / "broken.json"
    f.write_text("{not json")
    with pytest.raises(SVLInputError, match="not valid JSON"):
        resolve_config(SVLConfig(), environ={CONFIG_ENV_VAR: str(f)})
    f.write_text("[1, 2]")
    with pytest.raises(SVLInputError, match="JSON object"):
        resolve_config(SVLConfig(), environ={CONFIG_ENV_VAR: str(f)})


def test_epoch_boundary_fraction_or_epoch():
    assert epoch_boundary(0.2, 50) == 10      # fraction of the run
    assert epoch_boundary(0.0, 50) == 0
    assert epoch_boundary(3, 50) == 3         # an epoch number
    assert epoch_boundary(1, 2) == 1
