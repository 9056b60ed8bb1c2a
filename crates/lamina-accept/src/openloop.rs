//! The transit gate's open-loop EMV fare (the acquirer side of an open-loop
//! gate): the contactless kernel pre-authorizes the maximum fare at tap in
//! through a tokenizing acquirer link that refuses deny-listed cards itself;
//! tap out identifies the card offline, prices the journey
//! (`lamina_closedloop::transit::openloop`) and settles the hold at the host:
//! 0220 completion of the fare, or 0400 reversal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use lamina_acquirer::{AcquirerConfig, HoldSettlement, IsoLink};
use lamina_card::EmulatedCard;
use lamina_card::iso14443::{LinkConfig, LinkStats};
use lamina_closedloop::transit::openloop::{CardToken, Hold, OpenLoopGate, Settlement, TokenKey};
use lamina_closedloop::transit::{Direction, FareTable};
use lamina_emv::bitmaps::TvrBit;
use lamina_iso8583::ResponseCode;
use lamina_link::client::HostClient;
use lamina_terminal::contactless::{ContactlessConfig, ContactlessDevices, run_contactless};
use lamina_terminal::online::{
    AcquirerLink, Advice, AuthorizationRequest, AuthorizationResponse, LinkError, Reversal,
};
use lamina_terminal::ui::{RecordingScreen, ScriptedPinPad};
use lamina_terminal::{ContactlessResult, FixedClock, Outcome, TransactionRequest};
use serde::Serialize;

use crate::field::Field;

/// Why the open-loop side could not start or keep its state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenLoopError {
    /// The gate state file could not be read, parsed or written.
    #[error("open-loop state {0}: {1}")]
    State(PathBuf, String),
    /// The link's runtime could not start.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    /// The host could not be reached.
    #[error("connecting to the host at {0}: {1}")]
    Connect(String, String),
}

fn money(minor: u32) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// The kernel's date and time of an instant (seconds since 1970, UTC).
pub fn kernel_date_time(secs: i64) -> lamina_terminal::DateTime {
    let (y, mo, d, h, mi, s) = lamina_emv::date::civil_from_unix(secs);
    let b = |v: u32| u8::try_from(v).unwrap_or(0);
    lamina_terminal::DateTime {
        year: u16::try_from(y).unwrap_or(2026),
        month: b(mo),
        day: b(d),
        hour: b(h),
        minute: b(mi),
        second: b(s),
    }
}

// ---------------------------------------------------------------------------
// The transit gate's EMV open-loop fare
// ---------------------------------------------------------------------------

/// Transmission date and time (DE 7, 12, 13) from the tap time, one second
/// further for each message.
#[derive(Debug, Clone)]
pub struct TapClock {
    secs: i64,
}

impl TapClock {
    /// A clock starting at `secs` (seconds since 1970, UTC).
    pub fn at(secs: i64) -> Self {
        TapClock { secs }
    }

    /// A clock starting at the wall clock's current second.
    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        TapClock::at(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

impl lamina_acquirer::TransmissionClock for TapClock {
    fn now(&mut self) -> (u8, u8, u8, u8, u8) {
        let (_, mo, d, h, mi, s) = lamina_emv::date::civil_from_unix(self.secs);
        self.secs += 1;
        let b = |v: u32| u8::try_from(v).unwrap_or(0);
        (b(mo), b(d), b(h), b(mi), b(s))
    }
}

/// What the gate's acquirer link saw of an online authorization.
struct SeenAuth {
    token: Option<CardToken>,
    code: Option<ResponseCode>,
    /// Declined at the gate (deny list), without going online.
    local: bool,
    link_error: Option<String>,
    reference: BTreeMap<String, String>,
}

/// The gate's acquirer link: tokenizes the card from the authorization request
/// (the PAN goes no further than the request to the host), refuses deny-listed
/// tokens itself with response code `05` without going online, and forwards the
/// rest over the ISO 8583 link.
struct GateAcquirer<'a> {
    link: &'a mut lamina_acquirer::IsoLink,
    key: &'a TokenKey,
    state: &'a OpenLoopGate,
    seen: Option<SeenAuth>,
}

impl AcquirerLink for GateAcquirer<'_> {
    fn authorize(
        &mut self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationResponse, LinkError> {
        let token = self.key.token(&request.pan, request.pan_sequence).ok();
        if token.as_ref().is_some_and(|t| self.state.is_denied(t)) {
            self.seen = Some(SeenAuth {
                token,
                code: Some(ResponseCode::DO_NOT_HONOUR),
                local: true,
                link_error: None,
                reference: BTreeMap::new(),
            });
            return Ok(AuthorizationResponse {
                response_code: ResponseCode::DO_NOT_HONOUR.to_bytes(),
                auth_code: None,
                issuer_authentication_data: None,
                scripts: Vec::new(),
            });
        }
        let resp = self.link.authorize(request);
        let reference = self.link.last_reference();
        self.seen = Some(SeenAuth {
            token,
            code: resp
                .as_ref()
                .ok()
                .and_then(|r| ResponseCode::from_bytes(&r.response_code).ok()),
            local: false,
            link_error: resp.as_ref().err().map(|e| e.to_string()),
            reference,
        });
        resp
    }

    fn advise(&mut self, advice: &Advice) -> Result<(), LinkError> {
        self.link.advise(advice)
    }

    fn reverse(&mut self, reversal: &Reversal) -> Result<(), LinkError> {
        self.link.reverse(reversal)
    }
}

/// A hold settled at the host.
#[derive(Debug, Clone, Serialize)]
pub struct SettledJson {
    /// STAN of the authorization.
    pub stan: u32,
    /// Amount captured (0: the whole hold released).
    pub captured: u32,
    /// `0220` completion or `0400` reversal.
    pub message: &'static str,
}

/// The open-loop leg of a gate tap.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpenLoopReport {
    pub open: bool,
    pub kind: String,
    pub charged: u32,
    pub uncapped: u32,
    /// The card token (keyed hash of PAN and PSN).
    pub token: Option<String>,
    /// Trace number of this tap's kernel transaction.
    pub stan: Option<u32>,
    /// The issuer's response code to the pre-authorization.
    pub response_code: Option<String>,
    /// Amount pre-authorized at this tap in.
    pub hold: Option<u32>,
    pub kernel_outcome: String,
    pub aid: Option<String>,
    pub oda: Option<String>,
    pub cda_verified: bool,
    pub settled: Vec<SettledJson>,
    pub spent_today: u32,
    pub deny_listed: bool,
    pub refusal: Option<String>,
    /// One line per message exchanged with the host after the tap.
    pub host: Vec<String>,
    /// The card interaction of the kernel (radio and processing), ms.
    pub card_ms: f64,
    pub state_file: String,
}

impl OpenLoopReport {
    fn kernel(&mut self, r: &ContactlessResult) {
        self.kernel_outcome = r.result.outcome.to_string();
        self.aid.clone_from(&r.result.aid);
        self.oda.clone_from(&r.result.oda);
        self.cda_verified = r.result.cryptograms.iter().any(|c| c.cda_verified);
        self.card_ms += r.tap.map_or(0.0, |s| {
            (s.radio_us() as f64 + s.processing.as_secs_f64() * 1e6) / 1000.0
        });
    }

    fn refuse(mut self, why: impl Into<String>) -> Self {
        self.open = false;
        self.kind = "Refused".into();
        self.refusal = Some(why.into());
        self
    }
}

/// The transit gate's open-loop side: acquirer link, gate reader, token key,
/// fare table and the state kept between taps.
///
/// The CLI builds it with [`OpenLoop::connect`]; `lamina demo` can build one
/// over its own host with [`OpenLoop::new`] and ride with [`OpenLoop::tap_chip`].
pub struct OpenLoop {
    /// The runtime the CLI created for the link (none when the caller's).
    _runtime: Option<tokio::runtime::Runtime>,
    link: IsoLink,
    clock: TapClock,
    reader: ContactlessConfig,
    key: TokenKey,
    table: FareTable,
    path: Option<PathBuf>,
    state: OpenLoopGate,
}

impl core::fmt::Debug for OpenLoop {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpenLoop")
            .field("link", &self.link)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl OpenLoop {
    /// A gate's open-loop side over a connected host client. `handle` must be
    /// a multi-thread runtime's (the ISO 8583 link blocks on it); `reader` is
    /// the gate's contactless reader (e.g. terminals/transit-gate-contactless.toml
    /// with the bureau's CA keys); `state` the open-loop state (journeys, deny
    /// list, STANs), saved to `path` by [`OpenLoop::save`] if given; `time`
    /// (seconds since 1970) starts the transmission clock.
    pub fn new(
        client: Arc<HostClient>,
        handle: tokio::runtime::Handle,
        reader: ContactlessConfig,
        table: FareTable,
        state: OpenLoopGate,
        path: Option<PathBuf>,
        time: u32,
    ) -> Self {
        let link = IsoLink::new(
            client,
            handle,
            AcquirerConfig {
                acceptor_name: "LAMINA METRO GATE".into(),
                ..AcquirerConfig::default()
            },
            Box::new(TapClock {
                secs: i64::from(time),
            }),
        );
        OpenLoop {
            _runtime: None,
            link,
            clock: TapClock {
                secs: i64::from(time),
            },
            reader,
            key: TokenKey::demo(),
            table,
            path,
            state,
        }
    }

    /// A gate's open-loop side over its own connection to the host at `host`
    /// (plain TCP), with the state read from `state_path` (a new state when the
    /// file does not exist yet) and saved there by [`OpenLoop::save`].
    pub fn connect(
        host: &str,
        reader: ContactlessConfig,
        table: FareTable,
        state_path: PathBuf,
        time: u32,
    ) -> Result<Self, OpenLoopError> {
        let state = match std::fs::read_to_string(&state_path) {
            Ok(text) => OpenLoopGate::from_json(&text)
                .map_err(|e| OpenLoopError::State(state_path.clone(), e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OpenLoopGate::new(),
            Err(e) => return Err(OpenLoopError::State(state_path, e.to_string())),
        };
        // A multi-thread runtime: `IsoLink` blocks on the runtime's handle, which
        // drives no I/O or timers on a current-thread runtime.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(OpenLoopError::Runtime)?;
        let client = Arc::new(
            runtime
                .block_on(HostClient::connect(host))
                .map_err(|e| OpenLoopError::Connect(host.to_owned(), e.to_string()))?,
        );
        let mut ol = OpenLoop::new(
            client,
            runtime.handle().clone(),
            reader,
            table,
            state,
            Some(state_path),
            time,
        );
        ol._runtime = Some(runtime);
        Ok(ol)
    }

    /// Writes the state to its file, if it has one.
    pub fn save(&self) -> Result<(), OpenLoopError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let json = self
            .state
            .to_json()
            .map_err(|e| OpenLoopError::State(path.clone(), e.to_string()))?;
        std::fs::write(path, json).map_err(|e| OpenLoopError::State(path.clone(), e.to_string()))
    }

    fn report(&self) -> OpenLoopReport {
        OpenLoopReport {
            kind: "Refused".into(),
            state_file: self
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            ..OpenLoopReport::default()
        }
    }

    /// One open-loop tap of an emulated chip at `station` (the EMV leg only: no
    /// PPSE choice), over ISO/IEC 14443-4 at 106 kbit/s; the report and the
    /// card interaction's timing.
    pub fn tap_chip(
        &mut self,
        chip: &mut EmulatedCard,
        direction: Direction,
        station: u16,
        time: u32,
    ) -> (OpenLoopReport, LinkStats) {
        let mut field = Field::new(chip, LinkConfig::default());
        let rep = self.tap(&mut field, direction, station, time);
        let stats = field.drain();
        (rep, stats)
    }

    /// One open-loop tap of the card in `field` at `station` (the EMV leg
    /// only: the caller has chosen the EMV application).
    pub fn tap(
        &mut self,
        field: &mut Field<'_>,
        direction: Direction,
        station: u16,
        time: u32,
    ) -> OpenLoopReport {
        // Follow-up messages of this tap are stamped after its authorization.
        self.clock.secs = self.clock.secs.max(i64::from(time) + 10);
        match direction {
            Direction::In => self.tap_in(field, station, time),
            Direction::Out => self.tap_out(field, station, time),
        }
    }

    /// One contactless kernel transaction of `amount`, online (pre-authorization
    /// through [`GateAcquirer`]) or offline only (identification at tap out).
    fn run_kernel(
        &mut self,
        field: &mut Field<'_>,
        amount: u32,
        online: bool,
        time: u32,
    ) -> (ContactlessResult, Option<SeenAuth>, u32) {
        let stan = self.state.allocate_stan();
        let mut request = TransactionRequest::purchase(u64::from(amount));
        request.stan = stan;
        request.services = true;
        request.force_online = online;
        let mut screen = RecordingScreen::default();
        let mut pad = ScriptedPinPad::absent();
        let clock = FixedClock(kernel_date_time(i64::from(time)));
        let mut acquirer = GateAcquirer {
            link: &mut self.link,
            key: &self.key,
            state: &self.state,
            seen: None,
        };
        let r = run_contactless(
            &self.reader,
            &request,
            ContactlessDevices {
                reader: field,
                screen: &mut screen,
                pin_pad: &mut pad,
                acquirer: if online {
                    Some(&mut acquirer as &mut dyn AcquirerLink)
                } else {
                    None
                },
                pin_encryptor: None,
                status: None,
            },
            &clock,
            &mut rand::rng(),
        );
        let seen = acquirer.seen.take();
        (r, seen, stan)
    }

    /// An online pre-authorization of `amount` for the card in the field: the
    /// approved hold with the card's token, or the refusal (deny list, decline:
    /// the token goes on the deny list, unreachable host).
    fn authorize(
        &mut self,
        field: &mut Field<'_>,
        amount: u32,
        time: u32,
        rep: &mut OpenLoopReport,
    ) -> Result<(CardToken, Hold), String> {
        let (r, seen, stan) = self.run_kernel(field, amount, true, time);
        rep.kernel(&r);
        rep.stan = Some(stan);
        let Some(seen) = seen else {
            return Err(format!(
                "not authorized online (kernel: {})",
                r.result.outcome
            ));
        };
        rep.token = seen.token.map(|t| t.to_hex());
        rep.response_code = seen.code.map(|c| c.as_str().to_owned());
        let Some(token) = seen.token else {
            return Err("the authorization carried no usable PAN".into());
        };
        if seen.local {
            rep.deny_listed = true;
            return Err("card on the gate's deny list (refused without going online)".into());
        }
        if let Some(e) = seen.link_error {
            return Err(format!("acquirer unreachable: {e}"));
        }
        if !seen.code.is_some_and(|c| c.is_approved()) {
            let code = seen
                .code
                .map_or_else(|| "no response code".to_owned(), |c| c.as_str().to_owned());
            self.state
                .deny(token, time, format!("issuer declined {code}"));
            rep.deny_listed = true;
            return Err(format!(
                "issuer declined ({code}); card token put on the gate's deny list"
            ));
        }
        let hold = Hold {
            stan,
            amount,
            time,
            reference: seen.reference,
        };
        if r.result.outcome != Outcome::ApprovedOnline {
            // Approved by the issuer, not by the kernel: give the hold back.
            let why = format!("kernel {} after the issuer's approval", r.result.outcome);
            return Err(match self.settle(&Settlement { hold, amount: 0 }, rep) {
                Ok(()) => format!("{why}; hold released"),
                Err(e) => format!("{why}; releasing the hold failed: {e}"),
            });
        }
        rep.hold = Some(amount);
        Ok((token, hold))
    }

    fn tap_in(&mut self, field: &mut Field<'_>, station: u16, time: u32) -> OpenLoopReport {
        let mut rep = self.report();
        let amount = OpenLoopGate::hold_amount(&self.table);
        let (token, hold) = match self.authorize(field, amount, time, &mut rep) {
            Ok(x) => x,
            Err(why) => return rep.refuse(why),
        };
        let mut next = self.state.clone();
        let o = match next.tap_in(&self.table, token, station, time, hold.clone()) {
            Ok(o) => o,
            Err(e) => {
                let _ = self.settle(&Settlement { hold, amount: 0 }, &mut rep);
                return rep.refuse(e.to_string());
            }
        };
        let due = o.settle.iter().cloned().chain(
            o.release
                .iter()
                .cloned()
                .map(|hold| Settlement { hold, amount: 0 }),
        );
        for st in due {
            if let Err(e) = self.settle(&st, &mut rep) {
                return rep.refuse(format!("host: {e}"));
            }
        }
        self.state = next;
        rep.open = o.opens();
        rep.kind = format!("{:?}", o.kind);
        rep.charged = o.settle.as_ref().map_or(0, |s| s.amount);
        rep.uncapped = o.uncapped;
        rep.spent_today = o.spent_today;
        rep
    }

    fn tap_out(&mut self, field: &mut Field<'_>, station: u16, time: u32) -> OpenLoopReport {
        let mut rep = self.report();
        // Identification: the kernel reads the card offline (no amount, no
        // acquirer); the reader keeps the PAN and PSN only to compute the token.
        field.watch_identity();
        let (r, _, stan) = self.run_kernel(field, 0, false, time);
        let id = field.take_identity();
        rep.kernel(&r);
        rep.stan = Some(stan);
        if !r.card_read_ok {
            return rep.refuse(format!("card not read ({})", r.result.outcome));
        }
        // TVR byte 1: SDA failed (0x40), DDA failed (0x08), CDA failed (0x04).
        let tvr = &r.result.tvr_raw;
        if [TvrBit::SdaFailed, TvrBit::DdaFailed, TvrBit::CdaFailed]
            .into_iter()
            .any(|b| tvr.is_set(b))
        {
            return rep.refuse("offline data authentication failed");
        }
        let Some(pan) = id.pan else {
            return rep.refuse("no PAN in the card's records");
        };
        let token = match self.key.token(&pan, id.psn) {
            Ok(t) => t,
            Err(e) => return rep.refuse(e.to_string()),
        };
        drop(pan);
        rep.token = Some(token.to_hex());
        let mut next = self.state.clone();
        let o = match next.tap_out(&self.table, token, station, time) {
            Ok(o) => o,
            Err(e) => return rep.refuse(e.to_string()),
        };
        if !o.opens() {
            rep.deny_listed = next.is_denied(&token);
            let why = if rep.deny_listed {
                "card on the gate's deny list".to_owned()
            } else {
                format!("{:?}", o.kind)
            };
            return rep.refuse(why);
        }
        if let Some(st) = &o.settle
            && let Err(e) = self.settle(st, &mut rep)
        {
            return rep.refuse(format!("host: {e}"));
        }
        self.state = next;
        rep.open = true;
        rep.kind = format!("{:?}", o.kind);
        rep.charged = o.settle.as_ref().map_or(0, |s| s.amount);
        rep.uncapped = o.uncapped;
        rep.spent_today = o.spent_today;
        if o.unpaid > 0 {
            // A tap out without a tap in: the fare is authorized now and captured.
            match self.authorize(field, o.unpaid, time, &mut rep) {
                Ok((t, hold)) if t == token => {
                    let st = Settlement {
                        amount: o.unpaid,
                        hold,
                    };
                    match self.settle(&st, &mut rep) {
                        Ok(()) => {
                            self.state.paid(&token, o.unpaid);
                            rep.charged += o.unpaid;
                        }
                        Err(e) => rep
                            .host
                            .push(format!("fare of {} unpaid: {e}", money(o.unpaid))),
                    }
                }
                Ok((_, hold)) => {
                    let _ = self.settle(&Settlement { hold, amount: 0 }, &mut rep);
                    rep.host.push("another card answered: fare unpaid".into());
                }
                Err(why) => rep
                    .host
                    .push(format!("fare of {} unpaid: {why}", money(o.unpaid))),
            }
        }
        rep
    }

    /// Sends the completion (0220, DE 4 = the amount) or, for 0, the reversal
    /// (0400) of a hold, referring to its authorization by DE 90 (original MTI,
    /// STAN, transmission time, acquirer); the host finds it by acquirer,
    /// terminal, STAN and transmission time. Built from the hold's reference, so
    /// a later run of the gate can settle what an earlier one authorized.
    fn settle(&mut self, st: &Settlement, rep: &mut OpenLoopReport) -> Result<(), LinkError> {
        let kind = self.link.settle_reference(
            &st.hold.reference,
            st.hold.amount,
            st.amount,
            &mut self.clock,
        )?;
        rep.host.push(match kind {
            HoldSettlement::Reversal => format!(
                "0400 reversal of STAN {:06}: hold of {} released",
                st.hold.stan,
                money(st.hold.amount)
            ),
            HoldSettlement::Completion => format!(
                "0220 completion of STAN {:06}: {} captured, {} of the hold released",
                st.hold.stan,
                money(st.amount),
                money(st.hold.amount.saturating_sub(st.amount))
            ),
        });
        rep.settled.push(SettledJson {
            stan: st.hold.stan,
            captured: st.amount,
            message: match kind {
                HoldSettlement::Reversal => "0400",
                HoldSettlement::Completion => "0220",
            },
        });
        Ok(())
    }
}
