//! The demo's report: rows of the day, the text table, and the offline HTML page.

use serde::Serialize;

/// One transaction of the scripted day, as shown in the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Step number in the script.
    pub step: usize,
    /// What the script does ("chip-and-PIN purchase", ...).
    pub title: String,
    /// Simulated wall-clock time of the day (HH:MM).
    pub time: String,
    /// Card PAN, masked (541333******0010).
    pub card: String,
    /// Terminal id.
    pub terminal: String,
    /// contact / contactless / back office.
    pub interface: String,
    /// Application label.
    pub application: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 alpha currency.
    pub currency: String,
    /// The outcome (APPROVED, DECLINED, ...).
    pub outcome: String,
    /// The card transaction went through (approved, gate opened, fare paid).
    pub approved: bool,
    /// ISO 8583 response code, if the host answered.
    pub response_code: Option<String>,
    /// CVM performed.
    pub cvm: String,
    /// Processing time in milliseconds (`None`: not measured, as for
    /// back-office steps).
    pub processing_ms: Option<f64>,
    /// Radio time in milliseconds (contactless only).
    pub radio_ms: Option<f64>,
    /// The terminal's screen messages, in order.
    pub screen: Vec<String>,
    /// What the script expected.
    pub expected: String,
    /// True if the outcome is what the script expected.
    pub as_expected: bool,
    /// Free-form notes (ARQC verified, script delivered, ...).
    pub notes: Vec<String>,
}

pub use crate::output::amount;

/// The text table of the day.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let header = format!(
        "{:<5} {:<16} {:<11} {:<11} {:<14} {:>10} {:<18} {:<3} {:<22} {:>7} {:>7}",
        "time",
        "card",
        "terminal",
        "interface",
        "application",
        "amount",
        "outcome",
        "rc",
        "cvm",
        "proc ms",
        "radio"
    );
    out.push_str(&header);
    out.push('\n');
    out.push_str(&"─".repeat(header.chars().count()));
    out.push('\n');
    for r in rows {
        out.push_str(&format!(
            "{:<5} {:<16} {:<11} {:<11} {:<14} {:>10} {:<18} {:<3} {:<22} {:>7} {:>7}{}\n",
            r.time,
            r.card,
            r.terminal,
            r.interface,
            truncate(&r.application, 14),
            format!("{} {}", amount(r.amount_minor), r.currency),
            r.outcome,
            r.response_code.as_deref().unwrap_or("-"),
            truncate(&r.cvm, 22),
            ms(r.processing_ms),
            ms(r.radio_ms),
            if r.as_expected {
                ""
            } else {
                "  ✗ UNEXPECTED"
            },
        ));
    }
    out
}

/// Milliseconds with one decimal, or "-" when not measured.
fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |m| format!("{m:.1}"))
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n.saturating_sub(1)).chain(['…']).collect()
    }
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A card transaction of the day (back-office steps are not).
fn is_card_row(r: &Row) -> bool {
    r.card != "-"
}

/// The segments of the hourly chart: interface × outcome, with their colours.
const SEGMENTS: [(&str, bool, &str); 4] = [
    ("contact", true, "#2b6cb0"),
    ("contact", false, "#90cdf4"),
    ("contactless", true, "#2f855a"),
    ("contactless", false, "#9ae6b4"),
];

/// Card transactions per hour, stacked by interface and outcome, as SVG.
pub fn hourly_chart_svg(rows: &[Row]) -> String {
    let mut hours: Vec<(String, [usize; 4])> = Vec::new();
    for r in rows.iter().filter(|r| is_card_row(r)) {
        let hour = format!("{}:00", r.time.get(..2).unwrap_or("??"));
        let seg = SEGMENTS
            .iter()
            .position(|(i, ok, _)| *i == r.interface && *ok == r.approved);
        let Some(seg) = seg else { continue };
        match hours.iter_mut().find(|(h, _)| *h == hour) {
            Some((_, counts)) => counts[seg] += 1,
            None => {
                let mut counts = [0; 4];
                counts[seg] = 1;
                hours.push((hour, counts));
            }
        }
    }
    hours.sort_by(|a, b| a.0.cmp(&b.0));
    let max = hours
        .iter()
        .map(|(_, c)| c.iter().sum::<usize>())
        .max()
        .unwrap_or(1)
        .max(1);
    let (bar_w, gap, h, unit) = (36, 14, 200, 200 / max);
    let width = (hours.len() * (bar_w + gap) + gap).max(420);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{}" role="img" aria-label="Card transactions per hour by interface and outcome">"#,
        h + 70
    );
    for (i, (hour, counts)) in hours.iter().enumerate() {
        let x = gap + i * (bar_w + gap);
        let mut y = h;
        for (n, (_, _, colour)) in counts.iter().zip(SEGMENTS) {
            if *n == 0 {
                continue;
            }
            let bh = n * unit;
            y -= bh;
            svg.push_str(&format!(
                r#"<rect x="{x}" y="{y}" width="{bar_w}" height="{bh}" fill="{colour}"><title>{n}</title></rect>"#
            ));
        }
        let total: usize = counts.iter().sum();
        svg.push_str(&format!(
            r#"<text x="{cx}" y="{ty}" font-size="11" text-anchor="middle">{total}</text><text x="{cx}" y="{hy}" font-size="11" text-anchor="middle">{hour}</text>"#,
            cx = x + bar_w / 2,
            ty = y.saturating_sub(4),
            hy = h + 16,
        ));
    }
    for (k, (interface, ok, colour)) in SEGMENTS.iter().enumerate() {
        let x = 10 + k * 105;
        let what = if *ok { "approved" } else { "not approved" };
        svg.push_str(&format!(
            r#"<rect x="{x}" y="{ly}" width="10" height="10" fill="{colour}"/><text x="{tx}" y="{ty}" font-size="11">{interface} {what}</text>"#,
            ly = h + 34,
            tx = x + 14,
            ty = h + 43,
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Approval rate per terminal (card transactions approved / attempted), as SVG.
pub fn approval_chart_svg(rows: &[Row]) -> String {
    let mut terms: Vec<(String, usize, usize)> = Vec::new();
    for r in rows.iter().filter(|r| is_card_row(r)) {
        let ok = usize::from(r.approved);
        match terms.iter_mut().find(|(t, _, _)| *t == r.terminal) {
            Some((_, a, n)) => {
                *a += ok;
                *n += 1;
            }
            None => terms.push((r.terminal.clone(), ok, 1)),
        }
    }
    let (row_h, label_w, bar_max) = (22, 110, 300);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img" aria-label="Approval rate per terminal">"#,
        label_w + bar_max + 120,
        terms.len() * row_h + 10
    );
    for (i, (term, approved, n)) in terms.iter().enumerate() {
        let y = 5 + i * row_h;
        let w = bar_max * approved / n.max(&1);
        let pct = 100 * approved / n.max(&1);
        svg.push_str(&format!(
            r##"<text x="0" y="{ty}" font-size="12">{}</text><rect x="{label_w}" y="{y}" width="{bar_max}" height="16" fill="#edf2f7"/><rect x="{label_w}" y="{y}" width="{w}" height="16" fill="#2b6cb0"/><text x="{tx}" y="{ty}" font-size="12">{pct}% ({approved}/{n})</text>"##,
            esc(term),
            ty = y + 12,
            tx = label_w + bar_max + 8,
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// The whole offline HTML report: table, card faces, chart, settlement.
pub fn html(
    title: &str,
    rows: &[Row],
    card_faces: &[(String, String)],
    settlement_html: &str,
) -> String {
    let mut body = String::new();
    body.push_str("<table><thead><tr>");
    for h in [
        "time",
        "card",
        "terminal",
        "interface",
        "application",
        "amount",
        "outcome",
        "rc",
        "CVM",
        "processing ms",
        "radio ms",
        "screen",
    ] {
        body.push_str(&format!("<th>{h}</th>"));
    }
    body.push_str("</tr></thead><tbody>");
    for r in rows {
        let cls = if r.as_expected { "" } else { " class=\"bad\"" };
        body.push_str(&format!(
            "<tr{cls}><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{} {}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"screen\">{}</td></tr>",
            esc(&r.time),
            esc(&r.card),
            esc(&r.terminal),
            esc(&r.interface),
            esc(&r.application),
            amount(r.amount_minor),
            esc(&r.currency),
            esc(&r.outcome),
            esc(r.response_code.as_deref().unwrap_or("-")),
            esc(&r.cvm),
            ms(r.processing_ms),
            ms(r.radio_ms),
            esc(&r.screen.join(" → ")),
        ));
    }
    body.push_str("</tbody></table>");
    let faces: String = card_faces
        .iter()
        .map(|(label, svg)| {
            format!(
                "<figure>{svg}<figcaption>{}</figcaption></figure>",
                esc(label)
            )
        })
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1a202c; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border-bottom: 1px solid #e2e8f0; padding: 4px 8px; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.screen {{ color: #4a5568; font-size: 12px; }}
tr.bad td {{ background: #fed7d7; }}
.faces {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure {{ margin: 0; }} figure svg {{ width: 320px; height: auto; }}
</style></head><body>
<h1>{t}</h1>
<h2>The day</h2>
{body}
<h2>Card transactions per hour, by interface and outcome</h2>
{hourly}
<h2>Approval rate per terminal</h2>
{rates}
<h2>Settlement</h2>
{settlement_html}
<h2>Cards issued</h2>
<div class="faces">{faces}</div>
</body></html>
"#,
        t = esc(title),
        hourly = hourly_chart_svg(rows),
        rates = approval_chart_svg(rows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(terminal: &str, amount_minor: i64, outcome: &str) -> Row {
        Row {
            step: 1,
            title: "t".into(),
            time: "09:00".into(),
            card: "541333******0010".into(),
            terminal: terminal.into(),
            interface: "contact".into(),
            application: "Lamina Debit".into(),
            amount_minor,
            currency: "EUR".into(),
            outcome: outcome.into(),
            approved: outcome == "APPROVED",
            response_code: Some("00".into()),
            cvm: "Offline enciphered PIN".into(),
            processing_ms: Some(3.2),
            radio_ms: None,
            screen: vec!["ENTER PIN".into(), "APPROVED".into()],
            expected: "APPROVED".into(),
            as_expected: true,
            notes: vec![],
        }
    }

    #[test]
    fn amounts_and_table() {
        assert_eq!(amount(1234), "12.34");
        assert_eq!(amount(-5), "-0.05");
        let t = table(&[row("POS-1", 1234, "APPROVED")]);
        assert!(t.contains("12.34 EUR"));
        assert!(t.contains("541333******0010"));
    }

    #[test]
    fn hourly_chart_stacks_interface_and_outcome() {
        let mut tap = row("GATE", 250, "DECLINED");
        tap.interface = "contactless".into();
        tap.time = "10:15".into();
        let rows = [
            row("POS-1", 1000, "APPROVED"),
            row("POS-1", 500, "DECLINED"),
            tap,
        ];
        let svg = hourly_chart_svg(&rows);
        assert!(svg.contains(">09:00<") && svg.contains(">10:00<"), "{svg}");
        // 09:00: one approved, one declined contact segment; 10:00: one
        // declined contactless segment.
        assert_eq!(svg.matches(r##"fill="#2b6cb0"><title>1<"##).count(), 1);
        assert_eq!(svg.matches(r##"fill="#90cdf4"><title>1<"##).count(), 1);
        assert_eq!(svg.matches(r##"fill="#9ae6b4"><title>1<"##).count(), 1);
        assert!(svg.contains("contactless not approved"), "legend");
    }

    #[test]
    fn approval_rate_per_terminal() {
        let mut office = row("back office", 0, "SETTLED");
        office.card = "-".into();
        let rows = [
            row("POS-1", 1000, "APPROVED"),
            row("POS-1", 500, "DECLINED"),
            row("GATE", 250, "APPROVED"),
            office,
        ];
        let svg = approval_chart_svg(&rows);
        assert!(svg.contains("50% (1/2)"), "{svg}");
        assert!(svg.contains("100% (1/1)"), "{svg}");
        assert!(
            !svg.contains("back office"),
            "back-office steps are not card transactions"
        );
    }

    #[test]
    fn html_escapes() {
        let mut r = row("<POS>", 100, "APPROVED");
        r.application = "A&B".into();
        let page = html("Day", &[r], &[], "");
        assert!(page.contains("&lt;POS&gt;"));
        assert!(page.contains("A&amp;B"));
    }
}
