//! What a command prints on stdout: one document — JSON (the SDK's serialized types, pretty), a
//! table of its fields, or nothing. Listings are written item by item as they are read, so a
//! listing of a million devices holds one page at a time, and still form one JSON array.

use std::io::{self, Write as _};

use serde::Serialize;
use serde_json::Value;

use crate::{args::OutputFormat, exit::Failure};

/// The widest a table's cell is before it is cut, in characters.
const MAX_CELL: usize = 60;

/// Where documents go.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    format: OutputFormat,
}

impl Output {
    pub fn new(format: OutputFormat) -> Self {
        Self { format }
    }

    /// Prints `value` as the command's document.
    pub fn document(&self, value: &impl Serialize) -> Result<(), Failure> {
        let value = to_value(value)?;
        let text = match self.format {
            OutputFormat::None => return Ok(()),
            OutputFormat::Json => pretty(&value),
            OutputFormat::Table => match &value {
                Value::Array(items) => {
                    let mut table = Table::default();
                    items.iter().for_each(|item| table.row(item));
                    table.text()
                }
                other => fields(other),
            },
        };
        write(&format!("{text}\n"))
    }

    /// A listing, printed as its items come.
    pub fn listing(&self) -> Listing {
        Listing {
            format: self.format,
            items: 0,
            table: Table::default(),
        }
    }
}

/// A listing being printed: a JSON array, or a table's rows.
pub struct Listing {
    format: OutputFormat,
    items: usize,
    table: Table,
}

impl Listing {
    pub fn item(&mut self, item: &impl Serialize) -> Result<(), Failure> {
        let value = to_value(item)?;
        match self.format {
            OutputFormat::None => {}
            OutputFormat::Json => {
                let opening = if self.items == 0 { "[\n" } else { ",\n" };
                let indented = pretty(&value).replace('\n', "\n  ");
                write(&format!("{opening}  {indented}"))?;
            }
            // A table's columns are its first rows' fields: it is printed whole, at the end.
            OutputFormat::Table => self.table.row(&value),
        }
        self.items += 1;
        Ok(())
    }

    /// Ends the listing (an empty one is `[]`).
    pub fn end(self) -> Result<(), Failure> {
        match self.format {
            OutputFormat::None => Ok(()),
            OutputFormat::Json if self.items == 0 => write("[]\n"),
            OutputFormat::Json => write("\n]\n"),
            OutputFormat::Table => write(&format!("{}\n", self.table.text())),
        }
    }
}

fn to_value(value: &impl Serialize) -> Result<Value, Failure> {
    serde_json::to_value(value).map_err(|e| Failure::Other(format!("cannot print the answer: {e}")))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Writes to stdout; a closed stdout (`| head`) is a failure of its own, never a panic.
fn write(text: &str) -> Result<(), Failure> {
    raw(text.as_bytes())
}

/// Writes `bytes` to stdout as they are, whatever the format: a completion script.
pub fn raw(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| match e.kind() {
            // The reader has what it wanted (`| head`): stop reading the hub, quietly.
            io::ErrorKind::BrokenPipe => Failure::StdoutClosed,
            _ => Failure::Other(format!("cannot write to stdout: {e}")),
        })
}

/// An object's fields, one per line: `name  value`.
fn fields(value: &Value) -> String {
    let Value::Object(object) = value else {
        return cell(value);
    };
    let width = object.keys().map(String::len).max().unwrap_or(0);
    object
        .iter()
        .map(|(name, value)| format!("{name:<width$}  {}", cell(value)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A value in a cell: text as it is, anything else as compact JSON, cut to [`MAX_CELL`].
fn cell(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if text.chars().count() <= MAX_CELL {
        return text;
    }
    let cut: String = text.chars().take(MAX_CELL - 1).collect();
    format!("{cut}…")
}

/// Rows under the columns of the first row's fields.
#[derive(Default)]
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn row(&mut self, item: &Value) {
        match item {
            Value::Object(object) => {
                if self.columns.is_empty() {
                    self.columns = object.keys().cloned().collect();
                }
                let row = self
                    .columns
                    .iter()
                    .map(|column| object.get(column).map(cell).unwrap_or_default())
                    .collect();
                self.rows.push(row);
            }
            other => self.rows.push(vec![cell(other)]),
        }
    }

    fn text(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &self.rows {
            for (at, cell) in row.iter().enumerate() {
                match widths.get_mut(at) {
                    Some(width) => *width = (*width).max(cell.chars().count()),
                    None => widths.push(cell.chars().count()),
                }
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        let mut lines = Vec::with_capacity(self.rows.len() + 1);
        if !self.columns.is_empty() {
            lines.push(line(&self.columns));
        }
        lines.extend(self.rows.iter().map(|row| line(row)));
        lines.join("\n")
    }
}
