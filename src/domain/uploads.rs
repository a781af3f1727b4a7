//! Naming and serving rules for uploaded files (api.md §6.4 "Upload naming" and "Upload
//! serving", Appendix B).
//!
//! All uploads share one flat folder, so a stored name must never carry a path, and two uploads
//! of the same original must never collide: the 128 random bits in front see to the latter, the
//! safe-name rules to the former.

use unicode_normalization::UnicodeNormalization;

/// Extensions stored without the original name and served inline. SVG is deliberately absent:
/// it can carry script, so it is always an attachment.
pub const IMAGE_EXTENSIONS: [&str; 5] = [".jpg", ".jpeg", ".png", ".gif", ".webp"];

/// Longest safe name kept after the `<hex>_` prefix.
const MAX_SAFE_NAME: usize = 200;

/// Length of the random hex prefix.
const HEX_LEN: usize = 32;

/// Whether `ext` (as [`extension`] returns it: lowercase, with the dot) is an inline image.
pub fn is_image_ext(ext: &str) -> bool {
    IMAGE_EXTENSIONS.contains(&ext)
}

/// The extension of `original`: the text from its last `.`, lowercased (`"photo.JPG"` →
/// `".jpg"`); `""` when there is no dot, or when the last dot belongs to a folder name of a
/// path-like original (`"v1.2/readme"`).
pub fn extension(original: &str) -> String {
    match original.rfind('.') {
        Some(dot) if !original[dot..].contains(['/', '\\']) => original[dot..].to_lowercase(),
        _ => String::new(),
    }
}

/// 128 random bits as 32 lowercase hex digits, the prefix of every stored name.
pub fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The name an upload is stored under (§6.4): `<hex><ext>` for images, `<hex>_<safe name>`
/// for everything else.
pub fn stored_name(original: &str, random_hex: &str) -> String {
    let ext = extension(original);
    if is_image_ext(&ext) {
        format!("{random_hex}{ext}")
    } else {
        format!("{random_hex}_{}", safe_name(original, &ext))
    }
}

/// The original name reduced to `[A-Za-z0-9_.-]`, at most 200 characters, never empty.
fn safe_name(original: &str, ext: &str) -> String {
    // NFKD first, so that "é" leaves an "e" behind when the combining accent is dropped.
    let ascii: String = original
        .nfkd()
        .filter(char::is_ascii)
        .map(|c| if c == '/' || c == '\\' { ' ' } else { c })
        .collect();

    let mut joined = String::with_capacity(ascii.len());
    let mut in_space = false;
    for c in ascii.chars() {
        if c.is_whitespace() {
            if !in_space {
                joined.push('_');
            }
            in_space = true;
        } else {
            joined.push(c);
            in_space = false;
        }
    }

    let kept: String = joined.chars().filter(|c| is_safe_char(*c)).collect();
    let trimmed = kept.trim_matches(['.', '_']);

    if trimmed.is_empty() {
        return format!("file{}", safe_ext(ext));
    }
    if trimmed.len() <= MAX_SAFE_NAME {
        return trimmed.to_string();
    }
    // Everything is ASCII by now, so byte offsets are character offsets.
    match trimmed.rfind('.') {
        Some(dot) if trimmed.len() - dot < MAX_SAFE_NAME => {
            let (stem, tail) = trimmed.split_at(dot);
            format!("{}{tail}", &stem[..MAX_SAFE_NAME - tail.len()])
        }
        // No extension, or one too long to keep whole: plain cut.
        _ => trimmed[..MAX_SAFE_NAME].to_string(),
    }
}

/// The extension as it may appear after `file` when nothing else of the name survived: only
/// safe characters, and nothing at all if that leaves only the dot.
fn safe_ext(ext: &str) -> String {
    let cleaned: String = ext
        .nfkd()
        .filter(|c| is_safe_char(*c))
        .take(MAX_SAFE_NAME - "file".len())
        .collect();
    if cleaned.len() <= 1 {
        String::new()
    } else {
        cleaned
    }
}

fn is_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// The name offered for download: the stored name without its `<32 hex>_` prefix, or the whole
/// name when it has no such prefix (images, or names that merely look similar).
pub fn download_name(stored: &str) -> &str {
    let bytes = stored.as_bytes();
    let has_prefix = bytes.len() > HEX_LEN + 1
        && bytes[HEX_LEN] == b'_'
        && bytes[..HEX_LEN]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    if has_prefix {
        &stored[HEX_LEN + 1..]
    } else {
        stored
    }
}

/// The `Content-Disposition` value for serving `stored` (§6.4): inline with the stored name for
/// images, an attachment with the download name for everything else (SVG included).
pub fn content_disposition(stored: &str) -> String {
    let (kind, name) = if is_image_ext(&extension(stored)) {
        ("inline", stored)
    } else {
        ("attachment", download_name(stored))
    };
    let mut value = format!("{kind}; filename=\"{}\"", quote_filename(name));
    if !name.is_ascii() {
        value.push_str("; filename*=UTF-8''");
        value.push_str(&percent_encode(name));
    }
    value
}

/// Escape `"` and `\` with a backslash. Control characters are dropped: they cannot appear in
/// a header value, and a stored name with one would otherwise make the response fail.
fn quote_filename(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// RFC 8187 percent-encoding of UTF-8 bytes: everything but `attr-char` is encoded.
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        let plain = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `Content-Type` for serving a file named `name`, by extension.
///
/// Source and text files the client previews are served as plain text, never as HTML or
/// script, so an uploaded page cannot run in the server's origin even if opened directly.
pub fn content_type(name: &str) -> &'static str {
    let ext = extension(name);
    let by_ext = match ext.as_str() {
        ".jpg" | ".jpeg" => "image/jpeg",
        ".png" => "image/png",
        ".gif" => "image/gif",
        ".webp" => "image/webp",
        ".svg" => "image/svg+xml",
        ".bmp" => "image/bmp",
        ".ico" => "image/x-icon",
        ".avif" => "image/avif",
        ".tif" | ".tiff" => "image/tiff",
        ".pdf" => "application/pdf",
        ".json" => "application/json",
        ".zip" => "application/zip",
        ".gz" | ".tgz" => "application/gzip",
        ".tar" => "application/x-tar",
        ".7z" => "application/x-7z-compressed",
        ".bz2" => "application/x-bzip2",
        ".xz" => "application/x-xz",
        ".mp3" => "audio/mpeg",
        ".ogg" | ".oga" => "audio/ogg",
        ".opus" => "audio/opus",
        ".wav" => "audio/wav",
        ".flac" => "audio/flac",
        ".m4a" => "audio/mp4",
        ".mp4" | ".m4v" => "video/mp4",
        ".webm" => "video/webm",
        ".mov" => "video/quicktime",
        ".mkv" => "video/x-matroska",
        ".doc" => "application/msword",
        ".docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ".xls" => "application/vnd.ms-excel",
        ".xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".ppt" => "application/vnd.ms-powerpoint",
        ".pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ".odt" => "application/vnd.oasis.opendocument.text",
        ".ods" => "application/vnd.oasis.opendocument.spreadsheet",
        ".odp" => "application/vnd.oasis.opendocument.presentation",
        ".rtf" => "application/rtf",
        _ => "",
    };
    if !by_ext.is_empty() {
        by_ext
    } else if is_previewable(basename(name)) {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// The last path segment of `name` (the whole name when it has no separator).
fn basename(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// Extensions of previewable text files (Appendix B), without the dot.
const PREVIEW_EXTENSIONS: [&str; 70] = [
    "c", "cc", "cpp", "cxx", "h", "hpp", "py", "pyw", "js", "mjs", "cjs", "jsx", "ts", "tsx",
    "java", "kt", "scala", "rs", "go", "rb", "php", "pl", "lua", "sh", "bash", "zsh", "fish",
    "cmake", "mk", "make", "groovy", "gradle", "vhd", "vhdl", "v", "vh", "sv", "svh", "xml", "xsl",
    "xslt", "xsd", "svg", "html", "htm", "css", "scss", "sass", "less", "json", "yaml", "yml",
    "toml", "ini", "cfg", "conf", "txt", "md", "rst", "csv", "sql", "r", "swift", "m", "ex", "exs",
    "erl", "tf", "hcl", "proto",
];

/// Whole basenames of previewable files (Appendix B).
const PREVIEW_NAMES: [&str; 10] = [
    "dockerfile",
    "makefile",
    "cmakelists.txt",
    "gemfile",
    "rakefile",
    "vagrantfile",
    "procfile",
    "brewfile",
    ".env",
    "requirements.txt",
];

/// Whether a file with this basename gets a code preview (Appendix B). The test is on the
/// lowercased basename: its extension, its whole name, or a `jenkinsfile` prefix.
pub fn is_previewable(basename: &str) -> bool {
    let lower = basename.to_lowercase();
    if PREVIEW_NAMES.contains(&lower.as_str()) || lower.starts_with("jenkinsfile") {
        return true;
    }
    match lower.rsplit_once('.') {
        Some((_, ext)) => PREVIEW_EXTENSIONS.contains(&ext),
        None => false,
    }
}

/// Whether `name` can be used as a single file name inside the uploads folder: not empty, not
/// `.` or `..`, and free of `/`, `\` and NUL, so joining it to the folder cannot escape it.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn extension_is_lowercased_text_from_last_dot() {
        assert_eq!(extension("Photo.JPG"), ".jpg");
        assert_eq!(extension("archive.tar.GZ"), ".gz");
        assert_eq!(extension("README"), "");
        assert_eq!(extension(".env"), ".env");
        assert_eq!(extension("v1.2/readme"), "");
    }

    #[test]
    fn images_keep_only_hex_and_extension() {
        assert_eq!(stored_name("Holiday Pic.JPEG", HEX), format!("{HEX}.jpeg"));
        assert_eq!(stored_name("x.webp", HEX), format!("{HEX}.webp"));
    }

    #[test]
    fn svg_is_not_stored_as_an_image() {
        assert_eq!(stored_name("logo.svg", HEX), format!("{HEX}_logo.svg"));
    }

    #[test]
    fn safe_name_joins_whitespace_runs_and_drops_unsafe_characters() {
        assert_eq!(
            stored_name("my  report (final)\t v2.PDF", HEX),
            format!("{HEX}_my_report_final_v2.PDF")
        );
    }

    #[test]
    fn safe_name_decomposes_accents_and_drops_other_non_ascii() {
        assert_eq!(
            stored_name("Résumé 日本.txt", HEX),
            format!("{HEX}_Resume_.txt")
        );
        // NFKD also folds compatibility forms such as the "fi" ligature and full-width digits.
        assert_eq!(
            stored_name("\u{FB01}le\u{FF11}.md", HEX),
            format!("{HEX}_file1.md")
        );
    }

    #[test]
    fn safe_name_turns_slashes_into_separators() {
        // "../../etc/passwd" → ".. .. etc passwd" → ".._.._etc_passwd" → stripped.
        assert_eq!(
            stored_name("../../etc/passwd", HEX),
            format!("{HEX}_etc_passwd")
        );
        assert_eq!(stored_name("a\\b/c.txt", HEX), format!("{HEX}_a_b_c.txt"));
    }

    #[test]
    fn safe_name_strips_leading_and_trailing_dots_and_underscores() {
        assert_eq!(
            stored_name("__.hidden.txt._", HEX),
            format!("{HEX}_hidden.txt")
        );
        assert_eq!(stored_name(" spaced ", HEX), format!("{HEX}_spaced"));
    }

    #[test]
    fn empty_safe_name_becomes_file_with_extension() {
        // Only the dot of ".txt" would lead, and it is stripped: the extension's letters remain.
        assert_eq!(stored_name("日本語.txt", HEX), format!("{HEX}_txt"));
        assert_eq!(stored_name("日本語.日本", HEX), format!("{HEX}_file"));
        assert_eq!(stored_name("_.-", HEX), format!("{HEX}_-"));
        assert_eq!(stored_name("日本語", HEX), format!("{HEX}_file"));
        assert_eq!(stored_name("...", HEX), format!("{HEX}_file"));
        assert_eq!(stored_name("", HEX), format!("{HEX}_file"));
    }

    #[test]
    fn long_names_are_cut_in_the_stem_keeping_the_extension() {
        let original = format!("{}.tar", "a".repeat(300));
        let stored = stored_name(&original, HEX);
        let safe = &stored[HEX.len() + 1..];
        assert_eq!(safe.len(), 200);
        assert!(safe.ends_with(".tar"));
        assert_eq!(safe, format!("{}.tar", "a".repeat(196)));
    }

    #[test]
    fn long_names_without_extension_are_cut_to_200() {
        let stored = stored_name(&"b".repeat(250), HEX);
        assert_eq!(stored.len(), HEX.len() + 1 + 200);
    }

    #[test]
    fn random_hex_is_32_lowercase_hex_and_varies() {
        let a = random_hex();
        let b = random_hex();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn download_name_strips_a_real_hex_prefix_only() {
        assert_eq!(download_name(&format!("{HEX}_report.pdf")), "report.pdf");
        assert_eq!(download_name(&format!("{HEX}.png")), format!("{HEX}.png"));
        let upper = HEX.to_uppercase();
        assert_eq!(
            download_name(&format!("{upper}_report.pdf")),
            format!("{upper}_report.pdf")
        );
        assert_eq!(download_name("short_name.txt"), "short_name.txt");
        assert_eq!(download_name(&format!("{HEX}_")), format!("{HEX}_"));
        let not_hex = format!("{}g_x.txt", &HEX[..31]);
        assert_eq!(download_name(&not_hex), not_hex);
    }

    #[test]
    fn images_are_served_inline_under_the_stored_name() {
        assert_eq!(
            content_disposition(&format!("{HEX}.png")),
            format!("inline; filename=\"{HEX}.png\"")
        );
    }

    #[test]
    fn other_files_are_attachments_under_the_download_name() {
        assert_eq!(
            content_disposition(&format!("{HEX}_notes.txt")),
            "attachment; filename=\"notes.txt\""
        );
        assert_eq!(
            content_disposition(&format!("{HEX}_logo.svg")),
            "attachment; filename=\"logo.svg\""
        );
    }

    #[test]
    fn disposition_escapes_quotes_and_backslashes() {
        assert_eq!(
            content_disposition("say \"hi\" \\o/.txt"),
            "attachment; filename=\"say \\\"hi\\\" \\\\o/.txt\""
        );
    }

    #[test]
    fn disposition_adds_utf8_name_when_not_ascii() {
        assert_eq!(
            content_disposition(&format!("{HEX}_naïve café.txt")),
            "attachment; filename=\"naïve café.txt\"; \
             filename*=UTF-8''na%C3%AFve%20caf%C3%A9.txt"
        );
    }

    #[test]
    fn disposition_drops_control_characters() {
        assert_eq!(
            content_disposition("a\r\nb.txt"),
            "attachment; filename=\"ab.txt\""
        );
    }

    #[test]
    fn content_type_follows_the_extension() {
        assert_eq!(content_type("a.PNG"), "image/png");
        assert_eq!(content_type("a.jpeg"), "image/jpeg");
        assert_eq!(content_type("a.svg"), "image/svg+xml");
        assert_eq!(content_type("a.pdf"), "application/pdf");
        assert_eq!(content_type("a.json"), "application/json");
        assert_eq!(content_type("a.zip"), "application/zip");
        assert_eq!(content_type("a.mp4"), "video/mp4");
        assert_eq!(content_type("a.mp3"), "audio/mpeg");
        assert_eq!(content_type("a.bin"), "application/octet-stream");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn content_type_serves_code_and_html_as_plain_text() {
        for name in [
            "main.rs",
            "page.html",
            "app.js",
            "Dockerfile",
            "Jenkinsfile.prod",
        ] {
            assert_eq!(content_type(name), "text/plain; charset=utf-8", "{name}");
        }
    }

    #[test]
    fn previewable_by_extension_case_insensitively() {
        for name in [
            "main.RS",
            "x.py",
            "a.b.yaml",
            "top.sv",
            "notes.TXT",
            "icon.svg",
            "x.proto",
        ] {
            assert!(is_previewable(name), "{name}");
        }
    }

    #[test]
    fn previewable_by_whole_name_or_jenkinsfile_prefix() {
        for name in [
            "Dockerfile",
            "MAKEFILE",
            "CMakeLists.txt",
            ".env",
            "requirements.txt",
            "Brewfile",
            "Jenkinsfile",
            "jenkinsfile-release",
        ] {
            assert!(is_previewable(name), "{name}");
        }
    }

    #[test]
    fn not_previewable_otherwise() {
        for name in [
            "photo.png",
            "c",
            "rs",
            "report.pdf",
            "archive.tar.gz",
            "x.env",
            "dockerfile.bak",
        ] {
            assert!(!is_previewable(name), "{name}");
        }
    }

    #[test]
    fn plain_file_names_reject_paths_and_dots() {
        assert!(is_plain_file_name(&format!("{HEX}.png")));
        assert!(is_plain_file_name("..hidden"));
        for bad in ["", ".", "..", "a/b", "..\\x", "a\0b", "/etc/passwd"] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }
}
