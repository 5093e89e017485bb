//! Printing connections and outbox messages as tables, CSV or JSON.

use super::args::Format;
use crate::clock;
use crate::core::cell::neutralise as safe_cell;
use crate::model::{Connection, Delivery};
use std::io::Write;

pub fn print_connections(
    out: &mut impl Write,
    rows: &[Connection],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "email": c.email,
                        "company": c.company,
                        "contact": c.contact,
                        "status": c.status(),
                        "invited_at": clock::rfc3339(c.invited_at),
                        "reference": c.token.short_ref(),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "Subcontractor Email Address",
                "Subcontractor Name",
                "Contact Name",
                "Status",
                "Invited",
            ])?;
            for c in rows {
                w.write_record([
                    safe_cell(c.email.as_str()).as_ref(),
                    &safe_cell(&c.company),
                    &safe_cell(c.contact.as_deref().unwrap_or("")),
                    c.status().as_str(),
                    &clock::rfc3339(c.invited_at),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let table: Vec<[String; 5]> = rows
                .iter()
                .map(|c| {
                    [
                        c.email.to_string(),
                        c.company.clone(),
                        c.contact.clone().unwrap_or_default(),
                        c.status().to_string(),
                        clock::rfc3339(c.invited_at),
                    ]
                })
                .collect();
            print_table(
                out,
                ["EMAIL", "COMPANY", "CONTACT", "STATUS", "INVITED"],
                &table,
            )?;
            writeln!(out, "{} connection(s)", rows.len())?;
        }
    }
    Ok(())
}

pub fn print_outbox(
    out: &mut impl Write,
    entries: &[crate::model::OutboxEntry],
    format: Format,
) -> anyhow::Result<()> {
    let delivery = |d: &Delivery| match d {
        Delivery::Queued => "queued".to_owned(),
        Delivery::Sent { at } => format!("sent {}", clock::rfc3339(*at)),
        Delivery::Failed { at } => format!("failed {}", clock::rfc3339(*at)),
        Delivery::Skipped { at } => format!("skipped {}", clock::rfc3339(*at)),
    };
    let kind = |e: &crate::model::OutboxEntry| {
        serde_json::to_value(&e.kind).map(|v| match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Object(m) => m.keys().next().cloned().unwrap_or_default(),
            other => other.to_string(),
        })
    };
    match format {
        Format::Json => {
            let v: Vec<_> = entries
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "id": e.id, "kind": e.kind, "contractor": e.contractor, "to": e.to,
                        "about": e.about, "state": delivery(&e.delivery), "attempts": e.attempts,
                        "due_at": clock::rfc3339(e.due_at), "last_error": e.last_error,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "id",
                "kind",
                "contractor",
                "to",
                "state",
                "attempts",
                "last_error",
            ])?;
            for e in entries {
                w.write_record([
                    e.id.to_string(),
                    kind(e)?,
                    e.contractor.clone(),
                    e.to.to_string(),
                    delivery(&e.delivery),
                    e.attempts.to_string(),
                    safe_cell(e.last_error.as_deref().unwrap_or("")).into_owned(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let table: Vec<[String; 6]> = entries
                .iter()
                .map(|e| {
                    Ok([
                        e.id.to_string(),
                        kind(e)?,
                        e.to.to_string(),
                        delivery(&e.delivery),
                        e.attempts.to_string(),
                        e.last_error.clone().unwrap_or_default(),
                    ])
                })
                .collect::<anyhow::Result<_>>()?;
            print_table(
                out,
                ["ID", "KIND", "TO", "STATE", "ATTEMPTS", "LAST ERROR"],
                &table,
            )?;
            writeln!(out, "{} message(s)", entries.len())?;
        }
    }
    Ok(())
}

pub fn print_table<const N: usize>(
    out: &mut impl Write,
    head: [&str; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let mut width = head.map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, head.to_vec())?;
    for r in rows {
        line(out, r.iter().map(String::as_str).collect())?;
    }
    Ok(())
}
