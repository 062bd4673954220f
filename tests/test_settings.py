"""Configuration is resolved in one place: flag -> MASKALBUM_* env -> config file -> default."""

from __future__ import annotations

import pytest

from batch_job.errors import UsageError
from batch_job.settings import Settings, resolve


def test_order_flag_env_config_default(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('seed = 3\nmasks = ["cat", "bear"]\nshard_size = 20\nbucket = "from-config"\n')
    env = {"MASKALBUM_SEED": "5", "MASKALBUM_BUCKET": "from-env", "MASKALBUM_ALL_FACES": "yes"}
    s = resolve({"seed": 9}, env=env, config_path=config)
    assert s.seed == 9  # flag wins
    assert s.bucket == "from-env"  # env beats config
    assert s.masks == ("cat", "bear") and s.shard_size == 20  # config beats default
    assert s.all_faces is True
    assert s.workers == Settings().workers  # default


def test_env_lists_and_round_trip():
    s = resolve({}, env={"MASKALBUM_MASKS": "cat, bear", "MASKALBUM_TAGS": "cute"}, config_path=None)
    assert s.masks == ("cat", "bear") and s.tags == ("cute",)
    again = resolve({}, env=s.to_env(), config_path=None)
    assert again == s


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"workers": -1}, {}, "workers"),
        ({}, {"MASKALBUM_SEED": "many"}, "MASKALBUM_SEED"),
        ({}, {"MASKALBUM_ALL_FACES": "perhaps"}, "true/false"),
        ({"retry_mode": "sometimes"}, {}, "--retry-mode must be standard"),
        (
            {},
            {"MASKALBUM_DETECT_LONG_SIDE": "100"},
            "MASKALBUM_DETECT_LONG_SIDE must be between 320 and 4096 .got 100.",
        ),
        ({"link_expiry_days": 30.0}, {}, "7"),
    ],
)
def test_bad_values_are_usage_errors(flags, env, message):
    with pytest.raises(UsageError, match=message):
        resolve(flags, env=env, config_path=None)


def test_errors_name_the_option_as_typed():
    with pytest.raises(UsageError, match=r"^--detect-size must be between 320 and 4096 \(got 100\)$"):
        resolve({"detect_long_side": 100}, env={}, config_path=None, flag_names={"detect_long_side": "--detect-size"})


def test_bad_config_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("seed = = 3")
    with pytest.raises(UsageError, match="not valid TOML"):
        resolve({}, env={}, config_path=bad)
    bad.write_text("colour = 'red'")
    with pytest.raises(UsageError, match="unknown key"):
        resolve({}, env={}, config_path=bad)


def test_fingerprint_tracks_only_output_settings():
    base = Settings()
    assert base.fingerprint() == base.replace(workers=7, bucket="b").fingerprint()
    assert base.fingerprint() != base.replace(seed=1).fingerprint()
    assert base.fingerprint() != base.replace(masks=("cat",)).fingerprint()
