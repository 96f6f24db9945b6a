//! Bearer tokens (docs/ARCHITECTURE.md, "Origin ledger protocol"): every ledger route needs the edge's
//! token, `/metrics` its own; the origin holds only their SHA-256 digests, two at once during a
//! rotation, reloaded on SIGHUP.

use serde_json::json;

use crate::helpers::*;

/// PUT, GET and batch with this credential.
fn ledger_calls(origin: &Origin, document: &serde_json::Value, auth: Auth<'_>) -> Vec<Reply> {
    let id = id_of(document);
    vec![
        origin
            .call(
                "PUT",
                &format!("/v1/ledger/invoices/{id}"),
                Some(&document.to_string()),
                auth,
            )
            .unwrap(),
        origin
            .call("GET", &format!("/v1/ledger/invoices/{id}"), None, auth)
            .unwrap(),
        origin
            .call(
                "POST",
                "/v1/ledger/batch",
                Some(&json!({ "documents": [document] }).to_string()),
                auth,
            )
            .unwrap(),
    ]
}

fn assert_refused(replies: &[Reply], code: &str) {
    for reply in replies {
        reply.assert_problem(401, code);
        assert_eq!(
            reply.www_authenticate.as_deref(),
            Some("Bearer"),
            "{reply:?}"
        );
    }
}

#[test]
fn every_ledger_route_needs_the_edge_token_and_metrics_its_own() {
    let setup = Setup::new();
    let origin = setup.start();
    let mut series = SeriesWriter::new(&setup.edge, &merchant("demo", &["DEMO"]), "DEMO");
    let document = series.next("T-1");

    assert_refused(
        &ledger_calls(&origin, &document, Auth::Nothing),
        "UNAUTHENTICATED",
    );
    assert_refused(
        &ledger_calls(
            &origin,
            &document,
            Auth::Header(&format!("Basic {}", setup.edge_token)),
        ),
        "UNAUTHENTICATED",
    );
    assert_refused(
        &ledger_calls(&origin, &document, Auth::Bearer(&new_token())),
        "LEDGER_TOKEN_INVALID",
    );
    // The digest itself is not the token.
    assert_refused(
        &ledger_calls(
            &origin,
            &document,
            Auth::Bearer(&token_digest(&setup.edge_token)),
        ),
        "LEDGER_TOKEN_INVALID",
    );
    // The metrics token cannot write (or read) the ledger.
    assert_refused(
        &ledger_calls(&origin, &document, Auth::Metrics),
        "LEDGER_TOKEN_INVALID",
    );
    // Nothing was archived by any of them.
    assert_eq!(origin.health()["ledger_size"], 0);

    // With the edge token (the scheme is case-insensitive): PUT, GET and batch work.
    let lower = format!("bearer {}", setup.edge_token);
    let replies = ledger_calls(&origin, &document, Auth::Header(&lower));
    assert_eq!(replies[0].status, 201, "{}", replies[0].text);
    assert_eq!(replies[1].status, 200, "{}", replies[1].text);
    assert_eq!(replies[1].json["final"], replies[0].json);
    assert_eq!(replies[2].results()[0]["status"], 200);

    // /metrics: its own token only.
    for (auth, code) in [
        (Auth::Nothing, "UNAUTHENTICATED"),
        (Auth::Edge, "LEDGER_TOKEN_INVALID"),
        (Auth::Bearer("nope"), "LEDGER_TOKEN_INVALID"),
    ] {
        origin
            .call("GET", "/metrics", None, auth)
            .unwrap()
            .assert_problem(401, code);
    }
    let metrics = origin.metrics();
    assert!(
        metrics.contains(
            "origin_http_requests_total{method=\"PUT\",route=\"/v1/ledger/invoices/{id}\",status=\"401\"} 5"
        ),
        "{metrics}"
    );
    // Health and the origin's JWKS are open to anyone.
    for path in ["/v1/health", "/.well-known/jwks.json"] {
        let reply = origin.call("GET", path, None, Auth::Nothing).unwrap();
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    }
}

#[test]
fn metrics_is_closed_without_a_metrics_tokens_file() {
    let setup = Setup::new();
    let origin = setup.try_start(&setup.serve_args(false)).unwrap();
    for auth in [Auth::Metrics, Auth::Edge, Auth::Nothing] {
        let reply = origin.call("GET", "/metrics", None, auth).unwrap();
        assert_eq!(reply.status, 401, "{}", reply.text);
        assert!(reply.text.contains("--metrics-tokens"), "{}", reply.text);
    }
    // The ledger routes work as usual.
    let document = documents(&setup.edge, "N", 1).remove(0);
    assert_eq!(origin.put(&document).status, 201);
}

#[test]
fn an_edge_token_rotates_with_two_digests_and_sighup() {
    let setup = Setup::new();
    let origin = setup.start();
    let old = setup.edge_token.clone();
    let new = new_token();
    let mut series = SeriesWriter::new(&setup.edge, &merchant("demo", &["DEMO"]), "DEMO");
    let put = |document: &serde_json::Value, token: &str| {
        origin
            .call(
                "PUT",
                &format!("/v1/ledger/invoices/{}", id_of(document)),
                Some(&document.to_string()),
                Auth::Bearer(token),
            )
            .unwrap()
    };
    let read = |token: &str| {
        origin
            .call(
                "GET",
                &format!("/v1/ledger/invoices/{}", new_id()),
                None,
                Auth::Bearer(token),
            )
            .unwrap()
            .status
    };
    assert_eq!(read(&new), 401);

    // Both digests: the edge may switch at any time.
    setup.edge_tokens(&[&old, &new]);
    origin.signal("HUP");
    eventually("the new token", || read(&new) == 404);
    assert_eq!(put(&series.next("R-1"), &old).status, 201);
    assert_eq!(put(&series.next("R-2"), &new).status, 201);

    // A broken tokens file keeps the tokens in force.
    std::fs::write(setup.path("edge-tokens.txt"), "not a digest\n").unwrap();
    origin.signal("HUP");
    eventually("the failed reload", || {
        setup.log().contains("--edge-tokens not reloaded")
    });
    assert_eq!(read(&old), 404);
    assert_eq!(read(&new), 404);

    // The rotation ends: only the new one.
    setup.edge_tokens(&[&new]);
    origin.signal("HUP");
    eventually("the old token to go", || read(&old) == 401);
    assert_eq!(read(&new), 404);
    let third = series.next("R-3");
    put(&third, &old).assert_problem(401, "LEDGER_TOKEN_INVALID");
    assert_eq!(put(&third, &new).status, 201);
    assert_eq!(origin.health()["ledger_size"], 3);
}
