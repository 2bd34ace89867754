//! Native part of the Python package `ipsec` (built with maturin).
//!
//! This module is private (`ipsec._native`): the public API is the pure-Python package around
//! it, which turns the plain tuples and dicts returned here into frozen dataclasses. Exceptions
//! are the classes of `ipsec.errors`, looked up by name when raised, so that one hierarchy
//! (with multiple inheritance from `ValueError`/`TimeoutError` where it helps) serves both sides.
//!
//! Time crosses the boundary as float seconds on the caller's monotonic clock and is converted
//! here to the core's milliseconds.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyModule;

use ipsec_proto::time::Instant;

mod config;
mod diag;
mod endpoint;
mod esp;
mod evidence;
mod show;
mod tunnel;

/// The exception classes of `ipsec.errors`, imported once.
static ERRORS: GILOnceCell<Py<PyModule>> = GILOnceCell::new();

/// An exception of class `name` from `ipsec.errors` with message `msg`. Falls back to
/// `RuntimeError` if the Python side is missing (the native module used on its own).
pub(crate) fn error(py: Python<'_>, name: &str, msg: impl Into<String>) -> PyErr {
    let msg = msg.into();
    let module = ERRORS.get_or_try_init(py, || py.import("ipsec.errors").map(|m| m.unbind()));
    match module.and_then(|m| m.bind(py).getattr(name)) {
        Ok(cls) => PyErr::from_type(
            match cls.downcast_into::<pyo3::types::PyType>() {
                Ok(t) => t,
                Err(_) => return pyo3::exceptions::PyRuntimeError::new_err(msg),
            },
            msg,
        ),
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(msg),
    }
}

/// The exception instance itself (for events that carry an error instead of raising it).
pub(crate) fn error_value(py: Python<'_>, name: &str, msg: impl Into<String>) -> PyObject {
    error(py, name, msg).into_value(py).into_any()
}

/// Float seconds from the caller's clock to the core's milliseconds.
pub(crate) fn instant(now: f64) -> PyResult<Instant> {
    if !now.is_finite() || now < 0.0 {
        return Err(PyValueError::new_err(format!(
            "now must be a finite, non-negative number of seconds, got {now}"
        )));
    }
    let ms = (now * 1000.0).round();
    if ms >= u64::MAX as f64 {
        return Err(PyValueError::new_err("now is too far in the future"));
    }
    Ok(Instant::from_millis(ms as u64))
}

/// The core's milliseconds back to float seconds.
pub(crate) fn seconds(t: Instant) -> f64 {
    t.as_millis() as f64 / 1000.0
}

/// The `ipsec._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<esp::EspSa>()?;
    m.add_class::<esp::ChildKeys>()?;
    m.add_class::<config::Configuration>()?;
    m.add_class::<endpoint::Endpoint>()?;
    m.add_class::<tunnel::Tunnel>()?;
    m.add_function(wrap_pyfunction!(esp::classify_udp4500, m)?)?;
    m.add_function(wrap_pyfunction!(diag::diagnose_config, m)?)?;
    m.add_function(wrap_pyfunction!(diag::diagnose_causes, m)?)?;
    Ok(())
}
