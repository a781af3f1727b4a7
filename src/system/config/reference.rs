//! Documentation generated from [`KEYS`]: the shipped `etc/minimost.toml` and the
//! `minimost.toml(5)` man page. Both come from the same table as the parser, so they cannot drift.

use super::{Key, KEYS};

const HEADER: &str = "\
# MiniMost settings (minimost.toml)
#
# Every key is shown commented out with its default; uncomment a line to change it.
# Apply changes with `systemctl reload minimost` (no connection is dropped). An invalid
# file is refused as a whole: at start the daemon does not start, on reload the previous
# settings stay, and the journal names the key and line at fault.
# Check a file before reloading: minimost --check-config /etc/minimost/minimost.toml
";

fn wrap(text: &str, width: usize, prefix: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            out.push_str(prefix);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(prefix);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn sections() -> Vec<Option<&'static str>> {
    let mut seen = Vec::new();
    for key in KEYS {
        if !seen.contains(&key.section) {
            seen.push(key.section);
        }
    }
    seen
}

fn keys_in(section: Option<&'static str>) -> impl Iterator<Item = &'static Key> {
    KEYS.iter().filter(move |k| k.section == section)
}

fn render(commented: bool) -> String {
    let c = if commented { "# " } else { "" };
    let mut out = String::from(HEADER);
    for section in sections() {
        out.push('\n');
        if let Some(name) = section {
            out.push_str(&format!("{c}[{name}]\n\n"));
        }
        for key in keys_in(section) {
            out.push_str(&wrap(key.doc, 94, "# "));
            out.push_str(&wrap(&format!("Allowed: {}.", key.rule), 94, "# "));
            match key.default {
                Some(default) => out.push_str(&format!("{c}{} = {default}\n\n", key.name)),
                None => out.push_str(&format!("# {} = (unset)\n\n", key.name)),
            }
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// The shipped `etc/minimost.toml`: every key documented, commented out at its default.
pub fn toml_reference() -> String {
    render(true)
}

/// The same file with the defaults active; tests parse it to prove the documented defaults are
/// the real ones.
pub fn toml_with_defaults_uncommented() -> String {
    render(false)
}

fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    // A line starting with '.' or '\'' would be read as a request.
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// `minimost.toml(5)` in roff.
pub fn man_page(version: &str) -> String {
    let mut out = format!(
        ".TH MINIMOST.TOML 5 \"\" \"minimost {version}\" \"File Formats\"\n\
         .SH NAME\nminimost.toml \\- settings of the MiniMost chat server\n\
         .SH SYNOPSIS\n/etc/minimost/minimost.toml\n\
         .SH DESCRIPTION\n\
         The daemon reads this TOML file at start and again on \\fBsystemctl reload minimost\\fR \
         (SIGHUP). Without a file every default applies. An invalid file is refused as a whole, \
         naming the key and line: at start the daemon exits non\\-zero, on reload the previous \
         settings stay. Unknown keys are logged as warnings and ignored. \
         \\fBminimost \\-\\-check\\-config\\fR \\fIFILE\\fR validates a file.\n"
    );
    for section in sections() {
        match section {
            None => out.push_str(".SH KEYS\n"),
            Some(name) => out.push_str(&format!(".SH [{}]\n", roff_escape(name))),
        }
        for key in keys_in(section) {
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR (default: {})\n{}\n.br\nAllowed: {}.\n",
                roff_escape(key.name),
                roff_escape(key.default.unwrap_or("unset")),
                roff_escape(key.doc),
                roff_escape(key.rule)
            ));
        }
    }
    out.push_str(".SH SEE ALSO\n\\fBminimost\\fR(8), \\fBminimostctl\\fR(8)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_documents_every_key() {
        let page = man_page("0");
        for key in KEYS {
            assert!(
                page.contains(&roff_escape(key.name)),
                "{} missing",
                key.name
            );
        }
    }

    #[test]
    fn commented_reference_sets_nothing() {
        let parsed: toml::Table = toml_reference().parse().unwrap_or_default();
        assert!(parsed.is_empty(), "{parsed:?}");
    }
}
