"""One CONNECT with Eclipse Paho (paho-mqtt 2.x), for mqid's end-to-end tests.

usage: paho_connect.py PORT {3|5} CLIENT_ID USERNAME PASSWORD [tcp|websockets|tls:CAFILE]
Prints "admitted" (exit 0) when a successful CONNACK arrives, "refused: ..." (exit 1) otherwise.
The password is taken as given; the SIGNED passwords come from the caller.
"""
import sys
import threading

import paho.mqtt.client as mqtt


def main() -> int:
    port, version, client_id, username, password = sys.argv[1:6]
    transport = sys.argv[6] if len(sys.argv) > 6 else "tcp"
    protocol = mqtt.MQTTv5 if version == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        transport="websockets" if transport == "websockets" else "tcp",
    )
    if transport.startswith("tls:"):
        client.tls_set(ca_certs=transport[4:])
    client.username_pw_set(username, password)
    done = threading.Event()
    result = {}

    def on_connect(_c, _u, _flags, reason_code, _props):
        result["rc"] = reason_code
        done.set()

    def on_disconnect(_c, _u, _flags, reason_code, _props):
        result.setdefault("rc", f"disconnected ({reason_code})")
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect("127.0.0.1", int(port), keepalive=30)
    except OSError as e:
        print(f"refused: {e}")
        return 1
    client.loop_start()
    done.wait(10)
    client.loop_stop()
    rc = result.get("rc", "no answer in 10 s")
    if not isinstance(rc, str) and not rc.is_failure:
        print("admitted")
        client.disconnect()
        return 0
    print(f"refused: {rc}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
