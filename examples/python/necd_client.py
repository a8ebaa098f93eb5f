#!/usr/bin/env python3
"""A small client for necd's socket (protocol v1), using only the standard library.

Copy it into a kiosk or till integration and change what happens in `on_event`.

    python3 necd_client.py watch [--since N] [--socket PATH] [--state-file FILE]
    python3 necd_client.py lookup CARD [--socket PATH]
    python3 necd_client.py status|readers [--socket PATH]
    python3 necd_client.py redeem PUPIL [--lane LANE] [--socket PATH]
    python3 necd_client.py charge PUPIL AMOUNT [--txn TXN] [--lane LANE] [--socket PATH]
    python3 necd_client.py refund TXN [--socket PATH]

`watch` follows every event and reconnects by itself (0.1 s doubling to 5 s) with
`since` the last seq it handled, so a till that loses the daemon for a moment, or
restarts with --state-file, misses nothing and sees nothing twice.

`charge` (protocol 1.1) makes its txn once and, when the connection fails before the
answer arrives, sends exactly the same request again: necd answers a repeated txn
with the event it stored the first time and charges nothing more.
"""

import argparse
import json
import socket
import sys
import time
import uuid

DEFAULT_SOCKET = "/run/necd/necd.sock"
MAX_LINE = 16384  # bytes, the protocol's limit


class ProtocolError(Exception):
    """The daemon said ERROR, or sent something this client cannot use."""


class AnswerLost(Exception):
    """The connection failed after a request was sent and it could not safely be sent
    again: necd may have carried it out. Its event, if any, is in the event stream."""


class Connection:
    """One connection: sends requests, returns one decoded JSON object per line."""

    def __init__(self, path, timeout=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Connect first, blocking: with a timeout set, a Unix socket's connect is
        # non-blocking and fails at once with EAGAIN when necd's listen queue is full
        # (a burst of clients), where a blocking one waits for its turn.
        self.sock.connect(path)
        self.sock.settimeout(timeout)
        self.pending = b""
        banner = self.read()
        if banner.get("class") != "VERSION":
            raise ProtocolError("no VERSION banner: %r" % banner)
        if banner.get("proto_major") != 1:
            raise ProtocolError("necd speaks protocol %s, this client 1" % banner.get("proto_major"))
        self.version = banner

    def send(self, request):
        self.sock.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")

    def read(self):
        """The next object. A read may hold half a line or several lines: keep the rest."""
        while b"\n" not in self.pending:
            if len(self.pending) > MAX_LINE + 1:
                raise ProtocolError("line over %d bytes" % MAX_LINE)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("necd closed the connection")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line.decode("utf-8"))

    def request(self, request, answer_class=None):
        """Sends one request and returns its answer; events that arrive first are skipped.
        `answer_class`: the class of an answer that is itself an event (a redeem's TAP)."""
        self.send(request)
        while True:
            answer = self.read()
            if answer.get("class") == "ERROR":
                raise ProtocolError(answer.get("message", "error"))
            if answer_class is not None and answer.get("class") == answer_class:
                return answer
            if answer.get("class") not in ("TAP", "IDENTIFY", "READER", "PAYMENT", "VOIDED"):
                return answer

    def close(self):
        self.sock.close()


# How long a request waits for its answer before the connection counts as failed.
ANSWER_TIMEOUT = 10.0


def ask(path, request, timeout=ANSWER_TIMEOUT):
    """One request on its own connection."""
    connection = Connection(path, timeout=timeout)
    try:
        return connection.request(request)
    finally:
        connection.close()


def deliver(path, request, answer_class, resend_after_loss, attempts=5, timeout=ANSWER_TIMEOUT):
    """Sends a request that changes something; on a connection failure sends exactly the
    same request again (0.1 s, doubling): always when it cannot have reached necd, after a
    lost answer only when `resend_after_loss`."""
    delay = 0.1
    may_have_been_done = False
    for attempt in range(1, attempts + 1):
        sent = False
        connection = None
        try:
            connection = Connection(path, timeout=timeout)
            sent = True
            return connection.request(request, answer_class)
        except ProtocolError:
            if may_have_been_done:
                # Refused now, but the earlier request whose answer was lost may have been done.
                raise AnswerLost(request["cmd"])
            raise
        except (OSError, ConnectionError, ValueError):
            if sent:
                if not resend_after_loss:
                    raise AnswerLost(request["cmd"])
                may_have_been_done = True
            if attempt == attempts:
                if may_have_been_done:
                    raise AnswerLost(request["cmd"])
                raise
        finally:
            if connection is not None:
                connection.close()
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def new_txn():
    """A transaction id nothing else makes."""
    return "py-" + uuid.uuid4().hex


def redeem(path, pupil, lane=None, timeout=ANSWER_TIMEOUT):
    """Serves a pupil by hand (protocol 1.1): the manual TAP event necd stored. Without a
    txn it is not sent again after a lost answer (a second lunch would be declined)."""
    request = {"cmd": "redeem", "pupil": pupil}
    if lane is not None:
        request["lane"] = lane
    return deliver(path, request, "TAP", resend_after_loss=False, timeout=timeout)


def charge(path, pupil, amount, txn=None, lane=None, timeout=ANSWER_TIMEOUT):
    """Charges `amount` pence (protocol 1.1): the PAYMENT event necd stored. The request,
    with its txn, is made once and sent again unchanged after a lost answer."""
    request = {"cmd": "charge", "pupil": pupil, "amount": amount, "txn": txn or new_txn()}
    if lane is not None:
        request["lane"] = lane
    return deliver(path, request, "PAYMENT", resend_after_loss=True, timeout=timeout)


def refund(path, txn, timeout=ANSWER_TIMEOUT):
    """Refunds the charge made as `txn` (protocol 1.1). necd refuses a second refund, so
    sending it again can never refund twice; a refusal after a lost answer is AnswerLost."""
    return deliver(path, {"cmd": "refund", "txn": txn}, "PAYMENT", resend_after_loss=True, timeout=timeout)


def watch(path, since, on_event, on_resume_point=lambda seq: None):
    """Follows events forever. `since`: the last seq already handled, or None for "from now"."""
    delay = 0.1
    while True:
        connection = None
        try:
            connection = Connection(path)
            request = {"cmd": "watch", "enable": True}
            if since is not None:
                request["since"] = since
            connection.send(request)
            while True:
                message = connection.read()
                kind = message.get("class")
                if kind == "WATCH":
                    delay = 0.1  # connected: the next failure starts the backoff afresh
                    start = message.get("since")
                    # The resume point even before any event; lower than asked only when
                    # the daemon's journal was reset.
                    if start is not None and (since is None or start < since):
                        since = start
                        on_resume_point(since)
                elif kind in ("TAP", "IDENTIFY", "PAYMENT", "VOIDED"):
                    if since is not None and message["seq"] <= since:
                        continue  # never handle an event twice
                    on_event(message)
                    since = message["seq"]
                    on_resume_point(since)
                elif kind == "READER":
                    on_event(message)
                elif kind == "ERROR":
                    # "necd is shutting down", or a replay that failed: reconnect.
                    raise ConnectionError(message.get("message"))
                # Any other class comes from a newer daemon: ignore it.
        except (OSError, ConnectionError, ValueError, ProtocolError) as error:
            if isinstance(error, ProtocolError) and "protocol" in str(error):
                raise
            print("necd: %s; reconnecting in %.1f s" % (error, delay), file=sys.stderr, flush=True)
            if connection is not None:
                connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def on_event(event):
    """What a till or kiosk does with an event. Here: print it, one JSON object a line."""
    print(json.dumps(event, separators=(",", ":")), flush=True)


def main():
    parser = argparse.ArgumentParser(description="necd socket client (protocol v1)")
    parser.add_argument("--socket", default=DEFAULT_SOCKET)
    parser.add_argument("--timeout", type=float, default=ANSWER_TIMEOUT,
                        help="seconds to wait for an answer (default %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    watch_parser = commands.add_parser("watch", help="follow events")
    watch_parser.add_argument("--since", type=int, help="replay stored events after this seq first")
    watch_parser.add_argument("--state-file", help="remember the last seq here, and resume from it")
    watch_parser.add_argument("--count", type=int, help="stop after this many TAP/IDENTIFY events")
    lookup_parser = commands.add_parser("lookup", help="the decision a card would get now")
    lookup_parser.add_argument("card")
    commands.add_parser("status", help="daemon health")
    commands.add_parser("readers", help="readers and their state")
    redeem_parser = commands.add_parser("redeem", help="serve a pupil by hand, without a card")
    redeem_parser.add_argument("pupil")
    redeem_parser.add_argument("--lane")
    charge_parser = commands.add_parser("charge", help="charge a pupil's account, in pence")
    charge_parser.add_argument("pupil")
    charge_parser.add_argument("amount", type=int)
    charge_parser.add_argument("--txn", help="the till's transaction id (default: a new one)")
    charge_parser.add_argument("--lane")
    refund_parser = commands.add_parser("refund", help="refund a charge by its txn")
    refund_parser.add_argument("txn")
    args = parser.parse_args()

    try:
        if args.command == "watch":
            since = args.since
            if since is None and args.state_file:
                try:
                    with open(args.state_file) as state:
                        since = int(state.read().strip())
                except (OSError, ValueError):
                    since = None
            seen = [0]

            def remember(seq):
                if args.state_file and seq is not None:
                    with open(args.state_file, "w") as state:
                        state.write("%d\n" % seq)

            def handle(event):
                on_event(event)
                if event.get("class") in ("TAP", "IDENTIFY"):
                    seen[0] += 1
                    if args.count is not None and seen[0] >= args.count:
                        remember(event["seq"])
                        sys.exit(0)

            watch(args.socket, since, handle, remember)
        elif args.command == "lookup":
            on_event(ask(args.socket, {"cmd": "lookup", "card": args.card}, args.timeout))
        elif args.command == "redeem":
            on_event(redeem(args.socket, args.pupil, args.lane, args.timeout))
        elif args.command == "charge":
            on_event(charge(args.socket, args.pupil, args.amount, args.txn, args.lane, args.timeout))
        elif args.command == "refund":
            on_event(refund(args.socket, args.txn, args.timeout))
        else:
            on_event(ask(args.socket, {"cmd": args.command}, args.timeout))
    except ProtocolError as error:
        print("necd: %s" % error, file=sys.stderr)
        return 1
    except AnswerLost as error:
        print("necd: the connection failed after the %s request was sent: it may have been carried out; "
              "see the event stream" % error, file=sys.stderr)
        return 1
    except OSError as error:
        print("necd: cannot reach %s: %s" % (args.socket, error), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
