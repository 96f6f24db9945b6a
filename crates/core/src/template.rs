//! A small HTML template engine for the pages the edge renders (`/v/{id}`): the layout lives in
//! template files (`www/templates/`), the worker only builds the data ([`Record`]).
//!
//! # Syntax
//!
//! | tag | meaning |
//! |---|---|
//! | `{{name}}` | the value of `name`, always escaped ([`crate::escape`]) |
//! | `{{#if name}}…{{/if}}` | the block when `name` is set: `true`, non-empty text, a non-empty list, a record or an SVG |
//! | `{{#unless name}}…{{/unless}}` | the block when `name` is not set |
//! | `{{#each name}}…{{/each}}` | the block once for each record of the list `name` |
//! | `{{#with name}}…{{/with}}` | the block inside record `name`, or nothing when it is absent |
//! | `{{> name}}` | the partial template `name`, as if its text stood here |
//! | `{{trusted-svg name}}` | the [`TrustedSvg`] `name`, **not escaped** |
//! | `{{! text }}` | a comment for the template's reader, not rendered (it ends at the first `}}`; a newline right after it is dropped too) |
//!
//! Names are `a-z`, `0-9`, `_` and `-`. Inside a block, a name is looked up in the block's record
//! first, then outwards to the page's record, so a line can use the page's `currency`. A name
//! that no record holds is an error, not an empty string: a typo fails the tests.
//!
//! # Escaping follows the place
//!
//! [`Template::compile`] reads the HTML around each tag and fixes its escaping once:
//! [`Context::HtmlText`] in element content, [`Context::HtmlAttribute`] inside a quoted
//! attribute value. Anywhere else a placeholder is a compile error, because escaping does not
//! make text inert there: an unquoted attribute, a tag or attribute name, a comment, inside
//! `<script>` or `<style>`, an event handler (`on…`) or `style` attribute, and the start of a
//! URL attribute (`href`, `src`, …), where `javascript:` needs no escapable character. A URL
//! with a fixed beginning (`href="/v1/invoices/{{id}}"`) is allowed: the template's author
//! chooses a beginning that fixes the scheme and host. A block must end in the same place it starts, so repeating or skipping it cannot move
//! later placeholders between text and attribute.
//!
//! The one unescaped insertion is `{{trusted-svg name}}`, for markup our own code drew (the QR
//! code, `qr::qr_svg`): it is spelled out in the template and only accepts a [`TrustedSvg`]
//! value, which never holds input. It is allowed in element content only.
//!
//! There is no way to write a literal `{{` in a template; none of ours needs one.

use std::fmt;

use crate::escape::{escape_into, Context};

/// How deep partials may include partials; deeper is taken as a cycle.
const MAX_PARTIAL_DEPTH: usize = 8;

/// A value for one name of a [`Record`].
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Nothing: `#if` is false, `#with` renders nothing, `{{name}}` is an error.
    Absent,
    Text(String),
    /// Renders as `true` or `false` (e.g. in a `data-` attribute).
    Flag(bool),
    List(Vec<Record>),
    Record(Record),
    Svg(TrustedSvg),
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::Text(text)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::Text(text.to_string())
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Value {
        Value::Flag(flag)
    }
}

impl From<Vec<Record>> for Value {
    fn from(list: Vec<Record>) -> Value {
        Value::List(list)
    }
}

impl From<Record> for Value {
    fn from(record: Record) -> Value {
        Value::Record(record)
    }
}

impl From<TrustedSvg> for Value {
    fn from(svg: TrustedSvg) -> Value {
        Value::Svg(svg)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Absent, Into::into)
    }
}

/// The data of a page or of one repeated block: names and their values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    fields: Vec<(&'static str, Value)>,
}

impl Record {
    pub fn new() -> Record {
        Record::default()
    }

    /// This record with `name` set to `value` (replacing an earlier value of `name`).
    pub fn with(mut self, name: &'static str, value: impl Into<Value>) -> Record {
        let value = value.into();
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(field) => field.1 = value,
            None => self.fields.push((name, value)),
        }
        self
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// SVG markup our own code drew, inserted unescaped by `{{trusted-svg name}}`.
///
/// Only for output of our renderers whose every byte we control (the QR code of
/// `qr::qr_svg`: numbers and fixed markup); never for text that holds input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedSvg(String);

impl TrustedSvg {
    /// `None` unless `svg` is one `<svg …>…</svg>` element: a guard against passing other text
    /// by mistake, not a sanitizer.
    pub fn from_own_renderer(svg: String) -> Option<TrustedSvg> {
        let one_element =
            svg.starts_with("<svg ") && svg.ends_with("</svg>") && svg.matches("<svg").count() == 1;
        one_element.then_some(TrustedSvg(svg))
    }
}

/// Why a template did not compile or render.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// The template text is wrong: `template` is its name, `line` counts from 1.
    Syntax {
        template: String,
        line: usize,
        message: String,
    },
    /// The data does not fit the template: `name` is missing or has the wrong kind of value.
    Data { name: String, message: &'static str },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Syntax {
                template,
                line,
                message,
            } => write!(f, "template {template}, line {line}: {message}"),
            TemplateError::Data { name, message } => write!(f, "template data {name:?}: {message}"),
        }
    }
}

impl std::error::Error for TemplateError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockKind {
    If,
    Unless,
    Each,
    With,
}

impl BlockKind {
    fn keyword(self) -> &'static str {
        match self {
            BlockKind::If => "if",
            BlockKind::Unless => "unless",
            BlockKind::Each => "each",
            BlockKind::With => "with",
        }
    }

    fn from_keyword(keyword: &str) -> Option<BlockKind> {
        [
            BlockKind::If,
            BlockKind::Unless,
            BlockKind::Each,
            BlockKind::With,
        ]
        .into_iter()
        .find(|kind| kind.keyword() == keyword)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Literal(String),
    Value {
        name: String,
        context: Context,
    },
    Svg {
        name: String,
    },
    Block {
        kind: BlockKind,
        name: String,
        body: Vec<Node>,
    },
}

/// A compiled template: parse once, render with any number of [`Record`]s.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

impl Template {
    /// Compiles `source` (named `name` in errors); `partials` are the `(name, source)` pairs
    /// that `{{> name}}` may include.
    pub fn compile(
        name: &str,
        source: &str,
        partials: &[(&str, &str)],
    ) -> Result<Template, TemplateError> {
        let mut compiler = Compiler {
            partials,
            state: HtmlState::Text,
        };
        let nodes = compiler.template(name, source, 0)?;
        if compiler.state != HtmlState::Text {
            return Err(syntax(
                name,
                source,
                source.len(),
                format!("ends {}", compiler.state.describe()),
            ));
        }
        Ok(Template { nodes })
    }

    /// The page for `data`.
    pub fn render(&self, data: &Record) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(16 * 1024);
        render_nodes(
            &self.nodes,
            &Scope {
                record: data,
                outer: None,
            },
            &mut out,
        )?;
        Ok(out)
    }
}

fn syntax(template: &str, source: &str, offset: usize, message: String) -> TemplateError {
    TemplateError::Syntax {
        template: template.to_string(),
        line: source[..offset.min(source.len())].matches('\n').count() + 1,
        message,
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

struct Compiler<'p> {
    partials: &'p [(&'p str, &'p str)],
    state: HtmlState,
}

/// A block being read: its kind, name, where it opened, the place it opened in, and the nodes
/// around it.
struct OpenBlock {
    kind: BlockKind,
    name: String,
    offset: usize,
    state: HtmlState,
    outer: Vec<Node>,
}

impl Compiler<'_> {
    fn template(
        &mut self,
        template: &str,
        source: &str,
        depth: usize,
    ) -> Result<Vec<Node>, TemplateError> {
        let error = |offset: usize, message: String| syntax(template, source, offset, message);
        let mut nodes = Vec::new();
        let mut open: Vec<OpenBlock> = Vec::new();
        let mut rest = 0;
        while rest < source.len() {
            let Some(start) = source[rest..].find("{{").map(|i| rest + i) else {
                self.literal(&mut nodes, &source[rest..]);
                break;
            };
            self.literal(&mut nodes, &source[rest..start]);
            let Some(end) = source[start..].find("}}").map(|i| start + i) else {
                return Err(error(start, "a `{{` is not closed by `}}`".into()));
            };
            let tag = source[start + 2..end].trim();
            rest = end + 2;
            if tag.starts_with('!') {
                // A comment on a line of its own leaves no empty line behind.
                if source[rest..].starts_with('\n') {
                    rest += 1;
                }
                continue;
            }
            let (head, name) = match tag.split_once(char::is_whitespace) {
                Some((head, name)) => (head, name.trim()),
                None => ("", tag),
            };
            if let Some(keyword) = tag.strip_prefix('/') {
                let kind = BlockKind::from_keyword(keyword.trim())
                    .ok_or_else(|| error(start, format!("unknown closing tag {{{{{tag}}}}}")))?;
                let Some(block) = open.pop() else {
                    return Err(error(start, format!("{{{{{tag}}}}} closes no block")));
                };
                if block.kind != kind {
                    return Err(error(
                        start,
                        format!(
                            "{{{{{tag}}}}} closes {{{{#{} {}}}}}",
                            block.kind.keyword(),
                            block.name
                        ),
                    ));
                }
                if block.state != self.state {
                    return Err(error(
                        block.offset,
                        format!(
                            "the block starts {} but ends {}",
                            block.state.describe(),
                            self.state.describe()
                        ),
                    ));
                }
                let body = std::mem::replace(&mut nodes, block.outer);
                nodes.push(Node::Block {
                    kind,
                    name: block.name,
                    body,
                });
                continue;
            }
            if !is_name(name) {
                return Err(error(
                    start,
                    format!("{{{{{tag}}}}}: a name is a-z, 0-9, _ and -"),
                ));
            }
            if let Some(keyword) = head.strip_prefix('#') {
                let kind = BlockKind::from_keyword(keyword)
                    .ok_or_else(|| error(start, format!("unknown block {{{{{tag}}}}}")))?;
                open.push(OpenBlock {
                    kind,
                    name: name.to_string(),
                    offset: start,
                    state: self.state,
                    outer: std::mem::take(&mut nodes),
                });
                continue;
            }
            match head {
                ">" => {
                    let Some((_, partial)) = self.partials.iter().find(|(n, _)| *n == name) else {
                        return Err(error(start, format!("no partial named {name:?}")));
                    };
                    if depth >= MAX_PARTIAL_DEPTH {
                        return Err(error(start, "partials nest too deep (a cycle?)".into()));
                    }
                    let included = self.template(name, partial, depth + 1)?;
                    nodes.extend(included);
                }
                "trusted-svg" => {
                    if self.state != HtmlState::Text {
                        return Err(error(
                            start,
                            format!(
                                "{{{{{tag}}}}} must stand in element content, not {}",
                                self.state.describe()
                            ),
                        ));
                    }
                    nodes.push(Node::Svg {
                        name: name.to_string(),
                    });
                }
                "" => {
                    let Some(context) = self.state.placeholder_context() else {
                        return Err(error(
                            start,
                            format!(
                                "{{{{{tag}}}}} must stand in element content or a quoted \
                                 attribute value, not {}",
                                self.state.describe()
                            ),
                        ));
                    };
                    nodes.push(Node::Value {
                        name: name.to_string(),
                        context,
                    });
                }
                _ => return Err(error(start, format!("unknown tag {{{{{tag}}}}}"))),
            }
        }
        if let Some(block) = open.pop() {
            return Err(error(
                block.offset,
                format!(
                    "{{{{#{} {}}}}} is not closed",
                    block.kind.keyword(),
                    block.name
                ),
            ));
        }
        Ok(nodes)
    }

    fn literal(&mut self, nodes: &mut Vec<Node>, text: &str) {
        if text.is_empty() {
            return;
        }
        self.state = self.state.after(text);
        // Adjacent literals (around a partial or a block boundary) stay separate; harmless.
        nodes.push(Node::Literal(text.to_string()));
    }
}

/// Elements whose content HTML does not parse for references (raw text, HTML Living Standard
/// 13.1.2): escaping cannot make a placeholder inert there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RawText {
    Script,
    Style,
}

impl RawText {
    fn end_tag(self) -> &'static str {
        match self {
            RawText::Script => "</script",
            RawText::Style => "</style",
        }
    }
}

/// What an attribute's value is, as far as a placeholder in it is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttributeKind {
    /// Text: escaping is enough.
    Plain,
    /// A URL (`href`, `src`, …): escaped text cannot start one, or `javascript:…` would run;
    /// after a fixed beginning (`/v1/invoices/{{id}}`) it is a path or query like any text.
    Url,
    /// Script or CSS (`on…`, `style`): escaping does not make a value inert there.
    Code,
}

impl AttributeKind {
    /// The kind of the attribute whose value opens with the quote at the end of `before`
    /// (`… name="`). When the name is not in `before` (a comment or block stands between it
    /// and the quote), `Url`: the stricter guess.
    fn of_value_after(before: &str) -> AttributeKind {
        let before = before.trim_end();
        let Some(before) = before.strip_suffix('=') else {
            return AttributeKind::Url;
        };
        let before = before.trim_end();
        let start = before
            .rfind(|c: char| c.is_ascii_whitespace() || c == '<' || c == '"' || c == '\'')
            .map_or(0, |i| i + 1);
        let name = before[start..].to_ascii_lowercase();
        if name.is_empty() {
            AttributeKind::Url
        } else if name.starts_with("on") || name == "style" {
            AttributeKind::Code
        } else if matches!(
            name.as_str(),
            "href" | "src" | "action" | "formaction" | "xlink:href" | "srcset" | "poster" | "data"
        ) {
            AttributeKind::Url
        } else {
            AttributeKind::Plain
        }
    }
}

/// Where the HTML of a template stands after some text: what the tokenizer of a browser would
/// be reading, in the few states that matter for escaping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HtmlState {
    Text,
    /// Right after a `<` that ends a literal: what follows may make it a tag.
    LessThan,
    /// Inside a tag; `opens` when it is the start tag of a raw-text element.
    Tag {
        opens: Option<RawText>,
    },
    /// Inside a quoted attribute value (`quote` is `"` or `'`); `empty` until a character of
    /// the value has been read.
    Quoted {
        opens: Option<RawText>,
        quote: u8,
        kind: AttributeKind,
        empty: bool,
    },
    Comment,
    Raw(RawText),
}

impl HtmlState {
    fn describe(self) -> &'static str {
        match self {
            HtmlState::Text => "in element content",
            HtmlState::LessThan => "right after a `<`",
            HtmlState::Tag { .. } => "inside a tag",
            HtmlState::Quoted {
                kind: AttributeKind::Code,
                ..
            } => "inside a script or style attribute",
            HtmlState::Quoted {
                kind: AttributeKind::Url,
                empty: true,
                ..
            } => "at the start of a URL attribute",
            HtmlState::Quoted { .. } => "inside an attribute value",
            HtmlState::Comment => "inside a comment",
            HtmlState::Raw(RawText::Script) => "inside <script>",
            HtmlState::Raw(RawText::Style) => "inside <style>",
        }
    }

    /// The escaping of a placeholder here, or `None` where escaping cannot make text inert.
    fn placeholder_context(self) -> Option<Context> {
        match self {
            HtmlState::Text => Some(Context::HtmlText),
            HtmlState::Quoted {
                kind: AttributeKind::Plain,
                ..
            }
            | HtmlState::Quoted {
                kind: AttributeKind::Url,
                empty: false,
                ..
            } => Some(Context::HtmlAttribute),
            _ => None,
        }
    }

    /// What a `<` followed by `rest` opens, and how many bytes of `rest` that takes.
    fn after_less_than(rest: &str) -> (HtmlState, usize) {
        if rest.starts_with("!--") {
            return (HtmlState::Comment, 3);
        }
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!') {
            return (HtmlState::Text, 0);
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let opens = match name.as_str() {
            "script" => Some(RawText::Script),
            "style" => Some(RawText::Style),
            _ => None,
        };
        (HtmlState::Tag { opens }, 0)
    }

    /// The state after reading `text` from this one.
    fn after(self, text: &str) -> HtmlState {
        let mut state = self;
        let mut i = 0;
        let bytes = text.as_bytes();
        while i < bytes.len() {
            let rest = &text[i..];
            let (next, consumed) = match state {
                HtmlState::LessThan => HtmlState::after_less_than(rest),
                HtmlState::Text if bytes[i] == b'<' && i + 1 == bytes.len() => {
                    (HtmlState::LessThan, 1)
                }
                HtmlState::Text if bytes[i] == b'<' => {
                    let (next, consumed) = HtmlState::after_less_than(&rest[1..]);
                    (next, consumed + 1)
                }
                HtmlState::Tag { opens } => match bytes[i] {
                    quote @ (b'"' | b'\'') => (
                        HtmlState::Quoted {
                            opens,
                            quote,
                            kind: AttributeKind::of_value_after(&text[..i]),
                            empty: true,
                        },
                        1,
                    ),
                    b'>' => (opens.map_or(HtmlState::Text, HtmlState::Raw), 1),
                    _ => (state, 1),
                },
                HtmlState::Quoted { opens, quote, .. } if bytes[i] == quote => {
                    (HtmlState::Tag { opens }, 1)
                }
                HtmlState::Quoted {
                    opens, quote, kind, ..
                } => (
                    HtmlState::Quoted {
                        opens,
                        quote,
                        kind,
                        empty: false,
                    },
                    1,
                ),
                HtmlState::Comment if rest.starts_with("-->") => (HtmlState::Text, 3),
                HtmlState::Raw(raw)
                    if rest.len() >= raw.end_tag().len()
                        && rest.as_bytes()[..raw.end_tag().len()]
                            .eq_ignore_ascii_case(raw.end_tag().as_bytes()) =>
                {
                    (HtmlState::Tag { opens: None }, raw.end_tag().len())
                }
                _ => (state, 1),
            };
            state = next;
            i += consumed;
            // Step over the rest of a multi-byte character.
            while i < bytes.len() && !text.is_char_boundary(i) {
                i += 1;
            }
        }
        state
    }
}

/// The records a name is looked up in: the innermost block's first.
struct Scope<'a> {
    record: &'a Record,
    outer: Option<&'a Scope<'a>>,
}

impl<'a> Scope<'a> {
    fn get(&self, name: &str) -> Result<&'a Value, TemplateError> {
        let mut scope = Some(self);
        while let Some(current) = scope {
            if let Some(value) = current.record.get(name) {
                return Ok(value);
            }
            scope = current.outer;
        }
        Err(data_error(name, "not in the data"))
    }
}

fn data_error(name: &str, message: &'static str) -> TemplateError {
    TemplateError::Data {
        name: name.to_string(),
        message,
    }
}

fn is_set(value: &Value) -> bool {
    match value {
        Value::Absent => false,
        Value::Text(text) => !text.is_empty(),
        Value::Flag(flag) => *flag,
        Value::List(list) => !list.is_empty(),
        Value::Record(_) | Value::Svg(_) => true,
    }
}

fn render_nodes(nodes: &[Node], scope: &Scope<'_>, out: &mut String) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Literal(text) => out.push_str(text),
            Node::Value { name, context } => match scope.get(name)? {
                Value::Text(text) => escape_into(out, text, *context),
                Value::Flag(flag) => out.push_str(if *flag { "true" } else { "false" }),
                Value::Absent => return Err(data_error(name, "is absent (wrap it in #if)")),
                _ => return Err(data_error(name, "is not text or a flag")),
            },
            Node::Svg { name } => match scope.get(name)? {
                Value::Svg(TrustedSvg(svg)) => out.push_str(svg),
                _ => return Err(data_error(name, "is not a TrustedSvg")),
            },
            Node::Block { kind, name, body } => {
                let value = scope.get(name)?;
                match (kind, value) {
                    (BlockKind::If, value) if is_set(value) => render_nodes(body, scope, out)?,
                    (BlockKind::Unless, value) if !is_set(value) => render_nodes(body, scope, out)?,
                    (BlockKind::If | BlockKind::Unless, _) => {}
                    (BlockKind::Each, Value::List(records)) => {
                        for record in records {
                            let inner = Scope {
                                record,
                                outer: Some(scope),
                            };
                            render_nodes(body, &inner, out)?;
                        }
                    }
                    (BlockKind::Each, _) => return Err(data_error(name, "is not a list")),
                    (BlockKind::With, Value::Record(record)) => {
                        let inner = Scope {
                            record,
                            outer: Some(scope),
                        };
                        render_nodes(body, &inner, out)?;
                    }
                    (BlockKind::With, Value::Absent) => {}
                    (BlockKind::With, _) => return Err(data_error(name, "is not a record")),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, data: &Record) -> Result<String, TemplateError> {
        Template::compile("test", source, &[])?.render(data)
    }

    fn compile_error(source: &str) -> String {
        match Template::compile("test", source, &[]) {
            Err(TemplateError::Syntax { message, .. }) => message,
            other => panic!("{source:?} compiled: {other:?}"),
        }
    }

    const HOSTILE: &str = r#"<script>alert("x")</script>'&"#;

    #[test]
    fn placeholders_are_escaped_for_text_and_for_attributes() {
        let data = Record::new().with("name", HOSTILE);
        assert_eq!(
            render("<p>{{name}}</p>", &data).unwrap(),
            r#"<p>&lt;script&gt;alert("x")&lt;/script&gt;'&amp;</p>"#
        );
        assert_eq!(
            render(r#"<p title="{{ name }}">x</p>"#, &data).unwrap(),
            r#"<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;">x</p>"#
        );
        assert_eq!(
            render("<p title='{{name}}' class=\"a\">{{name}}</p>", &data).unwrap(),
            "<p title='&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;' \
             class=\"a\">&lt;script&gt;alert(\"x\")&lt;/script&gt;'&amp;</p>"
        );
        // `<title>` is escapable text; quotes that close a previous attribute reset the place.
        assert_eq!(
            render(r#"<title>{{name}}</title><a href="/x">{{name}}</a>"#, &data).unwrap(),
            r#"<title>&lt;script&gt;alert("x")&lt;/script&gt;'&amp;</title><a href="/x">&lt;script&gt;alert("x")&lt;/script&gt;'&amp;</a>"#
        );
    }

    #[test]
    fn flags_render_as_words_and_absent_values_are_errors() {
        let data = Record::new().with("ok", true).with("gone", None::<String>);
        assert_eq!(
            render(r#"<b data-ok="{{ok}}"></b>"#, &data).unwrap(),
            r#"<b data-ok="true"></b>"#
        );
        assert_eq!(
            render("{{gone}}", &data),
            Err(data_error("gone", "is absent (wrap it in #if)"))
        );
        assert_eq!(
            render("{{typo}}", &data),
            Err(data_error("typo", "not in the data"))
        );
        let list = Record::new().with("list", vec![Record::new()]);
        assert_eq!(
            render("{{list}}", &list),
            Err(data_error("list", "is not text or a flag"))
        );
    }

    #[test]
    fn if_and_unless_follow_what_is_set() {
        let source = "{{#if v}}yes{{/if}}{{#unless v}}no{{/unless}}";
        for (value, expected) in [
            (Value::Flag(true), "yes"),
            (Value::Flag(false), "no"),
            (Value::Text("x".into()), "yes"),
            (Value::Text(String::new()), "no"),
            (Value::List(vec![Record::new()]), "yes"),
            (Value::List(Vec::new()), "no"),
            (Value::Record(Record::new()), "yes"),
            (Value::Absent, "no"),
        ] {
            let data = Record::new().with("v", value.clone());
            assert_eq!(render(source, &data).unwrap(), expected, "{value:?}");
        }
    }

    #[test]
    fn each_repeats_with_the_item_first_and_the_page_behind_it() {
        let data = Record::new()
            .with("currency", "CNY")
            .with("name", "page")
            .with(
                "lines",
                vec![
                    Record::new().with("name", "tea").with("net", "1.00"),
                    Record::new().with("name", "<cup>").with("net", "2.00"),
                ],
            );
        let source =
            "<ul>{{#each lines}}<li>{{name}}: {{currency}} {{net}}</li>{{/each}}</ul>{{name}}";
        assert_eq!(
            render(source, &data).unwrap(),
            "<ul><li>tea: CNY 1.00</li><li>&lt;cup&gt;: CNY 2.00</li></ul>page"
        );
        let empty = Record::new().with("lines", Vec::<Record>::new());
        assert_eq!(
            render("<ul>{{#each lines}}x{{/each}}</ul>", &empty).unwrap(),
            "<ul></ul>"
        );
        assert_eq!(
            render(
                "{{#each lines}}{{/each}}",
                &Record::new().with("lines", "text")
            ),
            Err(data_error("lines", "is not a list"))
        );
    }

    #[test]
    fn with_enters_a_record_or_skips_an_absent_one() {
        let source = "{{#with buyer}}<b>{{name}}</b>{{/with}}{{#unless buyer}}consumer{{/unless}}";
        let buyer = Record::new().with("buyer", Record::new().with("name", "A&B"));
        assert_eq!(render(source, &buyer).unwrap(), "<b>A&amp;B</b>");
        let none = Record::new().with("buyer", None::<Record>);
        assert_eq!(render(source, &none).unwrap(), "consumer");
    }

    #[test]
    fn blocks_nest_and_inner_names_shadow_outer_ones() {
        let data = Record::new().with("x", "outer").with(
            "groups",
            vec![Record::new()
                .with("x", "inner")
                .with("reason", None::<String>)],
        );
        let source =
            "{{#each groups}}{{x}}{{#if reason}}({{reason}}){{/if}}{{/each}}{{#if x}}/{{x}}{{/if}}";
        assert_eq!(render(source, &data).unwrap(), "inner/outer");
    }

    #[test]
    fn trusted_svg_is_the_only_unescaped_insertion() {
        let svg = TrustedSvg::from_own_renderer(
            r#"<svg viewBox="0 0 1 1"><path d="M0 0"/></svg>"#.into(),
        )
        .unwrap();
        let data = Record::new()
            .with("qr", svg.clone())
            .with("text", svg.0.clone());
        assert_eq!(
            render("<figure>{{trusted-svg qr}}</figure>", &data).unwrap(),
            format!("<figure>{}</figure>", svg.0)
        );
        // The same markup as text is escaped, and text cannot pass as SVG.
        assert!(render("{{text}}", &data).unwrap().starts_with("&lt;svg"));
        assert_eq!(
            render("{{trusted-svg text}}", &data),
            Err(data_error("text", "is not a TrustedSvg"))
        );
        assert!(compile_error(r#"<a title="{{trusted-svg qr}}">"#).contains("element content"));
        // Only one SVG element passes the guard.
        assert_eq!(TrustedSvg::from_own_renderer("<b>x</b>".into()), None);
        assert_eq!(
            TrustedSvg::from_own_renderer("<svg a></svg><script></script><svg b></svg>".into()),
            None
        );
    }

    #[test]
    fn placeholders_where_escaping_does_not_help_are_refused() {
        for source in [
            "<a href={{x}}>",
            "<a {{x}}>",
            "<{{x}}>",
            "<!-- {{x}} -->",
            "<script>var a = \"{{x}}\";</script>",
            "<style>p::after{content:\"{{x}}\"}</style>",
            "<SCRIPT type=\"module\">{{x}}</SCRIPT>",
            // A value could open a tag or name an attribute there: `<{{x}}` with "script".
            "<{{x}}",
            "</{{x}}",
            // Escaping leaves `javascript:alert(1)` intact, so no value starts a URL ...
            "<a href=\"{{x}}\">",
            "<img alt=\"\" src = '{{x}}'>",
            // ... nor goes into script or CSS.
            "<b onclick=\"f('{{x}}')\">",
            "<b style=\"color: {{x}}\">",
            // An attribute whose name the tracker cannot see is taken as a URL.
            "<a href={{! why }}\"{{x}}\">",
        ] {
            let message = compile_error(source);
            assert!(message.contains("must stand in"), "{source:?}: {message}");
        }
        // After the raw-text element ends, text is text again.
        let data = Record::new().with("x", "<i>");
        assert_eq!(
            render(
                "<style>p{color:red}</style><p>{{x}}</p><script src=\"a.js\"></script>{{x}}",
                &data
            )
            .unwrap(),
            "<style>p{color:red}</style><p>&lt;i&gt;</p><script src=\"a.js\"></script>&lt;i&gt;"
        );
        // A `<` that opens no tag is text.
        assert_eq!(render("a < b {{x}}", &data).unwrap(), "a < b &lt;i&gt;");
        // A URL with a fixed beginning, and attributes that are neither URL nor code, take
        // escaped values.
        assert_eq!(
            render(
                "<a href=\"/v1/{{x}}\" title=\"{{x}}\" data-id='{{x}}'>",
                &data
            )
            .unwrap(),
            "<a href=\"/v1/&lt;i&gt;\" title=\"&lt;i&gt;\" data-id='&lt;i&gt;'>"
        );
    }

    #[test]
    fn a_block_must_end_where_it_starts() {
        let message = compile_error("{{#if x}}<a {{/if}}href=\"{{y}}\">");
        assert!(
            message.contains("starts in element content but ends inside a tag"),
            "{message}"
        );
        // Within one tag, around whole attributes, is fine.
        let data = Record::new().with("x", true).with("y", "1");
        assert_eq!(
            render("<button{{#if x}} disabled{{/if}} value=\"{{y}}\">", &data).unwrap(),
            "<button disabled value=\"1\">"
        );
    }

    #[test]
    fn syntax_errors_name_the_template_and_line() {
        assert_eq!(
            Template::compile("page", "<p>\n{{#each lines}}\n<b>", &[]),
            Err(TemplateError::Syntax {
                template: "page".into(),
                line: 2,
                message: "{{#each lines}} is not closed".into()
            })
        );
        assert!(compile_error("{{/if}}").contains("closes no block"));
        assert!(compile_error("{{#if a}}{{/each}}").contains("closes {{#if a}}"));
        assert!(compile_error("{{#loop a}}{{/loop}}").contains("unknown"));
        assert!(compile_error("{{Name}}").contains("a name is"));
        assert!(compile_error("{{a b}}").contains("unknown tag"));
        assert!(compile_error("{{a").contains("not closed"));
        assert!(compile_error("<p class=\"x").contains("ends inside an attribute value"));
        assert!(compile_error("{{> missing}}").contains("no partial"));
    }

    #[test]
    fn partials_are_included_in_place_with_the_same_data_and_rules() {
        let partials = [
            ("head", "<title>{{title}}</title>"),
            ("open", "<a title=\""),
            ("loop", "{{> loop}}"),
        ];
        let page = Template::compile("page", "<head>{{> head}}</head>", &partials).unwrap();
        assert_eq!(
            page.render(&Record::new().with("title", "A & B")).unwrap(),
            "<head><title>A &amp; B</title></head>"
        );
        // The place carries through a partial: this placeholder is in an attribute.
        let link = Template::compile("link", "{{> open}}{{url}}\">x</a>", &partials).unwrap();
        assert_eq!(
            link.render(&Record::new().with("url", "\"><script>"))
                .unwrap(),
            "<a title=\"&quot;&gt;&lt;script&gt;\">x</a>"
        );
        match Template::compile("cycle", "{{> loop}}", &partials) {
            Err(TemplateError::Syntax { message, .. }) => assert!(message.contains("too deep")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn comments_are_not_rendered_nor_read_as_html() {
        let data = Record::new().with("x", "<");
        assert_eq!(
            render(
                "{{! a <p title=\" in a comment }}\n<p>{{x}}{{!x}}</p>",
                &data
            )
            .unwrap(),
            "<p>&lt;</p>"
        );
    }

    #[test]
    fn the_context_tracker_reads_multibyte_text() {
        let data = Record::new().with("x", "\"");
        assert_eq!(
            render(
                "<p lang=\"zh-CN\" title=\"发票 {{x}}\">发票 · {{x}}</p>",
                &data
            )
            .unwrap(),
            "<p lang=\"zh-CN\" title=\"发票 &quot;\">发票 · \"</p>"
        );
    }
}
