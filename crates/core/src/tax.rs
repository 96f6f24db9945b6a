//! Tax computation (docs/ARCHITECTURE.md, "Money rules"): line amounts, per-group tax, the allocation of
//! each group's tax back to its lines, and the document totals of EN 16931 BR-CO-10..16.
//!
//! All sums are exact integers of minor units; the only roundings are the ones the rules name,
//! each half away from zero (or toward zero for allocation shares, as specified).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::currency::Currency;
use crate::money::{div_round_half_away_from_zero, AmountOverflow, Money};
use crate::problem::{Code, FieldError};
use crate::request::{InvoiceRequest, LineRequest, TaxCategory, TaxRate};

/// A computed line. Fields are in sorted order (RFC 8785 canonical form, see `canonical`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub description: String,
    pub exemption_reason: Option<String>,
    /// With net pricing, `quantity × unit_price` rounded; with tax-inclusive pricing, that amount
    /// minus the line's allocated tax. `net_amount + tax_amount` is what the buyer sees.
    pub net_amount: Money,
    #[serde(with = "crate::decimal_text::as_string")]
    pub quantity: Decimal,
    pub tax_amount: Money,
    pub tax_category: TaxCategory,
    pub tax_rate: Option<TaxRate>,
    pub unit_code: String,
    #[serde(with = "crate::decimal_text::as_string")]
    pub unit_price: Decimal,
}

/// One EN 16931 VAT breakdown (BG-23) per (category, rate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxBreakdown {
    pub exemption_reason: Option<String>,
    pub tax_amount: Money,
    pub tax_category: TaxCategory,
    pub tax_rate: Option<TaxRate>,
    pub taxable_amount: Money,
}

/// Document totals (EN 16931 BG-22).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// BT-112 = net + tax (BR-CO-15).
    pub gross: Money,
    /// BT-109 = Σ group taxable amounts (BR-CO-13, no document allowances or charges).
    pub net: Money,
    /// BT-113.
    pub paid: Money,
    /// BT-115 = gross − paid (BR-CO-16).
    pub payable: Money,
    /// BT-110 = Σ group tax (BR-CO-14).
    pub tax: Money,
}

/// The figures of a computation. The lines' figures are apart from their texts, so that
/// [`invoice_lines`] moves the request's own lines into the document instead of copying them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Computation {
    /// Per line, in the request's order: its net amount and its allocated tax.
    pub line_amounts: Vec<(Money, Money)>,
    pub tax_breakdown: Vec<TaxBreakdown>,
    pub totals: Totals,
}

/// The computed lines: each request line with its figures from [`compute`] and its resolved
/// exemption reason (`rules::check`), all three in the request's order.
pub fn invoice_lines(
    line_amounts: Vec<(Money, Money)>,
    lines: Vec<LineRequest>,
    reasons: Vec<Option<String>>,
) -> Vec<InvoiceLine> {
    line_amounts
        .into_iter()
        .zip(lines)
        .zip(reasons)
        .map(
            |(((net_amount, tax_amount), line), exemption_reason)| InvoiceLine {
                description: line.description,
                exemption_reason,
                net_amount,
                quantity: line.quantity,
                tax_amount,
                tax_category: line.tax_category,
                tax_rate: line.tax_rate,
                unit_code: line.unit_code,
                unit_price: line.unit_price,
            },
        )
        .collect()
}

fn overflow(pointer: impl Into<String>) -> FieldError {
    FieldError::new(pointer, Code::AmountOverflow, AmountOverflow.to_string())
}

/// `quantity × unit_price`, rounded half away from zero to the minor unit. The product must be
/// exact: if it needs more than the 28 digits of a 96-bit decimal, that is `AMOUNT_OVERFLOW`
/// rather than a silently rounded intermediate.
pub fn line_amount(
    quantity: Decimal,
    unit_price: Decimal,
    currency: Currency,
) -> Result<Money, AmountOverflow> {
    let product = quantity.checked_mul(unit_price).ok_or(AmountOverflow)?;
    if product.scale() < quantity.scale() + unit_price.scale() && !product.is_zero() {
        return Err(AmountOverflow);
    }
    Money::round(product, currency)
}

/// A rate of `mantissa / 10^scale` percent, as the integer fraction `numerator / denominator`
/// of the amount it applies to.
fn rate_fraction(rate: TaxRate) -> (i128, i128) {
    let percent = rate.percent();
    (percent.mantissa(), 100 * 10i128.pow(percent.scale()))
}

/// The tax of a group: `round(net × rate / 100)` for net pricing, and
/// `round(gross × rate / (100 + rate))` for tax-inclusive pricing.
pub fn group_tax(amount_units: i128, rate: Option<TaxRate>, prices_include_tax: bool) -> i128 {
    let Some(rate) = rate else { return 0 };
    let (numerator, denominator) = rate_fraction(rate);
    // Bounded: |amount| < 10^18 and numerator ≤ 100 × 10^4, so the product fits i128.
    let denominator = if prices_include_tax {
        denominator + numerator
    } else {
        denominator
    };
    div_round_half_away_from_zero(amount_units * numerator, denominator)
}

/// Splits `total` over lines in proportion to `weights`: each share is rounded toward zero, and
/// the remaining units (in the remainder's sign) go one each to the lines with the largest
/// absolute remainder, the earliest line winning a tie (docs/ARCHITECTURE.md, "Money rules").
pub fn allocate(total: i128, weights: &[i128]) -> Vec<i128> {
    let mut shares = vec![0; weights.len()];
    let members: Vec<usize> = (0..weights.len()).collect();
    allocate_into(total, &members, weights, &mut shares, &mut Vec::new());
    shares
}

/// [`allocate`] over the lines named by `members` (indices into `weights` and `shares`), writing
/// each member's share into `shares`. `scratch` is reused across a document's groups, so the
/// whole allocation makes no allocation per group.
fn allocate_into(
    total: i128,
    members: &[usize],
    weights: &[i128],
    shares: &mut [i128],
    scratch: &mut Vec<(u128, usize)>,
) {
    let weight_sum: i128 = members.iter().map(|&line| weights[line]).sum();
    if weight_sum == 0 {
        // Only a zero tax can come from a zero base; there is nothing to split.
        for &line in members {
            shares[line] = 0;
        }
        return;
    }
    // Rust's integer division truncates toward zero, and `%` keeps the dividend's sign.
    scratch.clear();
    let mut given = 0;
    for (position, &line) in members.iter().enumerate() {
        let share = total * weights[line] / weight_sum;
        shares[line] = share;
        given += share;
        scratch.push((
            (total * weights[line] % weight_sum).unsigned_abs(),
            position,
        ));
    }
    let left = total - given;
    // A stable sort keeps the earlier line first among equal remainders.
    crate::stable_sort::sort_by(scratch, |a, b| a.0 > b.0);
    for &(_, position) in scratch.iter().take(left.unsigned_abs() as usize) {
        shares[members[position]] += left.signum();
    }
}

/// Computes the lines' figures, the breakdown and the totals ([`invoice_lines`] joins the
/// figures to the lines). `reasons` are the exemption reasons `rules::check` resolved; `paid` is
/// the paid amount in money (already checked for its digits).
pub fn compute(
    request: &InvoiceRequest,
    reasons: &[Option<String>],
    paid: Decimal,
) -> Result<Computation, Vec<FieldError>> {
    let currency = request.currency;
    let digits = currency.minor_digits();

    // 1. Line amounts.
    let mut errors = Vec::new();
    let mut amounts = Vec::with_capacity(request.lines.len());
    for (index, line) in request.lines.iter().enumerate() {
        match line_amount(line.quantity, line.unit_price, currency) {
            Ok(amount) => amounts.push(amount.units()),
            Err(_) => errors.push(overflow(format!("/lines/{index}"))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // 2. Groups by (category, rate), in order of first appearance; rates compare as numbers.
    let mut groups: Vec<(TaxCategory, Option<TaxRate>, Vec<usize>)> = Vec::new();
    for (index, line) in request.lines.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|(c, r, _)| *c == line.tax_category && *r == line.tax_rate)
        {
            Some((_, _, members)) => members.push(index),
            None => groups.push((line.tax_category, line.tax_rate, vec![index])),
        }
    }

    let money = |units: i128, pointer: &str| {
        Money::from_units(units, digits).map_err(|_| vec![overflow(pointer)])
    };
    let mut line_tax = vec![0i128; request.lines.len()];
    let mut breakdown = Vec::with_capacity(groups.len());
    let (mut net_total, mut tax_total) = (0i128, 0i128);
    let mut scratch = Vec::with_capacity(request.lines.len());
    for (category, rate, members) in &groups {
        let group_amount: i128 = members.iter().map(|&line| amounts[line]).sum();
        money(group_amount, "/lines")?;
        let tax = group_tax(group_amount, *rate, request.prices_include_tax);
        let taxable = if request.prices_include_tax {
            group_amount - tax
        } else {
            group_amount
        };
        allocate_into(tax, members, &amounts, &mut line_tax, &mut scratch);
        net_total += taxable;
        tax_total += tax;
        breakdown.push(TaxBreakdown {
            exemption_reason: reasons.get(members[0]).cloned().flatten(),
            tax_amount: money(tax, "/lines")?,
            tax_category: *category,
            tax_rate: *rate,
            taxable_amount: money(taxable, "/lines")?,
        });
    }

    let mut line_amounts = Vec::with_capacity(request.lines.len());
    for (index, amount) in amounts.iter().enumerate() {
        let net = if request.prices_include_tax {
            amount - line_tax[index]
        } else {
            *amount
        };
        // The pointer is formatted only for an error, not once per line (docs/PERFORMANCE.md,
        // "Native, paired: allocations").
        let line_money = |units: i128| {
            Money::from_units(units, digits).map_err(|_| vec![overflow(format!("/lines/{index}"))])
        };
        line_amounts.push((line_money(net)?, line_money(line_tax[index])?));
    }

    let net = money(net_total, "/lines")?;
    let tax = money(tax_total, "/lines")?;
    let gross = net.checked_add(tax).map_err(|_| vec![overflow("/lines")])?;
    let paid = Money::round(paid, currency).map_err(|_| vec![overflow("/paid_amount")])?;
    let payable = gross
        .checked_sub(paid)
        .map_err(|_| vec![overflow("/paid_amount")])?;
    Ok(Computation {
        line_amounts,
        tax_breakdown: breakdown,
        totals: Totals {
            gross,
            net,
            paid,
            payable,
            tax,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_gives_leftover_units_to_the_largest_remainders_earliest_first() {
        // Three lines of 0.10 at 5%: tax 0.02 goes to the first two lines.
        assert_eq!(allocate(2, &[10, 10, 10]), vec![1, 1, 0]);
        // Three lines of 1.00 at 13% inclusive: tax 0.35.
        assert_eq!(allocate(35, &[100, 100, 100]), vec![12, 12, 11]);
        // Unequal weights: 10 × 1/6 = 1.67, 10 × 2/6 = 3.33, 10 × 3/6 = 5.
        assert_eq!(allocate(10, &[1, 2, 3]), vec![2, 3, 5]);
        // Negative totals hand out negative units.
        assert_eq!(allocate(-2, &[10, 10, 10]), vec![-1, -1, 0]);
        assert_eq!(allocate(0, &[0, 0]), vec![0, 0]);
    }

    #[test]
    fn group_tax_rounds_half_away_from_zero() {
        let rate = |s: &str| Some(TaxRate::new(s.parse().unwrap()));
        // 140 at 14.975% = 20.965 → 20.97 (half to even would give 20.96).
        assert_eq!(group_tax(14_000, rate("14.975"), false), 2097);
        // 138.66 at 19% = 26.3454 → 26.35.
        assert_eq!(group_tax(13_866, rate("19"), false), 2635);
        // Inclusive: 113.00 at 13% holds 13.00 of tax.
        assert_eq!(group_tax(11_300, rate("13"), true), 1300);
        assert_eq!(group_tax(-13_866, rate("19"), false), -2635);
        assert_eq!(group_tax(5_000, None, false), 0);
    }
}
