//! The pure half of link previews (api.md §6.11): which fetch a URL calls for, which addresses
//! may be fetched at all, and how a fetched body becomes a preview object.
//!
//! Fetching itself (DNS, the pinned connection, redirects, size caps, the cache) belongs to the
//! HTTP layer; it asks this module what to fetch and hands back the bytes it got.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{json, Value};
use url::Url;

use crate::domain::uploads::is_previewable;

/// How many lines a code preview shows at most.
const MAX_CODE_LINES: u64 = 1000;
/// How far above a highlighted line a code preview starts.
const LINES_BEFORE_HIGHLIGHT: u64 = 500;
/// Longest OpenGraph title and description kept, in characters.
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 400;

/// What to fetch for a link (§6.11 item 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// A file view on bitbucket.org: fetch its raw content from the public API.
    Bitbucket {
        api_url: String,
        /// The file's path inside the repository, for the code object.
        filepath: String,
        highlight: Option<(u64, u64)>,
    },
    /// A file view on a self-hosted Bitbucket Server: fetch its raw endpoint.
    BitbucketServer {
        raw_url: String,
        /// The file's path inside the repository, for the code object.
        filepath: String,
        highlight: Option<(u64, u64)>,
    },
    /// A URL whose last path segment looks like a source file: fetch it as code, and fall back
    /// to OpenGraph when that gives nothing.
    CodeFile { filepath: String },
    /// Anything else: read the page's OpenGraph data.
    OpenGraph,
}

/// Pick the strategy for `url` (§6.11 item 3).
pub fn strategy(url: &Url) -> Strategy {
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();

    let host = url.host_str().unwrap_or("");
    if host == "bitbucket.org" || host == "www.bitbucket.org" {
        if let [ws, repo, "src", git_ref, rest @ ..] = segments.as_slice() {
            let path = rest.join("/");
            if !ws.is_empty() && !repo.is_empty() && !git_ref.is_empty() && !path.is_empty() {
                return Strategy::Bitbucket {
                    api_url: format!(
                        "https://api.bitbucket.org/2.0/repositories/{ws}/{repo}/src/{git_ref}/{path}"
                    ),
                    filepath: path,
                    highlight: url.fragment().and_then(bitbucket_highlight),
                };
            }
        }
    }

    if let ["projects", project, "repos", repo, "browse", rest @ ..] = segments.as_slice() {
        let path = rest.join("/");
        if !project.is_empty() && !repo.is_empty() && !path.is_empty() {
            let authority = match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            };
            return Strategy::BitbucketServer {
                raw_url: format!(
                    "{}://{authority}/rest/api/1.0/projects/{project}/repos/{repo}/raw/{path}",
                    url.scheme()
                ),
                filepath: path,
                highlight: url.fragment().and_then(server_highlight),
            };
        }
    }

    match segments.last() {
        Some(last) if !last.is_empty() && is_previewable(last) => Strategy::CodeFile {
            filepath: url.path().trim_start_matches('/').to_string(),
        },
        _ => Strategy::OpenGraph,
    }
}

/// `lines-N` or `lines-N:M` (bitbucket.org fragments).
fn bitbucket_highlight(fragment: &str) -> Option<(u64, u64)> {
    line_range(fragment.strip_prefix("lines-")?, ':')
}

/// `N` or `N-M` (Bitbucket Server fragments).
fn server_highlight(fragment: &str) -> Option<(u64, u64)> {
    line_range(fragment, '-')
}

/// A positive line number, or two separated by `sep`. A lone line highlights itself.
fn line_range(text: &str, sep: char) -> Option<(u64, u64)> {
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().filter(|n| *n > 0)
    };
    match text.split_once(sep) {
        Some((start, end)) => Some((number(start)?, number(end)?)),
        None => number(text).map(|n| (n, n)),
    }
}

/// Whether a link may be fetched at all, before any DNS (§6.11 item 2): `http`/`https` only,
/// not `localhost`, and not a literal address that is not public. Resolved addresses are
/// checked again with [`is_public_ip`] by the fetcher.
pub fn is_fetchable_url(url: &Url) -> bool {
    if url.scheme() != "http" && url.scheme() != "https" {
        return false;
    }
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            domain != "localhost" && !domain.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => is_public_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public_ip(IpAddr::V6(ip)),
        None => false,
    }
}

/// Whether `ip` is a public unicast address that a preview fetch may connect to: not private,
/// loopback, link-local, shared (CGNAT), documentation, benchmarking, reserved, multicast,
/// broadcast or unspecified. IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) are
/// judged by that address; outside `2000::/3` nothing is globally routed, so nothing is public.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let blocked = a == 0                                    // "this network", 0.0.0.0/8
        || a == 10                                          // private
        || a == 127                                         // loopback
        || (a == 100 && (64..128).contains(&b))             // shared address space (CGNAT)
        || (a == 169 && b == 254)                           // link-local
        || (a == 172 && (16..32).contains(&b))              // private
        || (a == 192 && b == 0 && c == 0)                   // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                   // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)                 // deprecated 6to4 relay anycast
        || (a == 192 && b == 168)                           // private
        || (a == 198 && (b == 18 || b == 19))               // benchmarking
        || (a == 198 && b == 51 && c == 100)                // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)                 // TEST-NET-3
        || a >= 224; // multicast, reserved 240/4 and broadcast
    !blocked
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // NAT64 well-known prefix 64:ff9b::/96 reaches the embedded IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    // 6to4 (2002::/16) tunnels to the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2]));
    }
    // Outside 2000::/3 lies everything that is not global unicast: ::, ::1, fc00::/7 (ULA),
    // fe80::/10 (link-local), fec0::/10 (old site-local), ff00::/8 (multicast)…
    let blocked = (s[0] & 0xe000) != 0x2000
        || (s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23 protocol assignments (Teredo…)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] & 0xfff0) == 0x3ff0; // 3fff::/20 documentation
    !blocked
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// The code object (§6.11 item 4) for a fetched file.
///
/// `filepath` is the path shown (its last segment names the file and its language),
/// `original_url` the link as the user gave it, `highlight` the `(start, end)` lines from the
/// link's fragment. Also serves `/file_preview` with `highlight = None` (§6.4).
pub fn code_object(
    original_url: &str,
    filepath: &str,
    body: &[u8],
    highlight: Option<(u64, u64)>,
) -> Value {
    let text = String::from_utf8_lossy(body);
    let lines = split_lines(&text);
    let total_lines = lines.len() as u64;

    let first_line = highlight.map_or(1, |(start, _)| {
        start.saturating_sub(LINES_BEFORE_HIGHLIGHT).max(1)
    });
    let code = lines
        .iter()
        .skip(usize::try_from(first_line - 1).unwrap_or(usize::MAX))
        .take(MAX_CODE_LINES as usize)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");

    let filename = filepath.rsplit('/').next().unwrap_or(filepath);
    let language = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_lowercase())
        .unwrap_or_default();

    json!({
        "type": "code",
        "code": code,
        "filename": filename,
        "filepath": filepath,
        "first_line_num": first_line,
        "highlight_start": highlight.map(|(start, _)| start),
        "highlight_end": highlight.map(|(_, end)| end),
        "language": language,
        "total_lines": total_lines,
        "url": original_url,
    })
}

/// The lines of `text`: split on `\n`, a `\r` before it dropped, a final line without a
/// newline counted, and no phantom empty line after a final newline (so `""` has none).
fn split_lines(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    body.split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect()
}

/// The OpenGraph object (§6.11 item 5) for a page fetched from `page_url` (the address after
/// redirects, used to resolve a relative image and to name the domain). Only the `<head>` is
/// read. `None` when the page has no title; the caller answers `{}` then.
///
/// The object's `url` is `page_url`; a caller that wants the link as typed replaces it.
pub fn opengraph(page_url: &Url, head_html: &str) -> Option<Value> {
    let head = scan_head(head_html);

    let title = head
        .meta_title
        .or(head.title_element)
        .map(|t| cut(&t, MAX_TITLE))
        .filter(|t| !t.is_empty())?;
    let description = head
        .meta_description
        .map(|d| cut(&d, MAX_DESCRIPTION))
        .unwrap_or_default();
    let image = head
        .meta_image
        .and_then(|raw| page_url.join(&raw).ok())
        .filter(|u| u.scheme() == "http" || u.scheme() == "https")
        .map(String::from)
        .unwrap_or_default();
    let host = page_url.host_str().unwrap_or("");
    let domain = match page_url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };

    Some(json!({
        "type": "og",
        "title": title,
        "description": description,
        "image": image,
        "domain": domain,
        "url": page_url.as_str(),
    }))
}

/// The first `max` characters of `text`, trimmed.
fn cut(text: &str, max: usize) -> String {
    text.trim().chars().take(max).collect::<String>()
}

/// What the `<head>` offers, each value entity-decoded and trimmed.
#[derive(Debug, Default)]
struct HeadData {
    meta_title: Option<String>,
    meta_description: Option<String>,
    meta_image: Option<String>,
    title_element: Option<String>,
}

const TITLE_KEYS: [&str; 3] = ["og:title", "twitter:title", "twitter:card"];
const DESCRIPTION_KEYS: [&str; 3] = ["og:description", "description", "twitter:description"];
const IMAGE_KEYS: [&str; 2] = ["og:image", "twitter:image"];

/// Walk the tags of `html` up to `</head>` or `<body>`, keeping the first match of each field.
fn scan_head(html: &str) -> HeadData {
    let mut data = HeadData::default();
    let mut scanner = TagScanner::new(html);
    while let Some(tag) = scanner.next_tag() {
        match (tag.name.as_str(), tag.closing) {
            ("head", true) | ("body", false) => break,
            ("meta", false) => {
                let Some(content) = tag
                    .attr("content")
                    .map(|c| decode_entities(c).trim().to_string())
                else {
                    continue;
                };
                if content.is_empty() {
                    continue;
                }
                // A tag may carry both attributes; either one naming a key makes it match.
                let keys: Vec<String> = ["property", "name"]
                    .iter()
                    .filter_map(|a| tag.attr(a))
                    .map(|k| k.trim().to_ascii_lowercase())
                    .collect();
                let names = |list: &[&str]| keys.iter().any(|k| list.contains(&k.as_str()));
                if data.meta_title.is_none() && names(&TITLE_KEYS) {
                    data.meta_title = Some(content.clone());
                }
                if data.meta_description.is_none() && names(&DESCRIPTION_KEYS) {
                    data.meta_description = Some(content.clone());
                }
                if data.meta_image.is_none() && names(&IMAGE_KEYS) {
                    data.meta_image = Some(content);
                }
            }
            ("title", false) => {
                let text = scanner.raw_text_until("title");
                if data.title_element.is_none() {
                    let decoded = decode_entities(text);
                    let collapsed = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
                    data.title_element = Some(collapsed);
                }
            }
            // Their bodies are not markup: a "<meta" inside a script string is not a tag.
            ("script", false) | ("style", false) => {
                scanner.raw_text_until(&tag.name);
            }
            _ => {}
        }
    }
    data
}

/// One start or end tag.
#[derive(Debug)]
struct Tag<'a> {
    /// ASCII-lowercased tag name.
    name: String,
    closing: bool,
    /// Attribute names (ASCII-lowercased) and raw values (entities not yet decoded).
    attrs: Vec<(String, &'a str)>,
}

impl Tag<'_> {
    /// The first attribute called `name` (HTML keeps the first of duplicates).
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// A forgiving tag tokenizer: enough HTML to find tags and attributes in real pages, skipping
/// comments, doctypes and processing instructions, never failing on broken markup.
struct TagScanner<'a> {
    html: &'a str,
    /// `html` with ASCII letters lowercased: the same byte offsets, for case-blind searches.
    lower: String,
    pos: usize,
}

impl<'a> TagScanner<'a> {
    fn new(html: &'a str) -> Self {
        Self {
            html,
            lower: html.to_ascii_lowercase(),
            pos: 0,
        }
    }

    fn next_tag(&mut self) -> Option<Tag<'a>> {
        let bytes = self.html.as_bytes();
        loop {
            let lt = self.pos + self.html[self.pos..].find('<')?;
            let rest = &self.html[lt..];
            if let Some(comment) = rest.strip_prefix("<!--") {
                self.pos = match comment.find("-->") {
                    Some(end) => lt + 4 + end + 3,
                    None => self.html.len(),
                };
                continue;
            }
            if rest.starts_with("<!") || rest.starts_with("<?") {
                self.pos = self.skip_past_gt(lt + 1);
                continue;
            }
            let (closing, name_start) = if rest.starts_with("</") {
                (true, lt + 2)
            } else {
                (false, lt + 1)
            };
            if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
                // A bare "<" in text (or "</ " junk): not a tag.
                self.pos = lt + 1;
                continue;
            }
            let name_end = name_start
                + bytes[name_start..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'_'))
                    .count();
            let name = self.html[name_start..name_end].to_ascii_lowercase();
            if closing {
                self.pos = self.skip_past_gt(name_end);
                return Some(Tag {
                    name,
                    closing,
                    attrs: Vec::new(),
                });
            }
            let (attrs, end) = self.attributes(name_end);
            self.pos = end;
            return Some(Tag {
                name,
                closing,
                attrs,
            });
        }
    }

    /// Parse attributes from `start` to the closing `>`; returns them and the offset after it.
    fn attributes(&self, start: usize) -> (Vec<(String, &'a str)>, usize) {
        let html = self.html;
        let bytes = html.as_bytes();
        let mut attrs = Vec::new();
        let mut i = start;
        loop {
            while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
                i += 1;
            }
            if i >= bytes.len() {
                return (attrs, bytes.len());
            }
            if bytes[i] == b'>' {
                return (attrs, i + 1);
            }
            let name_start = i;
            while i < bytes.len()
                && !bytes[i].is_ascii_whitespace()
                && !matches!(bytes[i], b'=' | b'>' | b'/')
            {
                i += 1;
            }
            let name = html[name_start..i].to_ascii_lowercase();
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if j >= bytes.len() || bytes[j] != b'=' {
                // A bare attribute such as `async`.
                attrs.push((name, ""));
                continue;
            }
            j += 1;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            let value;
            match bytes.get(j) {
                Some(&quote @ (b'"' | b'\'')) => {
                    let value_start = j + 1;
                    let value_end = html[value_start..]
                        .find(char::from(quote))
                        .map_or(bytes.len(), |n| value_start + n);
                    value = &html[value_start..value_end];
                    i = (value_end + 1).min(bytes.len());
                }
                _ => {
                    let value_start = j;
                    let mut k = j;
                    while k < bytes.len() && !bytes[k].is_ascii_whitespace() && bytes[k] != b'>' {
                        k += 1;
                    }
                    value = &html[value_start..k];
                    i = k;
                }
            }
            attrs.push((name, value));
        }
    }

    /// The offset just after the next `>` from `from` (or the end).
    fn skip_past_gt(&self, from: usize) -> usize {
        self.html[from..]
            .find('>')
            .map_or(self.html.len(), |n| from + n + 1)
    }

    /// The raw text up to the closing tag `</name>`, moving past it. An unclosed element runs
    /// to the end of the input.
    fn raw_text_until(&mut self, name: &str) -> &'a str {
        let needle = format!("</{name}");
        let start = self.pos;
        match self.lower[start..].find(&needle) {
            Some(n) => {
                self.pos = self.skip_past_gt(start + n + needle.len());
                &self.html[start..start + n]
            }
            None => {
                self.pos = self.html.len();
                &self.html[start..]
            }
        }
    }
}

/// Decode character references: `&#NNN;`, `&#xHH;` (the `;` optional) and the common named
/// entities (`;` required). Anything unrecognised is left as written.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match decode_one(after) {
            Some((c, used)) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decode the reference at the start of `s` (just after `&`): the character and the bytes used.
fn decode_one(s: &str) -> Option<(char, usize)> {
    if let Some(num) = s.strip_prefix('#') {
        let (digits, radix, prefix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (num, 10, 1),
        };
        let len = digits
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit() && (radix == 16 || b.is_ascii_digit()))
            .count();
        if len == 0 {
            return None;
        }
        // Overlong numbers saturate to an invalid code point and become U+FFFD, as browsers do.
        let value = u32::from_str_radix(&digits[..len.min(8)], radix).unwrap_or(u32::MAX);
        let value = if len > 8 { u32::MAX } else { value };
        let c = match value {
            0 => '\u{FFFD}',
            v => char::from_u32(v).unwrap_or('\u{FFFD}'),
        };
        let semicolon = usize::from(digits[len..].starts_with(';'));
        return Some((c, prefix + len + semicolon));
    }
    let len = s.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if len == 0 || !s[len..].starts_with(';') {
        return None;
    }
    named_entity(&s[..len]).map(|c| (c, len + 1))
}

/// Latin-1 entities for U+00A0..=U+00FF, in code point order.
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// Named entities beyond Latin-1 that turn up in page titles and descriptions.
const OTHER_ENTITIES: [(&str, char); 44] = [
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("OElig", '\u{152}'),
    ("oelig", '\u{153}'),
    ("Scaron", '\u{160}'),
    ("scaron", '\u{161}'),
    ("Yuml", '\u{178}'),
    ("fnof", '\u{192}'),
    ("circ", '\u{2C6}'),
    ("tilde", '\u{2DC}'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("zwnj", '\u{200C}'),
    ("zwj", '\u{200D}'),
    ("lrm", '\u{200E}'),
    ("rlm", '\u{200F}'),
    ("ndash", '\u{2013}'),
    ("mdash", '\u{2014}'),
    ("lsquo", '\u{2018}'),
    ("rsquo", '\u{2019}'),
    ("sbquo", '\u{201A}'),
    ("ldquo", '\u{201C}'),
    ("rdquo", '\u{201D}'),
    ("bdquo", '\u{201E}'),
    ("dagger", '\u{2020}'),
    ("Dagger", '\u{2021}'),
    ("bull", '\u{2022}'),
    ("hellip", '\u{2026}'),
    ("permil", '\u{2030}'),
    ("prime", '\u{2032}'),
    ("Prime", '\u{2033}'),
    ("lsaquo", '\u{2039}'),
    ("rsaquo", '\u{203A}'),
    ("euro", '\u{20AC}'),
    ("trade", '\u{2122}'),
    ("larr", '\u{2190}'),
    ("rarr", '\u{2192}'),
    ("hearts", '\u{2665}'),
    ("nbsp", '\u{A0}'),
    ("vert", '|'),
];

fn named_entity(name: &str) -> Option<char> {
    if let Some((_, c)) = OTHER_ENTITIES.iter().find(|(n, _)| *n == name) {
        return Some(*c);
    }
    let index = LATIN1.iter().position(|n| *n == name)?;
    char::from_u32(0xA0 + u32::try_from(index).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    // ---- strategy -------------------------------------------------------------------------

    #[test]
    fn bitbucket_cloud_file_uses_the_api() {
        assert_eq!(
            strategy(&url(
                "https://bitbucket.org/team/repo/src/main/src/lib.rs#lines-12:20"
            )),
            Strategy::Bitbucket {
                api_url: "https://api.bitbucket.org/2.0/repositories/team/repo/src/main/src/lib.rs"
                    .into(),
                filepath: "src/lib.rs".into(),
                highlight: Some((12, 20)),
            }
        );
    }

    #[test]
    fn bitbucket_cloud_single_line_highlight() {
        let s = strategy(&url(
            "https://www.bitbucket.org/t/r/src/abc123/README.md#lines-7",
        ));
        assert!(
            matches!(
                s,
                Strategy::Bitbucket {
                    highlight: Some((7, 7)),
                    ..
                }
            ),
            "{s:?}"
        );
    }

    #[test]
    fn bitbucket_cloud_bad_fragment_means_no_highlight() {
        let s = strategy(&url("https://bitbucket.org/t/r/src/main/a.py#L7"));
        assert!(
            matches!(
                s,
                Strategy::Bitbucket {
                    highlight: None,
                    ..
                }
            ),
            "{s:?}"
        );
    }

    #[test]
    fn bitbucket_cloud_without_file_path_falls_through() {
        assert_eq!(
            strategy(&url("https://bitbucket.org/t/r/src/main/")),
            Strategy::OpenGraph
        );
        assert_eq!(
            strategy(&url("https://bitbucket.org/t/r")),
            Strategy::OpenGraph
        );
    }

    #[test]
    fn bitbucket_server_browse_uses_raw_endpoint_on_same_host() {
        assert_eq!(
            strategy(&url(
                "http://git.corp:7990/projects/OPS/repos/tools/browse/bin/run.sh#10-14"
            )),
            Strategy::BitbucketServer {
                raw_url:
                    "http://git.corp:7990/rest/api/1.0/projects/OPS/repos/tools/raw/bin/run.sh"
                        .into(),
                filepath: "bin/run.sh".into(),
                highlight: Some((10, 14)),
            }
        );
        let s = strategy(&url("https://git.corp/projects/P/repos/R/browse/x.c#5"));
        assert!(
            matches!(
                s,
                Strategy::BitbucketServer {
                    highlight: Some((5, 5)),
                    ..
                }
            ),
            "{s:?}"
        );
    }

    #[test]
    fn previewable_last_segment_is_a_code_file() {
        assert_eq!(
            strategy(&url("https://example.com/raw/src/Main.JAVA?x=1")),
            Strategy::CodeFile {
                filepath: "raw/src/Main.JAVA".into()
            }
        );
        assert_eq!(
            strategy(&url("https://example.com/Dockerfile")),
            Strategy::CodeFile {
                filepath: "Dockerfile".into()
            }
        );
    }

    #[test]
    fn other_pages_use_opengraph() {
        for u in [
            "https://example.com/",
            "https://example.com/news/item",
            "https://e.com/a.png",
        ] {
            assert_eq!(strategy(&url(u)), Strategy::OpenGraph, "{u}");
        }
    }

    // ---- address checks -------------------------------------------------------------------

    fn ip(s: &str) -> IpAddr {
        IpAddr::from_str(s).unwrap()
    }

    #[test]
    fn public_addresses_are_public() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "2a00:1450::1",
        ] {
            assert!(is_public_ip(ip(a)), "{a}");
        }
    }

    #[test]
    fn non_public_ipv4_ranges_are_refused() {
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.8.8.8",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_public_ip(ip(a)), "{a}");
        }
    }

    #[test]
    fn edges_of_private_ranges_stay_public() {
        for a in [
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "11.0.0.1",
        ] {
            assert!(is_public_ip(ip(a)), "{a}");
        }
    }

    #[test]
    fn non_public_ipv6_ranges_are_refused() {
        for a in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "100::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:192.168.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:0101::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public_ip(ip(a)), "{a}");
        }
    }

    #[test]
    fn ipv6_forms_of_public_ipv4_are_public() {
        for a in ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"] {
            assert!(is_public_ip(ip(a)), "{a}");
        }
    }

    #[test]
    fn fetchable_url_needs_http_and_a_public_or_named_host() {
        assert!(is_fetchable_url(&url("https://example.com/x")));
        assert!(is_fetchable_url(&url("http://8.8.8.8/")));
        for u in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://localhost:8080/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://127.0.0.1/",
            "http://[::1]/",
            "http://10.0.0.5/",
            "http://[::ffff:192.168.1.1]/",
            "http://0x7f000001/",
        ] {
            assert!(!is_fetchable_url(&url(u)), "{u}");
        }
    }

    // ---- code object ----------------------------------------------------------------------

    #[test]
    fn code_object_has_every_field() {
        let v = code_object(
            "https://h/x/lib.RS",
            "x/lib.RS",
            b"fn a() {}\nfn b() {}\n",
            None,
        );
        assert_eq!(
            v,
            json!({
                "type": "code",
                "code": "fn a() {}\nfn b() {}",
                "filename": "lib.RS",
                "filepath": "x/lib.RS",
                "first_line_num": 1,
                "highlight_start": null,
                "highlight_end": null,
                "language": "rs",
                "total_lines": 2,
                "url": "https://h/x/lib.RS",
            })
        );
    }

    #[test]
    fn code_object_counts_a_final_line_without_newline() {
        let v = code_object("u", "a.txt", b"one\ntwo", None);
        assert_eq!(v["total_lines"], 2);
        assert_eq!(v["code"], "one\ntwo");
    }

    #[test]
    fn code_object_for_empty_file_has_no_lines() {
        let v = code_object("u", "a.txt", b"", None);
        assert_eq!(v["total_lines"], 0);
        assert_eq!(v["code"], "");
        let v = code_object("u", "a.txt", b"\n", None);
        assert_eq!(v["total_lines"], 1);
    }

    #[test]
    fn code_object_drops_carriage_returns_and_replaces_bad_utf8() {
        let v = code_object("u", "a.txt", b"a\r\nb\xff\r\n", None);
        assert_eq!(v["code"], "a\nb\u{FFFD}");
        assert_eq!(v["total_lines"], 2);
    }

    #[test]
    fn code_object_caps_at_1000_lines() {
        let body: String = (1..=1500).map(|n| format!("line {n}\n")).collect();
        let v = code_object("u", "a.txt", body.as_bytes(), None);
        assert_eq!(v["total_lines"], 1500);
        let code = v["code"].as_str().unwrap();
        assert_eq!(code.lines().count(), 1000);
        assert!(code.starts_with("line 1\n"));
        assert!(code.ends_with("line 1000"));
    }

    #[test]
    fn code_object_starts_500_lines_before_the_highlight() {
        let body: String = (1..=3000).map(|n| format!("{n}\n")).collect();
        let v = code_object("u", "a.txt", body.as_bytes(), Some((1200, 1210)));
        assert_eq!(v["first_line_num"], 700);
        assert_eq!(v["highlight_start"], 1200);
        assert_eq!(v["highlight_end"], 1210);
        let code = v["code"].as_str().unwrap();
        assert!(code.starts_with("700\n"));
        assert!(code.ends_with("\n1699"));
    }

    #[test]
    fn code_object_near_the_top_starts_at_line_one() {
        let v = code_object("u", "a.c", b"x\ny\nz\n", Some((2, 2)));
        assert_eq!(v["first_line_num"], 1);
        assert_eq!(v["code"], "x\ny\nz");
        assert_eq!(v["highlight_end"], 2);
    }

    #[test]
    fn code_object_highlight_past_the_end_shows_nothing() {
        let v = code_object("u", "a.c", b"x\ny\n", Some((900, 900)));
        assert_eq!(v["first_line_num"], 400);
        assert_eq!(v["code"], "");
        assert_eq!(v["total_lines"], 2);
    }

    #[test]
    fn code_object_language_is_empty_without_extension() {
        let v = code_object("u", "docker/Dockerfile", b"FROM x\n", None);
        assert_eq!(v["language"], "");
        assert_eq!(v["filename"], "Dockerfile");
    }

    // ---- OpenGraph ------------------------------------------------------------------------

    const ARTICLE: &str = r#"<!DOCTYPE html>
<html lang="en">
<HEAD>
  <meta charset="utf-8">
  <!-- <meta property="og:title" content="Commented out"> -->
  <title>  Fallback   title &amp; more </title>
  <script>var s = '<meta property="og:title" content="From script">';</script>
  <META Property="OG:Title" CONTENT="Rust &amp; &#8220;Friends&#x201D;">
  <meta name="twitter:title" content="Second title">
  <meta name=description content=Plain-description>
  <meta property="og:description" content="Later description">
  <meta property='og:image' content='/img/cover.png?w=1&amp;h=2'>
  <link rel="stylesheet" href="/style.css">
</HEAD>
<body>
  <meta property="og:image" content="https://cdn.example/body.png">
</body>
</html>"#;

    #[test]
    fn opengraph_reads_first_matching_meta_in_document_order() {
        let v = opengraph(&url("https://blog.example.com/post/1"), ARTICLE).unwrap();
        assert_eq!(
            v,
            json!({
                "type": "og",
                "title": "Rust & \u{201C}Friends\u{201D}",
                "description": "Plain-description",
                "image": "https://blog.example.com/img/cover.png?w=1&h=2",
                "domain": "blog.example.com",
                "url": "https://blog.example.com/post/1",
            })
        );
    }

    #[test]
    fn opengraph_falls_back_to_title_element_only_without_meta_title() {
        let html = "<html><head><title>\n  Just a\n  page &lt;3 </title>\
                    <meta property=og:description content='d'></head></html>";
        let v = opengraph(&url("http://example.org:8080/"), html).unwrap();
        assert_eq!(v["title"], "Just a page <3");
        assert_eq!(v["description"], "d");
        assert_eq!(v["image"], "");
        assert_eq!(v["domain"], "example.org:8080");
    }

    #[test]
    fn opengraph_twitter_card_counts_as_a_title() {
        let html = r#"<head><meta name="twitter:card" content="summary"><title>T</title></head>"#;
        let v = opengraph(&url("https://x.com/"), html).unwrap();
        assert_eq!(v["title"], "summary");
    }

    #[test]
    fn opengraph_ignores_meta_after_head() {
        let html = r#"<html><head></head><body><meta property="og:title" content="Body"></body>"#;
        assert_eq!(opengraph(&url("https://x.com/"), html), None);
        let html = r#"<title>Kept</title><body><meta property="og:title" content="Body">"#;
        assert_eq!(
            opengraph(&url("https://x.com/"), html).unwrap()["title"],
            "Kept"
        );
    }

    #[test]
    fn opengraph_without_any_title_is_none() {
        let html = r#"<head><meta property="og:description" content="only"></head>"#;
        assert_eq!(opengraph(&url("https://x.com/"), html), None);
        assert_eq!(
            opengraph(&url("https://x.com/"), "<head><title>  </title></head>"),
            None
        );
        assert_eq!(opengraph(&url("https://x.com/"), "not html at all"), None);
    }

    #[test]
    fn opengraph_cuts_title_and_description_by_characters() {
        let title = "é".repeat(250);
        let desc = "ü".repeat(500);
        let html = format!(
            r#"<head><meta property="og:title" content="{title}"><meta name="description" content="{desc}"></head>"#
        );
        let v = opengraph(&url("https://x.com/"), &html).unwrap();
        assert_eq!(v["title"].as_str().unwrap().chars().count(), 200);
        assert_eq!(v["description"].as_str().unwrap().chars().count(), 400);
    }

    #[test]
    fn opengraph_drops_non_http_images() {
        for image in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "ftp://h/x.png",
        ] {
            let html = format!(
                r#"<head><meta property="og:title" content="t"><meta property="og:image" content="{image}"></head>"#
            );
            assert_eq!(
                opengraph(&url("https://x.com/a/"), &html).unwrap()["image"],
                "",
                "{image}"
            );
        }
    }

    #[test]
    fn opengraph_resolves_protocol_relative_and_relative_images() {
        let html = r#"<head><meta property="og:title" content="t"><meta name="twitter:image" content="//cdn.x.com/i.jpg"></head>"#;
        assert_eq!(
            opengraph(&url("https://x.com/a/b"), html).unwrap()["image"],
            "https://cdn.x.com/i.jpg"
        );
        let html = r#"<head><meta property="og:title" content="t"><meta property="og:image" content="pic.png"></head>"#;
        assert_eq!(
            opengraph(&url("http://x.com/a/b"), html).unwrap()["image"],
            "http://x.com/a/pic.png"
        );
    }

    #[test]
    fn opengraph_skips_meta_without_content() {
        let html = r#"<head><meta property="og:title"><meta property="og:title" content=""><meta property="og:title" content="Real"></head>"#;
        assert_eq!(
            opengraph(&url("https://x.com/"), html).unwrap()["title"],
            "Real"
        );
    }

    #[test]
    fn opengraph_survives_broken_markup() {
        let html = "<head><title>Ok</title><meta property=\"og:title\" content=\"unterminated";
        let v = opengraph(&url("https://x.com/"), html).unwrap();
        assert_eq!(v["title"], "unterminated");
        let html = "<head>< 3 <<>> </ <meta property=og:title content=Fine>";
        assert_eq!(
            opengraph(&url("https://x.com/"), html).unwrap()["title"],
            "Fine"
        );
        assert_eq!(
            opengraph(&url("https://x.com/"), "<head><!-- never closed"),
            None
        );
        assert_eq!(
            opengraph(&url("https://x.com/"), "<title>open").unwrap()["title"],
            "open"
        );
    }

    #[test]
    fn decode_entities_handles_named_numeric_and_unknown() {
        assert_eq!(decode_entities("a &amp; b"), "a & b");
        assert_eq!(decode_entities("&lt;&gt;&quot;&#39;&apos;"), "<>\"''");
        assert_eq!(
            decode_entities("caf&eacute; &copy; &nbsp;|"),
            "café © \u{A0}|"
        );
        assert_eq!(decode_entities("&#x1F600;&#128512"), "😀😀");
        assert_eq!(
            decode_entities("&#0; &#xD800; &#99999999999;"),
            "\u{FFFD} \u{FFFD} \u{FFFD}"
        );
        assert_eq!(
            decode_entities("AT&T &unknown; & &amp"),
            "AT&T &unknown; & &amp"
        );
        assert_eq!(decode_entities("&hellip;&mdash;&rsquo;"), "…—’");
    }
}
