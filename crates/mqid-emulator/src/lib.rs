//! A local emulator of the ApsaraMQ for MQTT OpenAPI custom-auth queries (work in progress).
