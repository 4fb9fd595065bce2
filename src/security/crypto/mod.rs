//! Encryption: AES-256-GCM under a rotating key ring, versioned envelopes.
