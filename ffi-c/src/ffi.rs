//! The FFI edge: the panic boundary, pointer checks and ownership transfer of handles.
//!
//! Every `unsafe` block of the crate lives here or in a call of these helpers, each with a
//! `// SAFETY:` comment naming the caller's promise it relies on.

use std::cell::{Ref, RefCell, RefMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::endpoint::{ipsec_addr, IPSEC_AF_INET, IPSEC_AF_INET6};
use crate::result::ipsec_result;

/// What an entry point returns when its body panicked (or was handed a NULL it cannot report).
pub(crate) trait PanicDefault {
    fn panic_default() -> Self;
}

impl PanicDefault for ipsec_result {
    fn panic_default() -> Self {
        ipsec_result::IPSEC_RESULT_PANIC
    }
}

impl PanicDefault for () {
    fn panic_default() {}
}

impl PanicDefault for bool {
    fn panic_default() -> Self {
        false
    }
}

impl PanicDefault for u32 {
    fn panic_default() -> Self {
        0
    }
}

impl PanicDefault for usize {
    fn panic_default() -> Self {
        0
    }
}

impl<T> PanicDefault for *const T {
    fn panic_default() -> Self {
        std::ptr::null()
    }
}

/// Runs `f`; a panic inside becomes the type's default instead of unwinding into C (undefined
/// behaviour). The handle a panic happened in may be left in an inconsistent state; the caller
/// should free it.
pub(crate) fn boundary<R: PanicDefault>(f: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| R::panic_default())
}

/// Turns an `Option` of a checked pointer into the value or an early `IPSEC_RESULT_NULL_PARAMETER`.
macro_rules! try_some {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return $crate::result::ipsec_result::IPSEC_RESULT_NULL_PARAMETER,
        }
    };
}
pub(crate) use try_some;

/// Turns a `Result` whose error is already a result code into the value or an early return of
/// that code.
macro_rules! try_ok {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}
pub(crate) use try_ok;

/// A shared reference from a handle pointer, `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a live `T` created by this library and not used mutably elsewhere for
/// the returned lifetime.
pub(crate) unsafe fn as_ref<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: the caller promises `p` is NULL or valid (see the function's contract); `as_ref`
    // maps NULL to None.
    unsafe { p.as_ref() }
}

/// An exclusive reference from a handle pointer, `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a live `T` created by this library, and no other reference to it exists
/// for the returned lifetime (the C caller serialises calls on one handle).
pub(crate) unsafe fn as_mut<'a, T>(p: *mut T) -> Option<&'a mut T> {
    // SAFETY: as above, plus exclusivity promised by the caller.
    unsafe { p.as_mut() }
}

/// The caller's bytes. NULL is accepted only with length 0 (an empty input).
///
/// # Safety
/// When `p` is not NULL it points to `len` readable bytes that stay unchanged during the call.
pub(crate) unsafe fn in_slice<'a>(p: *const u8, len: usize) -> Option<&'a [u8]> {
    if p.is_null() {
        return (len == 0).then_some(&[][..]);
    }
    // SAFETY: non-NULL `p` points to `len` readable bytes (the caller's contract).
    Some(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A caller's batch of packets: `count` pointers and `count` lengths, packet `i` being the
/// `lens[i]` bytes at `packets[i]`. Checked whole before any packet is handled, so that a
/// refused batch changes nothing: the arrays may be NULL only with `count` 0, an element only
/// with length 0 (an empty packet). Borrows the caller's arrays; copies and allocates nothing.
#[derive(Clone, Copy)]
pub(crate) struct Batch<'a> {
    packets: &'a [*const u8],
    lens: &'a [usize],
}

impl<'a> Batch<'a> {
    /// `None` for a NULL array with a non-zero `count`, or a NULL element with a non-zero
    /// length (`IPSEC_RESULT_NULL_PARAMETER`).
    ///
    /// # Safety
    /// When `count` is not 0, `packets` and `lens` point to `count` readable elements each, and
    /// every non-NULL `packets[i]` to `lens[i]` readable bytes, all unchanged during the call.
    pub(crate) unsafe fn new(
        packets: *const *const u8,
        lens: *const usize,
        count: usize,
    ) -> Option<Batch<'a>> {
        if count == 0 {
            return Some(Batch {
                packets: &[],
                lens: &[],
            });
        }
        if packets.is_null() || lens.is_null() {
            return None;
        }
        // SAFETY: non-NULL, `count` readable elements each (the caller's contract).
        let (packets, lens) = unsafe {
            (
                std::slice::from_raw_parts(packets, count),
                std::slice::from_raw_parts(lens, count),
            )
        };
        let ok = packets
            .iter()
            .zip(lens)
            .all(|(p, n)| !p.is_null() || *n == 0);
        ok.then_some(Batch { packets, lens })
    }

    /// The packets, in order.
    pub(crate) fn iter(self) -> impl Iterator<Item = &'a [u8]> {
        self.packets.iter().zip(self.lens).map(|(p, n)| {
            // SAFETY: checked in `new` (NULL only with length 0); the bytes are readable and
            // unchanged for the call by the contract of `new`.
            unsafe { in_slice(*p, *n) }.unwrap_or(&[])
        })
    }
}

/// The caller's output buffer. NULL is accepted only with capacity 0 (a size query).
///
/// # Safety
/// When `p` is not NULL it points to `cap` writable bytes not otherwise accessed during the call.
pub(crate) unsafe fn out_slice<'a>(p: *mut u8, cap: usize) -> Option<&'a mut [u8]> {
    if p.is_null() {
        return (cap == 0).then_some(&mut [][..]);
    }
    // SAFETY: non-NULL `p` points to `cap` writable bytes owned by the caller for this call.
    Some(unsafe { std::slice::from_raw_parts_mut(p, cap) })
}

/// Writes an out-parameter. Callers check for NULL before doing any work, so that "written only
/// on success" holds; this only writes.
///
/// # Safety
/// `p` is non-NULL, aligned and writable for a `T`.
pub(crate) unsafe fn write<T>(p: *mut T, v: T) {
    // SAFETY: the caller checked non-NULL; alignment and writability are the C caller's promise.
    unsafe { p.write(v) }
}

/// The end of every `poll_transmit`: the description of the datagram written into the caller's
/// buffer goes to `*out`; for a buffer too small the size needed goes to `*out_required` (which
/// may be NULL) and the datagram stays queued.
///
/// # Safety
/// `out` is non-NULL and writable; `out_required` is NULL or writable.
pub(crate) unsafe fn polled<C>(
    r: Result<Option<C>, ipsec_proto::ike::BufferTooSmall>,
    out: *mut C,
    out_required: *mut usize,
) -> ipsec_result {
    match r {
        Ok(Some(c)) => {
            // SAFETY: the caller checked `out` non-NULL.
            unsafe { write(out, c) };
            ipsec_result::IPSEC_RESULT_OK
        }
        Ok(None) => ipsec_result::IPSEC_RESULT_NONE,
        Err(e) => {
            if !out_required.is_null() {
                // SAFETY: non-NULL optional out-parameter.
                unsafe { write(out_required, e.needed) };
            }
            ipsec_result::IPSEC_RESULT_BUFFER_TOO_SMALL
        }
    }
}

/// A handle whose state sits in a `RefCell` that every entry point borrows for its whole call
/// ([`lock`], [`peek`]). A call on the same handle from inside a callback the handle is running
/// (the log callback) finds it borrowed and is refused with `IPSEC_RESULT_REENTRANT`, instead of
/// making a second reference to state the outer call is changing.
pub(crate) trait Guarded {
    /// What the handle holds.
    type State;
    /// The cell holding it.
    fn cell(&self) -> &RefCell<Self::State>;
}

/// The state behind handle `h` for an entry point that changes it.
///
/// # Safety
/// `h` NULL or a live handle.
pub(crate) unsafe fn lock<'a, H: Guarded + 'a>(
    h: *const H,
) -> Result<RefMut<'a, H::State>, ipsec_result> {
    // SAFETY: caller contract. A shared reference to the handle is enough and never aliases the
    // exclusive borrow an outer call may hold: that one is of the state inside the RefCell.
    let h = unsafe { as_ref(h) }.ok_or(ipsec_result::IPSEC_RESULT_NULL_PARAMETER)?;
    h.cell()
        .try_borrow_mut()
        .map_err(|_| ipsec_result::IPSEC_RESULT_REENTRANT)
}

/// The state behind handle `h` for an entry point that only reads it.
///
/// # Safety
/// `h` NULL or a live handle.
pub(crate) unsafe fn peek<'a, H: Guarded + 'a>(
    h: *const H,
) -> Result<Ref<'a, H::State>, ipsec_result> {
    // SAFETY: as for `lock`.
    let h = unsafe { as_ref(h) }.ok_or(ipsec_result::IPSEC_RESULT_NULL_PARAMETER)?;
    h.cell()
        .try_borrow()
        .map_err(|_| ipsec_result::IPSEC_RESULT_REENTRANT)
}

/// [`free_in_place`] for a [`Guarded`] handle: does nothing (the handle stays valid and `*pp`
/// unchanged) while an entry point is using the handle, i.e. when called from inside the
/// handle's own callback.
///
/// # Safety
/// As for [`free_in_place`].
pub(crate) unsafe fn free_guarded<H: Guarded>(pp: *mut *mut H) {
    if pp.is_null() {
        return;
    }
    // SAFETY: non-NULL `pp` points to a readable pointer (caller contract).
    let handle = unsafe { pp.read() };
    // SAFETY: `handle` is NULL or a live handle (caller contract).
    if let Some(h) = unsafe { as_ref(handle.cast_const()) } {
        if h.cell().try_borrow_mut().is_err() {
            return;
        }
    }
    // SAFETY: caller contract; no entry point is using the handle.
    unsafe { free_in_place(pp) }
}

/// The socket address an `ipsec_addr` names; `None` for an unknown family.
pub(crate) fn addr_from_c(a: &ipsec_addr) -> Option<SocketAddr> {
    let ip = match a.family {
        IPSEC_AF_INET => {
            let [a0, a1, a2, a3, ..] = a.bytes;
            IpAddr::V4(Ipv4Addr::new(a0, a1, a2, a3))
        }
        IPSEC_AF_INET6 => IpAddr::V6(Ipv6Addr::from(a.bytes)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, a.port))
}

/// A socket address as an `ipsec_addr`.
pub(crate) fn addr_to_c(a: SocketAddr) -> ipsec_addr {
    let mut bytes = [0u8; 16];
    let family = match a.ip() {
        IpAddr::V4(v4) => {
            if let Some(d) = bytes.get_mut(..4) {
                d.copy_from_slice(&v4.octets());
            }
            IPSEC_AF_INET
        }
        IpAddr::V6(v6) => {
            bytes = v6.octets();
            IPSEC_AF_INET6
        }
    };
    ipsec_addr {
        family,
        port: a.port(),
        bytes,
    }
}

/// Hands a new object to C.
pub(crate) fn to_raw<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

/// Takes back and drops the object `*pp` points to, then sets `*pp` to NULL so that a second
/// free of the same variable is a no-op. NULL `pp` or NULL `*pp` do nothing.
///
/// # Safety
/// `pp` is NULL or points to a pointer that is NULL or was returned by this library for a `T`
/// and has not been freed.
pub(crate) unsafe fn free_in_place<T>(pp: *mut *mut T) {
    if pp.is_null() {
        return;
    }
    // SAFETY: non-NULL `pp` points to a readable and writable pointer (caller's contract).
    let p = unsafe { pp.replace(std::ptr::null_mut()) };
    if !p.is_null() {
        // SAFETY: `p` came from `to_raw::<T>` and is freed only here, once: `*pp` is now NULL.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Copies `text` plus a terminating NUL into the caller's buffer. On success `*out_len` is the
/// text length without the NUL; when the buffer is too small nothing is copied and `*out_len` is
/// the capacity needed, NUL included.
///
/// # Safety
/// `buf` as for [`out_slice`]; `out_len` NULL or writable.
pub(crate) unsafe fn write_text(
    text: &str,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    if out_len.is_null() {
        return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
    }
    // SAFETY: forwarded caller contract for `buf`/`cap`.
    let out = try_some!(unsafe { out_slice(buf, cap) });
    let needed = text.len().saturating_add(1);
    let Some(dst) = out.get_mut(..needed) else {
        // SAFETY: checked non-NULL above.
        unsafe { write(out_len, needed) };
        return ipsec_result::IPSEC_RESULT_BUFFER_TOO_SMALL;
    };
    let (body, nul) = dst.split_at_mut(text.len());
    body.copy_from_slice(text.as_bytes());
    nul.fill(0);
    // SAFETY: checked non-NULL above.
    unsafe { write(out_len, text.len()) };
    ipsec_result::IPSEC_RESULT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_the_default_value() {
        // Keep the expected panic message out of the test output.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r: ipsec_result = boundary(|| panic!("boom"));
        let b: bool = boundary(|| panic!("boom"));
        let n: usize = boundary(|| panic!("boom"));
        let p: *const u8 = boundary(|| panic!("boom"));
        std::panic::set_hook(hook);
        assert_eq!(r, ipsec_result::IPSEC_RESULT_PANIC);
        assert!(!b);
        assert_eq!(n, 0);
        assert!(p.is_null());
        assert_eq!(
            boundary(|| ipsec_result::IPSEC_RESULT_OK),
            ipsec_result::IPSEC_RESULT_OK
        );
    }

    #[test]
    fn text_needs_room_for_the_nul() {
        let mut buf = [0xAAu8; 5];
        let mut n = 0usize;
        // SAFETY: a live 5-byte buffer and a live usize.
        let r = unsafe { write_text("abcde", buf.as_mut_ptr(), buf.len(), &mut n) };
        assert_eq!(r, ipsec_result::IPSEC_RESULT_BUFFER_TOO_SMALL);
        assert_eq!((n, buf), (6, [0xAA; 5]));
        // SAFETY: as above, 4 bytes used.
        let r = unsafe { write_text("abc", buf.as_mut_ptr(), 4, &mut n) };
        assert_eq!(r, ipsec_result::IPSEC_RESULT_OK);
        assert_eq!((n, &buf[..4]), (3, &b"abc\0"[..]));
    }
}
