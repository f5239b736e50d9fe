//! The reports people and bots read: markdown (a PR comment), HTML (in a
//! real headless browser), JUnit XML, several formats at once, and every
//! differing row as Parquet or CSV. Hostile names and values must come out
//! inert, and the comment must fit one GitHub comment.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use crate::common::*;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use dualrun::report::{Report, markdown};

const PROD: &str = "samples/orders_prod.csv";
const CANDIDATE: &str = "samples/orders_candidate.csv";

/// The three verdicts on the committed sample: (name, arguments).
fn verdict_runs() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "approved",
            vec![
                "diff",
                PROD,
                PROD,
                "--key",
                "order_id",
                "--name",
                "orders",
                "--rules",
                "rules/lenient.toml",
            ],
        ),
        (
            "rejected",
            vec![
                "diff",
                PROD,
                CANDIDATE,
                "--key",
                "order_id",
                "--name",
                "orders",
                "--rules",
                "samples/orders_rules.toml",
            ],
        ),
        (
            "error",
            vec![
                "diff",
                PROD,
                PROD,
                "--key",
                "order_id",
                "--name",
                "orders",
                "--no-stats",
                "--rules",
                "rules/lenient.toml",
            ],
        ),
    ]
}

fn run_format(args: &[&str], format: &str) -> (Output, String) {
    let mut all = args.to_vec();
    all.extend(["--format", format]);
    let output = dualrun(repo(), &all);
    let text = stdout(&output);
    (output, text)
}

/// The outline of an HTML page: headings, chart captions and how many
/// tables, rows and charts it has.
fn outline(html: &str) -> String {
    let mut lines = Vec::new();
    for (open, close) in [
        ("<h1>", "</h1>"),
        ("<h2>", "</h2>"),
        ("<h3>", "</h3>"),
        ("<figcaption>", "</figcaption>"),
    ] {
        let mut rest = html;
        while let Some(start) = rest.find(open) {
            let after = &rest[start + open.len()..];
            let end = after.find(close).unwrap();
            lines.push((
                html.len() - rest.len() + start,
                format!("{open}{}", &after[..end]),
            ));
            rest = &after[end..];
        }
    }
    lines.sort();
    let mut text: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
    text.push(format!(
        "tables: {}, rows: {}, charts: {}",
        html.matches("<table>").count(),
        html.matches("<tr>").count(),
        html.matches("<svg").count()
    ));
    text.join("\n")
}

#[test]
fn markdown_html_and_junit_of_each_verdict() {
    for (name, args) in verdict_runs() {
        let expected_code = match name {
            "approved" => 0,
            "rejected" => 1,
            _ => 2,
        };
        let (output, md) = run_format(&args, "markdown");
        assert_eq!(
            output.status.code(),
            Some(expected_code),
            "{name}: {}",
            stderr(&output)
        );
        assert!(md.starts_with("<!-- dualrun -->\n"), "{md}");
        insta::assert_snapshot!(format!("markdown_{name}"), md);

        let (_, xml) = run_format(&args, "junit");
        let document = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
        let suites = document.root_element();
        assert_eq!(suites.tag_name().name(), "testsuites");
        let cases = document
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        assert_eq!(suites.attribute("tests"), Some(cases.to_string().as_str()));
        insta::assert_snapshot!(format!("junit_{name}"), xml);

        let (_, html) = run_format(&args, "html");
        assert!(html.starts_with("<!doctype html>"));
        insta::assert_snapshot!(format!("html_{name}"), outline(&html));
    }
}

#[test]
fn junit_failures_and_errors_match_the_outcomes() {
    let (_, json) = run_format(&verdict_runs()[1].1, "json");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (_, xml) = run_format(&verdict_runs()[1].1, "junit");
    let document = roxmltree::Document::parse(&xml).unwrap();
    let count = |tag: &str| {
        document
            .descendants()
            .filter(|n| n.has_tag_name(tag))
            .count()
    };
    let status = |s: &str| {
        report["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["status"] == s)
            .count()
    };
    assert_eq!(count("failure"), status("fail"));
    assert_eq!(count("error"), status("error"));
    assert_eq!(count("system-out"), status("warn") + status("info"));
    let failure = document
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("duplicate keys")
    );
}

const EVIL: &str = "a|b`c <script>alert(1)</script></details> @org/team\nnext line";

/// A pair whose table name, column names and values are hostile.
fn hostile_pair(dir: &Path) {
    let long = "x".repeat(5_000);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(EVIL, DataType::Utf8, true),
        Field::new("note", DataType::Utf8, true),
    ]));
    let batch = |values: Vec<String>| {
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(values.clone())),
                Arc::new(StringArray::from(vec![
                    long.clone(),
                    EVIL.to_string(),
                    "ok".to_string(),
                ])),
            ],
        )
        .unwrap()
    };
    write_parquet(
        &dir.join("prod.parquet"),
        &[batch(vec!["same".into(), "old".into(), EVIL.into()])],
    );
    write_parquet(
        &dir.join("candidate.parquet"),
        &[batch(vec![
            "same".into(),
            EVIL.into(),
            format!("{EVIL}{long}"),
        ])],
    );
    std::fs::write(
        dir.join("rules.toml"),
        format!("[[rule]]\nname = {EVIL:?}\ncheck = \"rows_changed\"\nfail = 0.1\n"),
    )
    .unwrap();
}

#[test]
fn hostile_names_and_values_come_out_inert() {
    let dir = tempfile::tempdir().unwrap();
    hostile_pair(dir.path());
    let out = dir.path().join("out");
    let output = dualrun(
        dir.path(),
        &[
            "diff",
            "prod.parquet",
            "candidate.parquet",
            "--key",
            "id",
            "--name",
            EVIL,
            "--rules",
            "rules.toml",
            "--format",
            "markdown",
            "--format",
            "html",
            "--format",
            "junit",
            "--format",
            "json",
            "--output-dir",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();

    let md = read("report.md");
    assert!(!md.contains("<script"), "{md}");
    assert!(!md.contains("@org"), "a mention would ping: {md}");
    assert_eq!(
        md.matches("</details>").count(),
        1,
        "only our own block closes"
    );
    assert_eq!(md.matches("<details>").count(), 1);
    assert!(!md.contains('`'), "no backtick survives: {md}");
    assert!(md.contains("&lt;script&gt;"));
    // Every table row keeps its column count: no pipe or line break leaked.
    for block in md.split("\n\n") {
        let rows: Vec<&str> = block.lines().filter(|l| l.starts_with('|')).collect();
        if let Some(first) = rows.first() {
            let cells = first.matches('|').count();
            for row in &rows {
                assert_eq!(row.matches('|').count(), cells, "broken row: {row}");
            }
        }
    }
    // Long values are cut.
    assert!(!md.contains(&"x".repeat(200)));

    let html = read("report.html");
    assert!(!html.contains("<script"), "no script at all in the page");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("</details>"));
    assert_no_external_resource(&html);

    let xml = read("report.xml");
    let document = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suite = document
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(
        suite.attribute("name"),
        Some(EVIL),
        "names round-trip through escaping"
    );
}

#[test]
fn a_comment_for_two_hundred_tables_fits_with_a_note() {
    let output = orders_diff(&[
        "--name",
        "orders",
        "--rules",
        "samples/orders_rules.toml",
        "--format",
        "json",
        "--sample",
        "50",
    ]);
    let mut report: Report = serde_json::from_slice(&output.stdout).unwrap();
    let table = report.tables[0].clone();
    let outcomes = report.rules.clone();
    report.tables.clear();
    report.rules.clear();
    for i in 0..200 {
        let name = format!("mart_{i:03}_{}", "wide".repeat(10));
        let mut t = table.clone();
        t.name = name.clone();
        report.tables.push(t);
        for o in &outcomes {
            let mut o = o.clone();
            o.table = Some(name.clone());
            report.rules.push(o);
        }
    }
    let full = markdown::comment(&report);
    assert!(
        full.chars().count() <= markdown::LIMIT,
        "{}",
        full.chars().count()
    );
    assert!(full.contains("Shortened to fit one comment"), "{full}");
    assert!(full.starts_with(markdown::MARKER));
    // The verdict line and the worst tables survive the cut.
    assert!(full.contains("### ❌ dualrun: rejected"));
    assert!(full.contains("mart\\_000"), "names are escaped, and kept");

    // A single table's report is not cut.
    let single: Report = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!markdown::comment(&single).contains("Shortened"));
}

#[test]
fn output_dir_writes_every_format_and_no_samples_hides_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let mut args = verdict_runs()[1].1.clone();
    let out_arg = out.to_str().unwrap().to_string();
    args.extend([
        "--format",
        "json",
        "--format",
        "markdown",
        "--format",
        "html",
        "--format",
        "junit",
        "--format",
        "table",
        "--no-samples",
        "--output-dir",
        &out_arg,
    ]);
    let output = dualrun(repo(), &args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    for name in [
        "report.json",
        "report.md",
        "report.html",
        "report.xml",
        "report.txt",
    ] {
        assert!(out.join(name).is_file(), "{name}");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!md.contains("Changed rows"), "{md}");
    assert!(!md.contains("initech"), "no value from the data: {md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        json["tables"][0]["samples"]["changed"],
        serde_json::json!([])
    );
}

#[test]
fn diff_rows_holds_every_differing_row() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["rows.parquet", "rows.csv"] {
        let path = dir.path().join(file);
        let output = dualrun(
            repo(),
            &[
                "diff",
                PROD,
                CANDIDATE,
                "--key",
                "order_id",
                "--tol",
                "amount=abs:0.01",
                "--quiet",
                "--diff-rows",
                path.to_str().unwrap(),
            ],
        );
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        // Read it back as any table: the profile of `_change` counts the kinds.
        let profile = dualrun(
            repo(),
            &[
                "profile",
                path.to_str().unwrap(),
                "--columns",
                "_change,order_id",
                "--format",
                "json",
            ],
        );
        let profile: serde_json::Value = serde_json::from_slice(&profile.stdout).unwrap();
        assert_eq!(
            profile["table"]["rows"], 18,
            "{file}: 8 changed + 4 removed + 6 added"
        );
        let change = profile["table"]["profile"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "_change")
            .unwrap();
        let top = &change["stats"]["text"]["top"];
        let count_of = |kind: &str| {
            top.as_array()
                .unwrap()
                .iter()
                .find(|t| t["value"] == kind)
                .map_or(0, |t| t["count"].as_u64().unwrap())
        };
        assert_eq!(
            (count_of("changed"), count_of("removed"), count_of("added")),
            (8, 4, 6)
        );
        // An existing file is never replaced.
        let again = dualrun(
            repo(),
            &[
                "diff",
                PROD,
                CANDIDATE,
                "--key",
                "order_id",
                "--diff-rows",
                path.to_str().unwrap(),
            ],
        );
        assert_eq!(again.status.code(), Some(2));
        assert!(stderr(&again).contains("never replaces"));
    }
    let csv = std::fs::read_to_string(dir.path().join("rows.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with("order_id,_change,prod_customer,candidate_customer"),
        "{header}"
    );
    // The changed amount of order 23 is there with both sides.
    assert!(
        csv.lines()
            .any(|l| l.starts_with("23,changed,") && l.contains("229.16") && l.contains("999.99")),
        "{csv}"
    );
}

#[test]
fn html_report_renders_in_a_real_browser() {
    let browser = require_tool(
        &["chromium", "chromium-browser", "google-chrome"],
        "apt-get install chromium",
    );
    let dir = tempfile::tempdir().unwrap();
    let (_, html) = run_format(&verdict_runs()[1].1, "html");
    let page = dir.path().join("report.html");
    std::fs::write(&page, html).unwrap();
    let shot = dir.path().join("shot.png");
    let profile = dir.path().join("profile");
    let output = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--hide-scrollbars",
            "--window-size=1200,1600",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", page.display()),
        ])
        .output()
        .unwrap();
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    let total = pixels.len() / channels;
    let mut ink = 0;
    let (mut red, mut blue, mut orange) = (0, 0, 0);
    for px in pixels.chunks(channels) {
        let (r, g, b) = (px[0] as i32, px[1] as i32, px[2] as i32);
        if r + g + b < 600 {
            ink += 1;
        }
        // The REJECTED badge, and the two series of the charts.
        if r > 180 && g < 60 && b < 70 {
            red += 1;
        }
        if r < 30 && (90..130).contains(&g) && b > 200 {
            blue += 1;
        }
        if r > 200 && (90..130).contains(&g) && b < 60 {
            orange += 1;
        }
    }
    assert!(
        ink * 100 > total,
        "the page is blank: {ink} of {total} pixels drawn"
    );
    assert!(red > 200, "no verdict badge drawn ({red} red pixels)");
    assert!(
        blue > 500 && orange > 500,
        "no charts drawn ({blue} blue, {orange} orange pixels)"
    );
}

/// The page loads nothing from elsewhere: every attribute or CSS reference
/// that can fetch (`src`, `href`, `srcset`, `action`, `poster`, `data`,
/// `url(...)`, `@import`) points inside the page (`#...`) or is inline
/// (`data:`), and no address with a scheme or `//` appears but the SVG
/// namespace (a name, never fetched).
fn assert_no_external_resource(html: &str) {
    let lower = html.to_ascii_lowercase();
    for reference in [
        "src=", "href=", "srcset=", "action=", "poster=", " data=", "url(", "@import",
    ] {
        for (at, _) in lower.match_indices(reference) {
            let value = lower[at + reference.len()..].trim_start_matches(['"', '\'', ' ']);
            assert!(
                value.starts_with('#') || value.starts_with("data:"),
                "external resource: {}",
                &html[at..(at + 80).min(html.len())]
            );
        }
    }
    let namespace = "http://www.w3.org/2000/svg";
    let without_namespace = lower.replace(namespace, "");
    for scheme in ["http:", "https:", "ftp:", "file:", "//"] {
        // `//` also starts comments in CSS; the page has none.
        assert!(
            !without_namespace.contains(scheme),
            "an address with `{scheme}` in the page"
        );
    }
}
