"""`conc decode`: explain captured meter-bus and uplink frames, field by field."""
import json
import sys

import click

from host_tools import decoding
from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_USAGE, CliError


def _read_input(hex_args, file, raw):
    """The input bytes, from the arguments, a file or stdin ('-')."""
    if hex_args and file:
        raise CliError("give the frame as HEX arguments or with --file, not both", EXIT_USAGE)
    if hex_args == ("-",):
        file = "-"
        hex_args = ()
    if file:
        if file == "-":
            data = sys.stdin.buffer.read()
        else:
            try:
                with open(file, "rb") as f:
                    data = f.read()
            except OSError as exc:
                raise CliError("cannot read %s: %s" % (file, exc.strerror),
                               EXIT_BAD_INPUT) from None
        if raw or not decoding.looks_like_hex(data):
            if not raw and _mostly_text(data):
                # text that is not clean hex: say where, rather than decoding letters as bytes
                decoding.parse_hex(data.decode("ascii", "replace"))
            return data
        return decoding.parse_hex(data.decode("ascii"))
    return decoding.parse_hex(" ".join(hex_args))


def _mostly_text(data):
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch.isspace() for ch in text)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("hex_args", metavar="[HEX]...", nargs=-1)
@click.option("--file", "-f", "file", metavar="FILE",
              help="Read the frames from FILE (hex text or a raw binary capture); - is stdin.")
@click.option("--raw", is_flag=True,
              help="Treat --file/stdin as raw bytes even if it looks like hex text.")
@click.option("--protocol", "-p", type=click.Choice(decoding.PROTOCOLS),
              help="Decode as this protocol instead of detecting it.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON document per frame, one per line (schema: docs/decode-json.md).")
@click.option("--skip-noise", is_flag=True,
              help="Pull frames out of a noisy capture with the protocols' stream deframers "
                   "instead of failing at the first byte that starts no frame.")
@click.option("--map", "map_name", metavar="NAME",
              help="Modbus register map (e.g. sdm120, sdm630) to name the values in read "
                   "replies.")
@click.option("--start", "register_start", type=click.IntRange(0, 0xFFFF), metavar="REG",
              help="First register of a lone Modbus read reply (otherwise taken from the "
                   "request before it in the input).")
def cli(hex_args, file, raw, protocol, as_json, skip_noise, map_name, register_start):
    """Decode DL/T 645, Modbus RTU and Q/GDW 1376.1 frames pasted from a log.

    HEX is the frame as hex; spaces, colons, dashes and 0x prefixes are fine, and it may
    be split over several arguments. Several frames in a row are decoded one by one; the
    protocol of each is detected (68 ... 68 with a 6-byte address is DL/T 645, 68 L L 68 is
    Q/GDW 1376.1, anything else must be a Modbus RTU frame with a good CRC).

    \b
    Examples:
      conc decode 68 61 10 01 30 12 15 68 11 04 33 33 34 33 7B 16
      conc decode 01:04:00:00:00:02:71:CB
      conc decode --file capture.txt --json
      tail -n1 bus.log | conc decode -
      conc decode --map sdm120 01040000000271CB 010404436680006FDF

    A frame that does not decode ends the command with exit status 1 and one line naming
    the byte offset and the reason; frames before it are still printed.
    """
    try:
        data = _read_input(hex_args, file, raw)
    except decoding.InputError as exc:
        raise CliError("%s" % exc, EXIT_BAD_INPUT) from None
    if not data:
        raise CliError("nothing to decode: give the frame as HEX, --file FILE or - for stdin",
                       EXIT_USAGE)
    register_map = None
    if map_name:
        from protocol.errors import ProtocolError
        from protocol.modbus_map import load_map
        try:
            register_map = load_map(map_name)
        except ProtocolError as exc:
            raise CliError(exc.reason, EXIT_BAD_INPUT) from None
    try:
        frames = decoding.split_frames(data, protocol, skip_noise)
        failure = None
    except decoding.DecodeError as exc:
        failure = exc
        frames = exc.found
    if not frames and failure is None:
        raise CliError("no %s frame found in %d bytes" % (
            decoding.PROTOCOL_TITLES.get(protocol, "decodable"), len(data)), EXIT_FAILED)
    start = register_start
    for index, found in enumerate(frames):
        message = found.parsed
        this_start = None
        if found.protocol == "modbus":
            if message.reply is False and message.function in (3, 4):
                start = message.address
            elif message.reply:
                this_start = start
        doc = decoding.describe(found, index, register_map, this_start)
        if as_json:
            click.echo(json.dumps(doc, sort_keys=True))
        else:
            if index:
                click.echo("")
            click.echo("\n".join(decoding.render(doc)))
    if failure is not None:
        raise CliError("%s" % failure, EXIT_FAILED)
