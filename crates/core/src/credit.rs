//! Credit notes (docs/ARCHITECTURE.md, "Credit notes"; 红字发票, UBL 381): a credit note is an
//! issued document like an invoice, of `kind` `credit_note`, with a reference to the invoice it
//! credits (`credits`, EN 16931 BT-25 and BT-26) and a reason code. It is computed by the same
//! money rules as an invoice (`tax::compute`), from lines taken from the original, so a full
//! credit note repeats the original's amounts exactly.
//!
//! - [`parse_credit_request`]: the body of `POST /v1/invoices/{id}/credit-notes`;
//! - [`compute_credit`]: the credit note's lines, breakdown and totals from the original;
//! - [`check_cap`]: all credit notes of an invoice together never exceed it, per (category,
//!   rate) group and in total. The series' object runs it in the step that issues the credit
//!   note, against the balance it keeps per invoice, and the origin runs it again at archiving.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::currency::Currency;
use crate::document::model::{Invoice, Kind};
use crate::invoice::ComputedInvoice;
use crate::json_reader::{ObjectReader, Problems};
use crate::money::Money;
use crate::problem::{Code, FieldError};
use crate::request::{InvoiceRequest, LineRequest, MAX_LINES, MAX_QUANTITY_DECIMALS};
use crate::tax::TaxBreakdown;

/// The reason codes (docs/ARCHITECTURE.md, "Credit notes"): `01` 开票有误 (issued in error),
/// `02` 销货退回 (goods returned), `03` 服务中止 (service stopped), `04` 销售折让 (allowance).
pub const REASON_CODES: [&str; 4] = ["01", "02", "03", "04"];

/// `04`: an allowance, credited by amount rather than by quantity.
pub const ALLOWANCE: &str = "04";

/// What the credit note says it credits, inside its signed bytes. Fields in sorted order (the
/// signed invoice's serde output is its RFC 8785 form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credits {
    pub id: String,
    /// The original's `issued_at` (its date is BT-26).
    pub issued_at: String,
    /// The original's number (BT-25).
    pub number: String,
}

/// What makes a computed document a credit note: carried beside the computed amounts to the
/// series' object, which signs them into the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditOf {
    pub credits: Credits,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub reason_code: String,
}

/// One requested line: a line of the original by index, with a quantity (`01`-`03`) or an
/// amount in the original's pricing (`04`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditLine {
    pub line: usize,
    pub quantity: Option<Decimal>,
    pub amount: Option<Decimal>,
}

/// The body of `POST /v1/invoices/{id}/credit-notes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditRequest {
    pub order_id: String,
    pub reason_code: String,
    pub reason: Option<String>,
    /// `None`: the whole invoice.
    pub lines: Option<Vec<CreditLine>>,
}

/// Reads a credit-note request. `Err` lists every problem, with its pointer. A line's `quantity`
/// is read for `01`-`03` and its `amount` for `04`, so the other is an unknown field.
pub fn parse_credit_request(value: &Value) -> Result<CreditRequest, Vec<FieldError>> {
    let mut problems = Problems::default();
    let request = read_credit_request(value, &mut problems);
    match request {
        Some(request) if problems.is_empty() => Ok(request),
        _ => Err(problems.errors),
    }
}

fn read_credit_request(value: &Value, problems: &mut Problems) -> Option<CreditRequest> {
    let mut reader = ObjectReader::new(value, "", problems)?;
    let order_id = reader.string("order_id", true, problems).and_then(|id| {
        if crate::request::is_valid_order_id(id) {
            Some(id.to_string())
        } else {
            problems.push(
                "/order_id",
                Code::InvalidOrderId,
                crate::request::ORDER_ID_RULE,
            );
            None
        }
    });
    let reason_code = reader
        .string("reason_code", true, problems)
        .and_then(|code| {
            if REASON_CODES.contains(&code) {
                Some(code.to_string())
            } else {
                problems.push(
                    "/reason_code",
                    Code::InvalidEnumValue,
                    format!("must be \"01\", \"02\", \"03\" or \"04\", not {code:?}"),
                );
                None
            }
        });
    let reason = reader.string("reason", false, problems).map(str::to_string);
    let allowance = reason_code.as_deref() == Some(ALLOWANCE);
    let lines = reader.array("lines", allowance, problems).map(|items| {
        if items.is_empty() || items.len() > MAX_LINES {
            problems.push(
                "/lines",
                if items.is_empty() {
                    Code::NoLines
                } else {
                    Code::TooManyLines
                },
                format!("1 to {MAX_LINES} lines, or none to credit the whole invoice"),
            );
        }
        items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                read_credit_line(item, &format!("/lines/{index}"), allowance, problems)
            })
            .collect::<Vec<_>>()
    });
    reader.finish(problems);
    Some(CreditRequest {
        order_id: order_id?,
        reason_code: reason_code?,
        reason,
        lines,
    })
}

fn read_credit_line(
    value: &Value,
    pointer: &str,
    allowance: bool,
    problems: &mut Problems,
) -> Option<CreditLine> {
    let mut reader = ObjectReader::new(value, pointer, problems)?;
    let line = match reader.raw("line") {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Some(_) => {
            problems.push(
                format!("{pointer}/line"),
                Code::WrongType,
                "must be the index of a line of the invoice, from 0",
            );
            return None;
        }
        None => {
            problems.push(
                format!("{pointer}/line"),
                Code::MissingField,
                "line is required",
            );
            return None;
        }
    };
    let key = if allowance { "amount" } else { "quantity" };
    let figure = reader.decimal(key, true, problems).map(|(value, text)| {
        let at = format!("{pointer}/{key}");
        if value <= Decimal::ZERO {
            problems.push(at.clone(), Code::NegativeAmount, "must be more than 0");
        }
        if !allowance && crate::decimal_text::fraction_digits(text) > MAX_QUANTITY_DECIMALS as usize
        {
            problems.push(
                at,
                Code::TooManyDecimals,
                format!("quantities have at most {MAX_QUANTITY_DECIMALS} decimal places"),
            );
        }
        value
    });
    reader.finish(problems);
    let Some(line) = line else {
        problems.push(
            format!("{pointer}/line"),
            Code::InvalidEnumValue,
            "must be the index of a line of the invoice, from 0",
        );
        return None;
    };
    let figure = figure?;
    Some(CreditLine {
        line,
        quantity: (!allowance).then_some(figure),
        amount: allowance.then_some(figure),
    })
}

/// Why a document cannot be credited at all: 422 `NOT_CREDITABLE`.
pub fn not_creditable(detail: impl Into<String>) -> FieldError {
    FieldError::new("", Code::NotCreditable, detail)
}

/// The credit note's amounts, computed from the original under the money rules: its lines (all
/// of the original's for a full credit note; the named ones with their quantity; or, for `04`,
/// one line per allowance of quantity 1 priced at the amount, in the original's pricing, in the
/// line's (category, rate) group), then the same per-group tax, allocation and totals as any
/// invoice (`tax::compute`). Nothing is paid on it: the payable is the refund. The original must
/// be an invoice (a credit note of a credit note is `NOT_CREDITABLE`); whether it was rejected
/// is the caller's to check, from its status.
pub fn compute_credit(
    original: &Invoice,
    request: &CreditRequest,
) -> Result<ComputedInvoice, Vec<FieldError>> {
    if original.kind != Kind::Invoice {
        return Err(vec![not_creditable(format!(
            "{} is a credit note; only an invoice can be credited",
            original.number
        ))]);
    }
    let currency = Currency::from_code(&original.currency).ok_or_else(|| {
        vec![FieldError::new(
            "",
            Code::UnknownCurrency,
            "the invoice's currency is unknown",
        )]
    })?;
    let whole = |index: usize| {
        let line = &original.lines[index];
        LineRequest {
            description: line.description.clone(),
            quantity: line.quantity,
            unit_code: line.unit_code.clone(),
            unit_price: line.unit_price,
            tax_category: line.tax_category,
            tax_rate: line.tax_rate,
            exemption_reason: line.exemption_reason.clone(),
        }
    };
    let mut errors = Vec::new();
    let lines: Vec<LineRequest> = match &request.lines {
        None => (0..original.lines.len()).map(whole).collect(),
        Some(asked) => asked
            .iter()
            .enumerate()
            .filter_map(|(i, credit)| {
                if credit.line >= original.lines.len() {
                    errors.push(FieldError::new(
                        format!("/lines/{i}/line"),
                        Code::InvalidEnumValue,
                        format!(
                            "the invoice has lines 0 to {}",
                            original.lines.len().saturating_sub(1)
                        ),
                    ));
                    return None;
                }
                let mut line = whole(credit.line);
                if let Some(amount) = credit.amount {
                    // An allowance: its amount is a line amount in the original's pricing
                    // (net, or tax-inclusive), taxed at the group's rate by `tax::compute`.
                    if crate::decimal_text::fraction_digits(&amount.to_string())
                        > currency.minor_digits() as usize
                    {
                        errors.push(FieldError::new(
                            format!("/lines/{i}/amount"),
                            Code::TooManyDecimals,
                            format!(
                                "{currency} amounts have at most {} decimal places",
                                currency.minor_digits()
                            ),
                        ));
                    }
                    line.quantity = Decimal::ONE;
                    line.unit_code = "C62".into();
                    line.unit_price = amount;
                } else if let Some(quantity) = credit.quantity {
                    // A discount line (negative quantity) is credited in its own sign.
                    if quantity > line.quantity.abs() {
                        errors.push(FieldError::new(
                            format!("/lines/{i}/quantity"),
                            Code::CreditExceedsInvoice,
                            format!("line {} has quantity {}", credit.line, line.quantity),
                        ));
                    }
                    line.quantity = if line.quantity.is_sign_negative() {
                        -quantity
                    } else {
                        quantity
                    };
                }
                Some(line)
            })
            .collect(),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let reasons: Vec<Option<String>> = lines.iter().map(|l| l.exemption_reason.clone()).collect();
    let as_request = InvoiceRequest {
        currency,
        order_id: request.order_id.clone(),
        series: None,
        prices_include_tax: original.prices_include_tax,
        supply_date: None,
        paid_amount: None,
        buyer: None,
        delivery: None,
        lines,
        expected_total: None,
    };
    let computation = crate::tax::compute(&as_request, &reasons, Decimal::ZERO)?;
    let lines = crate::tax::invoice_lines(computation.line_amounts, as_request.lines, reasons);
    if computation.totals.gross.is_negative() {
        return Err(vec![FieldError::new(
            "/lines",
            Code::NegativeTotal,
            format!(
                "the credit note's total is {}; a credit note credits a positive amount",
                computation.totals.gross
            ),
        )]);
    }
    Ok(ComputedInvoice {
        buyer: original.buyer.clone(),
        credit: Some(CreditOf {
            credits: Credits {
                id: original.id.clone(),
                issued_at: original.issued_at.clone(),
                number: original.number.clone(),
            },
            reason: request.reason.clone(),
            reason_code: request.reason_code.clone(),
        }),
        currency: original.currency.clone(),
        delivery: original.delivery.clone(),
        lines,
        order_id: request.order_id.clone(),
        prices_include_tax: original.prices_include_tax,
        supply_date: None,
        tax_breakdown: computation.tax_breakdown,
        totals: computation.totals,
    })
}

/// The last credit of a group takes what is left of its tax. Each document's tax is rounded
/// per group (EN 16931 BR-CO-14), so pieces of an invoice can round a unit away from the whole:
/// two credit notes of one of 2 × 49.90 at 13 % carry 6.49 each, the invoice 12.97. So when a
/// credit note completes a group's amount (its lines' amounts in the original's pricing: net,
/// or tax-inclusive, summed with what `credited` already holds), its tax in that group is the
/// original's tax less what was credited, allocated to its lines by the money rules, and its
/// totals follow (BR-CO-10..16). Credit notes that together credit the whole invoice then
/// credit exactly its amounts, and [`check_cap`] holds. The series' object runs this with the
/// balance it keeps, just before [`check_cap`], in the issuing step.
pub fn settle(original: &Invoice, credited: &[TaxBreakdown], note: &mut ComputedInvoice) {
    let inclusive = note.prices_include_tax;
    let amount = |g: &TaxBreakdown| {
        g.taxable_amount.units() + if inclusive { g.tax_amount.units() } else { 0 }
    };
    let same = |a: &TaxBreakdown, b: &TaxBreakdown| {
        a.tax_category == b.tax_category && a.tax_rate == b.tax_rate
    };
    let mut changed = false;
    for group in &mut note.tax_breakdown {
        let Some(of) = original.tax_breakdown.iter().find(|g| same(g, group)) else {
            continue;
        };
        let before = credited.iter().find(|g| same(g, group));
        let (before_amount, before_tax) =
            before.map_or((0, 0), |g| (amount(g), g.tax_amount.units()));
        let group_amount = amount(group);
        let remaining_tax = of.tax_amount.units() - before_tax;
        if before_amount + group_amount != amount(of) || remaining_tax == group.tax_amount.units() {
            continue;
        }
        let digits = group.tax_amount.minor_digits();
        let (Ok(tax), Ok(taxable)) = (
            Money::from_units(remaining_tax, digits),
            Money::from_units(
                group_amount - if inclusive { remaining_tax } else { 0 },
                digits,
            ),
        ) else {
            continue;
        };
        group.tax_amount = tax;
        group.taxable_amount = taxable;
        let members: Vec<usize> = (0..note.lines.len())
            .filter(|&i| {
                note.lines[i].tax_category == group.tax_category
                    && note.lines[i].tax_rate == group.tax_rate
            })
            .collect();
        let weights: Vec<i128> = members
            .iter()
            .map(|&i| {
                let line = &note.lines[i];
                line.net_amount.units()
                    + if inclusive {
                        line.tax_amount.units()
                    } else {
                        0
                    }
            })
            .collect();
        let shares = crate::tax::allocate(remaining_tax, &weights);
        for ((&i, share), weight) in members.iter().zip(shares).zip(weights) {
            let line = &mut note.lines[i];
            let net = if inclusive { weight - share } else { weight };
            if let (Ok(tax), Ok(net)) = (
                Money::from_units(share, digits),
                Money::from_units(net, digits),
            ) {
                line.tax_amount = tax;
                line.net_amount = net;
            }
        }
        changed = true;
    }
    if changed {
        let (net, tax) = note.tax_breakdown.iter().fold((0, 0), |(n, t), g| {
            (n + g.taxable_amount.units(), t + g.tax_amount.units())
        });
        let totals = &mut note.totals;
        let digits = totals.gross.minor_digits();
        if let (Ok(n), Ok(t), Ok(g)) = (
            Money::from_units(net, digits),
            Money::from_units(tax, digits),
            Money::from_units(net + tax, digits),
        ) {
            totals.net = n;
            totals.tax = t;
            totals.gross = g;
            totals.payable = g;
        }
    }
}

/// The credit cap (docs/ARCHITECTURE.md, "Credit notes"): `credited` (what the invoice's
/// earlier credit notes credited, per group, as their summed breakdowns) plus `credit` (the new
/// one's breakdown) must stay, per (category, rate) group, between zero and the original's
/// taxable amount and tax, and in total within its gross. Returns the new balance, or
/// `CREDIT_EXCEEDS_INVOICE` naming each group over.
pub fn check_cap(
    original: &Invoice,
    credited: &[TaxBreakdown],
    credit: &[TaxBreakdown],
) -> Result<Vec<TaxBreakdown>, Vec<FieldError>> {
    let mut balance: Vec<TaxBreakdown> = credited.to_vec();
    let mut errors = Vec::new();
    let over = |detail: String| FieldError::new("/lines", Code::CreditExceedsInvoice, detail);
    for group in credit {
        let same = |g: &&mut TaxBreakdown| {
            g.tax_category == group.tax_category && g.tax_rate == group.tax_rate
        };
        let sum = match balance.iter_mut().find(same) {
            Some(found) => found,
            None => {
                balance.push(TaxBreakdown {
                    taxable_amount: Money::zero_like(group.taxable_amount),
                    tax_amount: Money::zero_like(group.tax_amount),
                    ..group.clone()
                });
                let last = balance.len() - 1;
                &mut balance[last]
            }
        };
        let add = |a: Money, b: Money| a.checked_add(b).map_err(|_| vec![over("overflow".into())]);
        sum.taxable_amount = add(sum.taxable_amount, group.taxable_amount)?;
        sum.tax_amount = add(sum.tax_amount, group.tax_amount)?;
        let of = original
            .tax_breakdown
            .iter()
            .find(|g| g.tax_category == group.tax_category && g.tax_rate == group.tax_rate);
        let name = match group.tax_rate {
            Some(rate) => format!("{} {rate}%", group.tax_category.as_str()),
            None => group.tax_category.as_str().to_string(),
        };
        let within = |credited: Money, limit: Money| {
            let (c, l) = (credited.units(), limit.units());
            if l >= 0 {
                (0..=l).contains(&c)
            } else {
                (l..=0).contains(&c)
            }
        };
        match of {
            Some(of)
                if within(sum.taxable_amount, of.taxable_amount)
                    && within(sum.tax_amount, of.tax_amount) => {}
            Some(of) => errors.push(over(format!(
                "group {name}: the credit notes would credit {} taxable and {} tax of the \
                 invoice's {} and {}",
                sum.taxable_amount, sum.tax_amount, of.taxable_amount, of.tax_amount
            ))),
            None => errors.push(over(format!("the invoice has no group {name}"))),
        }
    }
    let gross: i128 = balance
        .iter()
        .map(|g| g.taxable_amount.units() + g.tax_amount.units())
        .sum();
    if gross > original.totals.gross.units() {
        errors.push(over(format!(
            "the credit notes would credit more than the invoice's total {}",
            original.totals.gross
        )));
    }
    if errors.is_empty() {
        Ok(balance)
    } else {
        Err(errors)
    }
}

/// The idempotency fingerprint of a credit-note request: the request's, bound to the invoice
/// it credits, so the same body against two invoices of a series is two orders, not a replay.
pub fn credit_fingerprint(original_id: &str, request: &Value) -> String {
    // Built as a map rather than with `json!`, which would serialize `request` into a new
    // `Value` and bring `serde_json`'s value serializer into the worker (docs/PERFORMANCE.md).
    let mut bound = serde_json::Map::new();
    bound.insert("credits".into(), Value::String(original_id.into()));
    bound.insert("request".into(), request.clone());
    crate::document::sign::request_fingerprint(
        &Value::Object(bound),
        crate::document::sign::Channel::ApiKey,
    )
}

/// The edge's step 2 for a credit note, and the CLI's: the original's current document and the
/// request body read, checked and computed, with the original's series and the request's
/// fingerprint. A rejected original, or a credit note, is `NOT_CREDITABLE`; the original's
/// series may be retired (a retired series issues no invoice, but its invoices stay
/// refundable).
pub fn prepare_credit(
    original: &crate::document::model::Document,
    value: &Value,
    merchant: &crate::merchant::MerchantConfig,
) -> Result<crate::document::issue::Prepared, crate::problem::Problem> {
    use crate::problem::Problem;
    if original.status == crate::document::model::Status::Rejected {
        return Err(Problem::from_errors(vec![not_creditable(format!(
            "{} was rejected by the origin; it cannot be credited",
            original.invoice.number
        ))]));
    }
    let request = parse_credit_request(value).map_err(Problem::from_errors)?;
    let computed = compute_credit(&original.invoice, &request).map_err(Problem::from_errors)?;
    let series = merchant
        .find_series(Some(&original.invoice.series))
        .map_err(|error| Problem::from_errors(vec![error]))?;
    Ok(crate::document::issue::Prepared {
        issuer: merchant.issuer(series),
        computed,
        fingerprint: credit_fingerprint(&original.invoice.id, value),
    })
}
