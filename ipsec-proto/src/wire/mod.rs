//! ISAKMP byte formats (RFC 2408, 2407, 2409, 3947, 3706): zero-copy parsing and emitting.
