//! The HTML pages the worker renders, from the templates of `www/templates/`, compiled into the
//! wasm with `include_str!` (`www/.assetsignore` keeps them from also being served as files).
//! The syntax and its escaping rules are in `invoice_edge_core::template`.
//!
//! A new page (another language's layout, a credit-note list) is a file in `www/templates/`,
//! one variant below with its file, and a route that builds its [`Record`]; the test at the end
//! compiles every variant, so a template that does not compile fails `cargo test`.

use invoice_edge_core::template::{Record, Template, TemplateError};

/// The partials every page may include with `{{> name}}`.
const PARTIALS: &[(&str, &str)] = &[("page-head", include_str!("../www/templates/page-head.html"))];

/// One page template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// `GET /v/{id}`: one invoice, its QR code and its checks.
    Invoice,
    /// `GET /v/{id}` for an id with no invoice.
    NotFound,
    /// `GET /v/{id}` when the invoice store cannot be read.
    Unavailable,
}

impl Page {
    #[cfg(test)]
    pub const ALL: [Page; 3] = [Page::Invoice, Page::NotFound, Page::Unavailable];

    /// The template's file name (for errors) and text.
    fn template(self) -> (&'static str, &'static str) {
        match self {
            Page::Invoice => (
                "invoice-page.html",
                include_str!("../www/templates/invoice-page.html"),
            ),
            Page::NotFound => (
                "not-found.html",
                include_str!("../www/templates/not-found.html"),
            ),
            Page::Unavailable => (
                "unavailable.html",
                include_str!("../www/templates/unavailable.html"),
            ),
        }
    }

    /// Compiles the template and renders it with `data`. Compiling a page's template takes
    /// microseconds, far less than the signature check the invoice page runs, so nothing is
    /// cached between requests.
    pub fn render(self, data: &Record) -> Result<String, TemplateError> {
        let (name, source) = self.template();
        Template::compile(name, source, PARTIALS)?.render(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_compiles() {
        for page in Page::ALL {
            let (name, source) = page.template();
            if let Err(error) = Template::compile(name, source, PARTIALS) {
                panic!("{page:?}: {error}");
            }
        }
    }

    #[test]
    fn the_static_pages_render() {
        let unavailable = Page::Unavailable.render(&Record::new()).unwrap();
        assert!(unavailable.starts_with("<!doctype html>\n<html lang=\"en\">"));
        assert!(unavailable.contains("<title>Temporarily unavailable · 暂时无法访问</title>"));
        assert!(
            unavailable.contains("@media print"),
            "the shared styles are in"
        );
        assert!(!unavailable.contains("<script"));
        let not_found = Page::NotFound
            .render(&Record::new().with("id", "<script>x</script>"))
            .unwrap();
        assert!(not_found.contains("<code>&lt;script&gt;x&lt;/script&gt;</code>"));
        assert!(!not_found.contains("<script"));
    }
}
