//! One worker with big blocks and three workers with tiny blocks read the same bytes
//! into the same aggregates: line counts, bad lines (number and reason), days, every
//! page view in order, and the rows the sessionizer makes of them.
#![no_main]
use keyrank::classify::Classifier;
use keyrank::classify::engines::EngineTable;
use keyrank::ingest::pipeline::{self, Front, Keyed};
use keyrank::ingest::visits::{PageView, Sessionizer};
use keyrank::parse::input::Source;
use keyrank::parse::{CookieNames, LogFormat};
use keyrank_fuzz::scratch_file;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static CLASSIFIER: LazyLock<Classifier> =
    LazyLock::new(|| Classifier::new(EngineTable::builtin(), &["shop.example".to_string()]));

/// Everything a run derives from its lines, in a form two runs can be compared by.
fn aggregate(
    sources: &[Source],
    format: &LogFormat,
    cookies: &CookieNames,
    workers: usize,
    block: usize,
    max_line: usize,
) -> (Vec<String>, Vec<String>) {
    let goals = ["/checkout/done".to_string()];
    let front = Front {
        format,
        classifier: &CLASSIFIER,
        cookies,
        goals: &goals,
        revenue_param: "revenue",
        order_param: "order_id",
        visitor_slot: cookies.slot("vid"),
        keyword_slot: cookies.slot("kw"),
        login_slot: None,
        key: Keyed::from_halves([7, 11]),
        max_line,
    };
    let mut seen = Vec::new();
    let mut problems = Vec::new();
    let mut sessions = Sessionizer::new(1800, 30 * 86_400, 7 * 86_400, None);
    let mut lines = 0u64;
    let mut total = pipeline::LineCounts::default();
    let mut days = std::collections::BTreeSet::new();
    pipeline::run_blocks(sources, &front, workers, block, |batch| {
        for (line, reason) in &batch.problems {
            problems.push(format!("{}:{}: {reason}", batch.source, lines + line));
        }
        lines += batch.lines;
        total.add(&batch.counts);
        days.extend(batch.days.iter().copied());
        for view in &batch.views {
            let landing = batch.landing(view);
            seen.push(format!(
                "{} {} {:?} {landing} {:?} {:?}",
                view.visitor, view.ts, view.acquisition, view.segment, view.goal
            ));
            sessions.page_view(&PageView {
                visitor: view.visitor,
                ts: view.ts,
                acquisition: &view.acquisition,
                landing,
                segment: view.segment,
            });
        }
        if let Some(end) = &batch.end {
            lines = 0;
            seen.push(format!(
                "end {} {} {:?}",
                end.fingerprint, end.bytes, end.damaged
            ));
        }
        Ok(())
    })
    .expect("a run over readable files");
    // Batches split differently: compare what they add up to, not how they are cut.
    seen.push(format!("counts {total:?} days {days:?}"));
    seen.extend(problems);
    let rows = sessions
        .rollup
        .into_rows()
        .iter()
        .map(|r| format!("{r:?}"))
        .collect();
    (seen, rows)
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, log)) = data.split_first() else {
        return;
    };
    let cookies = CookieNames(vec!["vid".into(), "kw".into()]);
    let format = LogFormat::from_spec("combined", "", &cookies).expect("combined");
    let sources = [Source::File(scratch_file("access.log", log))];
    let small_block = 1 + (knobs as usize & 0x3f) * 8;
    let max_line = if knobs & 0x40 != 0 { 200 } else { 64 * 1024 };
    let one = aggregate(&sources, &format, &cookies, 1, 1 << 20, max_line);
    let three = aggregate(&sources, &format, &cookies, 3, small_block, max_line);
    assert_eq!(one, three);
});
