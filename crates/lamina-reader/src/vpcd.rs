//! The emulated card as a virtual smart card: a client of vsmartcard's virtual
//! reader driver `vpcd`, so `pcscd` shows an ordinary reader with our card in it.
//!
//! ## Wire protocol (vsmartcard `vpcd`; documented in vsmartcard's "Creating a
//! virtual smart card", checked against `vsmartcard-vpcd` 3.3 / driver 0.8 on
//! Debian 12)
//!
//! The card side is a TCP **client** of the driver (default `127.0.0.1:35963`,
//! reader "Virtual PCD 00 00"; `35964` is "Virtual PCD 00 01"). Every message,
//! both ways, is a 2-byte big-endian length `N` followed by `N` bytes.
//!
//! * From vpcd, `N = 1` is a control byte: `00` power off, `01` power on, `02`
//!   reset (none of these gets a reply), `04` "send your ATR" (reply: one framed
//!   ATR). `pcscd` asks for the ATR about every 400 ms to see whether the card is
//!   still present. Closing the connection is the card's removal.
//! * From vpcd, `N ≥ 2` is a command APDU, passed through unchanged (Le included);
//!   the reply is one framed response APDU (data ‖ SW1 SW2).
//!
//! ## How the card behaves here
//!
//! pcsc-lite chooses T=0 or T=1 from the ATR alone. The ATR is the card's contact
//! ATR ([`lamina_card::atr::contact_atr`]), which offers T=0 first and T=1, so
//! applications that connect with T=0 only still work. Behind a virtual reader no
//! T=0 TPDUs exist, and a PC/SC client cannot always chain, so by default the card
//! answers like a well-mannered card under a T=0 reader that does the `61xx`
//! exchange itself ([`ResponseStyle::Full`]): case 2 and case 4 commands get all
//! their data with `9000` (data longer than Le is still cut with `61xx`, and a
//! command without Le gets its data whole). [`ResponseStyle::T0`] makes the card
//! announce every response with `61xx` / `6Cxx` instead, as a raw T=0 card does
//! (useful to exercise a client's T=0 handling).
//!
//! The card's state is written back to its image after every command that wrote
//! NVM and at the end of every session (power off, reset, removal), so killing
//! the bridge loses nothing the card had acknowledged.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lamina_card::atr::contact_atr;
use lamina_card::{Card, CardChannel, ChannelError, EmulatedCard, Interface, Protocol};

/// Default vpcd port of the first virtual reader ("Virtual PCD 00 00").
pub const DEFAULT_PORT: u16 = 35963;
/// Default address of the first virtual reader.
pub const DEFAULT_ADDR: &str = "127.0.0.1:35963";

/// Control byte: power off (vsmartcard `vpcd.h` `VPCD_CTRL_OFF`).
pub const CTRL_OFF: u8 = 0x00;
/// Control byte: power on (`VPCD_CTRL_ON`).
pub const CTRL_ON: u8 = 0x01;
/// Control byte: reset (`VPCD_CTRL_RESET`).
pub const CTRL_RESET: u8 = 0x02;
/// Control byte: send the ATR (`VPCD_CTRL_ATR`).
pub const CTRL_ATR: u8 = 0x04;

/// Largest frame body (the length prefix is 16 bits).
pub const MAX_FRAME: usize = u16::MAX as usize;

/// Why the bridge stopped or a frame could not be handled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VpcdError {
    /// Could not connect to vpcd (is `pcscd` running with `vsmartcard-vpcd`?).
    #[error("cannot connect to vpcd at {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// The socket error.
        source: io::Error,
    },
    /// The address does not resolve.
    #[error("bad vpcd address {0:?}")]
    Address(String),
    /// A socket error during a session.
    #[error("vpcd connection: {0}")]
    Io(#[from] io::Error),
    /// A frame longer than 65535 bytes was to be sent.
    #[error("frame of {0} bytes does not fit the 2-byte length prefix")]
    FrameTooLong(usize),
    /// The card image could not be written.
    #[error("saving card image {path}: {source}")]
    Save {
        /// The image file.
        path: PathBuf,
        /// The file-system error.
        source: io::Error,
    },
}

/// One message from vpcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcdMessage {
    /// `00`: deactivate the card.
    PowerOff,
    /// `01`: activate the card (cold reset).
    PowerOn,
    /// `02`: warm reset.
    Reset,
    /// `04`: reply with the ATR.
    GetAtr,
    /// A control byte this implementation does not know (ignored, no reply).
    UnknownControl(u8),
    /// A command APDU (two bytes or more).
    Apdu(Vec<u8>),
    /// An empty frame (ignored).
    Empty,
}

impl VpcdMessage {
    /// Classifies a frame body received from vpcd.
    pub fn from_frame(body: &[u8]) -> VpcdMessage {
        match body {
            [] => VpcdMessage::Empty,
            [CTRL_OFF] => VpcdMessage::PowerOff,
            [CTRL_ON] => VpcdMessage::PowerOn,
            [CTRL_RESET] => VpcdMessage::Reset,
            [CTRL_ATR] => VpcdMessage::GetAtr,
            [b] => VpcdMessage::UnknownControl(*b),
            apdu => VpcdMessage::Apdu(apdu.to_vec()),
        }
    }

    /// The frame body vpcd would send for this message.
    pub fn to_frame(&self) -> Vec<u8> {
        match self {
            VpcdMessage::PowerOff => vec![CTRL_OFF],
            VpcdMessage::PowerOn => vec![CTRL_ON],
            VpcdMessage::Reset => vec![CTRL_RESET],
            VpcdMessage::GetAtr => vec![CTRL_ATR],
            VpcdMessage::UnknownControl(b) => vec![*b],
            VpcdMessage::Apdu(a) => a.clone(),
            VpcdMessage::Empty => Vec::new(),
        }
    }
}

/// The ATR a PC/SC reader reports for an ISO/IEC 14443-4 card (PC/SC Part 3
/// Supplement, §3.1.3.2.3.1): `3B 8n 80 01 <historical bytes> TCK`, `n` the number
/// of historical bytes (at most 15).
pub fn pseudo_atr(historical: &[u8]) -> Vec<u8> {
    let hist = historical.get(..15).unwrap_or(historical);
    let n = u8::try_from(hist.len()).unwrap_or(0) & 0x0F;
    let mut atr = vec![0x3B, 0x80 | n, 0x80, 0x01];
    atr.extend_from_slice(hist);
    let tck = atr.iter().skip(1).fold(0u8, |a, b| a ^ b);
    atr.push(tck);
    atr
}

/// Encodes one frame: 2-byte big-endian length, then the body.
pub fn encode_frame(body: &[u8]) -> Result<Vec<u8>, VpcdError> {
    let n = u16::try_from(body.len()).map_err(|_| VpcdError::FrameTooLong(body.len()))?;
    let mut out = Vec::with_capacity(body.len() + 2);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> Result<(), VpcdError> {
    w.write_all(&encode_frame(body)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame (blocking). `Ok(None)` on a clean end of stream before the
/// first byte of a frame.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut dec = FrameDecoder::default();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(f) = dec.next_frame() {
            return Ok(Some(f));
        }
        let n = r.read(&mut buf)?;
        if n == 0 {
            return if dec.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "vpcd closed the connection inside a frame",
                ))
            };
        }
        dec.push(buf.get(..n).unwrap_or_default());
    }
}

/// Incremental frame decoder: bytes in, whole frames out (no byte lost when a
/// read times out in the middle of a frame).
#[derive(Debug, Default, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// True when no partial frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the next complete frame body, if one is buffered.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        let (&hi, &lo) = (self.buf.first()?, self.buf.get(1)?);
        let n = usize::from(u16::from_be_bytes([hi, lo]));
        let body = self.buf.get(2..2 + n)?.to_vec();
        self.buf.drain(..2 + n);
        Some(body)
    }
}

/// How response data is returned to the PC/SC client (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseStyle {
    /// Data with `9000` in one response (the chip OS runs its T=1 rules: data
    /// beyond Le is announced with `61xx`).
    #[default]
    Full,
    /// Raw T=0 behaviour: `61xx` then GET RESPONSE, `6Cxx` for a wrong Le.
    T0,
}

impl ResponseStyle {
    fn protocol(self) -> Protocol {
        match self {
            ResponseStyle::Full => Protocol::T1,
            ResponseStyle::T0 => Protocol::T0,
        }
    }
}

/// Session events the card side reports (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Connected to vpcd.
    Connected(SocketAddr),
    /// A connection attempt failed (retried after a back-off).
    ConnectFailed(String),
    /// The card was powered on; the ATR it answered.
    PoweredOn(Vec<u8>),
    /// The card was powered off.
    PoweredOff,
    /// Warm reset.
    Reset,
    /// One command and its response.
    Apdu {
        /// The command APDU.
        command: Vec<u8>,
        /// The response APDU (empty if the card was mute).
        response: Vec<u8>,
    },
    /// The card image was written.
    Saved(PathBuf),
    /// The connection ended (card removed); the reason, if it was an error.
    Disconnected(Option<String>),
}

/// The card side of vpcd without I/O: an [`EmulatedCard`] on the contact
/// interface, driven by [`VpcdMessage`]s.
pub struct VpcdCard {
    channel: EmulatedCard,
    interface: Interface,
    style: ResponseStyle,
    powered: bool,
    /// The card's NVM changed since the last save.
    dirty: bool,
}

impl fmt::Debug for VpcdCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VpcdCard")
            .field("card", self.channel.card())
            .field("style", &self.style)
            .field("powered", &self.powered)
            .finish_non_exhaustive()
    }
}

/// What handling one message produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handled {
    /// The frame body to send back, if this message gets a reply.
    pub reply: Option<Vec<u8>>,
    /// A session ended (power off or reset): save the card now.
    pub session_end: bool,
    /// The command wrote NVM: save the card now.
    pub wrote: bool,
}

impl VpcdCard {
    /// Puts `card` in the virtual reader (unpowered), on the contact interface.
    pub fn new(card: Card, style: ResponseStyle) -> Self {
        let mut channel = EmulatedCard::new(card).with_contact_protocol(style.protocol());
        channel.power_off();
        VpcdCard {
            channel,
            interface: Interface::Contact,
            style,
            powered: false,
            dirty: false,
        }
    }

    /// The card.
    pub fn card(&self) -> &Card {
        self.channel.card()
    }

    /// Takes the card out.
    pub fn into_card(self) -> Card {
        self.channel.into_card()
    }

    /// Presents the card as if in a contactless reader: the chip OS runs its
    /// contactless interface (PPSE visible, ISO/IEC 14443-4 response rules) and
    /// the ATR is the PC/SC pseudo-ATR built from the ATS historical bytes
    /// ([`pseudo_atr`]).
    pub fn contactless(mut self) -> Self {
        self.interface = Interface::Contactless;
        self
    }

    /// The interface the chip runs.
    pub fn interface(&self) -> Interface {
        self.interface
    }

    /// The ATR given to vpcd: on contact the card's ATR (offers T=0 first, and
    /// T=1), on contactless the PC/SC pseudo-ATR.
    pub fn atr(&self) -> Vec<u8> {
        let hist = &self.channel.card().chip().historical_bytes.0;
        match self.interface {
            Interface::Contact => contact_atr(hist),
            Interface::Contactless => pseudo_atr(hist),
        }
    }

    /// True while powered.
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// True when the card changed since [`VpcdCard::mark_saved`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Records that the current state was saved.
    pub fn mark_saved(&mut self) {
        self.dirty = false;
    }

    /// The card leaves the reader (connection closed): it loses power.
    pub fn remove(&mut self) {
        self.channel.power_off();
        self.powered = false;
    }

    fn power_on(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.channel.power_on(self.interface)?;
        let atr = self.atr();
        self.powered = true;
        // Recovery after a tear may have written NVM.
        self.dirty |= self.channel.card().last_command_writes() > 0;
        Ok(atr)
    }

    /// Handles one message from vpcd.
    pub fn handle(&mut self, msg: &VpcdMessage, events: &mut dyn FnMut(Event)) -> Handled {
        let mut out = Handled::default();
        match msg {
            VpcdMessage::PowerOff => {
                self.channel.power_off();
                self.powered = false;
                out.session_end = true;
                events(Event::PoweredOff);
            }
            VpcdMessage::PowerOn => {
                // An already powered card gets a cold reset: RAM is lost.
                out.session_end = self.powered;
                if let Ok(atr) = self.power_on() {
                    events(Event::PoweredOn(atr));
                }
            }
            VpcdMessage::Reset => {
                out.session_end = true;
                self.channel.power_off();
                if let Ok(atr) = self.power_on() {
                    events(Event::Reset);
                    events(Event::PoweredOn(atr));
                }
            }
            VpcdMessage::GetAtr => out.reply = Some(self.atr()),
            VpcdMessage::UnknownControl(_) | VpcdMessage::Empty => {}
            VpcdMessage::Apdu(apdu) => {
                // pcscd powers the card before it sends commands; a client that
                // did not (or a power-on lost to a reconnect) gets an implicit one.
                if !self.powered && self.power_on().is_err() {
                    out.reply = Some(Vec::new());
                    return out;
                }
                let response = match self.channel.transmit(apdu) {
                    Ok(r) => r,
                    Err(_) => {
                        // Mute card (simulated tear): no response data; the chip
                        // is unpowered now.
                        self.powered = false;
                        out.session_end = true;
                        Vec::new()
                    }
                };
                out.wrote = self.channel.card().last_command_writes() > 0;
                events(Event::Apdu {
                    command: apdu.clone(),
                    response: response.clone(),
                });
                out.reply = Some(response);
            }
        }
        self.dirty |= out.wrote;
        out
    }

    /// The response style.
    pub fn style(&self) -> ResponseStyle {
        self.style
    }
}

/// Where the card is saved.
#[derive(Debug, Clone)]
pub enum SaveTo {
    /// Not saved (the state lives as long as the bridge).
    Nowhere,
    /// Written to this image file (atomically: temporary file, then rename).
    Image(PathBuf),
}

/// Writes `json` to `path` atomically (sibling temporary file, then rename).
pub fn save_atomically(path: &Path, json: &str) -> Result<(), VpcdError> {
    let err = |source| VpcdError::Save {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(json.as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

/// Bridge settings.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// vpcd address, e.g. `127.0.0.1:35963`.
    pub addr: String,
    /// Reconnect after the connection ends or fails (a long-running server);
    /// `false` returns after the first session (or the first failed connect).
    pub reconnect: bool,
    /// First delay between connection attempts (doubled up to `max_backoff`).
    pub backoff: Duration,
    /// Longest delay between connection attempts.
    pub max_backoff: Duration,
    /// How often a blocked read wakes up to look at the shutdown flag.
    pub poll: Duration,
    /// Response style.
    pub style: ResponseStyle,
    /// The interface the chip runs ([`VpcdCard::contactless`]).
    pub interface: Interface,
    /// Where the card is saved.
    pub save_to: SaveTo,
}

impl BridgeConfig {
    /// Defaults for `addr`: reconnect, back-off 250 ms … 5 s, poll 100 ms, full
    /// responses, contact interface, no saving.
    pub fn new(addr: impl Into<String>) -> Self {
        BridgeConfig {
            addr: addr.into(),
            reconnect: true,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            poll: Duration::from_millis(100),
            style: ResponseStyle::Full,
            interface: Interface::Contact,
            save_to: SaveTo::Nowhere,
        }
    }
}

/// The vpcd client: connects, serves the card, saves it, reconnects, stops when
/// the shutdown flag is set.
pub struct Bridge {
    config: BridgeConfig,
    card: VpcdCard,
    shutdown: Arc<AtomicBool>,
    /// The image as last written (or as given): nothing is written when the
    /// card still serializes to it.
    last_saved: String,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("config", &self.config)
            .field("card", &self.card)
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// A bridge serving `card`.
    pub fn new(card: Card, config: BridgeConfig) -> Self {
        let last_saved = card.save_image();
        let mut card = VpcdCard::new(card, config.style);
        if config.interface == Interface::Contactless {
            card = card.contactless();
        }
        Bridge {
            config,
            card,
            shutdown: Arc::new(AtomicBool::new(false)),
            last_saved,
        }
    }

    /// The flag that stops [`Bridge::run`] (within one poll interval).
    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shutdown)
    }

    /// Uses `flag` as the shutdown flag.
    pub fn with_shutdown(mut self, flag: Arc<AtomicBool>) -> Self {
        self.shutdown = flag;
        self
    }

    /// The card.
    pub fn card(&self) -> &Card {
        self.card.card()
    }

    /// Takes the card out (after [`Bridge::run`]).
    pub fn into_card(self) -> Card {
        self.card.into_card()
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Saves the card if it changed since the last save (or since it was
    /// given to the bridge).
    pub fn save(&mut self, events: &mut dyn FnMut(Event)) -> Result<(), VpcdError> {
        if !self.card.is_dirty() {
            return Ok(());
        }
        let json = self.card.card().save_image();
        if json != self.last_saved {
            if let SaveTo::Image(path) = &self.config.save_to {
                save_atomically(path, &json)?;
                events(Event::Saved(path.clone()));
            }
            self.last_saved = json;
        }
        self.card.mark_saved();
        Ok(())
    }

    /// Sleeps up to `d`, waking early on shutdown.
    fn pause(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopping() {
            let now = Instant::now();
            if now >= end {
                break;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }

    fn connect(&self) -> Result<TcpStream, VpcdError> {
        let addrs: Vec<SocketAddr> = self
            .config
            .addr
            .to_socket_addrs()
            .map_err(|_| VpcdError::Address(self.config.addr.clone()))?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "address resolves to nothing");
        for a in addrs {
            match TcpStream::connect_timeout(&a, Duration::from_secs(2)) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(VpcdError::Connect {
            addr: self.config.addr.clone(),
            source: last,
        })
    }

    /// Runs until the shutdown flag is set (or, without `reconnect`, until the
    /// first session ends). Connection failures are retried with back-off when
    /// `reconnect` is on; a failure to save the image always stops the bridge.
    pub fn run(&mut self, events: &mut dyn FnMut(Event)) -> Result<(), VpcdError> {
        let mut backoff = self.config.backoff;
        while !self.stopping() {
            let stream = match self.connect() {
                Ok(s) => s,
                Err(e) if self.config.reconnect => {
                    events(Event::ConnectFailed(e.to_string()));
                    self.pause(backoff);
                    backoff = (backoff * 2).min(self.config.max_backoff);
                    continue;
                }
                Err(e) => return Err(e),
            };
            backoff = self.config.backoff;
            if let Ok(peer) = stream.peer_addr() {
                events(Event::Connected(peer));
            }
            let outcome = self.session(stream, events);
            // The card left the reader: it loses power, and its state is saved.
            self.card.remove();
            self.save(events)?;
            match outcome {
                Ok(()) => events(Event::Disconnected(None)),
                Err(VpcdError::Save { path, source }) => {
                    return Err(VpcdError::Save { path, source });
                }
                Err(e) => events(Event::Disconnected(Some(e.to_string()))),
            }
            if !self.config.reconnect {
                break;
            }
            self.pause(self.config.backoff);
        }
        Ok(())
    }

    /// Serves one connection until vpcd closes it, an error, or shutdown.
    fn session(
        &mut self,
        mut stream: TcpStream,
        events: &mut dyn FnMut(Event),
    ) -> Result<(), VpcdError> {
        stream.set_read_timeout(Some(self.config.poll))?;
        stream.set_nodelay(true)?;
        let mut dec = FrameDecoder::default();
        let mut buf = [0u8; 4096];
        loop {
            while let Some(body) = dec.next_frame() {
                let msg = VpcdMessage::from_frame(&body);
                let h = self.card.handle(&msg, events);
                if let Some(reply) = h.reply {
                    write_frame(&mut stream, &reply)?;
                }
                if h.wrote || h.session_end {
                    self.save(events)?;
                }
            }
            if self.stopping() {
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            match stream.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => dec.push(buf.get(..n).unwrap_or_default()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use lamina_card::applets::counter::{CLASS, CounterApplet};
    use lamina_card::atr::parse_atr;
    use lamina_card::{Aid, CardLifeCycle, Install, Rom, SeededRng};

    use super::*;

    fn rom() -> Rom {
        Rom::new().with_class(CLASS, |_| Box::new(CounterApplet::new()))
    }

    fn demo_card() -> Card {
        let mut card = Card::new(rom(), SeededRng::new(1));
        let aid = Aid::from_hex("F04C414D494E4101").unwrap();
        card.install(Install::new(aid, CLASS).label("COUNTER").priority(1))
            .unwrap();
        card.set_life_cycle(CardLifeCycle::Personalized).unwrap();
        card
    }

    /// The vpcd side: length-prefixed frames over a real loopback socket.
    struct FakeVpcd {
        s: TcpStream,
    }

    impl FakeVpcd {
        fn send(&mut self, body: &[u8]) {
            write_frame(&mut self.s, body).unwrap();
        }
        fn recv(&mut self) -> Vec<u8> {
            read_frame(&mut self.s).unwrap().expect("a frame")
        }
        fn apdu(&mut self, hex_apdu: &str) -> String {
            self.send(&hex::decode(hex_apdu).unwrap());
            hex::encode_upper(self.recv())
        }
    }

    #[test]
    fn frames_encode_and_decode() {
        assert_eq!(encode_frame(&[0x04]).unwrap(), vec![0x00, 0x01, 0x04]);
        assert!(matches!(
            encode_frame(&vec![0; 70_000]),
            Err(VpcdError::FrameTooLong(70_000))
        ));
        let mut d = FrameDecoder::default();
        d.push(&[0x00, 0x03, 0xAA]);
        assert_eq!(d.next_frame(), None, "incomplete frame kept");
        d.push(&[0xBB, 0xCC, 0x00, 0x01, CTRL_ATR, 0x00]);
        assert_eq!(d.next_frame(), Some(vec![0xAA, 0xBB, 0xCC]));
        assert_eq!(d.next_frame(), Some(vec![CTRL_ATR]));
        assert_eq!(d.next_frame(), None);
        assert!(!d.is_empty());
        for m in [
            VpcdMessage::PowerOff,
            VpcdMessage::PowerOn,
            VpcdMessage::Reset,
            VpcdMessage::GetAtr,
            VpcdMessage::UnknownControl(0x09),
            VpcdMessage::Apdu(vec![0x00, 0xA4]),
            VpcdMessage::Empty,
        ] {
            assert_eq!(VpcdMessage::from_frame(&m.to_frame()), m);
        }
        // A stream cut inside a frame is an error, at a frame boundary a clean end.
        let mut cut: &[u8] = &[0x00, 0x05, 0x01];
        assert!(read_frame(&mut cut).is_err());
        let mut end: &[u8] = &[];
        assert!(read_frame(&mut end).unwrap().is_none());
    }

    #[test]
    fn atr_offers_t0_first() {
        let c = VpcdCard::new(demo_card(), ResponseStyle::Full);
        let info = parse_atr(&c.atr()).unwrap();
        assert_eq!(info.protocols.first(), Some(&0), "T=0 first");
        assert!(info.protocols.contains(&1));
        assert_eq!(info.historical, b"LAMINA");
    }

    /// A whole session against a fake vpcd on loopback: ATR polls, power on,
    /// PSE directory walked until 6A83, the applet's counter changed, power off
    /// (image saved), removal, reconnection, state kept, shutdown.
    #[test]
    fn session_over_loopback_saves_and_reconnects() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("card.json");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cfg = BridgeConfig::new(addr.to_string());
        cfg.backoff = Duration::from_millis(20);
        cfg.poll = Duration::from_millis(20);
        cfg.save_to = SaveTo::Image(image.clone());
        let mut bridge = Bridge::new(demo_card(), cfg);
        let stop = bridge.shutdown_flag();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let r = bridge.run(&mut |e| {
                let _ = tx.send(e);
            });
            (r, bridge.into_card())
        });

        let (s, _) = listener.accept().unwrap();
        let mut v = FakeVpcd { s };
        // pcscd's presence poll: ATR without power.
        v.send(&[CTRL_ATR]);
        let atr = v.recv();
        assert_eq!(atr[0], 0x3B);
        v.send(&[CTRL_ON]);
        v.send(&[CTRL_ATR]);
        assert_eq!(v.recv(), atr);
        // PSE, full FCI with 9000 (case 4 with Le).
        let fci = v.apdu("00A404000E315041592E5359532E444446303100");
        assert!(fci.starts_with("6F") && fci.ends_with("9000"), "{fci}");
        // Directory walk.
        let r1 = v.apdu("00B2010C00");
        assert!(r1.starts_with("70") && r1.contains("F04C414D494E4101") && r1.ends_with("9000"));
        assert_eq!(v.apdu("00B2020C00"), "6A83");
        // Select the counter applet and add 5 (writes NVM).
        assert!(v.apdu("00A4040008F04C414D494E410100").ends_with("9000"));
        assert_eq!(v.apdu("801000000400000005"), "000000059000");
        // Unknown control bytes get no reply; the next ATR request still works.
        v.send(&[0x09]);
        v.send(&[CTRL_ATR]);
        assert_eq!(v.recv(), atr);
        v.send(&[CTRL_OFF]);
        // Saved after the write (and again at power off if it changed).
        let deadline = Instant::now() + Duration::from_secs(5);
        let saved = loop {
            if let Ok(Event::Saved(p)) = rx.recv_timeout(Duration::from_secs(5)) {
                break p;
            }
            assert!(Instant::now() < deadline, "no save event");
        };
        assert_eq!(saved, image);
        let json = std::fs::read_to_string(&image).unwrap();
        let reloaded = Card::load_image(rom(), SeededRng::new(2), &json).unwrap();
        assert_eq!(
            reloaded.record(&Aid::from_hex("F04C414D494E4101").unwrap(), "count"),
            Some(&[0, 0, 0, 5][..])
        );

        // Card removed: vpcd closes; the bridge reconnects politely.
        drop(v);
        let (s, _) = listener.accept().unwrap();
        let mut v = FakeVpcd { s };
        v.send(&[CTRL_ON]);
        // An APDU after reset keeps NVM: the counter continues from 5.
        v.send(&[CTRL_RESET]);
        assert!(v.apdu("00A4040008F04C414D494E410100").ends_with("9000"));
        assert_eq!(v.apdu("801000000400000001"), "000000069000");
        stop.store(true, Ordering::SeqCst);
        let (r, card) = t.join().unwrap();
        r.unwrap();
        assert_eq!(
            card.record(&Aid::from_hex("F04C414D494E4101").unwrap(), "count"),
            Some(&[0, 0, 0, 6][..])
        );
        let json = std::fs::read_to_string(&image).unwrap();
        let reloaded = Card::load_image(rom(), SeededRng::new(2), &json).unwrap();
        assert_eq!(
            reloaded.record(&Aid::from_hex("F04C414D494E4101").unwrap(), "count"),
            Some(&[0, 0, 0, 6][..]),
            "saved on shutdown"
        );
        let events: Vec<Event> = rx.try_iter().collect();
        assert!(events.iter().any(|e| matches!(e, Event::Disconnected(_))));
    }

    /// A read-only session leaves the image alone.
    #[test]
    fn read_only_session_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("never-written.json");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut cfg = BridgeConfig::new(listener.local_addr().unwrap().to_string());
        cfg.reconnect = false;
        cfg.poll = Duration::from_millis(20);
        cfg.save_to = SaveTo::Image(image.clone());
        let mut bridge = Bridge::new(demo_card(), cfg);
        let t = std::thread::spawn(move || {
            let mut saved = 0;
            bridge
                .run(&mut |e| {
                    if matches!(e, Event::Saved(_)) {
                        saved += 1;
                    }
                })
                .unwrap();
            saved
        });
        let (s, _) = listener.accept().unwrap();
        let mut v = FakeVpcd { s };
        v.send(&[CTRL_ON]);
        assert!(
            v.apdu("00A404000E315041592E5359532E444446303100")
                .ends_with("9000")
        );
        assert!(v.apdu("00B2010C00").ends_with("9000"));
        v.send(&[CTRL_OFF]);
        v.send(&[CTRL_ON]);
        v.send(&[CTRL_RESET]);
        v.send(&[CTRL_ATR]);
        v.recv();
        drop(v);
        assert_eq!(t.join().unwrap(), 0);
        assert!(!image.exists());
    }

    #[test]
    fn contactless_pseudo_atr_and_ppse() {
        // PC/SC Part 3 example shape: 3B 8n 80 01 hist TCK, TCK makes the XOR zero.
        let atr = pseudo_atr(b"LAMINA");
        assert_eq!(&atr[..4], &[0x3B, 0x86, 0x80, 0x01]);
        assert_eq!(atr.iter().skip(1).fold(0u8, |a, b| a ^ b), 0);
        assert_eq!(parse_atr(&atr).unwrap().historical, b"LAMINA");
        let mut c = VpcdCard::new(demo_card(), ResponseStyle::Full).contactless();
        let mut ev = |_e: Event| {};
        assert_eq!(c.handle(&VpcdMessage::GetAtr, &mut ev).reply, Some(atr));
        c.handle(&VpcdMessage::PowerOn, &mut ev);
        let ppse = hex::decode("00A404000E325041592E5359532E444446303100").unwrap();
        let r = c.handle(&VpcdMessage::Apdu(ppse), &mut ev).reply.unwrap();
        assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
        assert!(hex::encode_upper(&r).contains("F04C414D494E4101"));
    }

    /// Random bytes from vpcd (torn frames, odd control bytes, garbage APDUs)
    /// never panic the decoder or the card side.
    #[test]
    fn random_input_never_panics() {
        use lamina_card::CardRng;
        let mut rng = SeededRng::new(99);
        let mut card = VpcdCard::new(demo_card(), ResponseStyle::T0);
        let mut dec = FrameDecoder::default();
        let mut ev = |_e: Event| {};
        // A stream of well-framed random bodies (control bytes, short and
        // long APDUs), delivered in random-sized pieces.
        let mut stream = Vec::new();
        let mut sent = 0;
        for _ in 0..3_000 {
            let mut b = [0u8; 2];
            rng.fill_bytes(&mut b);
            let mut body = vec![0u8; usize::from(b[0] % 40)];
            rng.fill_bytes(&mut body);
            if b[1] % 4 == 0 {
                // A plausible header now and then so commands reach the applets.
                body.splice(..body.len().min(2), [0x00, 0xA4]);
            }
            stream.extend(encode_frame(&body).unwrap());
            sent += 1;
        }
        let mut frames = 0;
        let mut pos = 0;
        while pos < stream.len() {
            let mut n = [0u8; 1];
            rng.fill_bytes(&mut n);
            let end = (pos + usize::from(n[0] % 64)).min(stream.len());
            dec.push(&stream[pos..end]);
            pos = end;
            while let Some(f) = dec.next_frame() {
                frames += 1;
                let h = card.handle(&VpcdMessage::from_frame(&f), &mut ev);
                if let Some(r) = h.reply {
                    assert!(r.len() <= MAX_FRAME);
                }
            }
        }
        assert_eq!(frames, sent, "every frame decoded once");
        assert!(dec.is_empty());
    }

    #[test]
    fn t0_style_announces_with_61xx() {
        let mut c = VpcdCard::new(demo_card(), ResponseStyle::T0);
        let mut ev = |_e: Event| {};
        c.handle(&VpcdMessage::PowerOn, &mut ev);
        let h = c.handle(
            &VpcdMessage::Apdu(hex::decode("00A404000E315041592E5359532E4444463031").unwrap()),
            &mut ev,
        );
        let r = h.reply.unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], 0x61);
        let h = c.handle(
            &VpcdMessage::Apdu(vec![0x00, 0xC0, 0x00, 0x00, r[1]]),
            &mut ev,
        );
        let full = h.reply.unwrap();
        assert_eq!(full.len(), usize::from(r[1]) + 2);
        assert_eq!(&full[full.len() - 2..], &[0x90, 0x00]);
    }

    #[test]
    fn no_vpcd_without_reconnect_is_an_error() {
        // A port nobody listens on.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let mut cfg = BridgeConfig::new(addr.to_string());
        cfg.reconnect = false;
        let mut b = Bridge::new(demo_card(), cfg);
        assert!(matches!(b.run(&mut |_| {}), Err(VpcdError::Connect { .. })));
        let mut cfg = BridgeConfig::new("no such host name:1");
        cfg.reconnect = false;
        let mut b = Bridge::new(demo_card(), cfg);
        assert!(b.run(&mut |_| {}).is_err());
    }
}
