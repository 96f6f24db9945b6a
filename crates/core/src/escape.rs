//! Escaping text for HTML and XML: one function for the verification page (`/v/{id}`, through
//! [`crate::template`]) and the UBL export ([`crate::ubl`]), with where the text goes as a
//! parameter.
//!
//! What each [`Context`] replaces, and why:
//!
//! | character | HTML text | HTML attribute | XML text | XML attribute |
//! |---|---|---|---|---|
//! | `&` `<` `>` | reference | reference | reference | reference |
//! | `"` `'` | kept | reference | kept | reference |
//! | CR | kept | kept | `&#13;` | `&#13;` |
//! | tab, LF | kept | kept | kept | `&#9;` `&#10;` |
//! | other C0, U+FFFE, U+FFFF | kept | kept | U+FFFD | U+FFFD |
//!
//! - `&` starts a reference and `<` a tag in every context. `>` is needed only in XML text
//!   (`]]>` may not appear in content, XML 1.0 section 2.4) but is replaced everywhere, so the
//!   contexts differ only where they must.
//! - Quotes end an attribute value; both are replaced, so a value is safe whichever quote its
//!   template or writer uses (OWASP XSS Prevention Cheat Sheet, rule #2). In text they are
//!   ordinary characters.
//! - XML parsers turn a carriage return into a newline (XML 1.0 section 2.11, end-of-line
//!   handling), and in attribute values tab, LF and CR into spaces (section 3.3.3,
//!   attribute-value normalization): a character reference keeps them.
//! - XML 1.0 cannot carry most C0 controls, U+FFFE or U+FFFF at all, not even as references
//!   (section 2.2, `Char`): they become U+FFFD, so a document is always well-formed.
//! - HTML: controls are not this function's concern. The intake refuses C0 and C1 controls in
//!   every text field (`json_reader::check_text`, code `CONTROL_CHARACTER`), except tab and
//!   newline in multi-line fields, which HTML shows as spaces; they could not open markup anyway.

/// Where escaped text goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    /// Element content of an HTML page (also `<title>`; never `<script>` or `<style>`, whose
    /// content is not parsed for references: [`crate::template`] refuses placeholders there).
    HtmlText,
    /// An HTML attribute value in double or single quotes (never unquoted).
    HtmlAttribute,
    /// Element content of an XML document.
    XmlText,
    /// An XML attribute value in double or single quotes.
    XmlAttribute,
}

impl Context {
    fn is_xml(self) -> bool {
        matches!(self, Context::XmlText | Context::XmlAttribute)
    }

    fn is_attribute(self) -> bool {
        matches!(self, Context::HtmlAttribute | Context::XmlAttribute)
    }
}

/// `text` escaped for `context` (see the module's table).
pub fn escape(text: &str, context: Context) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    escape_into(&mut out, text, context);
    out
}

/// Appends `text`, escaped for `context`, to `out`.
pub fn escape_into(out: &mut String, text: &str, context: Context) {
    let xml = context.is_xml();
    let attribute = context.is_attribute();
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            // `&#39;`, not `&apos;`: HTML 4 has no `&apos;`, and the numeric form is the same in
            // both languages.
            '\'' if attribute => out.push_str("&#39;"),
            '\r' if xml => out.push_str("&#13;"),
            '\t' if xml && attribute => out.push_str("&#9;"),
            '\n' if xml && attribute => out.push_str("&#10;"),
            '\t' | '\n' => out.push(c),
            c if xml && !is_xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// XML 1.0 section 2.2, `Char`, for what a Rust `char` can be (no surrogates): tab, LF and CR
/// of the C0 controls, and everything from U+0020 except U+FFFE and U+FFFF.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= '\u{20}' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use Context::*;

    const ALL: [Context; 4] = [HtmlText, HtmlAttribute, XmlText, XmlAttribute];

    #[test]
    fn markup_characters_become_references_everywhere() {
        for context in ALL {
            assert_eq!(
                escape("a&b<c>d", context),
                "a&amp;b&lt;c&gt;d",
                "{context:?}"
            );
            // A reference in the input is text, not a reference: its `&` is escaped again.
            assert_eq!(escape("&amp;", context), "&amp;amp;", "{context:?}");
        }
        assert_eq!(escape("]]>", XmlText), "]]&gt;");
    }

    #[test]
    fn quotes_are_replaced_in_attributes_only() {
        let text = r#"say "hi" & 'bye'"#;
        assert_eq!(escape(text, HtmlText), r#"say "hi" &amp; 'bye'"#);
        assert_eq!(escape(text, XmlText), r#"say "hi" &amp; 'bye'"#);
        let quoted = "say &quot;hi&quot; &amp; &#39;bye&#39;";
        assert_eq!(escape(text, HtmlAttribute), quoted);
        assert_eq!(escape(text, XmlAttribute), quoted);
    }

    #[test]
    fn line_ends_and_tabs_survive_an_xml_parser() {
        let text = "a\tb\nc\rd";
        assert_eq!(escape(text, XmlText), "a\tb\nc&#13;d");
        assert_eq!(escape(text, XmlAttribute), "a&#9;b&#10;c&#13;d");
        // HTML keeps them: no normalization to undo, and the intake allows only tab and
        // newline, in multi-line fields.
        assert_eq!(escape(text, HtmlText), text);
        assert_eq!(escape(text, HtmlAttribute), text);
    }

    #[test]
    fn xml_replaces_what_it_cannot_carry_and_html_leaves_controls_alone() {
        let text = "a\u{0}b\u{1}c\u{1F}d\u{FFFE}e\u{FFFF}f\u{7F}\u{85}";
        for context in [XmlText, XmlAttribute] {
            // DEL and the C1 controls are XML 1.0 `Char`s: kept.
            assert_eq!(
                escape(text, context),
                "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}f\u{7F}\u{85}",
                "{context:?}"
            );
        }
        // Refused at intake (CONTROL_CHARACTER); the HTML escaper does not second-guess it.
        for context in [HtmlText, HtmlAttribute] {
            assert_eq!(escape(text, context), text, "{context:?}");
        }
    }

    #[test]
    fn everything_else_passes_unchanged() {
        let text = "北京某某科技有限公司 Ωμέγα Straße 🧾 \u{FFFD} {{x}} `=/";
        for context in ALL {
            assert_eq!(escape(text, context), text, "{context:?}");
        }
        assert_eq!(escape("", HtmlText), "");
    }

    #[test]
    fn escape_into_appends() {
        let mut out = String::from("<b>");
        escape_into(&mut out, "<i>", HtmlText);
        assert_eq!(out, "<b>&lt;i&gt;");
    }
}
