//! Ctrl-C and SIGTERM: the first asks the runs to stop starting seeds (those
//! in flight finish, output is flushed, the summary so far is printed, exit
//! 130); a second one ends the process at once, as if nothing were caught.

use crate::runner;

/// What a subcommand returns when it stopped early because it was asked to.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: {done}")]
pub struct Interrupted {
    /// What was done and how to carry on.
    pub done: String,
}

/// Exit code of a run stopped by a signal (128 + SIGINT, as shells report it).
pub const EXIT: u8 = 130;

extern "C" fn on_signal(signal: libc::c_int) {
    runner::stop();
    // SAFETY: signal() is async-signal-safe; the next one takes the default action.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
    }
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic and resets its own disposition.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// `Err(Interrupted)` if a stop was asked for, saying what was done.
pub fn check(done: impl FnOnce() -> String) -> Result<(), Interrupted> {
    match runner::stopped() {
        true => Err(Interrupted { done: done() }),
        false => Ok(()),
    }
}
