"""TLS session resumption against an MQTT listener, with Python's own ssl module (OpenSSL), for
mqid's end-to-end tests.

usage: tls_resume.py PORT CAFILE DEVICES USERNAME PASSWORD
Each of DEVICES devices connects once over TLS (host name "localhost"), sends an MQTT 3.1.1
CONNECT and reads the CONNACK; then every device connects again offering the session it got.
Prints "cipher: NAME" (the suite of the first connection, with OpenSSL's default client order),
then "first: F admitted, R resumed; again: A admitted, S resumed", and exits 0 when every CONNECT
was admitted.
"""
import socket
import ssl
import struct
import sys


def mqtt_string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def connect_packet(client_id: str, username: str, password: str) -> bytes:
    # protocol name, level 4, flags: username + password + clean session, keepalive 30
    body = mqtt_string("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 30)
    body += mqtt_string(client_id) + mqtt_string(username) + mqtt_string(password)
    assert len(body) < 128
    return bytes([0x10, len(body)]) + body


def once(port, ctx, client_id, username, password, session):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            s.sendall(connect_packet(client_id, username, password))
            connack = b""
            while len(connack) < 4:
                chunk = s.recv(4 - len(connack))
                if not chunk:
                    break
                connack += chunk
            admitted = connack[:2] == b"\x20\x02" and connack[3:4] == b"\x00"
            if client_id == "dev-0" and session is None:
                print(f"cipher: {s.cipher()[0]}")
            return admitted, s.session_reused, s.session


def main() -> int:
    port, cafile, devices, username, password = sys.argv[1:6]
    port, devices = int(port), int(devices)
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    sessions, first_ok, first_reused = [], 0, 0
    for i in range(devices):
        ok, reused, session = once(port, ctx, f"dev-{i}", username, password, None)
        first_ok += ok
        first_reused += reused
        sessions.append(session)
    again_ok, again_reused = 0, 0
    for i, session in enumerate(sessions):
        ok, reused, _ = once(port, ctx, f"dev-{i}", username, password, session)
        again_ok += ok
        again_reused += reused
    print(f"first: {first_ok} admitted, {first_reused} resumed; "
          f"again: {again_ok} admitted, {again_reused} resumed")
    return 0 if first_ok == devices and again_ok == devices else 1


if __name__ == "__main__":
    sys.exit(main())
