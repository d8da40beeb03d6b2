"""PAIR over inproc: an exclusive two-way channel between two threads.

A PAIR socket talks to exactly one peer, in both directions, with no routing or
filtering: the simplest way to signal between threads of one process. Over
``inproc://`` messages are handed from thread to thread in memory, without any network
stack, so both sockets must belong to the same ``Context``.

Here a main thread starts a background "step" thread and drives it through a small
protocol: the step thread reports "ready", then answers each instruction, then says
"finished". Either end can speak first; there is no enforced turn-taking as with REQ/REP.

Run it with ``python examples/pair.py``.
"""

from __future__ import annotations

import threading

import securemq as zmq

ENDPOINT = "inproc://steps"  # a name, unique within the context; no port, no file


def step_thread(ctx: zmq.Context) -> None:
    """Connect to the main thread's PAIR and carry out its instructions."""
    with ctx.socket(zmq.PAIR) as pair:
        pair.linger = 0
        pair.connect(ENDPOINT)
        pair.send_string("ready")
        while (instruction := pair.recv_string()) != "done":
            pair.send_string(f"did {instruction!r}")
        pair.send_string("finished")


def main() -> None:
    # Leaving the block closes the socket, then terminates the context.
    with zmq.Context() as ctx, ctx.socket(zmq.PAIR) as pair:
        pair.linger = 0
        pair.rcvtimeo = 5000
        # With inproc, bind before the peer connects (libzmq 4 also accepts the other
        # order, and so does securemq, but binding first is the portable habit).
        pair.bind(ENDPOINT)

        thread = threading.Thread(target=step_thread, args=(ctx,))
        thread.start()

        print(f"main: step thread says {pair.recv_string()!r}")
        for instruction in ("fetch", "transform", "store"):
            pair.send_string(instruction)
            print(f"main: step thread says {pair.recv_string()!r}")
        pair.send_string("done")
        print(f"main: step thread says {pair.recv_string()!r}")

        thread.join()
    print("pair: done")


if __name__ == "__main__":
    main()
