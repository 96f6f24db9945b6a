//! Errors as RFC 9457 problem details, with one catalogue of stable machine codes.
//!
//! The codes are the contract: the API returns them, the OpenAPI document lists them, and
//! tests assert on them. Add a code here, never inline in an adapter.

use serde::{Deserialize, Serialize};

/// Declares the catalogue once: each code's variant, wire name, HTTP status and title.
macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, $status:literal, $title:literal; )*) => {
        /// Every stable error code of the product, with its HTTP status and a short title.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// All codes, in catalogue order (documented in openapi.yaml, checked by a test).
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as it appears on the wire, e.g. `NOT_FOUND`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $wire,)* }
            }

            /// The HTTP status an API answers with when this code comes first.
            pub fn status(self) -> u16 {
                match self { $(Code::$variant => $status,)* }
            }

            /// A short, human-readable summary of the problem type (RFC 9457 `title`).
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }

            pub fn from_wire(text: &str) -> Option<Code> {
                match text { $($wire => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

catalogue! {
    // Transport and routing.
    /// No route or resource matches.
    NotFound = "NOT_FOUND", 404, "Not found";
    /// The route exists, but not with this method.
    MethodNotAllowed = "METHOD_NOT_ALLOWED", 405, "Method not allowed";
    /// The body is over 256 KiB (docs/ARCHITECTURE.md, "Limits").
    BodyTooLarge = "BODY_TOO_LARGE", 413, "Request body too large";
    /// The body is not `application/json`.
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", 415, "Unsupported media type";
    /// Something failed inside the service; nothing about the input is known to be wrong.
    Internal = "INTERNAL", 500, "Internal error";

    // Authentication (401, 403).
    /// No API key and no checkout token.
    Unauthenticated = "UNAUTHENTICATED", 401, "Authentication required";
    /// The API key is not one of the merchant's.
    ApiKeyInvalid = "API_KEY_INVALID", 401, "Invalid API key";
    /// The checkout token is not an HS256 JWS with checkout claims.
    TokenMalformed = "TOKEN_MALFORMED", 401, "Malformed checkout token";
    /// The checkout token's HMAC does not verify: forged or for another secret.
    TokenSignatureInvalid = "TOKEN_SIGNATURE_INVALID", 401, "Invalid checkout token signature";
    /// The checkout token's `exp` has passed.
    TokenExpired = "TOKEN_EXPIRED", 401, "Checkout token expired";
    /// The checkout token lives more than 24 hours.
    TokenLifetimeTooLong = "TOKEN_LIFETIME_TOO_LONG", 401, "Checkout token lifetime too long";
    /// The checkout token's `iat` is in the future.
    TokenNotYetValid = "TOKEN_NOT_YET_VALID", 401, "Checkout token not yet valid";
    /// The token names another merchant than `?merchant=`.
    TokenMerchantMismatch = "TOKEN_MERCHANT_MISMATCH", 403, "Token for another merchant";

    // The edge's issuance path.
    /// `?merchant=` or the API key names no configured merchant.
    UnknownMerchant = "UNKNOWN_MERCHANT", 404, "Unknown merchant";
    /// Another request already issued this order's invoice (the order id is the idempotency key).
    OrderAlreadyInvoiced = "ORDER_ALREADY_INVOICED", 422, "Order already invoiced";
    /// The edge could not store the invoice, or cannot tell whether its series' object did:
    /// retrying the same request is safe and returns the invoice if it was issued.
    StorageUnavailable = "STORAGE_UNAVAILABLE", 503, "Storage unavailable";
    /// The deployment lacks a secret or binding it needs (see README, "Deploy").
    Misconfigured = "MISCONFIGURED", 500, "Edge misconfigured";
    /// The demo token route answers only requests addressed to localhost.
    ForbiddenHost = "FORBIDDEN_HOST", 403, "Forbidden host";

    // Shape of the request (400: the client sent something that is not our format).
    /// Not JSON, or not UTF-8.
    MalformedJson = "MALFORMED_JSON", 400, "Malformed JSON";
    /// An object names the same key twice. Refused everywhere JSON is read: otherwise two
    /// readers (one keeping the first value, one the last) could see two different invoices
    /// behind one signature.
    DuplicateKey = "DUPLICATE_KEY", 400, "Duplicate object key";
    /// A value has the wrong JSON type.
    WrongType = "WRONG_TYPE", 400, "Wrong JSON type";
    /// A money or quantity field holds a JSON number; it must be a decimal string.
    DecimalMustBeString = "DECIMAL_MUST_BE_STRING", 400, "Decimal values must be strings";
    /// A decimal string does not match `^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`.
    InvalidDecimal = "INVALID_DECIMAL", 400, "Invalid decimal string";
    /// A field the format does not define.
    UnknownField = "UNKNOWN_FIELD", 400, "Unknown field";

    // Values (422: well-formed, but not acceptable).
    /// A required field is absent or null.
    MissingField = "MISSING_FIELD", 422, "Missing field";
    /// A string is empty where text is required.
    EmptyString = "EMPTY_STRING", 422, "Empty string";
    /// A string holds a C0 or C1 control character (U+0000-U+001F, U+007F-U+009F). Tab and
    /// newline are allowed only in multi-line fields: an address `line`, `remarks`, a credit
    /// note's `reason`.
    ControlCharacter = "CONTROL_CHARACTER", 422, "Control character in text";
    /// A string holds a bidirectional override or isolate (U+202A-U+202E, U+2066-U+2069),
    /// which can make a printed invoice read differently from its data.
    BidiControl = "BIDI_CONTROL", 422, "Bidirectional control in text";
    /// A string is made only of invisible characters (format characters such as U+200B, and
    /// spaces): it would print as nothing.
    InvisibleText = "INVISIBLE_TEXT", 422, "Invisible text";
    /// `order_id` is not 1-128 characters of `[A-Za-z0-9._:-]`.
    InvalidOrderId = "INVALID_ORDER_ID", 422, "Invalid order id";
    /// Not an ISO 4217 currency we can invoice in.
    UnknownCurrency = "UNKNOWN_CURRENCY", 422, "Unknown currency";
    /// Not a calendar date in the form YYYY-MM-DD.
    InvalidDate = "INVALID_DATE", 422, "Invalid date";
    /// Not an ISO 3166-1 alpha-2 country code.
    InvalidCountry = "INVALID_COUNTRY", 422, "Invalid country code";
    /// Not a plausible email address.
    InvalidEmail = "INVALID_EMAIL", 422, "Invalid email address";
    /// Not a UN/ECE Recommendation 20 unit code.
    InvalidUnitCode = "INVALID_UNIT_CODE", 422, "Invalid unit code";
    /// A value outside the field's allowed set (e.g. `buyer.kind`).
    InvalidEnumValue = "INVALID_ENUM_VALUE", 422, "Value not allowed";
    /// Not a tax category code we support (S, Z, E, AE, K, G, O).
    InvalidTaxCategory = "INVALID_TAX_CATEGORY", 422, "Invalid tax category";

    // Limits (422), each with its own code.
    /// A string is over 500 characters.
    StringTooLong = "STRING_TOO_LONG", 422, "String too long";
    /// More than 1,000 lines.
    TooManyLines = "TOO_MANY_LINES", 422, "Too many lines";
    /// An invoice needs at least one line.
    NoLines = "NO_LINES", 422, "No lines";
    /// A decimal with more than 18 significant digits.
    TooManyDigits = "TOO_MANY_DIGITS", 422, "Too many digits";
    /// More decimal places than the field allows.
    TooManyDecimals = "TOO_MANY_DECIMALS", 422, "Too many decimal places";
    /// A computed amount is too large to represent exactly.
    AmountOverflow = "AMOUNT_OVERFLOW", 422, "Amount overflow";

    // Business rules (422).
    /// A unit price below zero (EN 16931 BR-27); discounts are negative quantities.
    NegativePrice = "NEGATIVE_PRICE", 422, "Negative price";
    /// An amount that must not be negative is (e.g. `paid_amount`).
    NegativeAmount = "NEGATIVE_AMOUNT", 422, "Negative amount";
    /// The invoice total is below zero; a refund is a credit note against the invoice.
    NegativeTotal = "NEGATIVE_TOTAL", 422, "Negative total";
    /// `paid_amount` is more than the invoice total.
    PaidExceedsTotal = "PAID_EXCEEDS_TOTAL", 422, "Paid amount exceeds total";
    /// `expected_total` differs from the computed gross.
    TotalMismatch = "TOTAL_MISMATCH", 422, "Total mismatch";
    /// A category other than O needs a tax rate.
    TaxRateRequired = "TAX_RATE_REQUIRED", 422, "Tax rate required";
    /// Category O carries no rate (EN 16931 BR-O-05).
    TaxRateNotAllowed = "TAX_RATE_NOT_ALLOWED", 422, "Tax rate not allowed";
    /// A rate below 0 or above 100, or with more than 4 decimals.
    TaxRateOutOfRange = "TAX_RATE_OUT_OF_RANGE", 422, "Tax rate out of range";
    /// S needs a rate above 0; Z, E, AE, K and G need 0 (EN 16931 BR-S-05, BR-Z-05, ...).
    TaxRateInvalidForCategory = "TAX_RATE_INVALID_FOR_CATEGORY", 422, "Tax rate invalid for category";
    /// E, AE, K, G and O need an exemption reason (EN 16931 BR-E-10, BR-AE-10, ...).
    ExemptionReasonRequired = "EXEMPTION_REASON_REQUIRED", 422, "Exemption reason required";
    /// S and Z carry no exemption reason (EN 16931 BR-S-10, BR-Z-10).
    ExemptionReasonNotAllowed = "EXEMPTION_REASON_NOT_ALLOWED", 422, "Exemption reason not allowed";
    /// Two lines of one (category, rate) group give different exemption reasons.
    ExemptionReasonConflict = "EXEMPTION_REASON_CONFLICT", 422, "Conflicting exemption reasons";
    /// O cannot be mixed with other categories (EN 16931 BR-O-11 to BR-O-14).
    CategoryOMixed = "CATEGORY_O_MIXED", 422, "Category O mixed with others";
    /// O forbids seller and buyer VAT identifiers (EN 16931 BR-O-02 to BR-O-04).
    VatIdNotAllowedWithO = "VAT_ID_NOT_ALLOWED_WITH_O", 422, "VAT identifier not allowed with category O";
    /// AE and K need the buyer's VAT identifier (EN 16931 BR-AE-02, BR-IC-02).
    BuyerVatIdRequired = "BUYER_VAT_ID_REQUIRED", 422, "Buyer VAT identifier required";
    /// S, Z, E, AE, K and G need the seller's VAT identifier (EN 16931 BR-S-02, ...).
    SellerVatIdRequired = "SELLER_VAT_ID_REQUIRED", 422, "Seller VAT identifier required";
    /// K needs `delivery.country` (EN 16931 BR-IC-12).
    DeliveryCountryRequired = "DELIVERY_COUNTRY_REQUIRED", 422, "Delivery country required";
    /// The (category, rate) pair is not in the merchant's tax profile.
    TaxNotInProfile = "TAX_NOT_IN_PROFILE", 422, "Tax not in the merchant's profile";

    // Tax identifiers (422).
    /// A tax identifier of the wrong length, characters or structure for its country.
    TaxIdFormat = "TAX_ID_FORMAT", 422, "Invalid tax identifier format";
    /// A well-formed tax identifier whose check digit or check character is wrong.
    TaxIdChecksum = "TAX_ID_CHECKSUM", 422, "Tax identifier check digit mismatch";
    /// A tax identifier carries another country's prefix (e.g. "FR…" for DE).
    TaxIdCountryMismatch = "TAX_ID_COUNTRY_MISMATCH", 422, "Tax identifier country mismatch";

    // Origin ledger.
    /// Not an issued document: `invoice` or `edge_signature` is missing or mistyped, or a field
    /// the ledger numbers by (`id`, `merchant`, `order_id`, `series`, `issued_at`) is unusable.
    MalformedDocument = "MALFORMED_DOCUMENT", 400, "Malformed document";
    /// The invoice id in the path is not the `invoice.id` of the body.
    IdMismatch = "ID_MISMATCH", 400, "Invoice id mismatch";
    /// An `invoice.format` or field this origin does not understand. Retryable: deploy the
    /// origin before the edge (docs/ARCHITECTURE.md, "Origin ledger protocol").
    UnsupportedFormat = "UNSUPPORTED_FORMAT", 503, "Unsupported document format";
    /// The edge signature's kid is not in the origin's trusted JWKS. Retryable: a key missing
    /// at the origin must never void an offline invoice (docs/ARCHITECTURE.md, "Origin ledger protocol").
    UnknownKid = "UNKNOWN_KID", 503, "Unknown signing key";
    /// The edge signature does not verify under the trusted key it names. Permanent.
    SignatureInvalid = "SIGNATURE_INVALID", 422, "Invalid edge signature";
    /// Documents of the series are missing before this one; the problem carries `expected_seq`,
    /// the origin's next `seq`, from which the edge resends. Retryable.
    SequenceGap = "SEQUENCE_GAP", 409, "Gap in the series";
    /// Another document holds this `seq` of the series (or this id), or it does not link to the
    /// archived document before it. Permanent: the series stops until an operator acts.
    SequenceConflict = "SEQUENCE_CONFLICT", 409, "Series chain conflict";
    /// The ledger already holds another invoice for this `(merchant, series, order_id)`. Permanent.
    OrderConflict = "ORDER_CONFLICT", 409, "Order already archived under another invoice";
    /// The ledger route needs the edge's bearer token and none was given, or it is not one the
    /// origin is configured with (`--edge-tokens`, `--metrics-tokens`).
    LedgerTokenInvalid = "LEDGER_TOKEN_INVALID", 401, "Invalid ledger token";
    /// A batch of more than 500 documents.
    BatchTooLarge = "BATCH_TOO_LARGE", 413, "Batch too large";

    // Series and offline limits (docs/ARCHITECTURE.md, "Series", "Offline limits").
    /// The merchant has several series, so a request or token must name one in `series`.
    SeriesRequired = "SERIES_REQUIRED", 422, "Series required";
    /// `series` names no series of this merchant.
    UnknownSeries = "UNKNOWN_SERIES", 422, "Unknown series";
    /// The series is retired: it issues nothing new, but is still delivered and listed.
    SeriesRetired = "SERIES_RETIRED", 422, "Series retired";
    /// The origin refused a document of the series permanently; nothing new is issued until an
    /// operator resumes it. Replays still answer.
    SeriesStopped = "SERIES_STOPPED", 503, "Series stopped";
    /// The series is over an offline limit; it resumes by itself once the origin archives.
    OfflineLimitReached = "OFFLINE_LIMIT_REACHED", 503, "Offline limit reached";
    /// The invoice's gross is over the series' `max_invoice_amount` in its currency.
    InvoiceAmountLimit = "INVOICE_AMOUNT_LIMIT", 422, "Invoice amount over the limit";
    /// The origin asked for a `seq` it had already acknowledged: it lost receipts it gave.
    /// Delivery stops and an operator must restore the origin.
    OriginRegressed = "ORIGIN_REGRESSED", 503, "Origin lost acknowledged receipts";

    // Credit notes (docs/ARCHITECTURE.md, "Credit notes").
    /// The credit notes of an invoice would together credit more than it, in a (category,
    /// rate) group or in total (or a line more than its quantity). At the origin, permanent.
    CreditExceedsInvoice = "CREDIT_EXCEEDS_INVOICE", 422, "Credit exceeds the invoice";
    /// A credit note of a credit note, or of a rejected invoice.
    NotCreditable = "NOT_CREDITABLE", 422, "Document cannot be credited";

    // UBL export.
    /// Only final invoices are exported: a pending or rejected one has no official number yet,
    /// and two XML files with different numbers must never exist for one invoice.
    NotFinal = "NOT_FINAL", 409, "Invoice not final";
    /// EN 16931 amounts have at most 2 decimals (UBL-DT-01), in a currency of its code list
    /// (BR-CL-04): KWD, BHD, CLF, … cannot be exported.
    CurrencyNotSupportedByEn16931 = "CURRENCY_NOT_SUPPORTED_BY_EN16931", 422, "Currency not supported by EN 16931";

    // Security and limits.
    /// The request body is not UTF-8 (RFC 8259 section 8.1).
    InvalidUtf8 = "INVALID_UTF8", 400, "Body is not UTF-8";
    /// JSON nested deeper than 32 arrays and objects (docs/ARCHITECTURE.md, "Limits").
    JsonTooDeep = "JSON_TOO_DEEP", 422, "JSON nested too deeply";
    /// The checkout token's cart (lines, rates, currency or order id, all minted by the
    /// merchant's backend) breaks a rule or the merchant's tax profile; the buyer cannot fix it.
    TokenCartInvalid = "TOKEN_CART_INVALID", 422, "Checkout token cart invalid";
    /// Too many issuance requests from this client IP or for this merchant; retry after
    /// `Retry-After`.
    RateLimited = "RATE_LIMITED", 429, "Too many requests";
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Code, D::Error> {
        let text = String::deserialize(deserializer)?;
        Code::from_wire(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown code {text}")))
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in the input: where (a JSON pointer, RFC 6901), what and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub pointer: String,
    pub code: Code,
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, code: Code, detail: impl Into<String>) -> Self {
        FieldError {
            pointer: pointer.into(),
            code,
            detail: detail.into(),
        }
    }
}

/// The body of every API error, served as `application/problem+json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    /// Always `errors[0].code`, so a client can branch on one field.
    pub code: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every problem found, not only the first.
    pub errors: Vec<FieldError>,
    /// With `SEQUENCE_GAP`: the `seq` the origin expects next (an RFC 9457 extension member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_seq: Option<u64>,
}

/// The media type of a problem body (RFC 9457 section 3).
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

impl Problem {
    /// A problem listing every error found; its status and code come from the first one.
    ///
    /// An empty list is a programming error upstream; it is reported as `INTERNAL` rather
    /// than panicking, because a panic in the worker resets the isolate.
    pub fn from_errors(errors: Vec<FieldError>) -> Self {
        // A request with a shape error (400) is answered 400 even if it also breaks a business
        // rule (422), and the top-level code stays `errors[0].code`: a stable partition keeps the
        // document order within each class.
        let (mut errors, rest): (Vec<_>, Vec<_>) =
            errors.into_iter().partition(|e| e.code.status() == 400);
        errors.extend(rest);
        let first = errors.first().map(|e| e.code).unwrap_or(Code::Internal);
        Problem {
            type_uri: type_uri(first),
            title: first.title().to_string(),
            status: first.status(),
            code: first,
            detail: errors.first().map(|e| e.detail.clone()),
            errors,
            expected_seq: None,
        }
    }

    /// `SEQUENCE_GAP` with the `seq` the origin expects next.
    pub fn sequence_gap(expected_seq: u64, detail: impl Into<String>) -> Self {
        Problem {
            expected_seq: Some(expected_seq),
            ..Problem::single(Code::SequenceGap, detail)
        }
    }

    /// A problem with a single error at the document root.
    pub fn single(code: Code, detail: impl Into<String>) -> Self {
        Problem::from_errors(vec![FieldError::new("", code, detail)])
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// A stable URI per code (RFC 9457 `type`); a URN, because it names the code, not a page.
pub fn type_uri(code: Code) -> String {
    format!("urn:invoice-edge:problem:{}", code.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in Code::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn top_level_code_is_the_first_error() {
        let problem = Problem::from_errors(vec![
            FieldError::new("/a", Code::MethodNotAllowed, "x"),
            FieldError::new("/b", Code::NotFound, "y"),
        ]);
        assert_eq!(problem.code, Code::MethodNotAllowed);
        assert_eq!(problem.status, 405);
        let value: serde_json::Value = serde_json::from_str(&problem.to_json()).unwrap();
        assert_eq!(value["code"], "METHOD_NOT_ALLOWED");
        assert_eq!(value["errors"][1]["pointer"], "/b");
        assert_eq!(value["type"], "urn:invoice-edge:problem:METHOD_NOT_ALLOWED");
    }

    #[test]
    fn shape_errors_come_first_and_set_the_status() {
        let problem = Problem::from_errors(vec![
            FieldError::new("/a", Code::MissingField, "x"),
            FieldError::new("/b", Code::WrongType, "y"),
        ]);
        assert_eq!(problem.status, 400);
        assert_eq!(problem.code, Code::WrongType);
        assert_eq!(problem.errors[1].code, Code::MissingField);
    }

    #[test]
    fn every_code_round_trips_through_its_wire_name() {
        for code in Code::ALL {
            assert_eq!(Code::from_wire(code.as_str()), Some(*code));
            assert!(code
                .as_str()
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()));
        }
    }

    #[test]
    fn an_empty_error_list_does_not_panic() {
        assert_eq!(Problem::from_errors(vec![]).status, 500);
    }
}
