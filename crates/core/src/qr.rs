//! The QR code printed on an invoice: a link to its public page, `PUBLIC_BASE_URL/v/{id}`,
//! which shows the invoice and, once the origin has numbered it, its final number
//! (docs/ARCHITECTURE.md, "Who uses it": the same link later shows the final official number).
//!
//! The module matrix comes from the `qrcode` crate, built without its default features
//! (`image`, `svg`, `pic`) to keep the wasm small. We draw the SVG ourselves because the
//! crate's SVG renderer writes every dark module as its own absolute-coordinate square
//! (8.4 KB for a typical link); ours strokes each row's runs of dark modules as short relative
//! lines in a single `<path>` (1.9 KB, 0.5 KB gzipped).

use std::fmt::{self, Write};

use qrcode::{Color, EcLevel, QrCode};

/// The quiet zone around the symbol, in modules. ISO/IEC 18004:2015, 9.1 (Quiet zone): at
/// least 4 modules wide on every side for QR Code, or scanners may not find the symbol.
pub const QUIET_ZONE_MODULES: usize = 4;

/// Error correction level M restores about 15% of damaged codewords (ISO/IEC 18004:2015,
/// 5.3.8): enough for a printed or photographed invoice, with a smaller symbol than Q or H.
const ERROR_CORRECTION: EcLevel = EcLevel::M;

/// The longest invoice id accepted in a link. Ids are UUIDv7 (36 characters, docs/ARCHITECTURE.md,
/// "The issued document"); the slack allows other id formats without inviting abuse.
const MAX_INVOICE_ID_LEN: usize = 128;

/// Why no QR code could be made. Never part of an API answer (the base URL is the operator's
/// configuration and the id is ours), so these are messages for the log, not catalogue codes:
/// `/v/{id}` logs them and shows the page without a QR code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QrError {
    /// `PUBLIC_BASE_URL` is not an absolute `http://` or `https://` URL with a host and no
    /// query or fragment, or holds characters that a URL cannot carry unescaped.
    InvalidBaseUrl,
    /// The invoice id is empty, too long, or has a character other than `A-Z a-z 0-9 - _`.
    InvalidInvoiceId,
    /// The text does not fit in the largest QR code (version 40) at level M.
    DataTooLong,
    /// The encoder or the renderer failed for another reason.
    Encoding,
}

impl fmt::Display for QrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            QrError::InvalidBaseUrl => {
                "PUBLIC_BASE_URL must be an absolute http(s) URL with a host and no query or fragment"
            }
            QrError::InvalidInvoiceId => "the invoice id must be 1-128 characters of A-Z a-z 0-9 - _",
            QrError::DataTooLong => "the text is too long for a QR code",
            QrError::Encoding => "the QR code could not be encoded",
        };
        f.write_str(message)
    }
}

impl std::error::Error for QrError {}

/// The public link of an invoice: `{public_base_url}/v/{invoice_id}`.
///
/// Trailing slashes of the base are dropped, so `https://edge.example.com/` and
/// `https://edge.example.com` give the same link, never `//v/`. A base with a path
/// (`https://example.com/invoices`) keeps it. The id is restricted to characters that need no
/// escaping in a path segment and are never a dot-segment (RFC 3986, 3.3 and 5.2.4), so the
/// link is exactly what the page route sees.
pub fn invoice_url(public_base_url: &str, invoice_id: &str) -> Result<String, QrError> {
    let base = checked_base_url(public_base_url)?;
    let id = checked_invoice_id(invoice_id)?;
    Ok(format!("{base}/v/{id}"))
}

/// The SVG QR code of an invoice's public link (see [`invoice_url`]).
pub fn invoice_qr_svg(public_base_url: &str, invoice_id: &str) -> Result<String, QrError> {
    qr_svg(&invoice_url(public_base_url, invoice_id)?)
}

/// A QR code for `text` as a compact, self-contained SVG.
///
/// - Error correction level M; the smallest version that fits.
/// - A `viewBox` in module units with a 4-module white quiet zone and no `width`/`height`,
///   so the page sizes it with CSS and it scales without blur (`shape-rendering="crispEdges"`).
/// - One white background path and one black path for all dark modules.
pub fn qr_svg(text: &str) -> Result<String, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), ERROR_CORRECTION).map_err(
        |error| match error {
            qrcode::types::QrError::DataTooLong => QrError::DataTooLong,
            _ => QrError::Encoding,
        },
    )?;
    let dark: Vec<bool> = code
        .to_colors()
        .into_iter()
        .map(|color| color == Color::Dark)
        .collect();
    render_svg(&dark, code.width()).map_err(|_| QrError::Encoding)
}

/// Draws a square module matrix (row-major, `true` = dark) as SVG.
///
/// Each row's run of dark modules is one horizontal line `h{len}`, stroked 1 module wide
/// along the row's middle (y + 0.5). Butt caps, SVG's default `stroke-linecap` (SVG 1.1,
/// 11.4), end the stroke exactly at the run's ends, so each run paints exactly its modules.
/// The next run is reached with a short relative `m` from where the last one ended. A line
/// encloses no area, so the default fill paints nothing. This is about half the size of one
/// closed square per run, and under a quarter of one square per module.
fn render_svg(dark: &[bool], width: usize) -> Result<String, fmt::Error> {
    let side = width + 2 * QUIET_ZONE_MODULES;
    let mut svg = String::with_capacity(160 + dark.len() * 2);
    write!(
        svg,
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}""#,
            r#" shape-rendering="crispEdges">"#,
            r##"<path fill="#fff" d="M0 0h{side}v{side}H0z"/><path stroke="#000" d=""##,
        ),
        side = side
    )?;
    // Where the pen stands, in modules, after the last run; None before the first run.
    let mut pen: Option<(usize, usize)> = None;
    for (row_index, row) in dark.chunks(width.max(1)).enumerate() {
        let y = row_index + QUIET_ZONE_MODULES;
        let mut column = 0;
        while column < row.len() {
            if !row[column] {
                column += 1;
                continue;
            }
            let run_start = column;
            while column < row.len() && row[column] {
                column += 1;
            }
            let run_len = column - run_start;
            let x = run_start + QUIET_ZONE_MODULES;
            match pen {
                None => write!(svg, "M{x} {y}.5")?,
                Some((pen_x, pen_y)) => {
                    // On a new row the run starts left of the pen, so the step is negative.
                    let step_x = x as i64 - pen_x as i64;
                    let step_y = y - pen_y;
                    write!(svg, "m{step_x} {step_y}")?;
                }
            }
            write!(svg, "h{run_len}")?;
            pen = Some((x + run_len, y));
        }
    }
    svg.push_str(r#""/></svg>"#);
    Ok(svg)
}

/// The base URL without its trailing slashes, if it is usable.
fn checked_base_url(public_base_url: &str) -> Result<&str, QrError> {
    let after_scheme = public_base_url
        .strip_prefix("https://")
        .or_else(|| public_base_url.strip_prefix("http://"))
        .ok_or(QrError::InvalidBaseUrl)?;
    let host = after_scheme.split('/').next().unwrap_or_default();
    let usable = !host.is_empty()
        && after_scheme.bytes().all(is_url_path_byte)
        && !after_scheme.contains(['?', '#']);
    if !usable {
        return Err(QrError::InvalidBaseUrl);
    }
    Ok(public_base_url.trim_end_matches('/'))
}

/// Bytes that may appear unescaped in the authority and path of a URL (RFC 3986, 2.2, 2.3
/// and 3.2.2 for the brackets of an IPv6 host), plus `%` for escapes already made.
fn is_url_path_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~:/@!$&'()*+,;=%[]".contains(&byte)
}

fn checked_invoice_id(invoice_id: &str) -> Result<&str, QrError> {
    let usable = !invoice_id.is_empty()
        && invoice_id.len() <= MAX_INVOICE_ID_LEN
        && invoice_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if usable {
        Ok(invoice_id)
    } else {
        Err(QrError::InvalidInvoiceId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://edge.example.com";
    const TYPICAL_ID: &str = "01936d4e-8a0b-7c3d-9e2f-0123456789ab";

    /// A module bitmap read back from one of our SVGs.
    struct Modules {
        side: usize,
        dark: Vec<bool>,
    }

    impl Modules {
        fn is_dark(&self, x: usize, y: usize) -> bool {
            self.dark[y * self.side + x]
        }
    }

    fn attribute<'a>(svg: &'a str, prefix: &str) -> &'a str {
        let start = svg.find(prefix).expect("attribute present") + prefix.len();
        let end = start + svg[start..].find('"').expect("attribute closed");
        &svg[start..end]
    }

    /// Rasterizes our own SVG back into modules. It knows the structure `render_svg` writes
    /// (an `M`, then `h` runs joined by `m` moves, stroked 1 module wide along the middle of a
    /// row) and checks it on the way.
    fn read_modules(svg: &str) -> Modules {
        let view_box: Vec<usize> = attribute(svg, "viewBox=\"")
            .split(' ')
            .map(|n| n.parse().expect("viewBox number"))
            .collect();
        assert_eq!(view_box[..2], [0, 0]);
        assert_eq!(view_box[2], view_box[3], "square viewBox");
        let side = view_box[2];
        let mut dark = vec![false; side * side];

        let path = attribute(svg, "<path stroke=\"#000\" d=\"");
        let mut rest = path;
        let (mut pen_x, mut pen_y) = (0f64, 0f64);
        let mut first = true;
        while let Some(command) = rest.chars().next() {
            rest = &rest[1..];
            let end = rest.find(char::is_alphabetic).unwrap_or(rest.len());
            let numbers: Vec<f64> = rest[..end]
                .split(' ')
                .map(|part| part.parse().expect("path number"))
                .collect();
            rest = &rest[end..];
            match (command, numbers.as_slice()) {
                ('M', &[x, y]) if first => (pen_x, pen_y) = (x, y),
                ('m', &[dx, dy]) if !first => (pen_x, pen_y) = (pen_x + dx, pen_y + dy),
                ('h', &[len]) if len > 0.0 => {
                    assert_eq!(pen_y.fract(), 0.5, "stroke along the middle of a row");
                    assert_eq!(pen_x.fract(), 0.0);
                    let y = pen_y.floor() as usize;
                    for x in pen_x as usize..(pen_x + len) as usize {
                        assert!(x < side && y < side, "module outside the viewBox");
                        assert!(!dark[y * side + x], "module drawn twice");
                        dark[y * side + x] = true;
                    }
                    pen_x += len;
                }
                other => panic!("unexpected path command {other:?}"),
            }
            first = false;
        }
        Modules { side, dark }
    }

    /// Scales the modules up, as a scanner would see a printed code, and decodes with rqrr.
    fn decode(svg: &str) -> String {
        const PIXELS_PER_MODULE: usize = 4;
        let modules = read_modules(svg);
        let pixels = modules.side * PIXELS_PER_MODULE;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(pixels, pixels, |x, y| {
            if modules.is_dark(x / PIXELS_PER_MODULE, y / PIXELS_PER_MODULE) {
                0
            } else {
                255
            }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "exactly one QR code found");
        let (_meta, content) = grids[0].decode().expect("decodes");
        content
    }

    #[test]
    fn joins_the_base_and_the_id_without_a_double_slash() {
        let expected = format!("{BASE}/v/{TYPICAL_ID}");
        for base in [
            BASE,
            "https://edge.example.com/",
            "https://edge.example.com//",
        ] {
            assert_eq!(invoice_url(base, TYPICAL_ID).unwrap(), expected);
        }
        assert_eq!(
            invoice_url("http://localhost:8787/", "abc").unwrap(),
            "http://localhost:8787/v/abc"
        );
        assert_eq!(
            invoice_url("https://shop.example/invoices/", "abc").unwrap(),
            "https://shop.example/invoices/v/abc"
        );
    }

    #[test]
    fn rejects_unusable_base_urls() {
        for base in [
            "",
            "edge.example.com",
            "ftp://edge.example.com",
            "https://",
            "https:///",
            "https:///path",
            "https://edge.example.com/?x=1",
            "https://edge.example.com/#top",
            "https://edge example.com",
            "https://edge.example.com/\"><script>",
            "https://édge.example.com",
            " https://edge.example.com",
        ] {
            assert_eq!(
                invoice_url(base, TYPICAL_ID),
                Err(QrError::InvalidBaseUrl),
                "{base:?}"
            );
        }
    }

    #[test]
    fn rejects_unusable_invoice_ids() {
        let too_long = "a".repeat(MAX_INVOICE_ID_LEN + 1);
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "a?b",
            "a#b",
            "%2e",
            "ü",
            too_long.as_str(),
        ] {
            assert_eq!(
                invoice_url(BASE, id),
                Err(QrError::InvalidInvoiceId),
                "{id:?}"
            );
        }
        assert!(invoice_url(BASE, &"a".repeat(MAX_INVOICE_ID_LEN)).is_ok());
    }

    #[test]
    fn the_typical_invoice_link_decodes_back() {
        let svg = invoice_qr_svg(BASE, TYPICAL_ID).unwrap();
        assert_eq!(decode(&svg), format!("{BASE}/v/{TYPICAL_ID}"));
    }

    #[test]
    fn links_of_several_lengths_decode_back() {
        let long_id = "x".repeat(MAX_INVOICE_ID_LEN);
        let cases = [
            ("http://a.io", "1"),
            (
                "http://localhost:8787/",
                "01936d4e-8a0b-7c3d-9e2f-0123456789ab",
            ),
            ("https://edge.example.com", "ABC_def-123"),
            (
                "https://invoices.some-merchant.example.co.uk/billing/",
                TYPICAL_ID,
            ),
            (
                "https://very-long-subdomain.with-many-parts.example.com/a/b/c/d/e/f/",
                &long_id,
            ),
        ];
        for (base, id) in cases {
            let url = invoice_url(base, id).unwrap();
            assert_eq!(decode(&qr_svg(&url).unwrap()), url);
        }
    }

    #[test]
    fn arbitrary_text_decodes_back_up_to_a_large_version() {
        for len in [1, 17, 100, 500, 1_200] {
            let text: String = (0..len)
                .map(|i| char::from(b'!' + (i * 7 % 90) as u8))
                .collect();
            assert_eq!(decode(&qr_svg(&text).unwrap()), text, "length {len}");
        }
    }

    #[test]
    fn svg_is_one_compact_path_with_a_view_box_and_quiet_zone() {
        let svg = invoice_qr_svg(BASE, TYPICAL_ID).unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
        assert!(svg.ends_with("\"/></svg>"));
        assert!(!svg.contains("<rect"));
        assert_eq!(svg.matches("<path").count(), 2, "background and modules");
        assert!(svg.len() < 2_048, "SVG is {} bytes", svg.len());
        // The 63-character link fits version 4 at level M (33 modules): the encoder puts the
        // id's digit runs in numeric mode, which byte mode alone would not fit.
        let modules = read_modules(&svg);
        assert_eq!(modules.side, 33 + 2 * QUIET_ZONE_MODULES);
        for a in 0..modules.side {
            for b in (0..QUIET_ZONE_MODULES).chain(modules.side - QUIET_ZONE_MODULES..modules.side)
            {
                assert!(
                    !modules.is_dark(a, b) && !modules.is_dark(b, a),
                    "quiet zone"
                );
            }
        }
        // The top-left finder pattern's first row: 7 dark modules just inside the quiet zone.
        assert!((4..11).all(|x| modules.is_dark(x, 4)));
    }

    #[test]
    fn svg_is_deterministic() {
        assert_eq!(
            invoice_qr_svg(BASE, TYPICAL_ID).unwrap(),
            invoice_qr_svg(BASE, TYPICAL_ID).unwrap()
        );
    }

    #[test]
    fn too_much_text_is_an_error_not_a_panic() {
        // Version 40-M holds 2,331 bytes (ISO/IEC 18004:2015, Table 7).
        let text = "\u{7f}".repeat(2_332);
        assert_eq!(qr_svg(&text), Err(QrError::DataTooLong));
    }

    #[test]
    fn empty_text_still_renders() {
        assert_eq!(decode(&qr_svg("").unwrap()), "");
    }
}
