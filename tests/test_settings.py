"""Settings: validation errors name the key; the token never shows."""

from __future__ import annotations

import pytest

from bot.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for key in list(Settings.model_fields):
        monkeypatch.delenv(key.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("N_GPU_LAYERS", "lots", "N_GPU_LAYERS: must be 'auto'"),
        ("N_GPU_LAYERS", "-2", "N_GPU_LAYERS: must be 'auto'"),
        ("DEFAULT_FORMAT", "vicuna", "DEFAULT_FORMAT: must be one of group-inst"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL: Could not parse"),
        ("DATABASE_URL", "mysql+aiomysql://u@h/db", "DATABASE_URL: its driver is not"),
        ("MODEL_PATH", "/no/such/model.gguf", "MODEL_PATH: no file at"),
        ("N_CTX", "12", "N_CTX:"),
        ("DICE_BOT_IDS", "avrae", "DICE_BOT_IDS: must be Discord user ids"),
        ("DICE_BOT_IDS", "1, -2", "DICE_BOT_IDS: must be Discord user ids"),
    ],
)
def test_bad_values_name_the_key(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError, match="^" + expected.split(":")[0]) as caught:
        load_settings()
    assert expected in str(caught.value)


def test_defaults_and_empty_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("N_THREADS", "")
    monkeypatch.setenv("N_GPU_LAYERS", " 12 ")
    settings = load_settings()
    assert settings.n_threads is None and settings.n_gpu_layers == "12"
    assert settings.default_format == "group-inst" and settings.n_ctx == 8192
    assert (settings.temperature, settings.min_p, settings.max_new_tokens) == (0.8, 0.1, 300)
    assert settings.resolved_model_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_token_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "very-secret-token")
    settings = load_settings()
    assert "very-secret-token" not in repr(settings) and "very-secret-token" not in str(settings)
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "very-secret-token"


def test_dice_bot_ids_are_read_from_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICE_BOT_IDS", " 261302296103747584 ,, 572541999392309248,")
    assert load_settings().dice_bots == {261302296103747584, 572541999392309248}
    monkeypatch.setenv("DICE_BOT_IDS", "")
    assert load_settings().dice_bots == frozenset()
