//! Alert delivery to real receivers started by the test: a webhook over HTTP (retried after a
//! 500, signed with HMAC-SHA256, in the plain, Slack and Teams formats) and email over SMTP to
//! a local server (aiosmtpd), the message parsed and checked.

use std::time::Duration;

use csx_node::alerts::deliver::email::Mailer;
use csx_node::alerts::deliver::webhook::{Sent, Webhook};
use csx_node::alerts::deliver::{Outbox, Sender};
use csx_node::alerts::settings::{AlertsConfig, Delivery, EmailTarget, Security, Smtp, WebhookFormat, WebhookTarget};
use csx_node::alerts::{Alert, Raised, Rule};
use csx_tests::sinks::{WebhookSink, signature_valid, smtp_sink};
use csx_tests::wait_until;

fn sender() -> Sender {
    Sender { ods: "QW1".into(), name: "NHS QW1 ICB".into() }
}

fn alert(seq: u64, title: &str) -> Alert {
    Alert {
        seq,
        at: 1_780_000_000_000,
        raised: Raised {
            key: format!("switch_away:{seq}"),
            rule: Rule::SwitchAway,
            title: title.to_string(),
            text: "NHS QW2 ICB switches BI from Provider 0DE to in house. Reasons: cost <&> quality.".into(),
            service_line: Some("BI".into()),
            provider: Some("0DE".into()),
            records: vec![],
            authors: vec!["NHS QW2 ICB (QW2)".into()],
            link: Some("/switching?service_line=BI".into()),
        },
        url: Some("https://csx.example.nhs.uk/switching?service_line=BI".into()),
    }
}

fn quick() -> Delivery {
    Delivery { attempts: 4, backoff_ms: 50, queue: 100, timeout_secs: 5 }
}

fn secret_file(dir: &std::path::Path, secret: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("webhook.secret");
    std::fs::write(&p, secret).expect("secret");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_retried_after_a_500_and_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = WebhookSink::start(2);
    let target = WebhookTarget {
        name: "contracts".into(),
        url: sink.url("/hook"),
        format: WebhookFormat::Json,
        secret_file: secret_file(dir.path(), "s3cret-shared-with-the-receiver\n"),
        rules: vec![],
    };
    let hook = Webhook::new(&target, &quick(), sender()).expect("webhook");
    let a = alert(7, "NHS QW2 ICB is leaving Provider 0DE for BI");
    assert_eq!(hook.deliver(&a).await, Sent::Delivered { attempt: 3 });
    let hits = sink.hits();
    assert_eq!(hits.iter().map(|h| h.status).collect::<Vec<_>>(), vec![500, 500, 200]);
    for h in &hits {
        // The secret file's trailing newline is not part of the secret.
        assert!(signature_valid(h, b"s3cret-shared-with-the-receiver"), "signature of {h:?}");
        assert!(!signature_valid(h, b"another secret"));
        assert_eq!(h.header("content-type"), Some("application/json"));
        assert_eq!(h.header("x-csx-rule"), Some("switch_away"));
        assert_eq!(h.header("x-csx-alert"), Some("7"));
    }
    // Same body each try; a body changed in transit fails the check.
    assert!(hits.windows(2).all(|w| w[0].body == w[1].body));
    let mut tampered = hits[2].clone();
    tampered.body = String::from_utf8(tampered.body).expect("utf8").replace("0DE", "0CX").into_bytes();
    assert!(!signature_valid(&tampered, b"s3cret-shared-with-the-receiver"));
    let v = hits[2].json();
    assert_eq!(v["csx_alert"], 1);
    assert_eq!(v["member"]["ods"], "QW1");
    assert_eq!(v["alert"]["seq"], 7);
    assert_eq!(v["alert"]["rule"], "switch_away");
    assert_eq!(v["alert"]["title"], "NHS QW2 ICB is leaving Provider 0DE for BI");
    assert_eq!(v["alert"]["url"], "https://csx.example.nhs.uk/switching?service_line=BI");

    // A 4xx is not retried; an unreachable receiver is given up after the configured tries.
    let refusing = WebhookSink::start(0);
    let gone =
        WebhookTarget { url: format!("http://127.0.0.1:{}/x", csx_tests::process::free_port()), ..target.clone() };
    let hook = Webhook::new(&gone, &quick(), sender()).expect("webhook");
    match hook.deliver(&a).await {
        Sent::GaveUp { attempts: 4, last } => assert_eq!(last, "cannot connect"),
        other => panic!("expected to give up after 4 tries: {other:?}"),
    }
    drop(refusing);
    // An unsigned webhook sends no signature headers.
    let unsigned = WebhookTarget { secret_file: String::new(), url: sink.url("/unsigned"), ..target };
    let hook = Webhook::new(&unsigned, &quick(), sender()).expect("webhook");
    assert_eq!(hook.deliver(&a).await, Sent::Delivered { attempt: 1 });
    let h = sink.delivered("/unsigned").pop().expect("delivered");
    assert_eq!((h.header("x-csx-signature"), h.header("x-csx-timestamp")), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_others_can_read_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    let f = secret_file(dir.path(), "x");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let target = WebhookTarget { url: "http://127.0.0.1:9/".into(), secret_file: f.clone(), ..Default::default() };
    let err = Webhook::new(&target, &quick(), sender()).expect_err("refused");
    assert!(err.contains(&f) && err.contains("chmod 600"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_teams_payloads() {
    let sink = WebhookSink::start(0);
    let a = alert(3, "NHS QW2 ICB is leaving Provider 0DE for BI");
    for (path, format) in [("/slack", WebhookFormat::Slack), ("/teams", WebhookFormat::Teams)] {
        let target = WebhookTarget { url: sink.url(path), format, ..Default::default() };
        let hook = Webhook::new(&target, &quick(), sender()).expect("webhook");
        assert_eq!(hook.deliver(&a).await, Sent::Delivered { attempt: 1 });
    }
    let slack = sink.delivered("/slack").pop().expect("slack").json();
    // Slack's incoming webhook: `text` as the notification's fallback, mrkdwn blocks, the
    // link as <url|label>, and &, <, > escaped.
    assert_eq!(slack["text"], "csx · NHS QW1 ICB (QW1): NHS QW2 ICB is leaving Provider 0DE for BI");
    let blocks = slack["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "context");
    assert_eq!(blocks[1]["type"], "section");
    let text = blocks[1]["text"]["text"].as_str().expect("mrkdwn");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert!(text.starts_with("*NHS QW2 ICB is leaving Provider 0DE for BI*\n"), "{text}");
    assert!(text.contains("cost &lt;&amp;&gt; quality"), "{text}");
    assert!(text.ends_with("<https://csx.example.nhs.uk/switching?service_line=BI|Open in csx>"), "{text}");

    let teams = sink.delivered("/teams").pop().expect("teams").json();
    // Teams: a `message` with one Adaptive Card attachment.
    assert_eq!(teams["type"], "message");
    let att = &teams["attachments"][0];
    assert_eq!(att["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &att["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["body"][1]["text"], "NHS QW2 ICB is leaving Provider 0DE for BI");
    assert!(card["body"][2]["text"].as_str().expect("text").contains("cost <&> quality"));
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(card["actions"][0]["url"], "https://csx.example.nhs.uk/switching?service_line=BI");
}

fn smtp(port: u16) -> Smtp {
    Smtp {
        host: "127.0.0.1".into(),
        port,
        security: Security::Plain,
        username: String::new(),
        password_file: String::new(),
        from: "csx QW1 <csx@qw1.example.nhs.uk>".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_local_smtp_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = smtp_sink(&dir.path().join("mail"));
    let target = EmailTarget {
        name: "contracts".into(),
        to: vec!["Contracts team <contracts@qw1.example.nhs.uk>".into(), "cfo@qw1.example.nhs.uk".into()],
        digest_minutes: 0,
        rules: vec![],
    };
    let mailer = Mailer::new(&smtp(server.port), &target, &quick(), sender()).expect("mailer");
    let a = alert(5, "NHS QW2 ICB is leaving Provider 0DE for BI");
    assert_eq!(mailer.send(std::slice::from_ref(&a)).await, Ok(1));
    let b = alert(6, "You pay more than most for Business intelligence (2024/25)");
    assert_eq!(mailer.send(&[a.clone(), b]).await, Ok(1));
    let msgs = server.messages();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    let m = &msgs[0];
    assert_eq!(m["mail_from"], "csx@qw1.example.nhs.uk");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["contracts@qw1.example.nhs.uk", "cfo@qw1.example.nhs.uk"]));
    assert_eq!(m["subject"], "[csx] NHS QW2 ICB is leaving Provider 0DE for BI");
    assert_eq!(m["content_type"], "text/plain");
    let body = m["body"].as_str().expect("body");
    assert!(body.starts_with("NHS QW2 ICB is leaving Provider 0DE for BI\n\nNHS QW2 ICB switches BI"), "{body}");
    assert!(body.contains("Open in csx: https://csx.example.nhs.uk/switching?service_line=BI"), "{body}");
    assert!(body.contains("Rule: switch_away · alert 5"), "{body}");
    assert!(body.contains("Sent by the csx node of NHS QW1 ICB (QW1)"), "{body}");
    // The digest: one message, both alerts.
    let d = &msgs[1];
    assert_eq!(d["subject"], "[csx] 2 alerts");
    let body = d["body"].as_str().expect("body");
    assert!(body.starts_with("2 alerts for NHS QW1 ICB (QW1):"), "{body}");
    assert!(body.contains("* NHS QW2 ICB is leaving") && body.contains("* You pay more than most"), "{body}");

    // A STARTTLS target against a server that offers no STARTTLS sends nothing in clear.
    let tls = Smtp { security: Security::Starttls, ..smtp(server.port) };
    let once = Delivery { attempts: 1, ..quick() };
    let mailer = Mailer::new(&tls, &target, &once, sender()).expect("mailer");
    assert!(mailer.send(&[a]).await.is_err());
    assert_eq!(server.messages().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_sends_a_digest_and_each_target_only_its_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = smtp_sink(&dir.path().join("mail"));
    let sink = WebhookSink::start(0);
    let config = AlertsConfig {
        delivery: quick(),
        smtp: smtp(server.port),
        webhooks: vec![
            WebhookTarget { url: sink.url("/all"), ..Default::default() },
            WebhookTarget { url: sink.url("/motions"), rules: vec!["motion_carried".into()], ..Default::default() },
        ],
        email: vec![EmailTarget { to: vec!["a@qw1.example.nhs.uk".into()], ..Default::default() }],
        ..AlertsConfig::default()
    };
    let (outbox, problems) = Outbox::start(&config, sender());
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(outbox.targets(), 3);
    outbox.send(&alert(1, "first"));
    outbox.send(&alert(2, "second"));
    wait_until("both alerts by webhook and email", Duration::from_secs(20), || {
        sink.delivered("/all").len() == 2 && server.messages().len() == 2
    })
    .await;
    // The switch rule is not the motions webhook's.
    assert!(sink.delivered("/motions").is_empty());
    let subjects: Vec<String> =
        server.messages().iter().map(|m| m["subject"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(subjects, vec!["[csx] first", "[csx] second"]);
}
