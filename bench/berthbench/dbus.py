"""A minimal D-Bus client for the systemd layout (Python standard library only): little-endian
messages, AUTH EXTERNAL on the system bus socket, method calls and their replies (pipelined),
signals kept as they arrive; and the systemd calls the layout needs (a unit's object path, its
ActiveState and StateChangeTimestampMonotonic).
"""

import os
import socket
import struct

BUS_SOCKET = "/run/dbus/system_bus_socket"

ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "h": 4,
         "s": 4, "o": 4, "g": 1, "v": 1, "a": 4, "(": 8, "{": 8}
FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I", "x": "q", "t": "Q", "d": "d",
         "h": "I"}
METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4


class BusError(Exception):
    def __init__(self, name, text=""):
        super().__init__(f"{name}: {text}" if text else name)
        self.name = name


def _pad(buf, n):
    buf.extend(b"\0" * (-len(buf) % n))


def _put(buf, t, v):
    """Appends value v of basic type t (y u s o g) or a variant ("v": (signature, value))."""
    _pad(buf, ALIGN[t])
    if t in FIXED:
        buf.extend(struct.pack("<" + FIXED[t], v))
    elif t in "so":
        b = v.encode()
        buf.extend(struct.pack("<I", len(b)) + b + b"\0")
    elif t == "g":
        b = v.encode()
        buf.extend(bytes([len(b)]) + b + b"\0")
    elif t == "v":
        sig, val = v
        _put(buf, "g", sig)
        _put(buf, sig, val)
    else:
        raise ValueError(f"cannot marshal type {t!r}")


def _type_end(sig, i):
    """Index just past the single complete type that starts at sig[i]."""
    c = sig[i]
    if c == "a":
        return _type_end(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        j = i + 1
        while sig[j] != close:
            j = _type_end(sig, j)
        return j + 1
    return i + 1


def _split(sig):
    out, i = [], 0
    while i < len(sig):
        j = _type_end(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def _get(data, off, t):
    """(value, next offset) of the complete type t at data[off:] (offsets from message start)."""
    c = t[0]
    off += -off % ALIGN[c]
    if c in FIXED:
        fmt = "<" + FIXED[c]
        return struct.unpack_from(fmt, data, off)[0], off + struct.calcsize(fmt)
    if c in "so":
        n = struct.unpack_from("<I", data, off)[0]
        return data[off + 4:off + 4 + n].decode(errors="replace"), off + 4 + n + 1
    if c == "g":
        n = data[off]
        return data[off + 1:off + 1 + n].decode(), off + 1 + n + 1
    if c == "v":
        sig, off = _get(data, off, "g")
        return _get(data, off, sig)
    if c == "a":
        n = struct.unpack_from("<I", data, off)[0]
        off += 4
        elem = t[1:]
        off += -off % ALIGN[elem[0]]
        end, items = off + n, []
        while off < end:
            v, off = _get(data, off, elem)
            items.append(v)
        return (dict(items) if elem[0] == "{" else items), off
    if c in "({":
        vals = []
        for ft in _split(t[1:-1]):
            v, off = _get(data, off, ft)
            vals.append(v)
        return tuple(vals), off
    raise ValueError(f"cannot unmarshal type {t!r}")


class Bus:
    """A connection to the system bus: call() and send()/reply() (for pipelined calls)."""

    def __init__(self, path=BUS_SOCKET):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.connect(path)
        self.sock.sendall(b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode() + b"\r\n")
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                raise BusError("org.freedesktop.DBus.Error.NoReply", "the bus closed during AUTH")
            line += chunk
        if not line.startswith(b"OK "):
            raise BusError("org.freedesktop.DBus.Error.AuthFailed", line.decode(errors="replace").strip())
        self.sock.sendall(b"BEGIN\r\n")
        self.serial = 0
        self.pending = {}  # reply serial -> (type, fields, body) read while waiting for another
        self.signals = []  # (path, member, body) of every signal read, in order
        self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")

    def close(self):
        self.sock.close()

    def send(self, dest, path, iface, member, sig="", args=()):
        self.serial += 1
        body = bytearray()
        for t, a in zip(_split(sig), args):
            _put(body, t, a)
        msg = bytearray(b"l" + bytes([METHOD_CALL, 0, 1]))
        msg.extend(struct.pack("<III", len(body), self.serial, 0))  # the fields' length: below
        fields = [(1, "o", path), (3, "s", member), (6, "s", dest)]
        if iface:
            fields.append((2, "s", iface))
        if sig:
            fields.append((8, "g", sig))
        for code, t, v in fields:
            _pad(msg, 8)
            msg.append(code)
            _put(msg, "v", (t, v))
        struct.pack_into("<I", msg, 12, len(msg) - 16)
        _pad(msg, 8)
        self.sock.sendall(bytes(msg + body))
        return self.serial

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise BusError("org.freedesktop.DBus.Error.Disconnected", "the bus closed the connection")
            buf.extend(chunk)
        return bytes(buf)

    def _read_message(self):
        head = self._recv_exact(16)
        if head[0:1] != b"l":
            raise BusError("org.freedesktop.DBus.Error.InvalidArgs", "big-endian message")
        body_len, _serial, fields_len = struct.unpack_from("<III", head, 4)
        rest = self._recv_exact(fields_len + (-(16 + fields_len) % 8) + body_len)
        data = head + rest
        fields, off = _get(data, 12, "a(yv)")
        off += -off % 8
        return head[1], dict(fields), data, off

    @staticmethod
    def _body(fields, data, off):
        body = []
        for t in _split(fields.get(8, "")):
            v, off = _get(data, off, t)
            body.append(v)
        return body

    def reply(self, serial):
        """The body (a list of values) of the reply to `serial`; an error reply raises BusError.
        Signals read meanwhile are kept in self.signals (a sender's messages arrive in order: a
        signal systemd sent before its reply is there once the reply is)."""
        while serial not in self.pending:
            mtype, fields, data, off = self._read_message()
            if mtype in (METHOD_RETURN, ERROR) and 5 in fields:
                self.pending[fields[5]] = (mtype, fields, data, off)
            elif mtype == SIGNAL:
                self.signals.append((fields.get(1), fields.get(3), self._body(fields, data, off)))
        mtype, fields, data, off = self.pending.pop(serial)
        body = self._body(fields, data, off)
        if mtype == ERROR:
            raise BusError(fields.get(4, "?"), body[0] if body and isinstance(body[0], str) else "")
        return body

    def call(self, dest, path, iface, member, sig="", args=()):
        return self.reply(self.send(dest, path, iface, member, sig, args))


DBUS = "org.freedesktop.DBus"
SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
PROPERTIES = "org.freedesktop.DBus.Properties"
UNIT = "org.freedesktop.systemd1.Unit"
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"


def unit_path(unit):
    """systemd's object path of a unit (bus_label_escape: every byte but a letter, or a digit
    after the first, becomes _xx), known before the unit exists."""
    out = []
    for i, b in enumerate(unit.encode()):
        c = chr(b)
        out.append(c if (c.isascii() and c.isalpha()) or (i > 0 and c.isdigit()) else f"_{b:02x}")
    return "/org/freedesktop/systemd1/unit/" + "".join(out)


def unit_state(bus, unit):
    """(ActiveState, StateChangeTimestampMonotonic in µs) of a loaded unit; (None, None) when
    systemd does not have it loaded. GetUnit never loads a unit (a Get on a made-up path would)."""
    try:
        path = bus.call(SYSTEMD, MANAGER_PATH, MANAGER, "GetUnit", "s", (unit,))[0]
    except BusError as e:
        if e.name == NO_SUCH_UNIT:
            return None, None
        raise
    s1 = bus.send(SYSTEMD, path, PROPERTIES, "Get", "ss", (UNIT, "ActiveState"))
    s2 = bus.send(SYSTEMD, path, PROPERTIES, "Get", "ss", (UNIT, "StateChangeTimestampMonotonic"))
    try:
        state = bus.reply(s1)[0]
        changed = bus.reply(s2)[0]
    except BusError as e:  # unloaded between the calls
        if e.name in (NO_SUCH_UNIT, "org.freedesktop.DBus.Error.UnknownObject"):
            return None, None
        raise
    return state, changed
