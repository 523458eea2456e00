"""The source networks a terminal may log in from (terminals.allowed_networks, revision 0003).

    station.set_allowed_networks(terminal_id, ["10.8.0.0/16", "2001:db8::/32"])   # [] = any
    station.allowed_networks()          # {terminal_id: (IPv4Network, ...)} of those restricted
    allowed(networks, "10.8.3.4")       # the front end's check at login

Part of the Station (repository.py).
"""
import ipaddress

from sqlalchemy import select, update

from host_tools.station.errors import InvalidValue, UnknownTerminal
from host_tools.station.station_part import StationPart
from host_tools.station.tables import terminals


def parse_networks(texts):
    """CIDR networks from strings (`10.8.0.0/16`, a bare address is a /32 or /128), in a
    canonical order without repeats; InvalidValue names the bad one."""
    networks = []
    for text in texts:
        for word in str(text).replace(",", " ").split():
            try:
                network = ipaddress.ip_network(word, strict=False)
            except ValueError:
                raise InvalidValue("bad network %r: give CIDR networks such as 10.8.0.0/16 "
                                   "or single addresses" % word) from None
            if network not in networks:
                networks.append(network)
    return tuple(sorted(networks, key=lambda n: (n.version, n)))


def allowed(networks, ip):
    """True when `ip` (text) lies in one of `networks` (an empty tuple allows any)."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped       # an IPv4 peer of a dual-stack socket
    return any(address in network for network in networks if network.version == address.version)


class NetworksMixin(StationPart):
    """Per-terminal allowed source networks (mixed into Station)."""

    def set_allowed_networks(self, terminal_id, networks):
        """Restrict a terminal's logins to these networks (CIDR strings); [] lifts it."""
        parsed = parse_networks(networks)
        with self.db.transaction():
            changed = self.db.execute(
                update(terminals).where(terminals.c.id == terminal_id)
                .values(allowed_networks=" ".join(str(n) for n in parsed))).rowcount
        if not changed:
            raise UnknownTerminal("no terminal with id %r" % (terminal_id,))
        return parsed

    def allowed_networks(self, terminal_id=None):
        """{terminal_id: networks} of the terminals restricted (or of the one asked for)."""
        query = select(terminals.c.id, terminals.c.allowed_networks).where(
            terminals.c.allowed_networks != "")
        if terminal_id is not None:
            query = query.where(terminals.c.id == terminal_id)
        with self.db.transaction(write=False):
            rows = self.db.rows(query)
        return {tid: parse_networks([text]) for tid, text in rows}
