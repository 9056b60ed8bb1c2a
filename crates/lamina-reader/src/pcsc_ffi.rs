//! The PC/SC API (PC/SC Part 5, as pcsc-lite and WinSCard export it), loaded
//! **at run time** from the system's PC/SC library.
//!
//! Linking at build time would need the library's development files
//! (`libpcsclite-dev` on Debian) on every machine that builds Lamina; the
//! run-time library (`libpcsclite.so.1`, package `libpcsclite1`) is what a
//! machine has. So the library is opened with `dlopen` on first use, and a
//! machine without it gets [`FfiError::NoLibrary`] naming what to install.
//!
//! This is the only module of the workspace with `unsafe` code: each `unsafe`
//! block calls one PC/SC function with buffers whose sizes it passes alongside,
//! as PC/SC Part 5 §3 defines them. Everything above it is safe Rust.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::OnceLock;

/// `DWORD`: `unsigned long` in pcsc-lite on Unix (64 bits on LP64), 32 bits in
/// WinSCard and on macOS.
#[cfg(not(any(windows, target_os = "macos")))]
pub type Dword = std::ffi::c_ulong;
/// `DWORD` (32 bits on Windows and macOS).
#[cfg(any(windows, target_os = "macos"))]
pub type Dword = u32;
/// `LONG` return codes and `SCARDCONTEXT`/`SCARDHANDLE` (pcsc-lite: `long`).
#[cfg(not(any(windows, target_os = "macos")))]
type Long = std::ffi::c_long;
#[cfg(target_os = "macos")]
type Long = i32;
#[cfg(windows)]
type Long = i32;
/// `SCARDCONTEXT` / `SCARDHANDLE`.
#[cfg(not(windows))]
type Handle = Long;
#[cfg(windows)]
type Handle = usize;

/// The library names tried, in order.
#[cfg(all(unix, not(target_os = "macos")))]
pub const LIBRARY_NAMES: &[&str] = &["libpcsclite.so.1", "libpcsclite.so"];
/// The library names tried, in order.
#[cfg(target_os = "macos")]
pub const LIBRARY_NAMES: &[&str] = &["/System/Library/Frameworks/PCSC.framework/PCSC"];
/// The library names tried, in order.
#[cfg(windows)]
pub const LIBRARY_NAMES: &[&str] = &["winscard.dll"];

/// What to install when the library is missing.
#[cfg(all(unix, not(target_os = "macos")))]
pub const INSTALL_HINT: &str =
    "install the PC/SC library: apt install libpcsclite1 (Debian/Ubuntu) or pcsc-lite (Fedora)";
/// What to install when the library is missing.
#[cfg(not(all(unix, not(target_os = "macos"))))]
pub const INSTALL_HINT: &str = "the system PC/SC library is part of the operating system";

#[cfg(windows)]
const SUFFIX: &str = "A";
#[cfg(not(windows))]
const SUFFIX: &str = "";

/// Largest ATR (ISO/IEC 7816-3: 33 bytes; WinSCard reserves 36).
#[cfg(not(windows))]
pub const MAX_ATR_SIZE: usize = 33;
/// Largest ATR (ISO/IEC 7816-3: 33 bytes; WinSCard reserves 36).
#[cfg(windows)]
pub const MAX_ATR_SIZE: usize = 36;

/// Largest extended response (pcsc-lite `MAX_BUFFER_SIZE_EXTENDED`).
pub const MAX_BUFFER_SIZE_EXTENDED: usize = 4 + 3 + (1 << 16) + 3 + 2;

/// `SCARD_SCOPE_USER`.
pub const SCOPE_USER: Dword = 0;
/// `SCARD_SHARE_SHARED`.
pub const SHARE_SHARED: Dword = 2;
/// `SCARD_PROTOCOL_T0`.
pub const PROTOCOL_T0: Dword = 1;
/// `SCARD_PROTOCOL_T1`.
pub const PROTOCOL_T1: Dword = 2;
/// `SCARD_RESET_CARD`.
pub const RESET_CARD: Dword = 1;
/// `SCARD_UNPOWER_CARD`.
pub const UNPOWER_CARD: Dword = 2;

/// `SCARD_STATE_*` bits of a reader state.
pub mod state {
    use super::Dword;
    /// `SCARD_STATE_UNAWARE`.
    pub const UNAWARE: Dword = 0x0000;
    /// `SCARD_STATE_CHANGED`.
    pub const CHANGED: Dword = 0x0002;
    /// `SCARD_STATE_PRESENT`.
    pub const PRESENT: Dword = 0x0020;
    /// `SCARD_STATE_EXCLUSIVE`.
    pub const EXCLUSIVE: Dword = 0x0080;
    /// `SCARD_STATE_INUSE`.
    pub const INUSE: Dword = 0x0100;
    /// `SCARD_STATE_MUTE`.
    pub const MUTE: Dword = 0x0200;
}

/// A PC/SC return code (`SCARD_E_*`, `SCARD_W_*`, `SCARD_F_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScardCode(pub u32);

impl ScardCode {
    /// `SCARD_E_TIMEOUT`.
    pub const TIMEOUT: ScardCode = ScardCode(0x8010_000A);
    /// `SCARD_E_SHARING_VIOLATION`.
    pub const SHARING_VIOLATION: ScardCode = ScardCode(0x8010_000B);
    /// `SCARD_E_NO_SMARTCARD`.
    pub const NO_SMARTCARD: ScardCode = ScardCode(0x8010_000C);
    /// `SCARD_E_UNKNOWN_READER`.
    pub const UNKNOWN_READER: ScardCode = ScardCode(0x8010_0009);
    /// `SCARD_E_READER_UNAVAILABLE`.
    pub const READER_UNAVAILABLE: ScardCode = ScardCode(0x8010_0017);
    /// `SCARD_E_NO_SERVICE`.
    pub const NO_SERVICE: ScardCode = ScardCode(0x8010_001D);
    /// `SCARD_E_SERVICE_STOPPED`.
    pub const SERVICE_STOPPED: ScardCode = ScardCode(0x8010_001E);
    /// `SCARD_E_NO_READERS_AVAILABLE`.
    pub const NO_READERS_AVAILABLE: ScardCode = ScardCode(0x8010_002E);
    /// `SCARD_W_UNRESPONSIVE_CARD`.
    pub const UNRESPONSIVE_CARD: ScardCode = ScardCode(0x8010_0066);
    /// `SCARD_W_UNPOWERED_CARD`.
    pub const UNPOWERED_CARD: ScardCode = ScardCode(0x8010_0067);
    /// `SCARD_W_RESET_CARD`.
    pub const RESET_CARD: ScardCode = ScardCode(0x8010_0068);
    /// `SCARD_W_REMOVED_CARD`.
    pub const REMOVED_CARD: ScardCode = ScardCode(0x8010_0069);

    /// The code's PC/SC name (`SCARD_E_…`), as pcsc-lite's `pcsc_stringify_error`.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(c, _)| *c == self.0)
            .map_or("SCARD_E_UNKNOWN", |(_, n)| n)
    }
}

impl std::fmt::Display for ScardCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (0x{:08X})", self.name(), self.0)
    }
}

/// PC/SC Part 5 / pcsc-lite `pcsclite.h` return codes and their names.
const NAMES: &[(u32, &str)] = &[
    (0x8010_0001, "SCARD_F_INTERNAL_ERROR"),
    (0x8010_0002, "SCARD_E_CANCELLED"),
    (0x8010_0003, "SCARD_E_INVALID_HANDLE"),
    (0x8010_0004, "SCARD_E_INVALID_PARAMETER"),
    (0x8010_0005, "SCARD_E_INVALID_TARGET"),
    (0x8010_0006, "SCARD_E_NO_MEMORY"),
    (0x8010_0007, "SCARD_F_WAITED_TOO_LONG"),
    (0x8010_0008, "SCARD_E_INSUFFICIENT_BUFFER"),
    (0x8010_0009, "SCARD_E_UNKNOWN_READER"),
    (0x8010_000A, "SCARD_E_TIMEOUT"),
    (0x8010_000B, "SCARD_E_SHARING_VIOLATION"),
    (0x8010_000C, "SCARD_E_NO_SMARTCARD"),
    (0x8010_000D, "SCARD_E_UNKNOWN_CARD"),
    (0x8010_000E, "SCARD_E_CANT_DISPOSE"),
    (0x8010_000F, "SCARD_E_PROTO_MISMATCH"),
    (0x8010_0010, "SCARD_E_NOT_READY"),
    (0x8010_0011, "SCARD_E_INVALID_VALUE"),
    (0x8010_0012, "SCARD_E_SYSTEM_CANCELLED"),
    (0x8010_0013, "SCARD_F_COMM_ERROR"),
    (0x8010_0014, "SCARD_F_UNKNOWN_ERROR"),
    (0x8010_0015, "SCARD_E_INVALID_ATR"),
    (0x8010_0016, "SCARD_E_NOT_TRANSACTED"),
    (0x8010_0017, "SCARD_E_READER_UNAVAILABLE"),
    (0x8010_0019, "SCARD_E_PCI_TOO_SMALL"),
    (0x8010_001A, "SCARD_E_READER_UNSUPPORTED"),
    (0x8010_001B, "SCARD_E_DUPLICATE_READER"),
    (0x8010_001C, "SCARD_E_CARD_UNSUPPORTED"),
    (0x8010_001D, "SCARD_E_NO_SERVICE"),
    (0x8010_001E, "SCARD_E_SERVICE_STOPPED"),
    (0x8010_001F, "SCARD_E_UNEXPECTED"),
    (0x8010_002E, "SCARD_E_NO_READERS_AVAILABLE"),
    (0x8010_0065, "SCARD_W_UNSUPPORTED_CARD"),
    (0x8010_0066, "SCARD_W_UNRESPONSIVE_CARD"),
    (0x8010_0067, "SCARD_W_UNPOWERED_CARD"),
    (0x8010_0068, "SCARD_W_RESET_CARD"),
    (0x8010_0069, "SCARD_W_REMOVED_CARD"),
];

/// Why a PC/SC call failed at this level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FfiError {
    /// The PC/SC library could not be loaded (with the loader's reason).
    NoLibrary(String),
    /// The function returned an error code.
    Code(ScardCode),
}

impl From<ScardCode> for FfiError {
    fn from(c: ScardCode) -> Self {
        FfiError::Code(c)
    }
}

/// `SCARD_READERSTATE` (pcsc-lite `winscard.h`; the same layout in WinSCard
/// with a 36-byte ATR).
#[repr(C)]
#[cfg_attr(target_os = "macos", repr(packed))]
struct RawReaderState {
    reader: *const c_char,
    user_data: *mut c_void,
    current_state: Dword,
    event_state: Dword,
    atr_len: Dword,
    atr: [u8; MAX_ATR_SIZE],
}

/// `SCARD_IO_REQUEST`.
#[repr(C)]
struct IoRequest {
    protocol: Dword,
    pci_length: Dword,
}

type EstablishFn =
    unsafe extern "system" fn(Dword, *const c_void, *const c_void, *mut Handle) -> Long;
type ReleaseFn = unsafe extern "system" fn(Handle) -> Long;
type ListReadersFn =
    unsafe extern "system" fn(Handle, *const c_char, *mut c_char, *mut Dword) -> Long;
type StatusChangeFn = unsafe extern "system" fn(Handle, Dword, *mut RawReaderState, Dword) -> Long;
type ConnectFn =
    unsafe extern "system" fn(Handle, *const c_char, Dword, Dword, *mut Handle, *mut Dword) -> Long;
type ReconnectFn = unsafe extern "system" fn(Handle, Dword, Dword, Dword, *mut Dword) -> Long;
type DisconnectFn = unsafe extern "system" fn(Handle, Dword) -> Long;
type StatusFn = unsafe extern "system" fn(
    Handle,
    *mut c_char,
    *mut Dword,
    *mut Dword,
    *mut Dword,
    *mut u8,
    *mut Dword,
) -> Long;
type TransmitFn = unsafe extern "system" fn(
    Handle,
    *const IoRequest,
    *const u8,
    Dword,
    *mut IoRequest,
    *mut u8,
    *mut Dword,
) -> Long;

/// The PC/SC functions Lamina calls, resolved from the loaded library.
struct Api {
    establish: EstablishFn,
    release: ReleaseFn,
    list_readers: ListReadersFn,
    status_change: StatusChangeFn,
    connect: ConnectFn,
    reconnect: ReconnectFn,
    disconnect: DisconnectFn,
    status: StatusFn,
    transmit: TransmitFn,
    /// Keeps the library mapped for the process's lifetime.
    _lib: libloading::Library,
}

/// Environment variable naming the PC/SC library to load instead of the
/// system's (a pcsc-lite built elsewhere, or a path that does not exist to see
/// how Lamina behaves without one).
pub const LIBRARY_VAR: &str = "LAMINA_PCSC_LIBRARY";

fn open_library() -> Result<libloading::Library, String> {
    let names: Vec<String> = match std::env::var(LIBRARY_VAR) {
        Ok(path) if !path.is_empty() => vec![path],
        _ => LIBRARY_NAMES.iter().map(|n| (*n).to_owned()).collect(),
    };
    let mut reasons = Vec::new();
    for name in &names {
        // SAFETY: loading the system PC/SC library runs its initialisers, which
        // pcsc-lite and WinSCard keep free of side effects beyond their own state.
        match unsafe { libloading::Library::new(name) } {
            Ok(lib) => return Ok(lib),
            Err(_) => reasons.push(name.clone()),
        }
    }
    Err(format!("cannot load {}", reasons.join(" or ")))
}

fn symbol<T: Copy>(lib: &libloading::Library, name: &str) -> Result<T, String> {
    let full = format!("{name}{SUFFIX}");
    // SAFETY: `T` is the function type PC/SC Part 5 gives this name; the
    // pointer stays valid while `lib` is kept in `Api`.
    unsafe { lib.get::<T>(&full) }
        .map(|s| *s)
        .map_err(|e| format!("{full}: {e}"))
}

fn load() -> Result<Api, String> {
    let lib = open_library()?;
    Ok(Api {
        establish: symbol(&lib, "SCardEstablishContext")?,
        release: symbol(&lib, "SCardReleaseContext")?,
        list_readers: symbol(&lib, "SCardListReaders")?,
        status_change: symbol(&lib, "SCardGetStatusChange")?,
        connect: symbol(&lib, "SCardConnect")?,
        reconnect: symbol(&lib, "SCardReconnect")?,
        disconnect: symbol(&lib, "SCardDisconnect")?,
        status: symbol(&lib, "SCardStatus")?,
        transmit: symbol(&lib, "SCardTransmit")?,
        _lib: lib,
    })
}

fn api() -> Result<&'static Api, FfiError> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load)
        .as_ref()
        .map_err(|e| FfiError::NoLibrary(e.clone()))
}

/// True when the system PC/SC library can be loaded.
pub fn library_available() -> bool {
    api().is_ok()
}

fn check(rv: Long) -> Result<(), ScardCode> {
    // Codes are 32-bit values (pcsc-lite stores them in a `long`).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let code = (rv & 0xFFFF_FFFF) as u32;
    if code == 0 {
        Ok(())
    } else {
        Err(ScardCode(code))
    }
}

fn dword(n: usize) -> Dword {
    Dword::try_from(n).unwrap_or(Dword::MAX)
}

fn usize_of(n: Dword) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A reader and its state, as `SCardGetStatusChange` reports it.
#[derive(Debug, Clone)]
pub struct ReaderState {
    /// The reader's name.
    pub name: CString,
    /// The state the caller knows (`state::*`).
    pub current: Dword,
    /// The state PC/SC reports (`state::*`, upper 16 bits: event counter).
    pub event: Dword,
    /// The card's ATR, when present.
    pub atr: Vec<u8>,
}

impl ReaderState {
    /// A reader whose state the caller does not know yet.
    pub fn unaware(name: CString) -> Self {
        ReaderState {
            name,
            current: state::UNAWARE,
            event: 0,
            atr: Vec::new(),
        }
    }

    /// Takes the reported state as known (before waiting for the next change).
    pub fn sync(&mut self) {
        self.current = self.event & !state::CHANGED;
    }

    /// The reported state has `bit`.
    pub fn has(&self, bit: Dword) -> bool {
        self.event & bit != 0
    }
}

/// An established PC/SC context (`SCardEstablishContext`, user scope).
#[derive(Debug)]
pub struct Context {
    handle: Handle,
    api: &'static Api,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PC/SC library")
    }
}

impl Context {
    /// Establishes a context in user scope.
    pub fn establish() -> Result<Context, FfiError> {
        let api = api()?;
        let mut handle: Handle = 0;
        // SAFETY: reserved pointers are null as PC/SC Part 5 §3.1.1 requires;
        // `handle` is a valid out pointer.
        check(unsafe {
            (api.establish)(SCOPE_USER, std::ptr::null(), std::ptr::null(), &mut handle)
        })?;
        Ok(Context { handle, api })
    }

    /// The reader names (`SCardListReaders`); none is an empty list.
    pub fn list_readers(&self) -> Result<Vec<CString>, FfiError> {
        let mut len: Dword = 0;
        // SAFETY: a null buffer asks for the length only.
        let rv = unsafe {
            (self.api.list_readers)(
                self.handle,
                std::ptr::null(),
                std::ptr::null_mut(),
                &mut len,
            )
        };
        match check(rv) {
            Err(ScardCode::NO_READERS_AVAILABLE) => return Ok(Vec::new()),
            other => other?,
        }
        let mut buf = vec![0u8; usize_of(len).max(1)];
        let mut len = dword(buf.len());
        // SAFETY: `buf` holds `len` bytes.
        let rv = unsafe {
            (self.api.list_readers)(
                self.handle,
                std::ptr::null(),
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        };
        match check(rv) {
            Err(ScardCode::NO_READERS_AVAILABLE) => return Ok(Vec::new()),
            other => other?,
        }
        buf.truncate(usize_of(len).min(buf.len()));
        Ok(buf
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .filter_map(|s| CString::new(s).ok())
            .collect())
    }

    /// Waits up to `timeout_ms` for a change of the readers' states
    /// (`SCardGetStatusChange`); 0 returns the states at once.
    pub fn get_status_change(
        &self,
        timeout_ms: u32,
        states: &mut [ReaderState],
    ) -> Result<(), FfiError> {
        let mut raw: Vec<RawReaderState> = states
            .iter()
            .map(|s| RawReaderState {
                reader: s.name.as_ptr(),
                user_data: std::ptr::null_mut(),
                current_state: s.current,
                event_state: 0,
                atr_len: 0,
                atr: [0; MAX_ATR_SIZE],
            })
            .collect();
        // SAFETY: `raw` holds `raw.len()` states whose names outlive the call.
        let rv = unsafe {
            (self.api.status_change)(
                self.handle,
                Dword::from(timeout_ms),
                raw.as_mut_ptr(),
                dword(raw.len()),
            )
        };
        check(rv)?;
        for (s, r) in states.iter_mut().zip(&raw) {
            s.event = r.event_state;
            let n = usize_of(r.atr_len).min(MAX_ATR_SIZE);
            let atr = r.atr;
            s.atr = atr[..n].to_vec();
        }
        Ok(())
    }

    /// Connects to the card in `reader` in shared mode (`SCardConnect`).
    pub fn connect(&self, reader: &CStr, protocols: Dword) -> Result<Card, FfiError> {
        let mut handle: Handle = 0;
        let mut active: Dword = 0;
        // SAFETY: `reader` is NUL-terminated; out pointers are valid.
        check(unsafe {
            (self.api.connect)(
                self.handle,
                reader.as_ptr(),
                SHARE_SHARED,
                protocols,
                &mut handle,
                &mut active,
            )
        })?;
        Ok(Card {
            handle,
            active,
            api: self.api,
        })
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the handle came from SCardEstablishContext and is released once.
        let _ = unsafe { (self.api.release)(self.handle) };
    }
}

/// A connection to a card (`SCARDHANDLE`).
#[derive(Debug)]
pub struct Card {
    handle: Handle,
    active: Dword,
    api: &'static Api,
}

/// What `SCardStatus` reports of a connected card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardStatus {
    /// The active protocol (`PROTOCOL_T0`, `PROTOCOL_T1`, or other).
    pub protocol: Dword,
    /// The card's ATR.
    pub atr: Vec<u8>,
}

impl Card {
    /// The protocol negotiated at the last connect or reconnect.
    pub fn active_protocol(&self) -> Dword {
        self.active
    }

    /// Reconnects (`SCardReconnect`): `init` is `RESET_CARD` or `UNPOWER_CARD`.
    pub fn reconnect(&mut self, protocols: Dword, init: Dword) -> Result<(), FfiError> {
        let mut active: Dword = 0;
        // SAFETY: the handle is connected; `active` is a valid out pointer.
        check(unsafe {
            (self.api.reconnect)(self.handle, SHARE_SHARED, protocols, init, &mut active)
        })?;
        self.active = active;
        Ok(())
    }

    /// The card's protocol and ATR (`SCardStatus`).
    pub fn status(&self) -> Result<CardStatus, FfiError> {
        let mut name = vec![0u8; 256];
        let mut name_len = dword(name.len());
        let mut state: Dword = 0;
        let mut protocol: Dword = 0;
        let mut atr = [0u8; MAX_ATR_SIZE];
        let mut atr_len = dword(atr.len());
        // SAFETY: each buffer is passed with its length.
        check(unsafe {
            (self.api.status)(
                self.handle,
                name.as_mut_ptr().cast(),
                &mut name_len,
                &mut state,
                &mut protocol,
                atr.as_mut_ptr(),
                &mut atr_len,
            )
        })?;
        Ok(CardStatus {
            protocol,
            atr: atr[..usize_of(atr_len).min(MAX_ATR_SIZE)].to_vec(),
        })
    }

    /// Sends one APDU and returns the response (`SCardTransmit`).
    pub fn transmit(&self, apdu: &[u8]) -> Result<Vec<u8>, FfiError> {
        let pci = IoRequest {
            protocol: self.active,
            pci_length: dword(std::mem::size_of::<IoRequest>()),
        };
        let mut buf = vec![0u8; MAX_BUFFER_SIZE_EXTENDED];
        let mut len = dword(buf.len());
        // SAFETY: `apdu` and `buf` are passed with their lengths; no receive PCI.
        check(unsafe {
            (self.api.transmit)(
                self.handle,
                &pci,
                apdu.as_ptr(),
                dword(apdu.len()),
                std::ptr::null_mut(),
                buf.as_mut_ptr(),
                &mut len,
            )
        })?;
        buf.truncate(usize_of(len).min(MAX_BUFFER_SIZE_EXTENDED));
        Ok(buf)
    }

    /// Disconnects (`SCardDisconnect`) with `disposition` (`UNPOWER_CARD`, …).
    pub fn disconnect(self, disposition: Dword) -> Result<(), FfiError> {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: the handle is connected and not used again (Drop is skipped).
        check(unsafe { (me.api.disconnect)(me.handle, disposition) })?;
        Ok(())
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        // SAFETY: the handle is connected and disconnected once.
        let _ = unsafe { (self.api.disconnect)(self.handle, UNPOWER_CARD) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_their_pcsc_names() {
        assert_eq!(ScardCode::NO_SERVICE.name(), "SCARD_E_NO_SERVICE");
        assert_eq!(ScardCode::REMOVED_CARD.name(), "SCARD_W_REMOVED_CARD");
        assert_eq!(ScardCode(0x8010_00FF).name(), "SCARD_E_UNKNOWN");
        assert_eq!(
            ScardCode::TIMEOUT.to_string(),
            "SCARD_E_TIMEOUT (0x8010000A)"
        );
    }

    #[test]
    fn return_codes_are_read_as_32_bits() {
        assert_eq!(check(0), Ok(()));
        #[cfg(not(any(windows, target_os = "macos")))]
        assert_eq!(check(0x8010_001D), Err(ScardCode::NO_SERVICE));
    }

    #[test]
    fn reader_state_layout_matches_pcsc_lite() {
        // pcsc-lite on LP64: two pointers, three unsigned longs, 33 ATR bytes,
        // padded to 8 bytes.
        #[cfg(all(target_pointer_width = "64", not(any(windows, target_os = "macos"))))]
        assert_eq!(
            std::mem::size_of::<RawReaderState>(),
            8 + 8 + 3 * 8 + 33 + 7
        );
    }
}
