//! A minimal Markdown table.

/// A Markdown table: a header row and rows of cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// The rows (each as long as the header).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles and no row.
    pub fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    /// Appends a row.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table in GitHub Markdown, one line per row, ending with a newline.
    pub fn to_markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut s = line(&self.header);
        s += &line(&vec!["---".to_string(); self.header.len()]);
        for r in &self.rows {
            s += &line(r);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown() {
        let mut t = Table::new(&["a", "b"]);
        t.push(vec!["1".into(), "2".into()]);
        assert_eq!(t.to_markdown(), "| a | b |\n| --- | --- |\n| 1 | 2 |\n");
    }
}
