//! A minimal Markdown table, and a check that a document contains one.

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

/// Checks that `doc` contains `table` (Markdown, as [`Table::to_markdown`]
/// writes it) verbatim, as a whole table: a blank line before and after
/// (so that a table with rows missing does not match the start of the
/// document's). If not, the error is a line diff against the
/// document's table with the same header line (`-` the document's line,
/// `+` the table's), or says that no table of the document has that header.
pub fn check_contains(doc: &str, table: &str) -> Result<(), String> {
    if doc.contains(&format!("\n{table}\n")) {
        return Ok(());
    }
    let want: Vec<&str> = table.lines().collect();
    let header = want.first().copied().unwrap_or("");
    let Some(start) = doc.lines().position(|l| l == header) else {
        return Err(format!("no table with the header\n{header}\n"));
    };
    let have: Vec<&str> = doc.lines().skip(start).take_while(|l| l.starts_with('|')).collect();
    let mut diff = String::new();
    for i in 0..have.len().max(want.len()) {
        match (have.get(i), want.get(i)) {
            (Some(h), Some(w)) if h == w => diff += &format!("  {h}\n"),
            (h, w) => {
                h.iter().for_each(|h| diff += &format!("- {h}\n"));
                w.iter().for_each(|w| diff += &format!("+ {w}\n"));
            }
        }
    }
    Err(diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_table_and_diffs_a_changed_one() {
        let mut t = Table::new(&["a", "b"]);
        t.push(vec!["1".into(), "2".into()]);
        t.push(vec!["3".into(), "4".into()]);
        let doc = format!("text\n\n{}\nmore text\n", t.to_markdown());
        assert_eq!(check_contains(&doc, &t.to_markdown()), Ok(()));
        let mut short = t.clone();
        short.rows.pop();
        let diff = check_contains(&doc, &short.to_markdown()).unwrap_err();
        assert_eq!(diff, "  | a | b |\n  | --- | --- |\n  | 1 | 2 |\n- | 3 | 4 |\n");
        t.rows[1][1] = "5".into();
        let diff = check_contains(&doc, &t.to_markdown()).unwrap_err();
        assert_eq!(diff, "  | a | b |\n  | --- | --- |\n  | 1 | 2 |\n- | 3 | 4 |\n+ | 3 | 5 |\n");
        let other = Table::new(&["c"]);
        assert!(check_contains(&doc, &other.to_markdown()).unwrap_err().starts_with("no table"));
    }

    #[test]
    fn renders_markdown() {
        let mut t = Table::new(&["a", "b"]);
        t.push(vec!["1".into(), "2".into()]);
        assert_eq!(t.to_markdown(), "| a | b |\n| --- | --- |\n| 1 | 2 |\n");
    }
}
