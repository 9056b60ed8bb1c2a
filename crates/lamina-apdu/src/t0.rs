//! T=0 transport helpers (ISO/IEC 7816-3 §10.3.5, ISO/IEC 7816-4 §5.3.4; EMV Book 1
//! §9.3.1 "Transportation of C-APDUs and R-APDUs").
//!
//! Under T=0 a card answers `61xx` when response data is waiting (fetch it with GET
//! RESPONSE, Le = xx) and `6Cxx` when Le was wrong (re-send the same command with
//! Le = xx). [`Exchange`] drives both rules over any transmit function.

use crate::command::Command;
use crate::status::{Response, StatusWord};

/// GET RESPONSE (`00 C0 00 00 Le`) for `61xx`.
pub fn get_response(cla: u8, le: usize) -> Command {
    Command::new(cla, 0xC0, 0x00, 0x00).with_le(le)
}

/// The same command re-sent with the Le the card asked for in `6Cxx`.
pub fn resend_with_le(cmd: &Command, le: usize) -> Command {
    let mut c = cmd.clone();
    c.le = Some(le);
    c
}

/// What to do next with a T=0 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The response is final.
    Done,
    /// Send this command next (GET RESPONSE or the re-sent command) and append its data.
    Send(Command),
}

/// Decides the next T=0 step for `cmd` after `resp` (EMV Book 1 §9.3.1.2–9.3.1.3).
/// `cla` of GET RESPONSE follows the command's class (logical channel bits kept).
pub fn next_step(cmd: &Command, resp: &Response) -> Next {
    if let Some(n) = resp.sw.bytes_available() {
        return Next::Send(get_response(cmd.cla & 0x03, n));
    }
    if let Some(n) = resp.sw.correct_le() {
        return Next::Send(resend_with_le(cmd, n));
    }
    Next::Done
}

/// Runs one command through T=0 rules with `transmit`, following `61xx` chains and
/// one `6Cxx` retry, and returns the assembled response. At most `max_steps`
/// exchanges are made (a misbehaving card cannot loop us forever).
pub fn exchange<E>(
    cmd: &Command,
    max_steps: usize,
    mut transmit: impl FnMut(&Command) -> Result<Response, E>,
) -> Result<Response, E> {
    let mut data = Vec::new();
    let mut current = cmd.clone();
    let mut last = StatusWord(0x6F00);
    for _ in 0..max_steps.max(1) {
        let resp = transmit(&current)?;
        last = resp.sw;
        match next_step(&current, &resp) {
            Next::Done => {
                data.extend_from_slice(&resp.data);
                return Ok(Response::new(data, resp.sw));
            }
            Next::Send(next) => {
                if resp.sw.bytes_available().is_some() {
                    data.extend_from_slice(&resp.data);
                }
                current = next;
            }
        }
    }
    Ok(Response::new(data, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_61_and_6c() {
        let select = Command::parse(&[0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00]).unwrap();
        let mut log = Vec::new();
        let r = exchange(&select, 8, |c| {
            log.push(c.ins);
            Ok::<_, ()>(match (c.ins, c.le) {
                (0xA4, _) => Response::status(StatusWord(0x6104)),
                (0xC0, Some(4)) => Response::new(vec![1, 2], StatusWord(0x6102)),
                (0xC0, Some(2)) => Response::new(vec![3, 4], StatusWord::OK),
                _ => Response::status(StatusWord(0x6F00)),
            })
        })
        .unwrap();
        assert_eq!(r.data, vec![1, 2, 3, 4]);
        assert!(r.sw.is_ok());
        assert_eq!(log, vec![0xA4, 0xC0, 0xC0]);

        let read = Command::new(0x00, 0xB2, 1, 0x0C).with_le(256);
        let r = exchange(&read, 8, |c| {
            Ok::<_, ()>(if c.le == Some(5) {
                Response::new(vec![0x70, 0x03, 0x5A, 0x01, 0x11], StatusWord::OK)
            } else {
                Response::status(StatusWord(0x6C05))
            })
        })
        .unwrap();
        assert_eq!(r.data.len(), 5);
    }

    #[test]
    fn bounded_steps() {
        let c = Command::new(0x00, 0xC0, 0, 0).with_le(1);
        let mut n = 0;
        let r = exchange(&c, 5, |_| {
            n += 1;
            Ok::<_, ()>(Response::new(vec![0], StatusWord(0x6101)))
        })
        .unwrap();
        assert_eq!(n, 5);
        assert_eq!(r.sw, StatusWord(0x6101));
    }
}
