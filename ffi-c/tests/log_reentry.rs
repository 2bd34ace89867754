//! The log callback calling back into the endpoint it logs for, through the C ABI from Rust.

use ipsecrs::*;
use std::ffi::{c_char, c_void};

/// What the callback saw; it lives on the test's stack for the whole test.
struct Seen {
    ep: *mut ipsec_endpoint,
    calls: u32,
    timeouts: Vec<ipsec_result>,
    deadlines: Vec<bool>,
}

unsafe extern "C" fn reenter(userdata: *mut c_void, _level: u32, _msg: *const c_char, _len: usize) {
    // SAFETY: `userdata` is the `Seen` registered with the callback, alive and otherwise
    // untouched while the endpoint call that logs runs.
    let seen = unsafe { &mut *userdata.cast::<Seen>() };
    seen.calls += 1;
    // SAFETY: `seen.ep` is the live endpoint this callback is logging for.
    seen.timeouts
        .push(unsafe { ipsec_endpoint_handle_timeout(seen.ep, 1000) });
    let mut deadline = 0u64;
    // SAFETY: as above; `deadline` is a live u64.
    seen.deadlines
        .push(unsafe { ipsec_endpoint_poll_timeout(seen.ep, &mut deadline) });
}

fn v4(a: [u8; 4]) -> ipsec_addr {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&a);
    ipsec_addr {
        family: IPSEC_AF_INET,
        port: 500,
        bytes,
    }
}

/// Stops a log callback from getting a second, mutable view of an endpoint while the call that
/// logs is changing it (undefined behaviour; with `handle_datagram` logging again, endless
/// recursion): the reentrant call is refused with `IPSEC_RESULT_REENTRANT`, and the endpoint
/// works normally once the outer call has returned.
#[test]
fn a_reentrant_call_from_the_log_callback_is_refused() {
    let mut cfg: *mut ipsec_config = std::ptr::null_mut();
    let mut ep: *mut ipsec_endpoint = std::ptr::null_mut();
    let seed = [9u8; 32];
    // SAFETY: live out-parameters, a 32-byte seed, handles from this library.
    unsafe {
        assert_eq!(ipsec_config_new(&mut cfg), ipsec_result::IPSEC_RESULT_OK);
        assert_eq!(
            ipsec_endpoint_new(cfg, seed.as_ptr(), &mut ep),
            ipsec_result::IPSEC_RESULT_OK
        );
        ipsec_config_free(&mut cfg);
    }
    let mut seen = Seen {
        ep,
        calls: 0,
        timeouts: Vec::new(),
        deadlines: Vec::new(),
    };
    let path = ipsec_path {
        local: v4([203, 0, 113, 2]),
        remote: v4([198, 51, 100, 1]),
    };
    let junk = [1u8, 2, 3];
    // SAFETY: `seen` outlives every call below that may log; the other arguments are live.
    unsafe {
        assert_eq!(
            ipsec_endpoint_set_log_callback(
                ep,
                Some(reenter),
                (&mut seen as *mut Seen).cast::<c_void>()
            ),
            ipsec_result::IPSEC_RESULT_OK
        );
        assert_eq!(
            ipsec_endpoint_handle_datagram(ep, 1000, &path, junk.as_ptr(), junk.len()),
            ipsec_result::IPSEC_RESULT_MALFORMED_MESSAGE
        );
    }
    assert_eq!(seen.calls, 1);
    assert_eq!(seen.timeouts, [ipsec_result::IPSEC_RESULT_REENTRANT]);
    assert_eq!(seen.deadlines, [false]);
    let mut counters = ipsec_endpoint_counters::default();
    // SAFETY: live handle and out-parameter; the callback is removed before `seen` goes.
    unsafe {
        assert_eq!(
            ipsec_endpoint_handle_timeout(ep, 1000),
            ipsec_result::IPSEC_RESULT_OK
        );
        assert_eq!(
            ipsec_endpoint_get_counters(ep, &mut counters),
            ipsec_result::IPSEC_RESULT_OK
        );
        assert_eq!(
            ipsec_endpoint_set_log_callback(ep, None, std::ptr::null_mut()),
            ipsec_result::IPSEC_RESULT_OK
        );
        ipsec_endpoint_free(&mut ep);
    }
    assert_eq!(counters.malformed, 1);
    assert!(ep.is_null());
    let mut msg = [0u8; 128];
    let mut n = 0usize;
    // SAFETY: a live 128-byte buffer and length.
    let r = unsafe {
        ipsec_result_message(
            ipsec_result::IPSEC_RESULT_REENTRANT as u32,
            msg.as_mut_ptr(),
            msg.len(),
            &mut n,
        )
    };
    assert_eq!(r, ipsec_result::IPSEC_RESULT_OK);
    assert!(std::str::from_utf8(&msg[..n])
        .unwrap()
        .contains("its own log callback"));
}
