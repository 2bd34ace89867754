//! ESP security associations (RFC 4303, RFC 3948).
