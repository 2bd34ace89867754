//! Runnable examples of embedding the stack; see the binaries under `src/bin/`.
