//! Authorization: role-based, deny by default, deny overrides allow, every decision audited.
