//! SIGTERM/SIGINT as readable descriptors (signalfd), and an eventfd a program or test can use to
//! ask the loop to stop the same way.
//!
//! The signals must be blocked in every thread, or the kernel may deliver them to one that does
//! not read the signalfd: call [`block_termination_signals`] first thing in `main`, before any
//! thread exists.

use super::tun::would_block_is_none;
use super::{cvt, cvt_size};
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

fn termination_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `set` is a writable sigset_t; sigemptyset/sigaddset only write into it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM);
        libc::sigaddset(set.as_mut_ptr(), libc::SIGINT);
        libc::sigaddset(set.as_mut_ptr(), libc::SIGHUP);
        set.assume_init()
    }
}

/// Blocks SIGTERM, SIGINT and SIGHUP (reload) in the calling thread (and threads it spawns afterwards).
pub fn block_termination_signals() -> io::Result<()> {
    let set = termination_set();
    // SAFETY: `set` is initialised; the old mask is not wanted.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// A signalfd for SIGTERM, SIGINT and SIGHUP.
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Creates the descriptor; the signals should already be blocked.
    pub fn new() -> io::Result<SignalFd> {
        let set = termination_set();
        // SAFETY: `set` is initialised; -1 asks for a new descriptor.
        let raw = cvt(unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) })?;
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(SignalFd { fd })
    }

    /// The next pending signal number, if any.
    pub fn read(&self) -> io::Result<Option<i32>> {
        let mut info = MaybeUninit::<libc::signalfd_siginfo>::zeroed();
        // SAFETY: `info` is writable for its size, which is what signalfd reads deliver.
        let r = cvt_size(unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                info.as_mut_ptr().cast(),
                size_of::<libc::signalfd_siginfo>(),
            )
        });
        // SAFETY: zero-initialised and filled by the kernel on success.
        Ok(would_block_is_none(r)?.map(|_| unsafe { info.assume_init() }.ssi_signo as i32))
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// An eventfd: [`StopHandle::stop`] from any thread makes the loop shut down as on SIGTERM.
#[derive(Debug, Clone)]
pub struct StopHandle {
    fd: Arc<OwnedFd>,
}

impl StopHandle {
    /// Creates the eventfd.
    pub fn new() -> io::Result<StopHandle> {
        // SAFETY: plain eventfd(2) call.
        let raw = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(StopHandle { fd: Arc::new(fd) })
    }

    /// Requests the stop.
    pub fn stop(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`, as eventfd requires.
        cvt_size(unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) })
            .map(drop)
    }

    /// True if a stop was requested (consumes the request).
    pub fn take(&self) -> io::Result<bool> {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into `v`, as eventfd requires.
        let r =
            cvt_size(unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) });
        Ok(would_block_is_none(r)?.is_some())
    }
}

impl AsRawFd for StopHandle {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
