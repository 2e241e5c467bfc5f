import pytest

from bridge.config import ConfigError, Settings

BASE = {"ABONNE_SECRET_KEY": "k" * 43}


def test_defaults_apply_when_nothing_is_set(tmp_path):
    settings = Settings.from_env({**BASE, "ABONNE_INSTANCE_PATH": str(tmp_path)})
    assert (settings.worker_interval_seconds, settings.gateway_timeout_seconds) == (5.0, 30.0)


def test_seconds_settings_are_read(tmp_path):
    settings = Settings.from_env({**BASE, "ABONNE_WORKER_INTERVAL_SECONDS": "0.2",
                                  "ABONNE_GATEWAY_TIMEOUT_SECONDS": "7"})
    assert (settings.worker_interval_seconds, settings.gateway_timeout_seconds) == (0.2, 7.0)


@pytest.mark.parametrize("name, value, message", [
    ("ABONNE_WORKER_INTERVAL_SECONDS", "soon", "ABONNE_WORKER_INTERVAL_SECONDS must be a number of seconds"),
    ("ABONNE_WORKER_INTERVAL_SECONDS", "0", "ABONNE_WORKER_INTERVAL_SECONDS must be a positive number of seconds"),
    ("ABONNE_GATEWAY_TIMEOUT_SECONDS", "nan", "ABONNE_GATEWAY_TIMEOUT_SECONDS must be a positive number of seconds"),
    ("ABONNE_SHOP_CONCURRENCY", "0", "ABONNE_SHOP_CONCURRENCY must be at least 1"),
    ("ABONNE_PUBLIC_URL", "example.test", "ABONNE_PUBLIC_URL must start with http:// or https://"),
])
def test_an_unusable_setting_is_refused_by_name(name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({**BASE, name: value})
