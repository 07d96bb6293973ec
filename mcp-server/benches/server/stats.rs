//! Summaries of repeated measurements (median, p90, max) and the table the bench prints, so
//! that every figure is reported the same way.

use std::fmt::Write as _;

/// Repeated measurements of one figure, in the unit its row names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples(Vec<f64>);

impl Samples {
    pub(crate) fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    /// Nearest-rank percentile: a value that was actually measured, never an interpolation.
    pub(crate) fn percentile(&self, p: f64) -> Option<f64> {
        let sorted = self.sorted();
        if sorted.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, sorted.len()) - 1])
    }

    pub(crate) fn median(&self) -> Option<f64> {
        self.percentile(50.0)
    }

    pub(crate) fn max(&self) -> Option<f64> {
        self.sorted().last().copied()
    }
}

/// What a figure is held against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// The median must be at most this.
    AtMost(f64),
    /// Shown for context; no target.
    Info,
}

/// One line of the table.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) outcome: Result<Samples, String>,
    pub(crate) target: Target,
}

impl Row {
    pub(crate) fn new(name: impl Into<String>, samples: Samples, target: Target) -> Self {
        Self {
            name: name.into(),
            outcome: Ok(samples),
            target,
        }
    }

    pub(crate) fn failed(name: impl Into<String>, err: &anyhow::Error) -> Self {
        Self {
            name: name.into(),
            outcome: Err(format!("{err:#}")),
            target: Target::Info,
        }
    }
}

fn number(value: Option<f64>) -> String {
    match value {
        None => "-".to_string(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// The rows as a Markdown table, ready to paste into docs/performance.md.
pub(crate) fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| figure | n | median | p90 | max | target | met |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|:-:|");
    for row in rows {
        match &row.outcome {
            Ok(samples) => {
                let median = samples.median();
                let (target, met) = match row.target {
                    Target::AtMost(limit) => (
                        format!("≤ {}", number(Some(limit))),
                        match median {
                            Some(m) if m <= limit => "yes",
                            Some(_) => "no",
                            None => "-",
                        },
                    ),
                    Target::Info => (String::new(), ""),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    row.name,
                    samples.len(),
                    number(median),
                    number(samples.percentile(90.0)),
                    number(samples.max()),
                    target,
                    met
                );
            }
            Err(err) => {
                let err = err.replace('|', "/").replace('\n', " ");
                let _ = writeln!(out, "| {} | 0 | failed: {err} | | | | |", row.name);
            }
        }
    }
    out
}
