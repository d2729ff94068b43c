//! `junit.xml`: thresholds as JUnit test cases, so CI systems show which rule failed and by
//! how much. One `<testsuite>` per run; one `<testcase>` per threshold, plus one for the run
//! itself (fails when it was aborted).

use std::fmt::Write as _;

use super::summary::Summary;

/// File name of the JUnit report.
pub const JUNIT_FILE: &str = "junit.xml";

/// Escapes text for XML attributes and content.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML of a summary.
pub fn render_junit(summary: &Summary) -> String {
    let failures = summary.thresholds.iter().filter(|t| !t.passed).count()
        + usize::from(summary.aborted.is_some());
    let tests = summary.thresholds.len() + 1;
    let class = xml_escape(&format!("fleetbench.{}", summary.scenario.name));
    let duration: f64 = summary.phases.iter().map(|p| p.actual_duration_s).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"fleetbench\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{duration:.3}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{duration:.3}\" timestamp=\"{}\">",
        xml_escape(&summary.run_id),
        xml_escape(&summary.started_at),
    );
    let _ = writeln!(out, "    <properties>");
    for (name, value) in [
        ("scenario", summary.scenario.name.clone()),
        ("seed", summary.scenario.seed.to_string()),
        ("target", summary.target.url.clone()),
        ("completion", summary.completion.used.clone()),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            xml_escape(&value)
        );
    }
    let _ = writeln!(out, "    </properties>");
    let _ = write!(
        out,
        "    <testcase classname=\"{class}\" name=\"run completed\" time=\"{duration:.3}\""
    );
    match &summary.aborted {
        Some(reason) => {
            let _ = writeln!(
                out,
                ">\n      <failure message=\"aborted: {}\" type=\"aborted\"/>\n    </testcase>",
                xml_escape(reason)
            );
        }
        None => out.push_str("/>\n"),
    }
    for t in &summary.thresholds {
        let _ = write!(
            out,
            "    <testcase classname=\"{class}\" name=\"{}\" time=\"0\"",
            xml_escape(&t.expr)
        );
        if t.passed {
            out.push_str("/>\n");
            continue;
        }
        let measured = t
            .value
            .map_or_else(|| "no data".to_owned(), |v| format!("{v:.3}"));
        let message = format!("threshold failed: {} (measured {measured})", t.expr);
        let _ = writeln!(
            out,
            ">\n      <failure message=\"{}\" type=\"threshold\">{}</failure>\n    </testcase>",
            xml_escape(&message),
            xml_escape(&format!(
                "{}\nmeasured: {measured}{}",
                t.expr,
                if t.aborted_run {
                    "\nthe run was aborted by this threshold"
                } else {
                    ""
                }
            ))
        );
    }
    let _ = writeln!(out, "  </testsuite>\n</testsuites>");
    out
}
