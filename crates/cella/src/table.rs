//! Aligned text tables, as util-linux prints them: left-aligned text,
//! right-aligned numbers, `-r` raw rows, `-n` no header; the header is bold
//! only when stdout is a terminal (and NO_COLOR is not set).

pub struct Table {
    pub headers: Vec<String>,
    pub right_aligned: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str], right_aligned: &[bool]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            right_aligned: right_aligned.to_vec(),
            rows: Vec::new(),
        }
    }

    /// The table as text (every line ends in '\n').
    pub fn render(&self, raw: bool, noheadings: bool, colour: bool) -> String {
        let mut out = String::new();
        if raw {
            if !noheadings {
                out += &self.headers.join(" ");
                out.push('\n');
            }
            for r in &self.rows {
                out += &r.join(" ");
                out.push('\n');
            }
            return out;
        }
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(width(c));
            }
        }
        let line = |cells: &[String]| -> String {
            let last = cells.len().saturating_sub(1);
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let pad = " ".repeat(widths[i].saturating_sub(width(c)));
                    if self.right_aligned.get(i).copied().unwrap_or(false) {
                        format!("{pad}{c}")
                    } else if i == last {
                        c.clone()
                    } else {
                        format!("{c}{pad}")
                    }
                })
                .collect();
            parts.join(" ").trim_end().to_string()
        };
        if !noheadings {
            let h = line(&self.headers);
            if colour {
                out += &format!("\x1b[1m{h}\x1b[0m\n");
            } else {
                out += &h;
                out.push('\n');
            }
        }
        for r in &self.rows {
            out += &line(r);
            out.push('\n');
        }
        out
    }

    pub fn print(&self, raw: bool, noheadings: bool) {
        print!("{}", self.render(raw, noheadings, colour_on_stdout()));
    }
}

/// Sizes as docker prints them, in powers of 1024 ("1.9MB").
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "kB")];
    for (size, unit) in UNITS {
        if n >= size {
            return format!("{:.1}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

/// Colour only on a terminal, and never with NO_COLOR set.
pub fn colour_on_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none() && cella_sys::process::isatty(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_text_left_numbers_right_and_counts_characters() {
        let mut t = Table::new(&["NS", "TYPE", "COMMAND"], &[true, false, false]);
        t.rows.push(vec!["4026531836".into(), "pid".into(), "init".into()]);
        t.rows.push(vec!["12".into(), "net".into(), "└─sleep 1".into()]);
        assert_eq!(
            t.render(false, false, false),
            "        NS TYPE COMMAND\n4026531836 pid  init\n        12 net  └─sleep 1\n"
        );
        assert_eq!(t.render(true, true, false), "4026531836 pid init\n12 net └─sleep 1\n");
        assert!(t.render(false, false, true).starts_with("\x1b[1m"));
    }
}
