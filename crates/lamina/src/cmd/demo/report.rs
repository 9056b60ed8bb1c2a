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
    /// ISO 8583 response code, if the host answered.
    pub response_code: Option<String>,
    /// CVM performed.
    pub cvm: String,
    /// Processing time in milliseconds.
    pub processing_ms: f64,
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

/// Formats minor units as a decimal amount ("12.34").
pub fn amount(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}

/// The text table of the day.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let header = format!(
        "{:<5} {:<16} {:<11} {:<11} {:<14} {:>10} {:<18} {:<3} {:<14} {:>7} {:>7}",
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
            "{:<5} {:<16} {:<11} {:<11} {:<14} {:>10} {:<18} {:<3} {:<14} {:>7.1} {:>7}{}\n",
            r.time,
            r.card,
            r.terminal,
            r.interface,
            truncate(&r.application, 14),
            format!("{} {}", amount(r.amount_minor), r.currency),
            r.outcome,
            r.response_code.as_deref().unwrap_or("-"),
            truncate(&r.cvm, 14),
            r.processing_ms,
            r.radio_ms
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.1}")),
            if r.as_expected {
                ""
            } else {
                "  ✗ UNEXPECTED"
            },
        ));
    }
    out
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

/// An SVG bar chart of the day's approved amount by terminal.
pub fn chart_svg(rows: &[Row]) -> String {
    let mut totals: Vec<(String, i64)> = Vec::new();
    for r in rows.iter().filter(|r| r.outcome.starts_with("APPROVED")) {
        match totals.iter_mut().find(|(t, _)| *t == r.terminal) {
            Some((_, v)) => *v += r.amount_minor,
            None => totals.push((r.terminal.clone(), r.amount_minor)),
        }
    }
    let max = totals.iter().map(|(_, v)| *v).max().unwrap_or(1).max(1);
    let bar_w = 80;
    let gap = 30;
    let h = 220;
    let width = (totals.len() * (bar_w + gap) + gap).max(200);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{}" role="img" aria-label="Approved amount by terminal">"#,
        h + 60
    );
    for (i, (term, v)) in totals.iter().enumerate() {
        let x = gap + i * (bar_w + gap);
        // bar heights are proportional to the amount; the ratio is in 0..=1
        let bh = usize::try_from((i128::from(*v) * 200 / i128::from(max)).max(2)).unwrap_or(2);
        let y = h - bh;
        svg.push_str(&format!(
            r##"<rect x="{x}" y="{y}" width="{bar_w}" height="{bh}" fill="#2b6cb0" rx="4"/><text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text><text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text>"##,
            x + bar_w / 2,
            y.saturating_sub(6),
            amount(*v),
            x + bar_w / 2,
            h + 20,
            esc(term)
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
            "<tr{cls}><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{} {}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{}</td><td class=\"screen\">{}</td></tr>",
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
            r.processing_ms,
            r.radio_ms.map_or_else(|| "-".to_owned(), |m| format!("{m:.1}")),
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
<h2>Approved amount by terminal</h2>
{chart}
<h2>Settlement</h2>
{settlement_html}
<h2>Cards issued</h2>
<div class="faces">{faces}</div>
</body></html>
"#,
        t = esc(title),
        chart = chart_svg(rows),
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
            response_code: Some("00".into()),
            cvm: "offline PIN".into(),
            processing_ms: 3.2,
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
    fn chart_sums_approved_by_terminal() {
        let rows = [
            row("POS-1", 1000, "APPROVED"),
            row("POS-1", 500, "APPROVED"),
            row("GATE", 250, "DECLINED"),
        ];
        let svg = chart_svg(&rows);
        assert!(svg.contains("15.00"));
        assert!(!svg.contains("GATE"));
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
