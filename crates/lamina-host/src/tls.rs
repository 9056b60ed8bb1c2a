//! TLS (rustls) for the ISO 8583 listener and client.
