//! The configuration text tests write for `mqid serve` and for rumqttd.

/// A `[broker]` table (rumqttd's configuration, as `mqid.toml` holds it): one MQTT 3.1.1 and
/// one MQTT 5 listener, at `v4` and `v5` (`host:port`; port 0 for a free one).
pub fn broker_toml(v4: &str, v5: &str) -> String {
    format!(
        r#"[broker]
id = 0
[broker.router]
max_connections = 1000
max_outgoing_packet_count = 200
max_segment_size = 1048576
max_segment_count = 10
[broker.v4.1]
name = "v4-1"
listen = "{v4}"
next_connection_delay_ms = 0
[broker.v4.1.connections]
connection_timeout_ms = 5000
max_payload_size = 20480
max_inflight_count = 100
dynamic_filters = true
[broker.v5.1]
name = "v5-1"
listen = "{v5}"
next_connection_delay_ms = 0
[broker.v5.1.connections]
connection_timeout_ms = 5000
max_payload_size = 20480
max_inflight_count = 100
"#
    )
}

/// An `[auth]` table on the OpenAPI source at `endpoint` (the emulator's region and instance),
/// with the lines `extra` added to `[auth.openapi]`.
pub fn openapi_auth_toml(endpoint: &str, extra: &str) -> String {
    format!(
        r#"[auth]
source = "openapi"
[auth.openapi]
endpoint = "{endpoint}"
region_id = "cn-hangzhou"
instance_id = "mqtt-local"
{extra}
"#
    )
}
