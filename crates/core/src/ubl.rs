//! UBL 2.1 export of a final invoice, per EN 16931 (CustomizationID `urn:cen.eu:en16931:2017`).
//!
//! BT-1 (the invoice number) is the series number the edge gave the document at issuance, so
//! `pending_sync` and `final` documents are both exported, with the same number. A rejected
//! document is not (`NOT_FINAL`). EN 16931 allows at most two decimals for amounts
//! (UBL-DT-01, BR-DEC-*) and its own ISO 4217 code list (BR-CL-04), so other currencies are
//! refused (`CURRENCY_NOT_SUPPORTED_BY_EN16931`).
//!
//! The XML is written by hand, in UBL 2.1 schema order, with every text escaped. It is checked
//! by the official CEN/TC 434 validation artefacts in `crates/core/tests/ubl_conformance.rs`;
//! docs/UBL.md has the mapping table and the decisions.

use std::fmt::{self, Write as _};

use rust_decimal::Decimal;

use crate::currency::Currency;
use crate::document::model::{Document, Final, Kind, Status};
use crate::document::sign::invoice_hash;
use crate::escape::{escape_into, Context};
use crate::merchant::Seller;
use crate::money::{round_half_away_from_zero, Money};
use crate::problem::{Code, FieldError, Problem};
use crate::request::{Address, TaxCategory, TaxRate};
use crate::tax::InvoiceLine;
use crate::tax_id::TaxId;

/// EN 16931, the European standard on electronic invoicing, core invoice usage (BT-24).
pub const CUSTOMIZATION_ID: &str = "urn:cen.eu:en16931:2017";
/// UNTDID 1001: 380, commercial invoice (BT-3).
pub const INVOICE_TYPE_CODE: &str = "380";
/// The buyer name (BT-44) of an anonymous consumer in a Chinese seller's invoice: "个人"
/// (individual) is what fapiao for private persons carry.
pub const CONSUMER_NAME_CN: &str = "个人";
/// The buyer name (BT-44) of an anonymous consumer everywhere else.
pub const CONSUMER_NAME: &str = "Consumer";
/// The payment terms (BT-20) when something is payable and the merchant configured none:
/// BR-CO-25 needs terms or a due date whenever BT-115 is positive.
pub const DEFAULT_PAYMENT_TERMS: &str = "Payable on receipt";

/// Currencies of ISO 4217 (as `currency.rs` has it) that are not in the code list of the
/// EN 16931 validation artefacts 1.3.16 (BR-CL-04): replaced or withdrawn codes. An invoice in
/// one of them cannot be valid EN 16931, whatever its amounts. Checked by the conformance test,
/// which exports one invoice in every other currency.
pub const NOT_IN_EN16931_CODE_LIST: &[&str] = &["ANG", "BGN", "SLL", "STN", "ZWL"];

/// EN 16931 amounts have at most two decimals (UBL-DT-01).
pub const MAX_AMOUNT_DECIMALS: u32 = 2;

/// Why a document cannot be exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UblError {
    /// The document is rejected: the origin refused it for good.
    NotFinal { status: Status },
    /// The currency has more than two minor digits, or EN 16931 does not list it.
    CurrencyNotSupported { currency: String, detail: String },
}

impl UblError {
    /// The stable catalogue code.
    pub fn code(&self) -> Code {
        match self {
            UblError::NotFinal { .. } => Code::NotFinal,
            UblError::CurrencyNotSupported { .. } => Code::CurrencyNotSupportedByEn16931,
        }
    }

    /// The JSON pointer (into the document) of the field that prevents the export.
    pub fn pointer(&self) -> &'static str {
        match self {
            UblError::NotFinal { .. } => "/status",
            UblError::CurrencyNotSupported { .. } => "/invoice/currency",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            UblError::NotFinal { status } => {
                let status = match status {
                    Status::PendingSync => "pending_sync",
                    Status::Rejected => "rejected: the origin refused to number it",
                    Status::Final => "final, but without the origin's final data",
                };
                format!("a rejected invoice is not exported as UBL; this one is {status}")
            }
            UblError::CurrencyNotSupported { detail, .. } => detail.clone(),
        }
    }

    /// The problem an API or the CLI answers with.
    pub fn problem(&self) -> Problem {
        Problem::from_errors(vec![FieldError::new(
            self.pointer(),
            self.code(),
            self.detail(),
        )])
    }
}

impl fmt::Display for UblError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
    }
}

impl std::error::Error for UblError {}

/// Checks that EN 16931 can express amounts in `code`.
pub fn check_currency(code: &str) -> Result<Currency, UblError> {
    let refuse = |detail: String| UblError::CurrencyNotSupported {
        currency: code.to_string(),
        detail,
    };
    let Some(currency) = Currency::from_code(code) else {
        return Err(refuse(format!("{code:?} is not an ISO 4217 currency")));
    };
    if currency.minor_digits() > MAX_AMOUNT_DECIMALS {
        return Err(refuse(format!(
            "{code} amounts have {} decimals; EN 16931 allows at most {MAX_AMOUNT_DECIMALS}",
            currency.minor_digits()
        )));
    }
    if NOT_IN_EN16931_CODE_LIST.contains(&code) {
        return Err(refuse(format!(
            "{code} is not in the EN 16931 currency code list (BR-CL-04)"
        )));
    }
    Ok(currency)
}

/// Maps a numbered document to UBL 2.1 Invoice XML per EN 16931.
pub fn to_ubl(document: &Document) -> Result<String, UblError> {
    let final_ = document.final_.as_ref();
    // The edge's number, the same before and after the origin archives the invoice.
    if document.status == Status::Rejected {
        return Err(UblError::NotFinal {
            status: Status::Rejected,
        });
    }
    let number = &document.invoice.number;
    let invoice = &document.invoice;
    let currency = check_currency(&invoice.currency)?;
    let code = currency.code();
    let digits = currency.minor_digits();

    // A credit note is a UBL CreditNote (type 381) of the same shape, which refers to its
    // invoice (docs/UBL.md; EN 16931 BT-3, BG-3).
    let (root, kind) = match invoice.kind {
        Kind::Invoice => ("Invoice", &UBL_INVOICE),
        Kind::CreditNote => ("CreditNote", &UBL_CREDIT_NOTE),
    };
    let mut xml = Xml::default();
    xml.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.raw(&format!(
        "<{root} xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:{root}-2\""
    ));
    xml.raw(
        " xmlns:cac=\"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2\"",
    );
    xml.raw(
        " xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\">\n",
    );
    xml.depth = 1;
    xml.leaf("cbc:CustomizationID", CUSTOMIZATION_ID);
    xml.leaf("cbc:ID", number);
    // issued_at is RFC 3339 UTC ("2026-11-25T09:30:00.000Z"): its date is the issue date.
    xml.leaf(
        "cbc:IssueDate",
        invoice.issued_at.get(..10).unwrap_or_default(),
    );
    xml.leaf(kind.type_code.0, kind.type_code.1);
    if let Some(reason_code) = &invoice.reason_code {
        // BT-22: why the invoice is credited, code and words.
        let reason = invoice.reason.as_deref().unwrap_or_default();
        xml.leaf("cbc:Note", format!("{reason_code} {reason}").trim_end());
    }
    xml.leaf("cbc:DocumentCurrencyCode", code);

    // BT-14, the seller's order reference. UBL's OrderReference needs an ID (BT-13, the buyer's
    // purchase order), which we do not have: "NA", as the EN 16931 UBL binding notes.
    xml.open("cac:OrderReference");
    xml.leaf("cbc:ID", "NA");
    xml.leaf("cbc:SalesOrderID", &invoice.order_id);
    xml.close("cac:OrderReference");
    // BG-3: the credited invoice, BT-25 its number and BT-26 its issue date.
    if let Some(credits) = &invoice.credits {
        xml.open("cac:BillingReference");
        xml.open("cac:InvoiceDocumentReference");
        xml.leaf("cbc:ID", &credits.number);
        xml.leaf(
            "cbc:IssueDate",
            credits.issued_at.get(..10).unwrap_or_default(),
        );
        xml.close("cac:InvoiceDocumentReference");
        xml.close("cac:BillingReference");
    }

    trace_references(&mut xml, document, final_);

    seller_party(&mut xml, &invoice.seller, &invoice.merchant);
    buyer_party(&mut xml, document);

    // BT-72 is the supply date; BT-80 the deliver-to country (BR-IC-11, BR-IC-12 for K).
    xml.open("cac:Delivery");
    xml.leaf("cbc:ActualDeliveryDate", &invoice.supply_date.to_string());
    if let Some(delivery) = &invoice.delivery {
        xml.open("cac:DeliveryLocation");
        xml.open("cac:Address");
        country(&mut xml, &delivery.country);
        xml.close("cac:Address");
        xml.close("cac:DeliveryLocation");
    }
    xml.close("cac:Delivery");

    // BR-CO-25: a positive amount due needs payment terms or a due date.
    if invoice.totals.payable.units() > 0 {
        xml.open("cac:PaymentTerms");
        xml.leaf(
            "cbc:Note",
            invoice
                .payment_terms
                .as_deref()
                .filter(|terms| !terms.trim().is_empty())
                .unwrap_or(DEFAULT_PAYMENT_TERMS),
        );
        xml.close("cac:PaymentTerms");
    }

    // BG-23, one subtotal per (category, rate); BT-110 is their sum (BR-CO-14).
    xml.open("cac:TaxTotal");
    xml.amount("cbc:TaxAmount", invoice.totals.tax, code);
    for group in &invoice.tax_breakdown {
        xml.open("cac:TaxSubtotal");
        xml.amount("cbc:TaxableAmount", group.taxable_amount, code);
        xml.amount("cbc:TaxAmount", group.tax_amount, code);
        tax_category(
            &mut xml,
            "cac:TaxCategory",
            group.tax_category,
            group.tax_rate,
            group.exemption_reason.as_deref(),
        );
        xml.close("cac:TaxSubtotal");
    }
    xml.close("cac:TaxTotal");

    // BG-22. No document-level allowances or charges: BT-109 = BT-106 (BR-CO-13).
    let totals = &invoice.totals;
    xml.open("cac:LegalMonetaryTotal");
    xml.amount("cbc:LineExtensionAmount", totals.net, code);
    xml.amount("cbc:TaxExclusiveAmount", totals.net, code);
    xml.amount("cbc:TaxInclusiveAmount", totals.gross, code);
    xml.amount("cbc:PrepaidAmount", totals.paid, code);
    xml.amount("cbc:PayableAmount", totals.payable, code);
    xml.close("cac:LegalMonetaryTotal");

    for (index, line) in invoice.lines.iter().enumerate() {
        invoice_line(
            &mut xml,
            kind,
            index + 1,
            line,
            invoice.prices_include_tax,
            code,
            digits,
        );
    }

    xml.depth = 0;
    xml.raw(&format!("</{root}>\n"));
    Ok(xml.out)
}

/// BG-24: where the XML comes from. The first reference traces it to the signed JSON (its id,
/// its SHA-256 and the edge signature); the second to the ledger's countersigned final data.
/// Together they are everything `verify` needs besides the JWKS. `key=value` pairs separated by
/// "; " keep the descriptions readable and parseable.
fn trace_references(xml: &mut Xml, document: &Document, final_: Option<&Final>) {
    let signature = &document.edge_signature;
    xml.open("cac:AdditionalDocumentReference");
    xml.leaf("cbc:ID", &document.invoice.id);
    xml.leaf(
        "cbc:DocumentDescription",
        &format!(
            "{} signed invoice; sha256={}; alg={}; kid={}; sig={}",
            document.invoice.format,
            hex::encode(invoice_hash(&document.invoice)),
            signature.alg,
            signature.kid,
            signature.sig
        ),
    );
    xml.close("cac:AdditionalDocumentReference");

    let Some(final_) = final_ else {
        return;
    };
    xml.open("cac:AdditionalDocumentReference");
    xml.leaf("cbc:ID", &final_.hash);
    xml.leaf(
        "cbc:DocumentDescription",
        &format!(
            "origin ledger final; number={}; series={}; seq={}; ledger_seq={}; received_at={}; void={}; prev_hash={}; hash={}; origin_kid={}; origin_signature={}",
            final_.number,
            final_.series,
            final_.seq,
            final_.ledger_seq,
            final_.received_at,
            final_.void,
            final_.prev_hash,
            final_.hash,
            final_.origin_kid,
            final_.origin_signature
        ),
    );
    xml.close("cac:AdditionalDocumentReference");
}

/// BG-4, the seller. BT-29 is the merchant id, so that a seller without a VAT identifier
/// (category O) is still identified (BR-CO-26).
fn seller_party(xml: &mut Xml, seller: &Seller, merchant: &str) {
    xml.open("cac:AccountingSupplierParty");
    xml.open("cac:Party");
    xml.open("cac:PartyIdentification");
    xml.leaf("cbc:ID", merchant);
    xml.close("cac:PartyIdentification");
    postal_address(xml, seller.address.as_ref(), &seller.country);
    if let Some(tax_id) = &seller.tax_id {
        vat_scheme(xml, &seller.country, tax_id);
    }
    xml.open("cac:PartyLegalEntity");
    xml.leaf("cbc:RegistrationName", &seller.name);
    xml.close("cac:PartyLegalEntity");
    xml.close("cac:Party");
    xml.close("cac:AccountingSupplierParty");
}

/// BG-7, the buyer. EN 16931 needs a buyer name (BR-7) and country (BR-10, BR-11) even for
/// anonymous B2C sales: see [`buyer_name`]. The buyer's country defaults to the seller's
/// (docs/ARCHITECTURE.md, "The invoice request").
fn buyer_party(xml: &mut Xml, document: &Document) {
    let invoice = &document.invoice;
    let buyer = invoice.buyer.as_ref();
    let country = buyer
        .and_then(|buyer| buyer.country.as_deref())
        .unwrap_or(&invoice.seller.country);
    xml.open("cac:AccountingCustomerParty");
    xml.open("cac:Party");
    postal_address(xml, buyer.and_then(|b| b.address.as_ref()), country);
    if let Some(tax_id) = buyer.and_then(|b| b.tax_id.as_deref()) {
        vat_scheme(xml, country, tax_id);
    }
    xml.open("cac:PartyLegalEntity");
    xml.leaf("cbc:RegistrationName", &buyer_name(document));
    xml.close("cac:PartyLegalEntity");
    if let Some(email) = buyer.and_then(|b| b.email.as_deref()) {
        xml.open("cac:Contact");
        xml.leaf("cbc:ElectronicMail", email);
        xml.close("cac:Contact");
    }
    xml.close("cac:Party");
    xml.close("cac:AccountingCustomerParty");
}

/// BT-44: the buyer's name, or, for an anonymous consumer (no buyer, or an individual without a
/// name), "个人" when the seller is Chinese and "Consumer" otherwise.
pub fn buyer_name(document: &Document) -> String {
    let invoice = &document.invoice;
    match invoice
        .buyer
        .as_ref()
        .and_then(|buyer| buyer.name.as_deref())
    {
        Some(name) => name.to_string(),
        None if invoice.seller.country == "CN" => CONSUMER_NAME_CN.to_string(),
        None => CONSUMER_NAME.to_string(),
    }
}

/// A VAT identifier as EN 16931 writes it: with its ISO 3166-1 prefix (BR-CO-09), though we
/// store it without. Greece's VAT prefix is "EL" (BR-CO-09 allows it; VIES uses it).
pub fn prefixed_vat_id(country: &str, stored: &str) -> String {
    if country == "GR" {
        let digits = stored
            .strip_prefix("EL")
            .or_else(|| stored.strip_prefix("GR"))
            .unwrap_or(stored);
        return format!("EL{digits}");
    }
    // The stored value is normalized already; parsing it with its prefix re-applies the
    // country's own normalization, and a value the parser no longer takes is kept as stored.
    TaxId::parse(country, &format!("{country}{stored}"))
        .map(|id| id.with_prefix())
        .unwrap_or_else(|_| format!("{country}{stored}"))
}

fn vat_scheme(xml: &mut Xml, country: &str, stored: &str) {
    xml.open("cac:PartyTaxScheme");
    xml.leaf("cbc:CompanyID", &prefixed_vat_id(country, stored));
    xml.open("cac:TaxScheme");
    xml.leaf("cbc:ID", "VAT");
    xml.close("cac:TaxScheme");
    xml.close("cac:PartyTaxScheme");
}

fn postal_address(xml: &mut Xml, address: Option<&Address>, country_code: &str) {
    xml.open("cac:PostalAddress");
    if let Some(address) = address {
        if let Some(line) = &address.line {
            xml.leaf("cbc:StreetName", line);
        }
        if let Some(city) = &address.city {
            xml.leaf("cbc:CityName", city);
        }
        if let Some(postal_code) = &address.postal_code {
            xml.leaf("cbc:PostalZone", postal_code);
        }
    }
    country(xml, country_code);
    xml.close("cac:PostalAddress");
}

fn country(xml: &mut Xml, code: &str) {
    xml.open("cac:Country");
    xml.leaf("cbc:IdentificationCode", code);
    xml.close("cac:Country");
}

/// A tax category (BT-118/BT-151): O carries no rate (BR-O-05, BR-O-09); the exemption reason
/// (BT-120) belongs in the breakdown only.
fn tax_category(
    xml: &mut Xml,
    element: &str,
    category: TaxCategory,
    rate: Option<TaxRate>,
    exemption_reason: Option<&str>,
) {
    xml.open(element);
    xml.leaf("cbc:ID", category.as_str());
    if category != TaxCategory::O {
        let percent = rate.map_or(Decimal::ZERO, TaxRate::percent);
        xml.leaf("cbc:Percent", &percent.normalize().to_string());
    }
    if let Some(reason) = exemption_reason {
        xml.leaf("cbc:TaxExemptionReason", reason);
    }
    xml.open("cac:TaxScheme");
    xml.leaf("cbc:ID", "VAT");
    xml.close("cac:TaxScheme");
    xml.close(element);
}

/// The tags that differ between a UBL Invoice and a CreditNote.
struct UblKind {
    type_code: (&'static str, &'static str),
    line: &'static str,
    quantity: &'static str,
}

const UBL_INVOICE: UblKind = UblKind {
    type_code: ("cbc:InvoiceTypeCode", INVOICE_TYPE_CODE),
    line: "cac:InvoiceLine",
    quantity: "cbc:InvoicedQuantity",
};

/// UNTDID 1001 code 381, a credit note.
const UBL_CREDIT_NOTE: UblKind = UblKind {
    type_code: ("cbc:CreditNoteTypeCode", "381"),
    line: "cac:CreditNoteLine",
    quantity: "cbc:CreditedQuantity",
};

fn invoice_line(
    xml: &mut Xml,
    kind: &UblKind,
    number: usize,
    line: &InvoiceLine,
    prices_include_tax: bool,
    currency: &str,
    digits: u32,
) {
    let price = net_price(line, prices_include_tax, digits);
    xml.open(kind.line);
    xml.leaf("cbc:ID", &number.to_string());
    xml.leaf_with_attribute(
        kind.quantity,
        ("unitCode", &line.unit_code),
        &line.quantity.to_string(),
    );
    xml.amount("cbc:LineExtensionAmount", line.net_amount, currency);
    xml.open("cac:Item");
    xml.leaf("cbc:Name", &line.description);
    tax_category(
        xml,
        "cac:ClassifiedTaxCategory",
        line.tax_category,
        line.tax_rate,
        None,
    );
    xml.close("cac:Item");
    xml.open("cac:Price");
    xml.leaf_with_attribute(
        "cbc:PriceAmount",
        ("currencyID", currency),
        &price.amount.to_string(),
    );
    if let Some(base) = price.base_quantity {
        xml.leaf_with_attribute(
            "cbc:BaseQuantity",
            ("unitCode", &line.unit_code),
            &base.to_string(),
        );
    }
    xml.close("cac:Price");
    xml.close(kind.line);
}

/// BT-146 (item net price) with its optional BT-149 (base quantity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetPrice {
    pub amount: Decimal,
    pub base_quantity: Option<Decimal>,
}

/// Prices in the XML have at most this many decimals when no base quantity is given.
const MAX_PRICE_DECIMALS: u32 = 10;

/// The item net price (BT-146), so that BT-131 = BT-129 × BT-146 / BT-149 holds, exactly or
/// within the rounding to the minor unit that every line amount has.
///
/// With net pricing it is the unit price as invoiced: the line amount is
/// round(quantity × unit price), the same rounding EN 16931 users apply.
///
/// With tax-inclusive pricing the unit price is gross, and BT-146 must be net. The first of
/// these that gives back the line net (after its allocated tax) is used:
/// 1. the line net over the quantity, when that quotient is exact within
///    [`MAX_PRICE_DECIMALS`] decimals (always for quantity 1);
/// 2. the gross unit price net of the rate, `unit_price × 100 / (100 + rate)` rounded to the
///    currency's digits + 4 (the price decimals a request may have), when quantity × it rounds
///    to the line net: the same product then has the same net price on every invoice;
/// 3. the quotient rounded to those decimals, when quantity × it rounds to the line net;
/// 4. the line net as the price of a base quantity (BT-149) of the whole quantity: exact.
///
/// A line whose net is zero (a zero quantity, or a gross that its tax swallowed) tries 2 first,
/// and 0 if that does not round to zero.
///
/// Prices are never negative (BR-27): a discount has a negative quantity, and its line net
/// has the quantity's sign.
pub fn net_price(line: &InvoiceLine, prices_include_tax: bool, digits: u32) -> NetPrice {
    let plain = |amount: Decimal| NetPrice {
        amount: amount.normalize(),
        base_quantity: None,
    };
    if !prices_include_tax {
        return NetPrice {
            amount: line.unit_price,
            base_quantity: None,
        };
    }
    let net = line.net_amount.to_decimal();
    let quantity = line.quantity;
    let price_decimals = digits + crate::request::EXTRA_PRICE_DECIMALS;
    let gives_net = |price: Decimal| {
        price
            .checked_mul(quantity)
            .map(|product| round_half_away_from_zero(product, digits))
            == Some(net)
    };
    let rate = line.tax_rate.map_or(Decimal::ZERO, TaxRate::percent);
    let net_of_rate = Decimal::ONE_HUNDRED
        .checked_add(rate)
        .and_then(|divisor| {
            line.unit_price
                .checked_mul(Decimal::ONE_HUNDRED)?
                .checked_div(divisor)
        })
        .map(|price| round_half_away_from_zero(price, price_decimals));

    if net.is_zero() {
        return match net_of_rate {
            Some(price) if gives_net(price) => plain(price),
            _ => plain(Decimal::ZERO),
        };
    }
    if let Some(quotient) = net.checked_div(quantity) {
        let quotient = quotient.normalize();
        if quotient.checked_mul(quantity) == Some(net) && quotient.scale() <= MAX_PRICE_DECIMALS {
            return plain(quotient);
        }
        if let Some(price) = net_of_rate.filter(|price| gives_net(*price)) {
            return plain(price);
        }
        let rounded = round_half_away_from_zero(quotient, price_decimals);
        if gives_net(rounded) {
            return plain(rounded);
        }
    }
    NetPrice {
        amount: net.abs(),
        base_quantity: Some(quantity.abs()),
    }
}

/// A small XML writer: two-space indentation, every text and attribute escaped.
#[derive(Default)]
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn raw(&mut self, text: &str) {
        self.out.push_str(text);
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, tag: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag}>");
        self.depth += 1;
    }

    fn close(&mut self, tag: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = writeln!(self.out, "</{tag}>");
    }

    fn leaf(&mut self, tag: &str, text: &str) {
        self.indent();
        let _ = write!(self.out, "<{tag}>");
        escape_into(&mut self.out, text, Context::XmlText);
        let _ = writeln!(self.out, "</{tag}>");
    }

    fn leaf_with_attribute(&mut self, tag: &str, (name, value): (&str, &str), text: &str) {
        self.indent();
        let _ = write!(self.out, "<{tag} {name}=\"");
        escape_into(&mut self.out, value, Context::XmlAttribute);
        self.out.push_str("\">");
        escape_into(&mut self.out, text, Context::XmlText);
        let _ = writeln!(self.out, "</{tag}>");
    }

    /// An amount with exactly the currency's minor digits ("5.00", JPY "5").
    fn amount(&mut self, tag: &str, money: Money, currency: &str) {
        self.leaf_with_attribute(tag, ("currencyID", currency), &money.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::issue::{issue, IssueContext};
    use crate::document::model::{Document, Rejection};
    use crate::document::sign::Channel;
    use crate::invoice::Payment;
    use crate::keys::EdKey;
    use crate::ledger::{receipt, Archived};
    use crate::merchant::MerchantConfig;
    use crate::series::{ChainPosition, GENESIS_PREV_HASH};
    use serde_json::{json, Value};

    const ISSUED_AT_MS: i64 = 1_795_599_000_000; // 2026-11-25T09:30:00.000Z

    fn merchant(seller: Value, profile: Value) -> MerchantConfig {
        serde_json::from_value(json!({
            "id": "shop-1",
            "seller": seller,
            "tax_profile": profile,
            "series": [{"name": "SHOP"}],
            "payment_terms": "Net 30",
        }))
        .unwrap()
    }

    fn german_merchant() -> MerchantConfig {
        merchant(
            json!({"name": "Muster & Söhne GmbH", "country": "DE", "tax_id": "136695976",
                   "address": {"line": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115"}}),
            json!([{"category": "S", "rate": "19"}, {"category": "S", "rate": "7"},
                   {"category": "K", "rate": "0", "exemption_reason": "Intra-community supply"}]),
        )
    }

    fn signed(request: Value, merchant: &MerchantConfig) -> crate::document::model::SignedInvoice {
        let request = crate::request::parse_request(&request).unwrap();
        let key = EdKey::from_seed(&[7; 32]);
        let context = IssueContext {
            id: "01900000-0000-7000-8000-000000000001".into(),
            issued_at_ms: ISSUED_AT_MS,
            edge_node: "test".into(),
            key: &key,
            channel: Channel::ApiKey,
            position: ChainPosition {
                seq: 42,
                prev_hash: GENESIS_PREV_HASH.into(),
            },
        };
        issue(request, merchant, Payment::AsRequested, &context).unwrap()
    }

    fn final_document(request: Value, merchant: &MerchantConfig) -> Document {
        let signed = signed(request, merchant);
        let origin = EdKey::from_seed(&[9; 32]);
        let number = signed.invoice.number.clone();
        let final_ = receipt(
            &Archived {
                invoice_hash: &invoice_hash(&signed.invoice),
                audit_prev_hash: &[0; 32],
                number: &number,
                series: "SHOP",
                seq: 42,
                ledger_seq: 42,
                received_at: "2026-11-25T09:30:01.000Z",
                void: false,
            },
            &origin,
        );
        Document::new(signed, Some(final_), None)
    }

    fn known_request() -> Value {
        json!({
            "currency": "EUR", "order_id": "A-10023", "supply_date": "2026-11-20",
            "paid_amount": "50.00",
            "buyer": {"kind": "company", "name": "Käufer <AG>", "tax_id": "DE 136-695-976",
                      "email": "ap@example.com"},
            "lines": [
                {"description": "Widget", "quantity": "2", "unit_price": "49.90",
                 "tax_category": "S", "tax_rate": "19"},
                {"description": "Book", "quantity": "1", "unit_price": "10", "unit_code": "C62",
                 "tax_category": "S", "tax_rate": "7"},
                {"description": "Coupon", "quantity": "-1", "unit_price": "5",
                 "tax_category": "S", "tax_rate": "19"}
            ]
        })
    }

    fn element<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
        let open = format!("<{tag}");
        let close = format!("</{tag}>");
        xml.match_indices(&open)
            .filter_map(|(start, _)| {
                let rest = &xml[start..];
                let body = &rest[rest.find('>')? + 1..];
                Some(&body[..body.find(&close)?])
            })
            .collect()
    }

    #[test]
    fn maps_a_known_invoice() {
        let document = final_document(known_request(), &german_merchant());
        let xml = to_ubl(&document).unwrap();
        // BT-1 is the origin's number; BT-2 the UTC date of issued_at; BT-5 the currency.
        assert!(xml.contains("<cbc:ID>SHOP-2026-00000042</cbc:ID>"), "{xml}");
        assert!(xml.contains(&format!(
            "<cbc:IssueDate>{}</cbc:IssueDate>",
            &document.invoice.issued_at[..10]
        )));
        assert!(xml.contains("<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>"));
        assert!(xml.contains("<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>"));
        assert!(xml.contains("<cbc:SalesOrderID>A-10023</cbc:SalesOrderID>"));
        // Both VAT identifiers carry their prefix (BR-CO-09), though stored without.
        assert_eq!(document.invoice.seller.tax_id.as_deref(), Some("136695976"));
        assert_eq!(
            element(&xml, "cbc:CompanyID"),
            vec!["DE136695976", "DE136695976"]
        );
        // Escaped text.
        assert!(
            xml.contains("<cbc:RegistrationName>Muster &amp; Söhne GmbH</cbc:RegistrationName>")
        );
        assert!(xml.contains("<cbc:RegistrationName>Käufer &lt;AG&gt;</cbc:RegistrationName>"));
        // Lines: 99.80 at 19%, 10.00 at 7%, a -5.00 discount at 19%.
        assert_eq!(
            element(&xml, "cbc:LineExtensionAmount"),
            vec!["104.80", "99.80", "10.00", "-5.00"]
        );
        assert!(xml.contains("<cbc:InvoicedQuantity unitCode=\"C62\">1</cbc:InvoicedQuantity>"));
        assert!(xml.contains("<cbc:InvoicedQuantity unitCode=\"H87\">-1</cbc:InvoicedQuantity>"));
        assert_eq!(element(&xml, "cbc:PriceAmount"), vec!["49.90", "10", "5"]);
        // Breakdown: 94.80 × 19% = 18.01; 10.00 × 7% = 0.70; totals.
        assert_eq!(element(&xml, "cbc:TaxableAmount"), vec!["94.80", "10.00"]);
        assert_eq!(
            element(&xml, "cbc:TaxAmount"),
            vec!["18.71", "18.01", "0.70"]
        );
        assert_eq!(element(&xml, "cbc:TaxInclusiveAmount"), vec!["123.51"]);
        assert_eq!(element(&xml, "cbc:PrepaidAmount"), vec!["50.00"]);
        assert_eq!(element(&xml, "cbc:PayableAmount"), vec!["73.51"]);
        assert_eq!(element(&xml, "cbc:Note"), vec!["Net 30"]);
        assert!(xml.contains("currencyID=\"EUR\">18.71</cbc:TaxAmount>"));
        // The trace back to the signed JSON and to the ledger.
        let hash = hex::encode(invoice_hash(&document.invoice));
        assert!(xml.contains(&format!("sha256={hash}")));
        assert!(xml.contains(&format!("sig={}", document.edge_signature.sig)));
        let final_ = document.final_.as_ref().unwrap();
        assert!(xml.contains(&format!("<cbc:ID>{}</cbc:ID>", final_.hash)));
        assert!(xml.contains(&format!("origin_signature={}", final_.origin_signature)));
        assert!(xml.contains("<cbc:ElectronicMail>ap@example.com</cbc:ElectronicMail>"));
    }

    #[test]
    fn inclusive_pricing_writes_the_net_price() {
        let merchant = merchant(
            json!({"name": "小店", "country": "CN", "tax_id": "91110000600037341L"}),
            json!([{"category": "S", "rate": "13"}]),
        );
        let request = json!({
            "currency": "CNY", "order_id": "B-1", "prices_include_tax": true,
            "paid_amount": "129.80",
            "lines": [
                // 2 × 49.90 = 99.80 gross: tax 11.48, net 88.32, net price 44.16.
                {"description": "茶", "quantity": "2", "unit_price": "49.90",
                 "tax_category": "S", "tax_rate": "13"},
                // 3 × 10.00 = 30.00 gross: tax 3.45, net 26.55: 8.85 exactly.
                {"description": "杯", "quantity": "3", "unit_price": "10.00",
                 "tax_category": "S", "tax_rate": "13"},
            ]
        });
        let document = final_document(request, &merchant);
        let lines = &document.invoice.lines;
        assert_eq!(lines[0].net_amount.to_string(), "88.32");
        assert_eq!(lines[1].net_amount.to_string(), "26.55");
        let xml = to_ubl(&document).unwrap();
        assert_eq!(element(&xml, "cbc:PriceAmount"), vec!["44.16", "8.85"]);
        assert!(!xml.contains("BaseQuantity"));
        // No buyer: a Chinese seller's anonymous consumer, in the seller's country.
        assert!(xml.contains("<cbc:RegistrationName>个人</cbc:RegistrationName>"));
        assert_eq!(element(&xml, "cbc:IdentificationCode"), vec!["CN", "CN"]);
        assert_eq!(element(&xml, "cbc:CompanyID"), vec!["CN91110000600037341L"]);
        // Fully paid: no payment terms.
        assert_eq!(element(&xml, "cbc:PayableAmount"), vec!["0.00"]);
        assert!(!xml.contains("PaymentTerms"));
    }

    fn line(net: &str, quantity: &str, unit_price: &str, rate: &str) -> InvoiceLine {
        InvoiceLine {
            description: "x".into(),
            exemption_reason: None,
            net_amount: Money::round(net.parse().unwrap(), Currency::from_code("EUR").unwrap())
                .unwrap(),
            quantity: quantity.parse().unwrap(),
            tax_amount: Money::zero(Currency::from_code("EUR").unwrap()),
            tax_category: TaxCategory::S,
            tax_rate: Some(TaxRate::new(rate.parse().unwrap())),
            unit_code: "H87".into(),
            unit_price: unit_price.parse().unwrap(),
        }
    }

    #[test]
    fn net_price_is_exact_rounded_or_per_base_quantity() {
        let price = |l: &InvoiceLine| {
            let p = net_price(l, true, 2);
            (p.amount.to_string(), p.base_quantity.map(|q| q.to_string()))
        };
        // 100.00 / 3 = 33.333…: 38.00 net of 13% is 33.628319, × 3 = 100.88: no. The rounded
        // quotient 33.333333 × 3 = 99.999999 rounds back to 100.00.
        assert_eq!(
            price(&line("100.00", "3", "38.00", "13")),
            ("33.333333".into(), None)
        );
        // 11.83 / 0.333 = 35.525525…: 38.00 net of 7% is 35.514019, × 0.333 = 11.826168,
        // which rounds to 11.83: the product's own net price wins.
        assert_eq!(
            price(&line("11.83", "0.333", "38.00", "7")),
            ("35.514019".into(), None)
        );
        // A net that its tax swallowed: the net-of-rate price still multiplies to zero.
        assert_eq!(
            price(&line("0.00", "0.000003", "0.0113", "19")),
            ("0.009496".into(), None)
        );
        // A discount: -26.55 / -3 = 8.85, positive (BR-27).
        assert_eq!(
            price(&line("-26.55", "-3", "10", "13")),
            ("8.85".into(), None)
        );
        // 0.01 / 0.000003 = 3333.33…: 3333.333333 × 0.000003 = 0.009999999999 → 0.01.
        assert_eq!(
            price(&line("0.01", "0.000003", "0.0113", "13")),
            ("3333.333333".into(), None)
        );
        // Exact quotients come first: 88.32 / 2 = 44.16 (not 49.90 net of 13%, 44.159292).
        assert_eq!(
            price(&line("88.32", "2", "49.90", "13")),
            ("44.16".into(), None)
        );
        // 1.00 / 3,000,000 = 0.000000333…, which rounds to 0: the base quantity takes over.
        assert_eq!(
            price(&line("1.00", "3000000", "0.0000004", "13")),
            ("1.00".into(), Some("3000000".into()))
        );
        // Quantity 0: the gross unit price net of the rate.
        assert_eq!(
            price(&line("0.00", "0", "11.30", "13")),
            ("10".into(), None)
        );
        // Net pricing: the unit price as invoiced.
        let p = net_price(&line("0.99", "3", "0.333", "13"), false, 2);
        assert_eq!(
            (p.amount.to_string(), p.base_quantity),
            ("0.333".into(), None)
        );
    }

    #[test]
    fn exports_pending_and_final_invoices_and_refuses_rejected_ones() {
        let merchant = german_merchant();
        let pending = Document::new(signed(known_request(), &merchant), None, None);
        let xml = to_ubl(&pending).unwrap();
        assert!(xml.contains("<cbc:ID>SHOP-2026-00000042</cbc:ID>"));
        // Only the origin's trace reference is missing until it archives the invoice.
        assert!(!xml.contains("origin ledger final"));
        let final_xml = to_ubl(&final_document(known_request(), &merchant)).unwrap();
        assert!(final_xml.contains("<cbc:ID>SHOP-2026-00000042</cbc:ID>"));
        assert!(final_xml.contains("origin ledger final"));

        let rejection = Rejection {
            code: "ORDER_CONFLICT".into(),
            detail: "x".into(),
        };
        let rejected = Document::new(signed(known_request(), &merchant), None, Some(rejection));
        let error = to_ubl(&rejected).unwrap_err();
        assert_eq!(
            error,
            UblError::NotFinal {
                status: Status::Rejected
            }
        );
        assert_eq!(error.code().as_str(), "NOT_FINAL");
        assert_eq!(error.problem().status, 409);
        assert_eq!(error.problem().errors[0].pointer, "/status");
    }

    #[test]
    fn refuses_currencies_en16931_cannot_express() {
        let merchant = german_merchant();
        for (currency, price) in [("KWD", "1.500"), ("BHD", "2"), ("CLF", "1"), ("BGN", "3")] {
            let mut request = known_request();
            request["currency"] = json!(currency);
            request["paid_amount"] = json!("0");
            for line in request["lines"].as_array_mut().unwrap() {
                line["unit_price"] = json!(price);
            }
            let document = final_document(request, &merchant);
            let error = to_ubl(&document).unwrap_err();
            assert_eq!(
                error.code(),
                Code::CurrencyNotSupportedByEn16931,
                "{currency}"
            );
            assert_eq!(error.problem().status, 422);
            assert_eq!(error.problem().errors[0].pointer, "/invoice/currency");
        }
        assert!(check_currency("JPY").is_ok());
        assert!(check_currency("EUR").is_ok());
        assert!(check_currency("XYZ").is_err());
    }

    #[test]
    fn jpy_amounts_have_no_decimals() {
        let mut request = known_request();
        request["currency"] = json!("JPY");
        request["paid_amount"] = json!("50");
        for line in request["lines"].as_array_mut().unwrap() {
            line["unit_price"] = json!("1000");
        }
        let xml = to_ubl(&final_document(request, &german_merchant())).unwrap();
        // 1000 net at 19% (the discount offsets one unit) and 1000 at 7%: tax 190 + 70.
        assert_eq!(element(&xml, "cbc:TaxAmount"), vec!["260", "190", "70"]);
        assert_eq!(element(&xml, "cbc:TaxInclusiveAmount"), vec!["2260"]);
        assert_eq!(element(&xml, "cbc:PrepaidAmount"), vec!["50"]);
        assert_eq!(element(&xml, "cbc:PayableAmount"), vec!["2210"]);
        assert!(xml.contains("currencyID=\"JPY\">2210</cbc:PayableAmount>"));
    }

    #[test]
    fn vat_ids_get_their_prefix() {
        assert_eq!(prefixed_vat_id("DE", "136695976"), "DE136695976");
        assert_eq!(
            prefixed_vat_id("CN", "91110000600037341L"),
            "CN91110000600037341L"
        );
        assert_eq!(prefixed_vat_id("GR", "094014201"), "EL094014201");
        assert_eq!(prefixed_vat_id("GR", "EL094014201"), "EL094014201");
        // Not a valid DE number any more: kept as stored, with its prefix.
        assert_eq!(prefixed_vat_id("DE", "123"), "DE123");
    }

    #[test]
    fn text_and_attributes_are_escaped_as_xml() {
        // The escaper's cases are in escape.rs; this checks each writer uses the XML context.
        let mut xml = Xml {
            out: String::new(),
            depth: 0,
        };
        xml.leaf_with_attribute("a", ("id", "x\t\"y\""), "say \"<hi>\"\r\n\u{1}");
        assert_eq!(
            xml.out,
            "<a id=\"x&#9;&quot;y&quot;\">say \"&lt;hi&gt;\"&#13;\n\u{FFFD}</a>\n"
        );
    }
}
