//! IOS configuration text to policy, and IOS-style renderings of show output.
