//! What `pharos-bench compare` measured, as plain data, and its rendering as a markdown table and
//! an SVG bar chart. Pure: no I/O, so the rendering is tested with exact inputs.

use std::fmt::Write;

/// The system a cell ran against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Etcd,
    Pharos,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::Etcd => "etcd",
            System::Pharos => "Pharos",
        }
    }
}

/// The request every client of a cell sends in a closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A put of a 64-byte value.
    Put,
    /// A single-key read through the leader's read barrier (Pharos `LINEARIZABLE`, etcd default).
    LinearizableGet,
    /// A single-key read from the member's own state (Pharos `LOCAL`, etcd `serializable`).
    LocalGet,
}

impl Operation {
    pub const ALL: [Operation; 3] = [Operation::Put, Operation::LinearizableGet, Operation::LocalGet];

    pub fn name(self) -> &'static str {
        match self {
            Operation::Put => "put",
            Operation::LinearizableGet => "linearizable get",
            Operation::LocalGet => "local get",
        }
    }
}

/// One cell: one system, one operation, one number of clients, for a fixed time.
#[derive(Debug, Clone, PartialEq)]
pub struct CellResult {
    pub system: System,
    pub operation: Operation,
    pub clients: u64,
    pub ops_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

/// Leader kill -9 to the first acknowledged write, one entry per round, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverResult {
    pub system: System,
    pub kill_to_write_ms: Vec<f64>,
}

/// One planned leader transfer under a steady writer.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferResult {
    pub system: System,
    pub failed_requests: u64,
    pub longest_gap_ms: f64,
}

/// Everything one run produced, plus where it ran and how it was started.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub machine: String,
    pub command: String,
    pub cells: Vec<CellResult>,
    pub failovers: Vec<FailoverResult>,
    pub transfers: Vec<TransferResult>,
}

/// The `fraction` quantile of unsorted samples (nearest rank; 0 when empty).
pub fn quantile(samples: &[f64], fraction: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ratio(pharos: f64, etcd: f64) -> String {
    if etcd > 0.0 { format!("{:.2}", pharos / etcd) } else { "n/a".to_string() }
}

fn cell(cells: &[CellResult], system: System, operation: Operation, clients: u64) -> Option<&CellResult> {
    cells.iter().find(|cell| cell.system == system && cell.operation == operation && cell.clients == clients)
}

/// The (operation, clients) pairs in the order they were first measured.
fn cell_keys(cells: &[CellResult]) -> Vec<(Operation, u64)> {
    let mut keys = Vec::new();
    for cell in cells {
        if !keys.contains(&(cell.operation, cell.clients)) {
            keys.push((cell.operation, cell.clients));
        }
    }
    keys
}

/// The run as markdown: the machine and command, the throughput table with Pharos/etcd ratios,
/// failover and planned-transfer summaries.
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Machine: {}\n", report.machine);
    let _ = writeln!(out, "Command: `{}`\n", report.command);
    out.push_str(
        "| operation | clients | etcd ops/s | Pharos ops/s | Pharos/etcd | etcd p50 ms | Pharos p50 ms \
         | etcd p99 ms | Pharos p99 ms | errors etcd/Pharos |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (operation, clients) in cell_keys(&report.cells) {
        let etcd = cell(&report.cells, System::Etcd, operation, clients);
        let pharos = cell(&report.cells, System::Pharos, operation, clients);
        let field = |found: Option<&CellResult>, pick: fn(&CellResult) -> f64, decimals: usize| {
            found.map_or("–".to_string(), |found| format!("{:.*}", decimals, pick(found)))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
            operation.name(),
            clients,
            field(etcd, |c| c.ops_per_second, 0),
            field(pharos, |c| c.ops_per_second, 0),
            match (etcd, pharos) {
                (Some(etcd), Some(pharos)) => ratio(pharos.ops_per_second, etcd.ops_per_second),
                _ => "–".to_string(),
            },
            field(etcd, |c| c.p50_ms, 2),
            field(pharos, |c| c.p50_ms, 2),
            field(etcd, |c| c.p99_ms, 2),
            field(pharos, |c| c.p99_ms, 2),
            etcd.map_or("–".to_string(), |c| c.errors.to_string()),
            pharos.map_or("–".to_string(), |c| c.errors.to_string()),
        );
    }
    if !report.failovers.is_empty() {
        out.push_str("\n| leader kill -9 → first acknowledged write | rounds | median ms | max ms |\n");
        out.push_str("|---|---:|---:|---:|\n");
        for failover in &report.failovers {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} |",
                failover.system.name(),
                failover.kill_to_write_ms.len(),
                quantile(&failover.kill_to_write_ms, 0.5),
                quantile(&failover.kill_to_write_ms, 1.0),
            );
        }
    }
    if !report.transfers.is_empty() {
        out.push_str(
            "\n| planned leader transfer, steady writer | transfers | failed requests | longest gap ms (max) |\n",
        );
        out.push_str("|---|---:|---:|---:|\n");
        for system in [System::Etcd, System::Pharos] {
            let of_system: Vec<&TransferResult> =
                report.transfers.iter().filter(|transfer| transfer.system == system).collect();
            if of_system.is_empty() {
                continue;
            }
            let failed: u64 = of_system.iter().map(|transfer| transfer.failed_requests).sum();
            let longest = of_system.iter().map(|transfer| transfer.longest_gap_ms).fold(0.0, f64::max);
            let _ = writeln!(out, "| {} | {} | {} | {:.0} |", system.name(), of_system.len(), failed, longest);
        }
    }
    out
}

/// Chart geometry, in SVG user units.
const CHART_BAR_WIDTH: f64 = 18.0;
const CHART_GROUP_GAP: f64 = 22.0;
const CHART_PLOT_HEIGHT: f64 = 260.0;
const CHART_MARGIN_LEFT: f64 = 70.0;
const CHART_MARGIN_TOP: f64 = 40.0;
const CHART_MARGIN_BOTTOM: f64 = 90.0;
const CHART_COLOR_ETCD: &str = "#4e79a7";
const CHART_COLOR_PHAROS: &str = "#f28e2b";

/// A grouped bar chart of ops/s: one group per (operation, clients), an etcd and a Pharos bar in
/// each, bars scaled to the largest value.
pub fn render_svg(cells: &[CellResult]) -> String {
    let keys = cell_keys(cells);
    let top = cells.iter().map(|cell| cell.ops_per_second).fold(0.0, f64::max).max(1.0);
    let group_width = 2.0 * CHART_BAR_WIDTH + CHART_GROUP_GAP;
    let width = CHART_MARGIN_LEFT + group_width * keys.len() as f64 + CHART_GROUP_GAP;
    let height = CHART_MARGIN_TOP + CHART_PLOT_HEIGHT + CHART_MARGIN_BOTTOM;
    let base = CHART_MARGIN_TOP + CHART_PLOT_HEIGHT;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ =
        writeln!(out, r#"<text x="{CHART_MARGIN_LEFT}" y="20" font-size="14">ops/s per cell: etcd vs Pharos</text>"#);
    let _ = writeln!(out, r#"<rect x="{:.0}" y="8" width="10" height="10" fill="{CHART_COLOR_ETCD}"/>"#, width - 130.0);
    let _ = writeln!(out, r#"<text x="{:.0}" y="17">etcd</text>"#, width - 116.0);
    let _ =
        writeln!(out, r#"<rect x="{:.0}" y="8" width="10" height="10" fill="{CHART_COLOR_PHAROS}"/>"#, width - 75.0);
    let _ = writeln!(out, r#"<text x="{:.0}" y="17">Pharos</text>"#, width - 61.0);
    let _ = writeln!(out, r#"<line x1="{CHART_MARGIN_LEFT}" y1="{base}" x2="{width:.0}" y2="{base}" stroke="black"/>"#);
    for step in 0..=4 {
        let value = top * f64::from(step) / 4.0;
        let y = base - CHART_PLOT_HEIGHT * f64::from(step) / 4.0;
        let _ =
            writeln!(out, r#"<text x="{:.0}" y="{y:.1}" text-anchor="end">{value:.0}</text>"#, CHART_MARGIN_LEFT - 6.0);
        let _ = writeln!(
            out,
            r##"<line x1="{CHART_MARGIN_LEFT}" y1="{y:.1}" x2="{width:.0}" y2="{y:.1}" stroke="#ddd"/>"##
        );
    }
    for (group, (operation, clients)) in keys.iter().enumerate() {
        let left = CHART_MARGIN_LEFT + CHART_GROUP_GAP + group_width * group as f64;
        for (slot, (system, color)) in
            [(System::Etcd, CHART_COLOR_ETCD), (System::Pharos, CHART_COLOR_PHAROS)].into_iter().enumerate()
        {
            let Some(found) = cell(cells, system, *operation, *clients) else { continue };
            let bar_height = CHART_PLOT_HEIGHT * found.ops_per_second / top;
            let _ = writeln!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="{CHART_BAR_WIDTH}" height="{bar_height:.1}" fill="{color}"><title>{} {} x{}: {:.0} ops/s</title></rect>"#,
                left + CHART_BAR_WIDTH * slot as f64,
                base - bar_height,
                system.name(),
                operation.name(),
                clients,
                found.ops_per_second,
            );
        }
        let label_x = left + CHART_BAR_WIDTH;
        let _ = writeln!(
            out,
            r#"<text x="{label_x:.1}" y="{:.0}" text-anchor="end" transform="rotate(-45 {label_x:.1} {:.0})">{} x{}</text>"#,
            base + 14.0,
            base + 14.0,
            operation.name(),
            clients,
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell_of(system: System, operation: Operation, clients: u64, ops_per_second: f64) -> CellResult {
        CellResult { system, operation, clients, ops_per_second, p50_ms: 1.5, p99_ms: 9.25, errors: 0 }
    }

    #[test]
    fn quantile_is_nearest_rank_on_unsorted_samples() {
        let samples = [900.0, 100.0, 500.0, 300.0, 700.0];
        assert_eq!(quantile(&samples, 0.5), 500.0);
        assert_eq!(quantile(&samples, 1.0), 900.0);
        assert_eq!(quantile(&samples, 0.0), 100.0);
        assert_eq!(quantile(&[100.0, 200.0], 0.5), 100.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn markdown_row_has_both_systems_and_the_ratio() {
        let report = Report {
            machine: "2 cores".into(),
            command: "pharos-bench compare".into(),
            cells: vec![
                cell_of(System::Etcd, Operation::Put, 16, 1000.0),
                cell_of(System::Pharos, Operation::Put, 16, 1500.0),
                cell_of(System::Etcd, Operation::LocalGet, 1, 0.0),
            ],
            failovers: vec![FailoverResult { system: System::Pharos, kill_to_write_ms: vec![800.0, 1200.0, 1000.0] }],
            transfers: vec![],
        };
        let markdown = render_markdown(&report);
        assert!(markdown.contains("| put | 16 | 1000 | 1500 | 1.50 | 1.50 | 1.50 | 9.25 | 9.25 | 0/0 |"), "{markdown}");
        assert!(markdown.contains("| local get | 1 | 0 | – | – | 1.50 | – | 9.25 | – | 0/– |"), "{markdown}");
        assert!(markdown.contains("| Pharos | 3 | 1000 | 1200 |"), "{markdown}");
        assert!(!markdown.contains("planned leader transfer"), "{markdown}");
    }

    #[test]
    fn svg_has_one_bar_per_cell_scaled_to_the_largest() {
        let cells = vec![
            cell_of(System::Etcd, Operation::Put, 1, 500.0),
            cell_of(System::Pharos, Operation::Put, 1, 1000.0),
            cell_of(System::Etcd, Operation::Put, 64, 250.0),
        ];
        let svg = render_svg(&cells);
        assert_eq!(svg.matches("<rect x=").count(), 2 + 3, "two legend squares and three bars: {svg}");
        assert!(svg.contains(&format!(r#"height="{CHART_PLOT_HEIGHT:.1}" fill="{CHART_COLOR_PHAROS}""#)), "{svg}");
        assert!(svg.contains(r##"height="130.0" fill="#4e79a7""##), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
