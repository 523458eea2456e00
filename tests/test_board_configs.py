import pytest

from host_tools import boards


@pytest.mark.parametrize("name", boards.names())
def test_every_board_config_is_valid(name):
    config = boards.load(name)
    assert config["name"] == name


def test_the_board_families_exist():
    platforms = {boards.load(n)["platform"] for n in boards.names()}
    assert platforms == {"esp32", "stm32", "linux", "qemu"}


def test_a_qemu_bus_needs_its_uart():
    config = boards.load("qemu_m4")
    config["buses"] = [{"bus": 1}]
    assert any("UART" in p for p in boards.validate(config))


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
