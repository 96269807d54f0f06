//! The workflow model: the shop's file and its Rust form are one value, and
//! every rule fires on a file that breaks it, naming line, field and rule.

use super::*;

/// The shop in Rust, declared as `workflows/shop.toml` declares it.
fn shop_in_rust() -> Workflow {
    Workflow::builder(
        "shop",
        "the shop: stock, then payment, then shipping (the pivot), then points and a notification",
    )
    .cancel_until("ship")
    .participant("order", "owns each order's state")
    .participant("inventory", "stock per SKU")
    .participant("payment", "each order's payment, through the gateway")
    .participant("points", "loyalty points per customer")
    .participant("notification", "the messages sent to customers")
    .participant("shipping", "the warehouse: ships an order, or cannot")
    .gateway("gateway")
    .quantity("stock", "inventory", &[Dim::Sku], true, Initial::Drawn(Draw::Stock))
    .quantity("points", "points", &[Dim::Customer], true, Initial::Value(0))
    .quantity("notifications", "notification", &[Dim::Customer], false, Initial::Value(0))
    .take("deduct-stock", "inventory", Per::Line, "stock", Amount::Units)
    .charge("charge", "payment", "gateway", Amount::OrderAmount)
    .record("ship", "shipping", "shipment", &["undeliverable"])
    .give("award-points", "points", Per::Order, "points", Amount::OrderPoints)
    .give("notify", "notification", Per::Order, "notifications", Amount::Fixed(1))
    .irreversible()
    .step("stock", "deduct-stock")
    .step("payment", "charge")
    .pivot("ship", "ship")
    .step("points", "award-points")
    .step("notify", "notify")
    .machine(
        "order",
        "order",
        &["pending", "completed", "cancelled"],
        &["pending", "cancelled"],
        &[("pending", "completed"), ("pending", "cancelled")],
        &["completed", "cancelled"],
    )
    .machine(
        "payment",
        "payment",
        &["charging", "charged", "declined", "refunding", "refunded", "authorizing", "authorized", "voided"],
        &["charging", "refunding", "authorizing", "voided"],
        &[
            ("charging", "charged"),
            ("charging", "declined"),
            ("charging", "refunding"),
            ("charged", "refunding"),
            ("declined", "refunding"),
            ("declined", "voided"),
            ("refunding", "refunded"),
            ("authorizing", "authorized"),
            ("authorizing", "declined"),
            ("authorizing", "voided"),
            ("authorized", "charged"),
            ("authorized", "voided"),
        ],
        &["refunded", "voided"],
    )
    .build()
    .unwrap()
}

#[test]
fn the_shop_file_and_the_shop_in_rust_are_one_value() {
    assert_eq!(*builtin::shop(), shop_in_rust());
    assert_eq!(builtin::DEFAULT, "shop");
    assert!(builtin::named("nope").is_none());
}

#[test]
fn engines_derive_every_action_from_the_declared_effect() {
    let shop = builtin::shop();
    let d = |name: &str| shop.operation(name).unwrap().derived();
    let stock = d("deduct-stock");
    assert_eq!(stock.action, "take units of stock per line if enough");
    assert_eq!(stock.undo.as_deref(), Some("give the units back to stock"));
    assert_eq!(stock.hold, "move units of stock to stock.held if enough");
    assert_eq!(d("charge").hold, "authorize order.amount at gateway");
    assert_eq!(d("charge").confirm, "capture the authorization");
    assert_eq!(d("notify").undo, None, "declared irreversible");
    assert_eq!(d("ship").undo, None, "a record cannot be undone");
    assert_eq!(d("ship").action, "record the shipment once unless undeliverable");
    assert_eq!(shop.pivot(), Some(2));
}

/// The shop's file with `from` replaced by `to` (exactly once).
fn shop_with(from: &str, to: &str) -> String {
    let text = include_str!("../../workflows/shop.toml");
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once");
    text.replacen(from, to, 1)
}

/// The line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

#[test]
fn a_bad_file_gets_one_line_naming_file_line_field_and_rule() {
    // (change, the text on the line to blame, the field, part of the rule)
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        (
            "at = \"points\"\nkey",
            "at = \"pointz\"\nkey",
            "at = \"pointz\"",
            "quantity \"points\": at",
            "unknown participant \"pointz\"; participants: order, inventory",
        ),
        (
            "give = { quantity = \"points\", amount = \"order.points\" }",
            "give = { amount = \"order.points\" }",
            "give = {",
            "operation \"award-points\": give",
            "give moves a quantity: name it",
        ),
        (
            "quantity = \"points\", amount",
            "quantity = \"karma\", amount",
            "give = { quantity = \"karma\"",
            "operation \"award-points\": quantity",
            "unknown quantity \"karma\"",
        ),
        (
            "name = \"notify\"\noperation",
            "name = \"notify\"\noperation = \"notify\"\npivot = false\n#",
            "name = \"notify\"\noperation",
            "",
            "",
        ),
        (
            "operation = \"award-points\"",
            "operation = \"award\"",
            "operation = \"award\"",
            "step \"points\": operation",
            "unknown operation \"award\"; operations: deduct-stock, charge",
        ),
        (
            "amount = \"units\"",
            "amount = \"pieces\"",
            "amount = \"pieces\"",
            "operation \"deduct-stock\": amount",
            "unknown amount \"pieces\"",
        ),
        (
            "per = \"line\"\n",
            "",
            "name = \"deduct-stock\"",
            "operation \"deduct-stock\": per",
            "only an order line says",
        ),
        (
            "pivot = true",
            "pivot = false",
            "operation = \"ship\"\npivot",
            "step \"ship\": operation",
            "cannot be undone, and with no pivot",
        ),
        (
            "final = [\"refunded\", \"voided\"]",
            "final = [\"refunded\", \"voided\", \"gone\"]",
            "final = [\"refunded\", \"voided\", \"gone\"]",
            "machine \"payment\": final",
            "unknown state \"gone\"",
        ),
        (
            "[\"pending\", \"completed\"], [",
            "[\"completed\", \"pending\"], [",
            "edges = [[\"completed\"",
            "machine \"order\": edges",
            "leaves completed, a final state",
        ),
        (
            "cancel_until = \"ship\"",
            "cancel_until = \"shipping\"",
            "cancel_until",
            "cancel_until",
            "unknown step \"shipping\"",
        ),
        (
            "kind = \"payment-gateway\"",
            "kind = \"bank\"",
            "kind = \"bank\"",
            "external \"gateway\": kind",
            "unknown kind \"bank\"",
        ),
        (
            "initial = \"stock\"",
            "initial = \"plenty\"",
            "initial = \"plenty\"",
            "quantity \"stock\": initial",
            "a workload range to draw from: stock, balance",
        ),
        (
            "name = \"shipping\"\nabout",
            "name = \"Shipping\"\nabout",
            "name = \"Shipping\"",
            "participant \"Shipping\": name",
            "lowercase",
        ),
        (
            "charge = { party = \"gateway\"",
            "charge = { party = \"bank\"",
            "charge = { party = \"bank\"",
            "operation \"charge\": party",
            "unknown party \"bank\"; externals: gateway",
        ),
        (
            "states = [\"pending\", \"completed\", \"cancelled\"]",
            "states = [\"pending\", \"completed\", \"cancelled\", \"x\"]\nstaets = 1",
            "staets",
            "",
            "unknown field `staets`",
        ),
    ];
    for (from, to, blamed, field, rule) in cases {
        let text = shop_with(from, to);
        let got = file::parse("team.toml", &text);
        if field.is_empty() && rule.is_empty() {
            assert!(got.is_ok(), "{to:?} is fine: {got:?}");
            continue;
        }
        let e = got.expect_err(to);
        assert_eq!(e.file, "team.toml");
        assert_eq!(e.line, line_of(&text, blamed), "{to:?}: {e}");
        assert_eq!(e.field, *field, "{to:?}: {e}");
        assert!(e.rule.contains(rule), "{to:?}: {e}");
        let line = e.to_string();
        assert!(line.starts_with(&format!("team.toml:{}: ", e.line)) && !line.contains('\n'), "{line}");
    }
}

#[test]
fn a_step_after_the_pivot_that_can_be_refused_is_refused() {
    // Stock after shipping: out of stock is a refusal an engine could not undo.
    let text = shop_with(
        "name = \"stock\"\noperation = \"deduct-stock\"\n\n",
        "",
    )
    .replacen("name = \"notify\"\noperation = \"notify\"\n", "name = \"notify\"\noperation = \"notify\"\n\n[[step]]\nname = \"stock\"\noperation = \"deduct-stock\"\n", 1)
    .replacen("[[step]]\n[[step]]", "[[step]]", 1);
    let e = file::parse("late.toml", &text).unwrap_err();
    assert_eq!(e.field, "step \"stock\": operation", "{e}");
    assert!(e.rule.contains("after the pivot can only be retried"), "{e}");
}

#[test]
fn files_that_are_not_workflows_are_refused_in_one_line() {
    for (text, rule) in [
        ("", "missing field `name`"),
        ("name = \"x\"\n[[step]", "invalid"),
        ("name = \"x\"", "at least one participant"),
        ("name = \"x\"\n[[participant]]\nname = \"a\"\n", "at least one step"),
    ] {
        let e = file::parse("f.toml", text).unwrap_err();
        assert!(e.rule.contains(rule), "{text:?}: {e}");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
    let huge = "#".repeat(file::MAX_BYTES + 1);
    assert!(file::parse("f.toml", &huge).unwrap_err().rule.contains("at most"));
}

#[test]
fn the_builder_and_the_file_share_their_rules() {
    let e = Workflow::builder("x", "")
        .participant("a", "")
        .give("g", "b", Per::Order, "q", Amount::Fixed(1))
        .build()
        .unwrap_err();
    assert_eq!(e.to_string(), "operation \"g\": at: unknown participant \"b\"; participants: a");
}

#[test]
fn a_cache_is_declared_on_a_quantity_it_can_check() {
    let flash = include_str!("../../workflows/cached-flash-sale.toml");
    let w = file::parse("flash.toml", flash).unwrap();
    assert_eq!(w.quantity("stock").unwrap().cache, Some(Cache { sync_ms: 1_000, aof_sync_ms: None }));
    let with = |from: &str, to: &str| flash.replacen(from, to, 1);
    for (text, blamed, rule) in [
        (
            with("never_negative = true\ninitial = \"stock\"", "initial = \"stock\""),
            "cache = {",
            "a cached quantity is never_negative",
        ),
        (with("cache = { sync_ms = 1000 }", "cache = { sync_ms = 0 }"), "cache = {", "sync_ms = 0: the store is synced every 1 to 60000 ms"),
        (
            with("cache = { sync_ms = 1000 }", "cache = { sync_ms = 1000, aof_sync_ms = 90000 }"),
            "cache = {",
            "aof_sync_ms = 90000",
        ),
        (with("cache = { sync_ms = 1000 }", "cache = { sync_ms = 1000, ttl = 5 }"), "cache = {", "unknown field `ttl`"),
        (
            with(
                "[[quantity]]\nname = \"points\"",
                "[[quantity]]\nname = \"reserve\"\nat = \"warehouse\"\nkey = [\"sku\"]\nnever_negative = true\ninitial = 0\ncache = { sync_ms = 5 }\n\n[[quantity]]\nname = \"points\"",
            ),
            "cache = { sync_ms = 5 }",
            "warehouse keeps stock in its cache already",
        ),
    ] {
        let e = file::parse("flash.toml", &text).expect_err(rule);
        assert!(e.rule.contains(rule), "{e}");
        assert_eq!(e.line, line_of(&text, blamed), "{e}");
    }
}
