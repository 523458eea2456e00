import pytest

from host_tools import boards


@pytest.mark.parametrize("name", boards.names())
def test_every_board_config_is_valid(name):
    config = boards.load(name)
    assert config["name"] == name


def test_the_three_board_families_exist():
    platforms = {boards.load(n)["platform"] for n in boards.names()}
    assert platforms == {"esp32", "stm32", "linux"}


def test_validation_names_the_problem():
    config = boards.load("esp32_devkitc")
    config["buses"] = [{"bus": 1, "uart": 2}]
    config["data_partition"]["block_size"] = 1000
    problems = boards.validate(config)
    assert any("direction" in p for p in problems)
    assert any("multiple of 4096" in p for p in problems)


def test_unknown_board_lists_known_ones():
    with pytest.raises(boards.BoardConfigError, match="known boards: .*virtual"):
        boards.load("esp8266")
