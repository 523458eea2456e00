"""The virtual board: the concentrator firmware in the real MicroPython unix port, behind a pty
that speaks the MicroPython REPL protocol the way a USB-attached board does.

- `server.VirtualBoardServer`: owns the pty and the REPL state machine, runs the agent.
- `repl.ReplMachine`: the REPL protocol (friendly, raw, raw-paste, Ctrl-C, soft reset).
- `agent_process.AgentProcess`: one MicroPython interpreter running `agent.py`.
- `images.BoardImages`: the flash image files that keep a board's state across runs.
- `registry`: running virtual boards, so `--port auto` finds them.

`agent.py` runs inside MicroPython and is never imported by CPython. See docs/virtual-board.md.
"""
