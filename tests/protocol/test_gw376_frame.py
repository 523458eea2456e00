"""protocol.gw376: the frame layer, on the captured vectors and on hand-built frames."""
import pytest

import gw376_checks
from protocol import gw376

unhex = gw376_checks.unhex


@pytest.mark.parametrize("name", gw376_checks.all_vector_names())
def test_captured_frame_decodes(name):
    gw376_checks.check_vector(name)


def test_heartbeat_fields_by_name():
    frame = gw376.parse(unhex(gw376_checks.vectors.CAPTURED["heartBeat"]))
    assert frame.function_name() == "link test"
    assert frame.address_text == "0171-2082"
    assert gw376.AFN_NAMES[frame.afn] == "link test"


def test_login_builds_like_the_captured_frame():
    login = gw376.link_frame(1, area=171, terminal=2082, seq=8)
    assert gw376.build(login) == unhex(gw376_checks.vectors.CAPTURED["login"])
