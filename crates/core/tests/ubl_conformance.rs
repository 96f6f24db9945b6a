//! UBL export checked by the real rules: the official CEN/TC 434 EN 16931 validation XSLT
//! (release 1.3.16, in `../shared/conformance/en16931/`), run in Saxon by
//! `tests/conformance/validate_ubl.py`.
//!
//! The test exports hand-written final invoices (every tax category we support, net and
//! tax-inclusive pricing, 0-decimal currencies, discounts, paid and unpaid, every currency EN
//! 16931 lists) and a few hundred seeded random ones into a temporary folder, then validates
//! all of them in ONE Python process (the stylesheet is compiled once) and asserts there is
//! no fatal assertion. A second, small run proves the validator does catch failures.
//!
//! The interpreter is `$INVOICE_EDGE_PYTHON`, by default `<repo>/.tools/py/bin/python`, which
//! `make test` (scripts/setup.sh) creates with saxonche. Without it the test fails: a
//! conformance suite that skips itself silently proves nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use invoice_edge_core::credit::prepare_credit;
use invoice_edge_core::document::issue::{finish, issue, IssueContext};
use invoice_edge_core::document::model::{Document, SignedInvoice};
use invoice_edge_core::document::sign::{invoice_hash, Channel};
use invoice_edge_core::keys::EdKey;
use invoice_edge_core::ledger::{receipt, Archived};
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::money::round_half_away_from_zero;
use invoice_edge_core::problem::Code;
use invoice_edge_core::request::parse_request;
use invoice_edge_core::series::{ChainPosition, GENESIS_PREV_HASH};
use invoice_edge_core::ubl::{net_price, to_ubl, NOT_IN_EN16931_CODE_LIST};
use invoice_edge_core::{Currency, Payment};
use serde_json::{json, Value};

/// How many random invoices the generator makes.
const GENERATED: usize = 300;
const SEED: u64 = 0x0EB1_6931;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let python = std::env::var_os("INVOICE_EDGE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/py/bin/python"));
    assert!(
        python.exists(),
        "no Python with saxonche at {}: run `make test` (or `make setup`, which runs \
         scripts/setup.sh and creates .tools/py), or set INVOICE_EDGE_PYTHON",
        python.display()
    );
    python
}

/// Runs the validator over `paths` and returns (exit code, stdout).
fn validate(paths: &[&Path], extra: &[&str]) -> (i32, String) {
    let script = repo_root().join("tests/conformance/validate_ubl.py");
    let output = Command::new(python())
        .arg(&script)
        .args(extra)
        .args(paths)
        .output()
        .expect("the Python interpreter runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() != Some(2),
        "the validator could not run:\n{stdout}\n{stderr}"
    );
    (output.status.code().unwrap_or(-1), stdout)
}

/// `INVOICE_EDGE_KEEP_UBL=1` keeps the exported files for a look.
fn remove_unless_kept(dir: &Path) {
    if std::env::var_os("INVOICE_EDGE_KEEP_UBL").is_some() {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("invoice-edge-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

// ---------------------------------------------------------------------------------------------
// Merchants and documents.

fn merchant(seller: Value, requests: &[&Value], terms: Option<&str>) -> MerchantConfig {
    // The tax profile is exactly the (category, rate) pairs the requests use.
    let mut profile = BTreeSet::new();
    for request in requests {
        for line in request["lines"].as_array().into_iter().flatten() {
            profile.insert((
                line["tax_category"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                line["tax_rate"].as_str().map(str::to_string),
            ));
        }
    }
    let profile: Vec<Value> = profile
        .into_iter()
        .map(|(category, rate)| match rate {
            Some(rate) => json!({"category": category, "rate": rate}),
            None => json!({"category": category}),
        })
        .collect();
    let mut config = json!({
        "id": "shop-1",
        "seller": seller,
        "tax_profile": profile,
        "series": [{"name": "SHOP"}],
    });
    if let Some(terms) = terms {
        config["payment_terms"] = json!(terms);
    }
    serde_json::from_value(config).expect("a merchant configuration")
}

fn vat_seller() -> Value {
    json!({"name": "Muster & Söhne GmbH", "country": "DE", "tax_id": "136695976",
           "address": {"line": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115"}})
}

fn sign(request: &Value, merchant: &MerchantConfig, n: u64) -> Result<SignedInvoice, String> {
    let parsed = parse_request(request).map_err(|e| format!("{e:?}"))?;
    let key = EdKey::from_seed(&[7; 32]);
    let context = IssueContext {
        id: format!("01900000-0000-7000-8000-{n:012x}"),
        issued_at_ms: 1_795_599_000_000 + n as i64 * 3_600_000,
        edge_node: "test".into(),
        key: &key,
        channel: Channel::ApiKey,
        // Each case stands alone: the export does not depend on the chain's links.
        position: ChainPosition {
            seq: n,
            prev_hash: GENESIS_PREV_HASH.into(),
        },
    };
    issue(parsed, merchant, Payment::AsRequested, &context).map_err(|e| format!("{e:?}"))
}

fn finalize_signed(signed: SignedInvoice, n: u64) -> Document {
    let origin = EdKey::from_seed(&[9; 32]);
    let number = signed.invoice.number.clone();
    let final_ = receipt(
        &Archived {
            invoice_hash: &invoice_hash(&signed.invoice),
            audit_prev_hash: &[0; 32],
            number: &number,
            series: "SHOP",
            seq: n,
            ledger_seq: n,
            received_at: "2026-11-25T09:30:01.000Z",
            void: false,
        },
        &origin,
    );
    Document::new(signed, Some(final_), None)
}

fn final_document(request: &Value, merchant: &MerchantConfig, n: u64) -> Document {
    let signed = sign(request, merchant, n).unwrap_or_else(|e| panic!("case {n}: {e}"));
    finalize_signed(signed, n)
}

/// EN 16931 has no rule tying BT-131 to BT-129 × BT-146 / BT-149, so we check it ourselves:
/// the product rounds to the line net, and a price is never negative (BR-27).
fn export(document: &Document) -> String {
    let invoice = &document.invoice;
    let digits = Currency::from_code(&invoice.currency).map_or(2, Currency::minor_digits);
    for (index, line) in invoice.lines.iter().enumerate() {
        let price = net_price(line, invoice.prices_include_tax, digits);
        let base = price.base_quantity.unwrap_or(rust_decimal::Decimal::ONE);
        let product = line.quantity * price.amount / base;
        assert_eq!(
            round_half_away_from_zero(product, digits),
            line.net_amount.to_decimal(),
            "line {index} of {}: {} × {} / {base}",
            invoice.order_id,
            line.quantity,
            price.amount
        );
        assert!(!price.amount.is_sign_negative() || price.amount.is_zero());
    }
    to_ubl(document).unwrap_or_else(|e| panic!("{}: {e}", invoice.order_id))
}

/// A credit note of `original`, final like it: the whole invoice, one line of it (part of its
/// quantity when it has more than one), or an allowance (`04`) on one line. `None` when the
/// picked credit is not one (a discount line alone would credit a negative amount).
fn credit_note(
    original: &Document,
    merchant: &MerchantConfig,
    random: &mut Random,
    n: u64,
) -> Option<(&'static str, Document)> {
    let lines = &original.invoice.lines;
    let index = random.below(lines.len() as u64) as usize;
    let quantity = lines[index].quantity;
    let (kind, body) = match random.below(3) {
        0 => (
            "full",
            json!({"order_id": format!("CN-{n}"), "reason_code": "01"}),
        ),
        1 => {
            let part = if quantity > rust_decimal::Decimal::ONE {
                rust_decimal::Decimal::ONE
            } else {
                quantity.abs()
            };
            let body = json!({"order_id": format!("CN-{n}"), "reason_code": "02",
                              "reason": "returned", "lines": [{"line": index, "quantity": part.to_string()}]});
            ("partial", body)
        }
        _ => {
            let digits =
                Currency::from_code(&original.invoice.currency).map_or(2, Currency::minor_digits);
            let amount = random.decimal(99, digits);
            let body = json!({"order_id": format!("CN-{n}"), "reason_code": "04",
                              "lines": [{"line": index, "amount": amount}]});
            ("allowance", body)
        }
    };
    let prepared = prepare_credit(original, &body, merchant).ok()?;
    let key = EdKey::from_seed(&[7; 32]);
    let context = IssueContext {
        id: format!("01900000-0000-7000-8001-{n:012x}"),
        issued_at_ms: 1_795_599_000_000 + n as i64 * 3_600_000 + 60_000,
        edge_node: "test".into(),
        key: &key,
        channel: Channel::ApiKey,
        position: ChainPosition {
            seq: n + 1,
            prev_hash: GENESIS_PREV_HASH.into(),
        },
    };
    let signed = finish(prepared.computed, prepared.issuer, &context).signed;
    Some((kind, finalize_signed(signed, n + 1)))
}

fn line(description: &str, quantity: &str, price: &str, category: &str, rate: &str) -> Value {
    let mut line = json!({"description": description, "quantity": quantity, "unit_price": price,
                          "tax_category": category});
    if !rate.is_empty() {
        line["tax_rate"] = json!(rate);
    }
    if let Some(reason) = exemption_reason(category) {
        line["exemption_reason"] = json!(reason);
    }
    line
}

fn exemption_reason(category: &str) -> Option<&'static str> {
    Some(match category {
        "E" => "Exempt under Article 132 of Directive 2006/112/EC",
        "AE" => "Reverse charge (Article 196 of Directive 2006/112/EC)",
        "K" => "Intra-community supply (Article 138 of Directive 2006/112/EC)",
        "G" => "Export outside the EU (Article 146 of Directive 2006/112/EC)",
        "O" => "Not subject to VAT",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Hand-written cases.

struct Case {
    name: &'static str,
    seller: Value,
    terms: Option<&'static str>,
    request: Value,
}

fn hand_written() -> Vec<Case> {
    let company_de = json!({"kind": "company", "name": "Käufer <AG> & Co. \"KG\"",
                            "tax_id": "DE136695976", "country": "DE", "email": "ap@example.com",
                            "address": {"line": "Am Markt 2", "city": "Köln", "postal_code": "50667"}});
    let company_fr = json!({"kind": "company", "name": "Acheteur SARL", "tax_id": "FR40303265045",
                            "country": "FR"});
    vec![
        Case {
            name: "s-net-two-rates-partly-paid",
            seller: vat_seller(),
            terms: Some("Net 30"),
            request: json!({"currency": "EUR", "order_id": "S-1", "paid_amount": "50.00",
                "buyer": company_de,
                "lines": [line("Widget", "2", "49.90", "S", "19"),
                          line("Book", "1", "10", "S", "7"),
                          line("Golden: 138.66 at 19%", "1", "138.66", "S", "19")]}),
        },
        Case {
            name: "s-inclusive-cny-b2c-paid",
            seller: json!({"name": "小店有限公司", "country": "CN", "tax_id": "91110000600037341L"}),
            terms: None,
            request: json!({"currency": "CNY", "order_id": "C-1", "prices_include_tax": true,
                "paid_amount": "145.80",
                "lines": [line("茶叶 (500 g)", "2", "49.90", "S", "13"),
                          line("杯子", "3", "10.00", "S", "13"),
                          line("配送", "1", "16.00", "S", "9")]}),
        },
        Case {
            name: "s-inclusive-fractional-quantities-unpaid-default-terms",
            seller: vat_seller(),
            terms: None,
            request: json!({"currency": "EUR", "order_id": "S-2", "prices_include_tax": true,
                "buyer": {"name": "Erika Mustermann", "country": "AT"},
                "lines": [line("Cheese by weight", "0.333", "38.00", "S", "7"),
                          line("Cable by length", "2.125", "3.99", "S", "19"),
                          line("Tiny", "0.000003", "0.0113", "S", "19"),
                          line("Bulk screws", "3000000", "0.000001", "S", "7"),
                          line("Three thirds", "3", "33.3333", "S", "19")]}),
        },
        Case {
            name: "s-quebec-like-rate",
            seller: json!({"name": "Boutique", "country": "CA", "tax_id": "123456789RT0001"}),
            terms: Some("Due in 15 days"),
            request: json!({"currency": "CAD", "order_id": "Q-1",
                "lines": [line("Golden: 140 at 14.975%", "1", "140", "S", "14.975"),
                          line("9.975", "7", "1.4286", "S", "9.975")]}),
        },
        Case {
            name: "z-zero-rated-with-s",
            seller: json!({"name": "UK Books Ltd", "country": "GB", "tax_id": "980780684"}),
            terms: Some("Net 14"),
            request: json!({"currency": "GBP", "order_id": "Z-1",
                "buyer": {"name": "Reader", "country": "GB"},
                "lines": [line("Printed book", "2", "12.99", "Z", "0"),
                          line("E-book", "1", "9.99", "S", "20")]}),
        },
        Case {
            name: "e-exempt-with-s",
            seller: vat_seller(),
            terms: Some("Net 30"),
            request: json!({"currency": "EUR", "order_id": "E-1",
                "buyer": {"name": "Patient", "country": "DE"},
                "lines": [line("Medical treatment", "1", "120.00", "E", "0"),
                          line("Cream", "1", "8.40", "S", "19")]}),
        },
        Case {
            name: "ae-reverse-charge",
            seller: vat_seller(),
            terms: Some("Net 30"),
            request: json!({"currency": "EUR", "order_id": "AE-1", "buyer": company_fr,
                "lines": [line("Construction services", "10", "85.00", "AE", "0"),
                          line("Discount", "-1", "50.00", "AE", "0")]}),
        },
        Case {
            name: "k-intra-community-supply",
            seller: vat_seller(),
            terms: Some("Net 30"),
            request: json!({"currency": "EUR", "order_id": "K-1", "buyer": company_fr,
                "delivery": {"country": "FR"}, "supply_date": "2026-11-20",
                "lines": [line("Machine", "1", "12500.00", "K", "0"),
                          line("Manual", "1", "0", "K", "0")]}),
        },
        Case {
            name: "g-export-with-s",
            seller: vat_seller(),
            terms: Some("Net 60"),
            request: json!({"currency": "USD", "order_id": "G-1",
                "buyer": {"kind": "company", "name": "Importer Inc.", "country": "US",
                          "address": {"line": "1 Main St", "city": "Springfield", "postal_code": "12345"}},
                "lines": [line("Export goods", "5", "19.99", "G", "0"),
                          line("Handling in DE", "1", "10.00", "S", "19")]}),
        },
        Case {
            name: "o-outside-scope-seller-without-vat-id",
            seller: json!({"name": "Kleinunternehmer Schmidt", "country": "DE",
                           "address": {"city": "Hamburg"}}),
            terms: None,
            request: json!({"currency": "EUR", "order_id": "O-1",
                "buyer": {"name": "Nachbar", "email": "n@example.org"},
                "lines": [line("Gardening", "4", "25.00", "O", ""),
                          line("Friendly discount", "-1", "10.00", "O", "")]}),
        },
        Case {
            name: "o-inclusive-no-buyer",
            seller: json!({"name": "Street stall", "country": "FR"}),
            terms: None,
            request: json!({"currency": "EUR", "order_id": "O-2", "prices_include_tax": true,
                "paid_amount": "7.50",
                "lines": [line("Crêpe", "3", "2.50", "O", "")]}),
        },
        Case {
            name: "jpy-inclusive-zero-decimals",
            seller: json!({"name": "東京ショップ", "country": "JP", "tax_id": "T1234567890123"}),
            terms: Some("翌月末払い"),
            request: json!({"currency": "JPY", "order_id": "J-1", "prices_include_tax": true,
                "paid_amount": "1000",
                "buyer": {"name": "山田太郎", "country": "JP"},
                "lines": [line("弁当", "3", "648", "S", "8"),
                          line("雑誌", "1", "1100", "S", "10"),
                          line("割引", "-1", "100", "S", "10")]}),
        },
        Case {
            name: "jpy-net",
            seller: json!({"name": "Tokyo Shop", "country": "JP", "tax_id": "T1234567890123"}),
            terms: None,
            request: json!({"currency": "JPY", "order_id": "J-2",
                "lines": [line("Item", "7", "333", "S", "10"),
                          line("Item at a fraction", "1.5", "99.99", "S", "8")]}),
        },
        Case {
            name: "discounts-net-all-categories",
            seller: vat_seller(),
            terms: Some("Net 30"),
            request: json!({"currency": "EUR", "order_id": "D-1", "paid_amount": "0",
                "buyer": company_fr, "delivery": {"country": "FR"},
                "lines": [line("A", "10", "9.99", "S", "19"),
                          line("A discount", "-2", "9.99", "S", "19"),
                          line("B", "1", "100", "Z", "0"),
                          line("B discount", "-0.5", "10", "Z", "0"),
                          line("C", "1", "100", "E", "0"),
                          line("D", "1", "100", "AE", "0"),
                          line("E", "1", "100", "K", "0"),
                          line("F", "1", "100", "G", "0"),
                          line("F discount", "-1", "1", "G", "0")]}),
        },
        Case {
            name: "discount-group-negative-inclusive",
            seller: vat_seller(),
            terms: None,
            request: json!({"currency": "EUR", "order_id": "D-2", "prices_include_tax": true,
                "lines": [line("Voucher on reduced goods", "-1", "20.00", "S", "7"),
                          line("Reduced goods", "1", "5.00", "S", "7"),
                          line("Standard goods", "1", "100.00", "S", "19")]}),
        },
        Case {
            name: "zero-total",
            seller: vat_seller(),
            terms: None,
            request: json!({"currency": "EUR", "order_id": "N-1",
                "lines": [line("Free sample", "1", "0", "S", "19"),
                          line("Zero quantity", "0", "5.00", "S", "19")]}),
        },
        Case {
            name: "greek-buyer-el-prefix-and-odd-text",
            seller: vat_seller(),
            terms: Some("Net 30 <days> & \"more\""),
            request: json!({"currency": "EUR", "order_id": "GR-1", "buyer": {
                    "kind": "company", "name": "Εταιρεία Α.Ε.", "tax_id": "094014201",
                    "country": "GR", "address": {"line": "Οδός 1\nΑθήνα", "city": "Αθήνα"}},
                "delivery": {"country": "GR"},
                "lines": [line("Controls refused at intake; emoji 🧾 and ]]> and &amp;", "1", "10", "K", "0")]}),
        },
        Case {
            name: "every-checked-buyer-scheme",
            seller: vat_seller(),
            terms: None,
            request: json!({"currency": "EUR", "order_id": "T-1",
                "buyer": {"kind": "company", "name": "Belgian buyer", "country": "BE",
                          "tax_id": "0403019261"},
                "lines": [line("x", "1", "1", "AE", "0")]}),
        },
    ]
}

/// More buyers with checked tax IDs, one invoice each (BR-CO-09 for every scheme we check).
fn buyer_ids() -> Vec<(&'static str, &'static str)> {
    vec![
        ("BE", "0403019261"),
        ("CN", "91110000600037341L"),
        ("DE", "136695976"),
        ("ES", "54362315K"),
        ("FR", "40303265045"),
        ("IT", "00743110157"),
        ("NL", "004495445B01"),
        ("PL", "8567346215"),
        ("PT", "501964843"),
        ("SA", "300000000000003"),
        ("AT", "U12345678"),
        ("GR", "094014201"),
        ("SE", "556000000001"),
    ]
}

// ---------------------------------------------------------------------------------------------
// The seeded generator.

/// SplitMix64: a tiny deterministic generator, so every run checks the same invoices and a
/// failure names a reproducible case.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A decimal with `whole` digits at most and exactly `decimals` decimals.
    fn decimal(&mut self, max_whole: u64, decimals: u32) -> String {
        let whole = self.below(max_whole + 1);
        if decimals == 0 {
            return whole.to_string();
        }
        let fraction = self.below(10u64.pow(decimals));
        format!("{whole}.{fraction:0width$}", width = decimals as usize)
    }
}

const CURRENCIES: &[(&str, u32)] = &[
    ("EUR", 2),
    ("CNY", 2),
    ("USD", 2),
    ("JPY", 0),
    ("SEK", 2),
    ("KRW", 0),
    ("CHF", 2),
    ("PLN", 2),
];
const UNIT_CODES: &[&str] = &[
    "H87", "C62", "KGM", "HUR", "MTR", "LTR", "XBX", "DAY", "E48",
];
const STANDARD_RATES: &[&str] = &[
    "19", "7", "13", "9", "6", "5.5", "14.975", "9.975", "20", "25", "21", "10", "8", "0.5", "100",
];
const WORDS: &[&str] = &[
    "Widget",
    "茶叶",
    "Café",
    "A & B",
    "<tag>",
    "\"quoted\"",
    "Ølstykke",
    "🧾",
    "naïve",
    "x",
];

/// A random request the edge would accept, with the seller it needs.
fn generated(random: &mut Random) -> (Value, Value) {
    let &(currency, digits) = random.pick(CURRENCIES);
    let outside_scope = random.chance(10);
    let categories: Vec<&str> = if outside_scope {
        vec!["O"]
    } else {
        let all = ["S", "S", "S", "Z", "E", "AE", "K", "G"];
        (0..1 + random.below(3))
            .map(|_| *random.pick(&all))
            .collect()
    };
    let needs_buyer_vat = categories.iter().any(|c| *c == "AE" || *c == "K");
    let seller = if outside_scope {
        json!({"name": format!("Seller {}", random.pick(WORDS)), "country": "FR"})
    } else {
        let (country, id) = *random.pick(&buyer_ids());
        json!({"name": format!("Seller {}", random.pick(WORDS)), "country": country,
               "tax_id": id, "address": {"city": random.pick(WORDS).to_string()}})
    };
    let mut request = json!({
        "currency": currency,
        "order_id": format!("R-{}", random.next() % 1_000_000),
        "prices_include_tax": random.chance(50),
    });
    if needs_buyer_vat || random.chance(60) {
        let (country, id) = *random.pick(&buyer_ids());
        let mut buyer = json!({"kind": "company", "name": format!("Buyer {}", random.pick(WORDS)),
                               "country": country});
        if (needs_buyer_vat || random.chance(50)) && !outside_scope {
            buyer["tax_id"] = json!(id);
        }
        if random.chance(40) {
            buyer["address"] = json!({"line": random.pick(WORDS).to_string(),
                                      "postal_code": random.decimal(99_999, 0)});
        }
        if random.chance(30) {
            buyer["email"] = json!("buyer@example.com");
        }
        request["buyer"] = buyer;
    }
    if categories.contains(&"K") || random.chance(20) {
        request["delivery"] =
            json!({"country": random.pick(&["FR", "DE", "IT", "NL"]).to_string()});
    }
    let count = 1 + random.below(6);
    let rates: Vec<&str> = (0..2).map(|_| *random.pick(STANDARD_RATES)).collect();
    let mut lines = Vec::new();
    for index in 0..count {
        let category = *random.pick(&categories);
        let rate = match category {
            "S" => *random.pick(&rates),
            "O" => "",
            _ => "0",
        };
        let quantity_decimals = *random.pick(&[0, 0, 0, 1, 2, 3, 6]);
        let mut quantity = random.decimal(20, quantity_decimals);
        if quantity.trim_start_matches(['0', '.']).is_empty() && random.chance(70) {
            quantity = "1".into();
        }
        let max_whole = *random.pick(&[0, 9, 99, 999, 99_999]);
        let price_decimals = digits + random.below(5) as u32;
        let price = random.decimal(max_whole, price_decimals);
        // A later line may be a discount: a negative quantity.
        if index > 0 && random.chance(20) {
            quantity = format!("-{quantity}");
            if quantity.trim_start_matches(['-', '0', '.']).is_empty() {
                quantity = "-1".into();
            }
        }
        let mut value = line(
            random.pick::<&str>(WORDS),
            &quantity,
            &price,
            category,
            rate,
        );
        value["unit_code"] = json!(random.pick(UNIT_CODES).to_string());
        lines.push(value);
    }
    request["lines"] = Value::Array(lines);
    (request, seller)
}

// ---------------------------------------------------------------------------------------------
// The test.

#[test]
fn every_export_passes_the_official_en16931_rules() {
    python(); // fail fast, before generating anything
    let dir = scratch_dir("ubl-conformance");
    let mut files = 0usize;
    let mut write = |name: &str, xml: &str| {
        std::fs::write(dir.join(format!("{name}.xml")), xml).expect("writes the XML");
        files += 1;
    };

    // 1. Hand-written cases.
    let mut n = 1;
    for case in hand_written() {
        let merchant = merchant(case.seller.clone(), &[&case.request], case.terms);
        let document = final_document(&case.request, &merchant, n);
        write(case.name, &export(&document));
        n += 1;
    }

    // 2. One buyer per tax-ID scheme.
    for (country, id) in buyer_ids() {
        let request = json!({"currency": "EUR", "order_id": format!("ID-{country}"),
            "buyer": {"kind": "company", "name": "Buyer", "country": country, "tax_id": id},
            "lines": [line("x", "1", "10", "S", "19")]});
        let merchant = merchant(vat_seller(), &[&request], None);
        write(
            &format!("buyer-id-{country}"),
            &export(&final_document(&request, &merchant, n)),
        );
        n += 1;
    }

    // 3. Every currency we invoice in: exported if EN 16931 can express it, refused if not.
    let mut refused = Vec::new();
    for code in all_currencies() {
        let digits = Currency::from_code(&code).map_or(0, Currency::minor_digits);
        let price = if digits == 0 {
            "100".to_string()
        } else {
            format!("1.{}", "5".repeat(digits as usize))
        };
        let request = json!({"currency": code, "order_id": format!("CUR-{code}"),
            "lines": [line("x", "3", &price, "S", "19")]});
        let merchant = merchant(vat_seller(), &[&request], None);
        let document = final_document(&request, &merchant, n);
        n += 1;
        match to_ubl(&document) {
            Ok(xml) => {
                assert!(digits <= 2, "{code} has {digits} decimals and was exported");
                write(&format!("currency-{code}"), &xml);
            }
            Err(error) => {
                assert_eq!(error.code(), Code::CurrencyNotSupportedByEn16931, "{code}");
                assert!(
                    digits > 2 || NOT_IN_EN16931_CODE_LIST.contains(&code.as_str()),
                    "{code}"
                );
                refused.push(code);
            }
        }
    }
    assert!(refused.contains(&"KWD".to_string()) && refused.contains(&"CLF".to_string()));

    // 4. Seeded random invoices, each with a credit note (from a generator of its own, so the
    // invoices stay the ones they were).
    let mut random = Random(SEED);
    let mut credit_random = Random(SEED ^ 381);
    let (mut credit_notes, mut credit_kinds, mut credit_categories) =
        (0usize, BTreeSet::new(), BTreeSet::new());
    let mut generated_count = 0;
    let mut attempts = 0;
    while generated_count < GENERATED {
        attempts += 1;
        assert!(
            attempts < GENERATED * 5,
            "the generator makes too few valid requests"
        );
        let (mut request, seller) = generated(&mut random);
        let merchant = merchant(seller, &[&request], random.chance(50).then_some("Net 30"));
        // First issue unpaid to learn the gross, then pay none, part or all of it.
        let Ok(unpaid) = sign(&request, &merchant, n) else {
            continue; // e.g. NEGATIVE_TOTAL: discounts larger than the rest
        };
        let gross = unpaid.invoice.totals.gross;
        let paid_units = match random.below(3) {
            0 => 0,
            1 => gross.units(),
            _ => random.below(gross.units().max(1) as u64) as i128,
        };
        let paid = invoice_edge_core::Money::from_units(paid_units, gross.minor_digits())
            .expect("paid fits");
        request["paid_amount"] = json!(paid.to_string());
        let signed = sign(&request, &merchant, n).unwrap_or_else(|e| panic!("{request}: {e}"));
        let document = finalize_signed(signed, n);
        write(
            &format!("generated-{generated_count:03}"),
            &export(&document),
        );
        // A credit note of it (docs/UBL.md, "Credit notes"): full, partial or an allowance.
        if let Some((kind, note)) = credit_note(&document, &merchant, &mut credit_random, n) {
            write(
                &format!("credit-{generated_count:03}-{kind}"),
                &export(&note),
            );
            credit_kinds.insert(kind);
            for group in &note.invoice.tax_breakdown {
                credit_categories.insert(group.tax_category.as_str());
            }
            credit_notes += 1;
        }
        // The request beside its XML, to reproduce a failure by hand.
        std::fs::write(
            dir.join(format!("generated-{generated_count:03}.json")),
            request.to_string(),
        )
        .expect("writes the request");
        generated_count += 1;
        n += 1;
    }

    assert!(credit_notes >= 200, "only {credit_notes} credit notes");
    assert_eq!(
        credit_kinds.into_iter().collect::<Vec<_>>(),
        ["allowance", "full", "partial"]
    );
    for category in ["S", "Z", "E", "AE", "K", "G"] {
        assert!(
            credit_categories.contains(category),
            "no {category} credit note"
        );
    }

    // 5. One validator run over everything, with the official examples as a sanity check.
    let (status, report) = validate(&[&dir], &["--examples"]);
    println!("{report}");
    let summary = report.lines().last().unwrap_or_default().to_string();
    assert_eq!(
        status,
        0,
        "fatal EN 16931 assertions (files in {}):\n{report}",
        dir.display()
    );
    assert!(
        summary.starts_with(&format!("validated {} files: 0 fatal", files + 15)),
        "{summary}"
    );
    remove_unless_kept(&dir);
}

/// Every ISO 4217 code the core invoices in.
fn all_currencies() -> Vec<String> {
    let mut codes = Vec::new();
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            for c in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b, c]).unwrap_or_default();
                if Currency::from_code(&code).is_some() {
                    codes.push(code);
                }
            }
        }
    }
    codes
}

/// The validator is only worth its green if it turns red: a removed BT-1, and each currency we
/// refuse as missing from the EN 16931 code list, must each be reported fatal.
#[test]
fn the_validator_catches_what_the_rules_forbid() {
    let dir = scratch_dir("ubl-negative");
    let request = json!({"currency": "EUR", "order_id": "NEG-1",
        "lines": [line("x", "1", "10", "S", "19")]});
    let merchant = merchant(vat_seller(), &[&request], None);
    let document = final_document(&request, &merchant, 1);
    let xml = to_ubl(&document).expect("exports");
    let number = document
        .final_
        .as_ref()
        .map(|f| f.number.clone())
        .unwrap_or_default();

    let mut expected = Vec::new();
    let no_number = xml.replace(&format!("<cbc:ID>{number}</cbc:ID>"), "");
    std::fs::write(dir.join("no-number.xml"), no_number).unwrap();
    expected.push(("no-number.xml".to_string(), "BR-02"));
    for code in NOT_IN_EN16931_CODE_LIST {
        let name = format!("currency-{code}.xml");
        std::fs::write(dir.join(&name), xml.replace("EUR", code)).unwrap();
        expected.push((name, "BR-CL-04"));
    }

    let (status, report) = validate(&[&dir], &["--quiet-warnings"]);
    assert_eq!(status, 1, "{report}");
    for (name, rule) in expected {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("FATAL") && l.contains(&name) && l.contains(rule)),
            "{name} should fail {rule}:\n{report}"
        );
    }
    remove_unless_kept(&dir);
}
