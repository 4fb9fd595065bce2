//! Authentication: passwords (argon2id), TOTP second factor, lockout, sessions.
