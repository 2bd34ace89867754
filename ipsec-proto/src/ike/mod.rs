//! The IKEv1 endpoint: Main Mode, Quick Mode, Informational, DPD, NAT-T and timers.
