import pytest

from tvmcli.system.durations import format_duration, format_relative, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("25h", 90000),
        ("3600", 3600),
        (42, 42),
        (" 2M ", 120),
        ("1d", 86400),
        ("1.5h", 5400),
        ("0.5m", 30),
        ("1h0.5m", 3630),
    ],
)
def test_parse_duration_accepts_the_documented_forms(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "m15", "15 minutes", "1h 30m", "15x", "1m1m", "30m1h", "1.h", ".5h"]
)
def test_parse_duration_rejects_other_forms_with_the_allowed_ones(text: str) -> None:
    with pytest.raises(ValueError, match="'90s', '15m', '1h30m'"):
        parse_duration(text)


def test_parse_duration_refuses_a_fraction_of_a_second() -> None:
    with pytest.raises(ValueError, match=r"'1\.5s' is not a whole number of seconds"):
        parse_duration("1.5s")


def test_parse_duration_rejects_negative_and_boolean_values() -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_duration(-1)
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(True)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (45, "45s"), (5400, "1h30m"), (90000, "25h"), (3661, "1h1m1s")]
)
def test_format_duration_is_compact(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_relative_says_future_and_past_with_two_units_at_most() -> None:
    assert format_relative(14 * 60) == "in 14m"
    assert format_relative(-3 * 3600) == "3h ago"
    assert format_relative(3661) == "in 1h1m"
