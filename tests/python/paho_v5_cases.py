"""MQTT 5 conformance cases with Eclipse Paho (paho-mqtt 2.x), for
crates/mqid-rumqttd/tests/conformance.rs (the same case against rumqttd's stock listener and
mqid's edge).

usage: paho_v5_cases.py {qos2|session|too_large} PORT USERNAME PASSWORD
Prints "ok" (exit 0) when the case holds, "fail: ..." (exit 1) otherwise.

qos2     one QoS 2 PUBLISH, subscriber and publisher both QoS 2: the publisher's flow completes
         (PUBCOMP) and the subscriber gets the message once, at QoS 2.
session  a session with Session Expiry Interval 60 and Clean Start 0 subscribes, disconnects
         normally; a message published meanwhile arrives when it reconnects with Clean Start 0,
         and the CONNACK says the session is present.
too_large a PUBLISH of 30,000 bytes (over the listener's max_payload_size, 20,480): the server
         disconnects with reason 0x95 Packet too large, which Paho reports.
"""
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

WAIT = 10


class Peer:
    """One paho v5 client with events for what the cases wait on."""

    def __init__(self, client_id, port, user, password, clean_start=True, expiry=None):
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(user, password)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.published = threading.Event()
        self.session_present = None
        self.connect_rc = None
        self.messages = []
        self.got_message = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_publish = lambda *_a: self.published.set()
        self.client.on_message = self._on_message
        self.disconnected = threading.Event()
        self.disconnect_rc = None
        self.client.on_disconnect = self._on_disconnect
        props = None
        if expiry is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = expiry
        self.client.connect(
            "127.0.0.1", int(port), keepalive=30, clean_start=clean_start, properties=props
        )
        self.client.loop_start()

    def _on_connect(self, _c, _u, flags, reason_code, _props):
        self.connect_rc = reason_code
        self.session_present = flags.session_present
        self.connected.set()

    def _on_disconnect(self, _c, _u, _flags, reason_code, _props):
        self.disconnect_rc = reason_code
        self.disconnected.set()

    def _on_message(self, _c, _u, msg):
        self.messages.append((msg.topic, msg.payload, msg.qos))
        self.got_message.set()

    def ready(self):
        if not self.connected.wait(WAIT):
            raise RuntimeError("no CONNACK")
        if self.connect_rc.is_failure:
            raise RuntimeError(f"refused: {self.connect_rc}")

    def stop(self):
        self.client.disconnect()
        time.sleep(0.3)
        self.client.loop_stop()


def qos2(port, user, password):
    sub = Peer("pq2-sub", port, user, password)
    sub.ready()
    sub.client.subscribe("pq2/x", qos=2)
    if not sub.subscribed.wait(WAIT):
        return "no SUBACK"
    pub = Peer("pq2-pub", port, user, password)
    pub.ready()
    pub.client.publish("pq2/x", b"exactly", qos=2)
    if not pub.published.wait(WAIT):
        return "the publisher's QoS 2 flow did not complete"
    if not sub.got_message.wait(WAIT):
        return "the subscriber got nothing"
    time.sleep(0.5)  # a duplicate would arrive by now
    pub.stop()
    sub.stop()
    if sub.messages != [("pq2/x", b"exactly", 2)]:
        return f"the subscriber got {sub.messages}"
    return None


def session(port, user, password):
    first = Peer("p5-sess", port, user, password, clean_start=False, expiry=60)
    first.ready()
    first.client.subscribe("pse/x", qos=1)
    if not first.subscribed.wait(WAIT):
        return "no SUBACK"
    first.stop()
    pub = Peer("p5-sess-pub", port, user, password)
    pub.ready()
    pub.client.publish("pse/x", b"kept", qos=1)
    if not pub.published.wait(WAIT):
        return "no PUBACK"
    pub.stop()
    again = Peer("p5-sess", port, user, password, clean_start=False, expiry=60)
    again.ready()
    got = again.got_message.wait(WAIT)
    again.stop()
    if not again.session_present:
        return "the CONNACK says no session is present"
    if not got or again.messages[0][:2] != ("pse/x", b"kept"):
        return f"the message queued for the session did not arrive: {again.messages}"
    return None


def too_large(port, user, password):
    peer = Peer("p5-large", port, user, password)
    peer.ready()
    peer.client.publish("big/x", b"x" * 30000, qos=0)
    if not peer.disconnected.wait(WAIT):
        peer.stop()
        return "not disconnected"
    peer.client.loop_stop()
    rc = peer.disconnect_rc
    if getattr(rc, "value", None) != 0x95:
        return f"disconnected with {rc!r}"
    return None


def main() -> int:
    case, port, user, password = sys.argv[1:5]
    try:
        problem = {"qos2": qos2, "session": session, "too_large": too_large}[case](port, user, password)
    except Exception as e:  # a refused or failed connection is the case failing
        problem = f"{type(e).__name__}: {e}"
    if problem is None:
        print("ok")
        return 0
    print(f"fail: {problem}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
