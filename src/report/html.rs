//! Small HTML helpers for the report: escaping, tables, sections.

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A table with a header row; cells are escaped, numeric-looking cells right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table><thead><tr>");
    for h in header {
        html.push_str(&format!("<th>{}</th>", escape(h)));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let numeric = cell
                .trim_end_matches('%')
                .replace([',', '.', '-', 'e'], "")
                .chars()
                .all(|c| c.is_ascii_digit())
                && !cell.is_empty();
            let class = if numeric { " class=\"num\"" } else { "" };
            html.push_str(&format!("<td{class}>{}</td>", escape(cell)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    html
}

/// A section with a title, an optional note and its body (already HTML).
pub fn section(id: &str, title: &str, note: &str, body: &str) -> String {
    let note = if note.is_empty() {
        String::new()
    } else {
        format!("<p class=\"note\">{}</p>", escape(note))
    };
    format!(
        "<section id=\"{id}\"><h2>{}</h2>{note}{body}</section>\n",
        escape(title)
    )
}

/// The whole page around the sections, with its style inline: the file stands alone.
pub fn page(title: &str, subtitle: &str, sections: &[String]) -> String {
    let nav: String = sections
        .iter()
        .filter_map(|s| {
            let id = s.split("id=\"").nth(1)?.split('"').next()?;
            let title = s.split("<h2>").nth(1)?.split("</h2>").next()?;
            Some(format!("<a href=\"#{id}\">{title}</a>"))
        })
        .collect::<Vec<_>>()
        .join(" · ");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\n{STYLE}</style></head>\n\
         <body><header><h1>{t}</h1><p class=\"note\">{s}</p><nav>{nav}</nav></header>\n{}</body></html>\n",
        sections.concat(),
        t = escape(title),
        s = escape(subtitle),
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}\n\
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}\n\
.note{color:#666;font-size:.9rem}nav a{color:#2458a6;text-decoration:none}\n\
table{border-collapse:collapse;margin:.8rem 0;font-size:.88rem}th,td{padding:.25rem .6rem;border-bottom:1px solid #eee}\n\
th{text-align:left;background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}\n\
.charts{display:flex;flex-wrap:wrap;gap:1rem}.charts svg{border:1px solid #eee}\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_aligns() {
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
        let html = table(&["domain", "docs"], &[vec!["<web>".into(), "1,234".into()]]);
        assert!(
            html.contains("<td>&lt;web&gt;</td><td class=\"num\">1,234</td>"),
            "{html}"
        );
    }
}

/// Charts side by side.
pub fn charts(svgs: &[String]) -> String {
    format!("<div class=\"charts\">{}</div>", svgs.concat())
}

/// A share as a percentage with one decimal.
pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}
