//! SQLite's files as its own unix VFS opens them, with one change: a savepoint's sub-journal that
//! spills to a file is written in pieces SQLite's unix VFS accepts.
//!
//! Why it exists: every transaction of the writer is a savepoint (group commit,
//! [`super::sqlite_writer`]), which keeps the first version of each page it changes in a
//! sub-journal, about 30 pages (120 KiB) per webhook effect. With `temp_store = memory` that
//! journal is a list of 1 KiB chunks, five allocations and five frees per page (7 % of an
//! effect's CPU, issue 23). `SQLITE_CONFIG_STMTJRNL_SPILL` keeps it instead in one buffer of the
//! size given, written to a temporary file when it outgrows it. But SQLite writes that buffer in
//! one call, and its unix VFS cuts every write to its low 17 bits (`nBuf &= 0x1ffff` in
//! `seekAndWriteFd`): a 1 MiB buffer became a write of 0 bytes, and the transaction failed as
//! "database or disk is full" (a large catalog import; reproduced in plain SQLite 3.46).
//!
//! So caisse registers, as the process's default VFS, a copy of `unix` whose `xOpen` gives
//! sub-journal files a `xWrite` that hands unix's own `xWrite` at most 64 KiB at a time. Every
//! other file (the database, its WAL and shared memory) keeps unix's methods untouched, and so
//! does a sub-journal if unix ever opens one with methods other than the first it saw.

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name under which the VFS is registered (and made the default).
const NAME: &std::ffi::CStr = c"caisse-unix";

/// The largest write handed to unix's `xWrite`: under its 128 KiB − 1 bytes.
const PIECE: c_int = 64 * 1024;

/// Registers the VFS as SQLite's default, once per process. Must run after the `sqlite3_config`
/// calls (registering starts SQLite, after which they are refused).
pub fn register() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_vfs_find` returns SQLite's static `unix` VFS, which lives as long as
        // the process; the copy registered is leaked, so it does too, as SQLite requires.
        unsafe {
            let unix = ffi::sqlite3_vfs_find(std::ptr::null());
            if unix.is_null() || UNIX.set(Shared(unix)).is_err() {
                return;
            }
            let mut vfs = *unix;
            vfs.zName = NAME.as_ptr();
            vfs.pNext = std::ptr::null_mut();
            vfs.xOpen = Some(open);
            ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 1);
        }
    });
}

/// A pointer to something of SQLite's that lives as long as the process and is only read.
#[derive(Clone, Copy)]
struct Shared<T>(*const T);
// SAFETY: what it points to is static and never written after it is made.
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

/// SQLite's own `unix` VFS, which does all the work.
static UNIX: OnceLock<Shared<ffi::sqlite3_vfs>> = OnceLock::new();

/// Unix's methods for a sub-journal as first seen, and the copy of them that writes in pieces.
struct SubJournal {
    unix: Shared<ffi::sqlite3_io_methods>,
    in_pieces: ffi::sqlite3_io_methods,
}
// SAFETY: both are function tables, read-only once made.
unsafe impl Send for SubJournal {}
unsafe impl Sync for SubJournal {}

static SUB_JOURNAL: OnceLock<SubJournal> = OnceLock::new();

/// Unix's `xOpen`, called with unix's own VFS (its methods read their `pAppData`); a sub-journal
/// then gets the methods that write in pieces.
unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let unix = UNIX.get().expect("registered with it").0 as *mut ffi::sqlite3_vfs;
    let Some(unix_open) = (*unix).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    let rc = unix_open(unix, name, file, flags, out_flags);
    if rc != ffi::SQLITE_OK || flags & ffi::SQLITE_OPEN_SUBJOURNAL == 0 {
        return rc;
    }
    let methods = (*file).pMethods;
    if methods.is_null() || (*methods).xWrite.is_none() {
        return rc;
    }
    let sub_journal = SUB_JOURNAL.get_or_init(|| SubJournal {
        unix: Shared(methods),
        in_pieces: ffi::sqlite3_io_methods {
            xWrite: Some(write_in_pieces),
            ..*methods
        },
    });
    if std::ptr::eq(sub_journal.unix.0, methods) {
        (*file).pMethods = &sub_journal.in_pieces;
    }
    rc
}

/// Unix's `xWrite`, at most [`PIECE`] bytes at a time.
unsafe extern "C" fn write_in_pieces(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    let unix_write = SUB_JOURNAL
        .get()
        .and_then(|s| (*s.unix.0).xWrite)
        .expect("set before any file gets these methods");
    let mut done: c_int = 0;
    while done < amount {
        let piece = PIECE.min(amount - done);
        let rc = unix_write(
            file,
            data.cast::<u8>().add(done as usize).cast(),
            piece,
            offset + ffi::sqlite3_int64::from(done),
        );
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        done += piece;
    }
    ffi::SQLITE_OK
}
