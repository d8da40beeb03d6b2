"""Sans-IO ZMTP 3.x: greeting, framing, commands and the connection state machine."""
