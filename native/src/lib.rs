//! `archive_native`: the embedded backend's ranked keyword pass, pruned.
//!
//! tantivy prunes (block-max WAND) a plain disjunction of term queries only. The service's
//! questions are a disjunction of *words*, each a disjunction-max of its alternatives (lemma,
//! surface form, cross-script keys, an OCR-tolerant set), under required clauses (at least one
//! content word, the access filter), so tantivy scores every match. This module opens the same
//! index folder with the same tantivy version, scores with tantivy's own BM25 weights
//! (`Bm25Weight`, boosts applied as tantivy applies them) and finds the top k with MaxScore
//! (Turtle & Flood): once the top k is full and the exact count has passed its bound, the words
//! whose upper bounds together cannot reach the k-th score stop producing candidates and are only
//! looked up at the candidates of the others. Every passage that could enter the top k, ties
//! included, is still scored in full, so the top k is the exhaustive pass's.
//!
//! Upper bounds are exact per segment: for each term, the largest term frequency seen at each
//! field-norm code (read once from its postings, then cached by segment and term), so a bound is
//! the best score any posting of the term really reaches under the present statistics.
//!
//! The Python side (`index/native_rank.py`) decides which queries take this path and passes the
//! query as JSON; every other query stays on tantivy-py.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::Deserialize;
use tantivy::fieldnorm::FieldNormReader;
use tantivy::index::SegmentId;
use tantivy::postings::BlockSegmentPostings;
use tantivy::query::{
    Bm25Weight, BooleanQuery, EmptyQuery, EnableScoring, FuzzyTermQuery, Occur, Query, RangeQuery,
    Scorer, TermSetQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption, Schema, Value};
use tantivy::{
    DocAddress, DocId, DocSet, Index, IndexReader, ReloadPolicy, Score, Searcher, SegmentReader,
    TantivyDocument, Term, TERMINATED,
};

/// Tie breaker of the backend's disjunction-max words (`index/embedded.py`).
const TIE_BREAKER: Score = 0.1;
/// Bounds entries cached (segment, term) before the cache starts again.
const BOUNDS_CACHE_MAX: usize = 50_000;
/// Relative margin under the k-th score below which a passage is pruned: scores are compared
/// after rounding to 6 significant digits (ties then go by passage id), so a passage whose
/// score rounds to the k-th's must still be scored.
const ROUNDING_MARGIN: f64 = 1e-5;
/// Postings from which a content word's bound is its real best score in the segment (read
/// once, then cached); shorter lists take BM25's ceiling.
const EXACT_BOUND_FROM: u32 = 4096;
/// Threads a search uses at most (one per group of segments).
const MAX_THREADS: usize = 4;
/// Passages from which a search uses more than one thread.
const PARALLEL_FROM: u64 = 100_000;
/// Relative slack on an upper bound (f32 sums in another order than the bound's).
const BOUND_SLACK: f32 = 1.0 + 1e-5;

// -- the query, as the Python side sends it ---------------------------------------------------

#[derive(Deserialize)]
struct Spec {
    field: String,
    clauses: Vec<ClauseSpec>,
    #[serde(default)]
    filters: Vec<FilterSpec>,
    #[serde(default)]
    exclude: Vec<FilterSpec>,
}

#[derive(Deserialize)]
struct ClauseSpec {
    /// A content word: a passage must hold at least one of them. Other clauses only add score.
    content: bool,
    alts: Vec<AltSpec>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum AltSpec {
    /// A term scored by BM25, its weight multiplied by `boosts` in order (as nested boosts are).
    Term { term: String, boosts: Vec<f64> },
    /// Any of `terms`, scoring the product of `boosts` (tantivy's term set: a constant score).
    Set {
        terms: Vec<String>,
        boosts: Vec<f64>,
    },
    /// Terms within `distance` edits of `term`, a constant score (tantivy's fuzzy term query).
    Fuzzy {
        term: String,
        distance: u8,
        boosts: Vec<f64>,
    },
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum FilterSpec {
    /// A raw text field holding one of `values`.
    Text { field: String, values: Vec<String> },
    /// An integer field holding one of `values`.
    Int { field: String, values: Vec<i64> },
    /// An integer field within `lo..=hi`.
    Range { field: String, lo: i64, hi: i64 },
    /// Any of the filters.
    Any { of: Vec<FilterSpec> },
    /// Nothing.
    Nothing,
}

fn boost_of(boosts: &[f64]) -> Score {
    // tantivy multiplies an outer boost into the inner one (`boost * self.boost`), from 1.0
    boosts.iter().fold(1.0 as Score, |b, &x| b * (x as Score))
}

fn field(schema: &Schema, name: &str) -> tantivy::Result<Field> {
    schema
        .get_field(name)
        .map_err(|_| tantivy::TantivyError::FieldNotFound(name.to_string()))
}

fn filter_query(schema: &Schema, spec: &FilterSpec) -> tantivy::Result<Box<dyn Query>> {
    Ok(match spec {
        FilterSpec::Text {
            field: name,
            values,
        } => {
            let f = field(schema, name)?;
            Box::new(TermSetQuery::new(
                values.iter().map(|v| Term::from_field_text(f, v)),
            ))
        }
        FilterSpec::Int {
            field: name,
            values,
        } => {
            let f = field(schema, name)?;
            Box::new(TermSetQuery::new(
                values.iter().map(|v| Term::from_field_i64(f, *v)),
            ))
        }
        FilterSpec::Range {
            field: name,
            lo,
            hi,
        } => {
            let f = field(schema, name)?;
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_i64(f, *lo)),
                Bound::Included(Term::from_field_i64(f, *hi)),
            ))
        }
        FilterSpec::Any { of } => {
            let subs = of
                .iter()
                .map(|s| Ok((Occur::Should, filter_query(schema, s)?)))
                .collect::<tantivy::Result<Vec<_>>>()?;
            Box::new(BooleanQuery::new(subs))
        }
        FilterSpec::Nothing => Box::new(EmptyQuery),
    })
}

// -- posting cursors ---------------------------------------------------------------------------

/// A cursor over one term's postings in a segment, block by block (tantivy's decoded blocks).
struct Postings {
    bsp: BlockSegmentPostings,
    idx: usize,
    doc: DocId,
}

impl Postings {
    fn new(bsp: BlockSegmentPostings) -> Postings {
        let doc = bsp.docs().first().copied().unwrap_or(TERMINATED);
        Postings { bsp, idx: 0, doc }
    }

    #[inline]
    fn advance(&mut self) -> DocId {
        self.idx += 1;
        let docs = self.bsp.docs();
        if self.idx < docs.len() {
            self.doc = docs[self.idx];
        } else {
            self.bsp.advance();
            self.idx = 0;
            self.doc = self.bsp.docs().first().copied().unwrap_or(TERMINATED);
        }
        self.doc
    }

    #[inline]
    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        let docs = self.bsp.docs();
        if let Some(&last) = docs.last() {
            if last >= target {
                self.idx += docs[self.idx..].partition_point(|&d| d < target);
                self.doc = docs[self.idx];
                return self.doc;
            }
        }
        let i = self.bsp.seek(target);
        let docs = self.bsp.docs();
        if i < docs.len() {
            self.idx = i;
            self.doc = docs[i];
        } else {
            self.idx = docs.len();
            self.doc = TERMINATED;
        }
        self.doc
    }

    #[inline]
    fn freq(&self) -> u32 {
        self.bsp.freq(self.idx)
    }
}

/// One alternative of a word.
#[allow(clippy::large_enum_variant)] // a handful per query, kept in place
enum Alt {
    Term { p: Postings, w: Bm25Weight },
    Const { s: Box<dyn Scorer>, score: Score },
}

impl Alt {
    #[inline]
    fn doc(&self) -> DocId {
        match self {
            Alt::Term { p, .. } => p.doc,
            Alt::Const { s, .. } => s.doc(),
        }
    }

    #[inline]
    fn advance(&mut self) -> DocId {
        match self {
            Alt::Term { p, .. } => p.advance(),
            Alt::Const { s, .. } => s.advance(),
        }
    }

    #[inline]
    fn seek(&mut self, target: DocId) -> DocId {
        match self {
            Alt::Term { p, .. } => p.seek(target),
            Alt::Const { s, .. } => {
                if s.doc() >= target {
                    s.doc()
                } else {
                    s.seek(target)
                }
            }
        }
    }

    /// An upper bound of the alternative's score in its present block, and the block's last
    /// document (`TERMINATED - 1` for a constant alternative, which has no blocks).
    #[inline]
    fn block_bound(&mut self, norms: &FieldNormReader, fix: Score) -> (Score, DocId) {
        match self {
            Alt::Term { p, w } => {
                let last = p.bsp.docs().last().copied().unwrap_or(TERMINATED);
                (p.bsp.block_max_score(norms, w) * fix, last)
            }
            Alt::Const { score, .. } => (*score, TERMINATED - 1),
        }
    }

    #[inline]
    fn score(&self, norms: &FieldNormReader) -> Score {
        match self {
            Alt::Term { p, w } => w.score(norms.fieldnorm_id(p.doc), p.freq()),
            Alt::Const { score, .. } => *score,
        }
    }
}

/// A word: the disjunction-max of its alternatives.
struct Clause {
    alts: Vec<Alt>,
    content: bool,
    ub: Score,
}

impl Clause {
    #[inline]
    fn doc(&self) -> DocId {
        self.alts.iter().map(Alt::doc).min().unwrap_or(TERMINATED)
    }

    /// The word's score at `d` (`None`: the passage does not hold it); moves its cursors to `d`.
    #[inline]
    fn score_at(&mut self, d: DocId, norms: &FieldNormReader) -> Option<Score> {
        let mut max: Score = 0.0;
        let mut sum: Score = 0.0;
        let mut any = false;
        for a in self.alts.iter_mut() {
            if a.seek(d) == d {
                let s = a.score(norms);
                max = Score::max(s, max);
                sum += s;
                any = true;
            }
        }
        if !any {
            None
        } else if self.alts.len() == 1 {
            Some(sum)
        } else {
            Some(max + (sum - max) * TIE_BREAKER)
        }
    }

    /// An upper bound of the word's score up to the end of its alternatives' present blocks,
    /// and the first of those ends.
    fn block_bound(&mut self, norms: &FieldNormReader, fix: Score) -> (Score, DocId) {
        let mut max: Score = 0.0;
        let mut sum: Score = 0.0;
        let mut end = TERMINATED - 1;
        let mut n = 0;
        for a in self.alts.iter_mut() {
            if a.doc() == TERMINATED {
                continue;
            }
            let (b, last) = a.block_bound(norms, fix);
            max = Score::max(b, max);
            sum += b;
            end = end.min(last);
            n += 1;
        }
        let bound = if n > 1 {
            max + (sum - max) * TIE_BREAKER
        } else {
            sum
        };
        (bound, end)
    }

    fn advance_past(&mut self, d: DocId) {
        for a in self.alts.iter_mut() {
            if a.doc() == d {
                a.advance();
            }
        }
    }
}

/// A term's postings summed up: the largest term frequency at each field-norm code.
type Frontier = Arc<Vec<(u8, u32)>>;

fn frontier(bsp: &mut BlockSegmentPostings, norms: &FieldNormReader) -> Frontier {
    let mut best = [0u32; 256];
    loop {
        let docs = bsp.docs();
        if docs.is_empty() {
            break;
        }
        for (i, &d) in docs.iter().enumerate() {
            let fid = norms.fieldnorm_id(d) as usize;
            let tf = bsp.freq(i);
            if tf > best[fid] {
                best[fid] = tf;
            }
        }
        bsp.advance();
    }
    Arc::new(
        best.iter()
            .enumerate()
            .filter(|(_, &tf)| tf > 0)
            .map(|(fid, &tf)| (fid as u8, tf))
            .collect(),
    )
}

/// The frontier of `term`'s postings in a segment, from the cache or read (then cached).
fn frontier_of(
    ctx: &Ctx,
    reader: &SegmentReader,
    inverted: &tantivy::InvertedIndexReader,
    norms: &FieldNormReader,
    t: &Term,
    term: &str,
) -> tantivy::Result<Frontier> {
    let key = (reader.segment_id(), term.to_string());
    if let Some(fr) = ctx.bounds.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(fr);
    }
    let mut scan = inverted
        .read_block_postings(t, IndexRecordOption::WithFreqs)?
        .unwrap_or_else(BlockSegmentPostings::empty);
    let fr = frontier(&mut scan, norms);
    if let Ok(mut m) = ctx.bounds.lock() {
        if m.len() >= BOUNDS_CACHE_MAX {
            m.clear();
        }
        m.insert(key, fr.clone());
    }
    Ok(fr)
}

// -- the top k -----------------------------------------------------------------------------

struct Entry {
    score: Score,
    rounded: f64,
    pid: i64,
    seg: u32,
    doc: DocId,
}

/// "Greater" is worse: the heap's top is the entry to drop first.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .rounded
            .partial_cmp(&self.rounded)
            .unwrap_or(Ordering::Equal)
            .then(self.pid.cmp(&other.pid))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}

/// A score as the service compares scores: 6 significant digits (Python's `f"{x:.6g}"`).
fn round6(x: Score) -> f64 {
    format!("{:.5e}", x as f64).parse().unwrap_or(x as f64)
}

struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    /// The score a passage needs to be worth scoring in full (`None`: the top k is not full).
    fn floor(&self) -> Option<Score> {
        if self.heap.len() < self.k {
            return None;
        }
        self.heap
            .peek()
            .map(|w| (w.rounded * (1.0 - ROUNDING_MARGIN)) as Score)
    }

    /// Keeps `e` if it is among the best k (the entries of several threads merged).
    fn push(&mut self, e: Entry) {
        if self.heap.len() < self.k {
            self.heap.push(e);
        } else if let Some(worst) = self.heap.peek() {
            if e < *worst {
                self.heap.pop();
                self.heap.push(e);
            }
        }
    }

    fn offer(&mut self, score: Score, seg: u32, doc: DocId, pid: impl FnOnce() -> i64) {
        if self.k == 0 {
            return;
        }
        if let Some(floor) = self.floor() {
            if score < floor {
                return;
            }
        }
        self.push(Entry {
            score,
            rounded: round6(score),
            pid: pid(),
            seg,
            doc,
        });
    }
}

// -- the search ------------------------------------------------------------------------------

struct Outcome {
    top: Vec<Entry>,
    count: u64,
    exact: bool,
    estimate: u64,
}

struct Ctx<'a> {
    searcher: &'a Searcher,
    body: Field,
    spec: &'a Spec,
    bounds: &'a Mutex<HashMap<(SegmentId, String), Frontier>>,
    count_up_to: Option<u64>,
    /// Count every match (a pass of its own, without scoring) instead of up to `count_up_to`.
    count_all: bool,
    /// The index's average field norm of the field, as tantivy's BM25 computes it.
    avg_fieldnorm: Score,
    /// Threads to search with (`None`: one per core, up to `MAX_THREADS`, from `PARALLEL_FROM`
    /// passages).
    threads: Option<usize>,
    /// The caller counted the matches already (`count`): prune from the start, count nothing.
    counted: bool,
}

/// The query's filters, exclusions and weights, which every thread reads.
struct Parts<'a> {
    filters: Vec<Box<dyn Weight>>,
    excluded: Vec<Box<dyn Weight>>,
    weights: HashMap<&'a str, Bm25Weight>,
    consts: Vec<Vec<Option<Box<dyn Weight>>>>,
}

fn prepare<'a>(ctx: &Ctx<'a>) -> tantivy::Result<Parts<'a>> {
    let schema = ctx.searcher.schema();
    let weigh = |specs: &[FilterSpec]| -> tantivy::Result<Vec<Box<dyn Weight>>> {
        specs
            .iter()
            .map(|f| {
                filter_query(schema, f)?.weight(EnableScoring::disabled_from_searcher(ctx.searcher))
            })
            .collect()
    };
    let filters = weigh(&ctx.spec.filters)?;
    let excluded = weigh(&ctx.spec.exclude)?;
    // BM25 weights over the whole index, as tantivy's term query computes them
    let mut weights: HashMap<&str, Bm25Weight> = HashMap::new();
    let mut consts: Vec<Vec<Option<Box<dyn Weight>>>> = Vec::new();
    for c in &ctx.spec.clauses {
        let mut row = Vec::new();
        for a in &c.alts {
            match a {
                AltSpec::Term { term, .. } => {
                    if !weights.contains_key(term.as_str()) {
                        let t = Term::from_field_text(ctx.body, term);
                        weights.insert(term.as_str(), Bm25Weight::for_terms(ctx.searcher, &[t])?);
                    }
                    row.push(None);
                }
                AltSpec::Set { terms, .. } => {
                    let q =
                        TermSetQuery::new(terms.iter().map(|t| Term::from_field_text(ctx.body, t)));
                    row.push(Some(
                        q.weight(EnableScoring::enabled_from_searcher(ctx.searcher))?,
                    ));
                }
                AltSpec::Fuzzy { term, distance, .. } => {
                    let q =
                        FuzzyTermQuery::new(Term::from_field_text(ctx.body, term), *distance, true);
                    row.push(Some(
                        q.weight(EnableScoring::enabled_from_searcher(ctx.searcher))?,
                    ));
                }
            }
        }
        consts.push(row);
    }
    // the segments in groups of about equal size, one thread each; the threads share the best
    // floor any of them has reached (a passage below another thread's k-th best cannot be in the
    // top k either)
    Ok(Parts {
        filters,
        excluded,
        weights,
        consts,
    })
}

/// Every match of the query, counted without scoring (a thread per group of segments).
fn count_matches(ctx: &Ctx) -> tantivy::Result<u64> {
    let parts = prepare(ctx)?;
    let groups = segment_groups(ctx.searcher, ctx.threads);
    in_threads(&groups, |_, segs| count_segments(ctx, &parts, segs))
        .into_iter()
        .sum()
}

/// The matches in `segs`, counted without scoring.
fn count_segments(ctx: &Ctx, parts: &Parts, segs: &[usize]) -> tantivy::Result<u64> {
    let readers = ctx.searcher.segment_readers();
    let mut n = 0;
    for &seg in segs {
        n += count_segment(
            ctx,
            &readers[seg],
            &parts.filters,
            &parts.excluded,
            &parts.consts,
        )?;
    }
    Ok(n)
}

/// `f` over each group of segments, a scoped thread per group; a thread's panic is an error.
fn in_threads<T: Send>(
    groups: &[(u64, Vec<usize>)],
    f: impl Fn(u64, &[usize]) -> tantivy::Result<T> + Sync,
) -> Vec<tantivy::Result<T>> {
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = groups
            .iter()
            .map(|(size, segs)| scope.spawn(move || f(*size, segs)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(tantivy::TantivyError::InternalError(
                        "a search thread panicked".into(),
                    ))
                })
            })
            .collect()
    })
}

fn search(ctx: &Ctx, k: usize) -> tantivy::Result<Outcome> {
    let parts = prepare(ctx)?;
    let groups = segment_groups(ctx.searcher, ctx.threads);
    let shared = AtomicU32::new(0);
    let results = in_threads(&groups, |size, segs| {
        run_group(ctx, &parts, segs, size, k, &shared)
    });
    let mut top = TopK {
        k,
        heap: BinaryHeap::new(),
    };
    let (mut count, mut estimate, mut exact) = (0u64, 0u64, true);
    for r in results {
        let r = r?;
        count += r.count;
        estimate += r.estimate;
        exact &= r.exact;
        for e in r.entries {
            top.push(e);
        }
    }
    let mut out: Vec<Entry> = top.heap.into_vec();
    out.sort();
    // with `count_all` every thread's count is exact (counted apart)
    Ok(Outcome {
        top: out,
        count,
        exact,
        estimate: if exact { count } else { estimate.max(count) },
    })
}

/// The segments in groups of about equal size, one per thread to search them with (`threads`:
/// how many; `None`: one per core, up to `MAX_THREADS`, from `PARALLEL_FROM` passages on).
fn segment_groups(searcher: &Searcher, threads: Option<usize>) -> Vec<(u64, Vec<usize>)> {
    let readers = searcher.segment_readers();
    let total: u64 = readers.iter().map(|r| r.max_doc() as u64).sum();
    let threads = match threads {
        Some(n) => n.max(1),
        None if total < PARALLEL_FROM => 1,
        None => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS),
    }
    .min(readers.len().max(1));
    let mut order: Vec<usize> = (0..readers.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(readers[i].max_doc()));
    let mut groups: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); threads];
    for i in order {
        let g = groups
            .iter_mut()
            .min_by_key(|g| g.0)
            .expect("at least one group");
        g.0 += readers[i].max_doc() as u64;
        g.1.push(i);
    }
    groups
}

/// What one thread's segments gave.
struct RunOutcome {
    entries: Vec<Entry>,
    count: u64,
    exact: bool,
    estimate: u64,
}

fn run_group(
    ctx: &Ctx,
    parts: &Parts,
    segs: &[usize],
    size: u64,
    k: usize,
    shared: &AtomicU32,
) -> tantivy::Result<RunOutcome> {
    let readers = ctx.searcher.segment_readers();
    let mut run = Run {
        top: TopK {
            k,
            heap: BinaryHeap::new(),
        },
        count: 0,
        pruning_since: None,
        shared,
    };
    let mut scanned: u64 = 0;
    let mut estimate: u64 = 0;
    for &seg in segs {
        let reader = &readers[seg];
        let st = SegmentState {
            reader,
            seg: seg as u32,
            scanned,
            total_docs: size,
        };
        if let Some(est) = search_segment(ctx, &st, parts, &mut run)? {
            estimate = estimate.max(est);
        }
        scanned += reader.max_doc() as u64;
    }
    let exact = run.pruning_since.is_none();
    let mut count = run.count;
    if ctx.count_all && !ctx.counted {
        count = count_segments(ctx, parts, segs)?;
    }
    Ok(RunOutcome {
        entries: run.top.heap.into_vec(),
        count,
        exact: exact || ctx.count_all,
        estimate: if exact { count } else { estimate.max(count) },
    })
}

/// One thread's top k, its count, and the floor all threads share.
struct Run<'a> {
    top: TopK,
    count: u64,
    /// The passages counted when pruning began (`None`: every match is counted).
    pruning_since: Option<u64>,
    /// The best floor of any thread, as the bits of a non-negative f32 (ordered as the floats
    /// are); 0: none yet.
    shared: &'a AtomicU32,
}

impl Run<'_> {
    fn floor(&self) -> Option<Score> {
        let shared = f32::from_bits(self.shared.load(AtomicOrdering::Relaxed));
        match (self.top.floor(), shared > 0.0) {
            (Some(f), true) => Some(f.max(shared)),
            (Some(f), false) => Some(f),
            (None, true) => Some(shared),
            (None, false) => None,
        }
    }

    fn publish(&self) {
        if let Some(f) = self.top.floor() {
            if f > 0.0 {
                self.shared.fetch_max(f.to_bits(), AtomicOrdering::Relaxed);
            }
        }
    }
}

struct SegmentState<'a> {
    reader: &'a SegmentReader,
    seg: u32,
    scanned: u64,
    total_docs: u64,
}

fn search_segment(
    ctx: &Ctx,
    st: &SegmentState,
    parts: &Parts,
    run: &mut Run,
) -> tantivy::Result<Option<u64>> {
    let (filters, excluded, weights, consts) = (
        &parts.filters,
        &parts.excluded,
        &parts.weights,
        &parts.consts,
    );
    let reader = st.reader;
    let inverted = reader.inverted_index(ctx.body)?;
    let norms = reader.get_fieldnorms_reader(ctx.body)?;
    let mut clauses: Vec<Clause> = Vec::with_capacity(ctx.spec.clauses.len());
    for (ci, c) in ctx.spec.clauses.iter().enumerate() {
        let mut alts = Vec::new();
        let mut ubs: Vec<Score> = Vec::new();
        for (ai, a) in c.alts.iter().enumerate() {
            match a {
                AltSpec::Term { term, boosts } => {
                    let t = Term::from_field_text(ctx.body, term);
                    let Some(bsp) =
                        inverted.read_block_postings(&t, IndexRecordOption::WithFreqs)?
                    else {
                        continue;
                    };
                    let w = weights[term.as_str()].boost_by(boost_of(boosts));
                    let ub = if !c.content || bsp.doc_freq() < EXACT_BOUND_FROM {
                        // BM25's ceiling: an optional word is never essential, and a short
                        // list's word is among the last to become non-essential
                        w.max_score()
                    } else {
                        frontier_of(ctx, reader, &inverted, &norms, &t, term)?
                            .iter()
                            .map(|&(fid, tf)| w.score(fid, tf))
                            .fold(0.0, Score::max)
                    };
                    ubs.push(ub);
                    alts.push(Alt::Term {
                        p: Postings::new(bsp),
                        w,
                    });
                }
                AltSpec::Set { boosts, .. } | AltSpec::Fuzzy { boosts, .. } => {
                    let weight = consts[ci][ai]
                        .as_ref()
                        .expect("a weight per constant alternative");
                    let s = weight.scorer(reader, boost_of(boosts))?;
                    if s.doc() == TERMINATED {
                        continue;
                    }
                    let score = boost_of(boosts);
                    ubs.push(score);
                    alts.push(Alt::Const { s, score });
                }
            }
        }
        let ub = if ubs.len() > 1 {
            let mx = ubs.iter().copied().fold(0.0, Score::max);
            let sm: Score = ubs.iter().sum();
            mx + (sm - mx) * TIE_BREAKER
        } else {
            ubs.first().copied().unwrap_or(0.0)
        };
        clauses.push(Clause {
            alts,
            content: c.content,
            ub: ub * BOUND_SLACK,
        });
    }
    // content words in ascending order of their bounds: the first ones become non-essential
    let mut content: Vec<usize> = (0..clauses.len())
        .filter(|&i| clauses[i].content && !clauses[i].alts.is_empty())
        .collect();
    if content.is_empty() {
        return Ok(None);
    }
    content.sort_by(|&a, &b| {
        clauses[a]
            .ub
            .partial_cmp(&clauses[b].ub)
            .unwrap_or(Ordering::Equal)
    });
    let optional: Vec<usize> = (0..clauses.len())
        .filter(|&i| !clauses[i].content && !clauses[i].alts.is_empty())
        .collect();
    let optional_ub: Score = optional.iter().map(|&i| clauses[i].ub).sum();
    let mut filter_scorers = scorers(filters, reader)?;
    let mut excluded_scorers = scorers(excluded, reader)?;
    let alive = reader.alive_bitset();
    let pids = reader.fast_fields().i64("passage_id")?;
    let mut slots: Vec<Option<Score>> = vec![None; clauses.len()];
    // content words (in `content` order) that no longer produce candidates: as many of the
    // lowest-bound ones as cannot, with every optional word, reach `floor` together
    let essential_from = |floor: Score, clauses: &[Clause]| -> usize {
        let mut sum = optional_ub;
        let mut n = 0;
        for (i, &ci) in content.iter().enumerate() {
            sum += clauses[ci].ub;
            if sum * BOUND_SLACK < floor {
                n = i + 1;
            } else {
                break;
            }
        }
        n
    };
    let mut floor: Option<Score> = if run.pruning_since.is_some() {
        run.floor()
    } else {
        None
    };
    // the end of the window whose block bound last passed the floor (checked again past it)
    let mut window_end: DocId = 0;
    // tantivy's block maxima are the best (field norm, term frequency) of each block under the
    // segment's average field norm; scores use the index's. A block's best under the index's
    // average is at most max(r, 1/r) times the stored one's, r the ratio of the two averages.
    // Proof: with c(L) = K1 (1 - B + B L / avg), c_index >= a c_segment where a = min(1, r); and
    // tf / (tf + a c) <= (1 / a) tf / (tf + c) for a <= 1. So any posting's index-average factor is
    // at most 1/a times its segment-average one, which is at most the stored pair's, which is at
    // most 1/min(1, 1/r) times the stored pair's index-average factor: 1/min(r, 1/r) in all.
    let block_fix: Score = {
        let seg_avg = inverted.total_num_tokens() as Score / reader.max_doc().max(1) as Score;
        let r = if ctx.avg_fieldnorm > 0.0 && seg_avg > 0.0 {
            seg_avg / ctx.avg_fieldnorm
        } else {
            1.0
        };
        r.max(1.0 / r) * 1.01
    };
    let mut ness = floor.map_or(0, |f| essential_from(f, &clauses));
    if ness >= content.len() {
        return Ok(None);
    }
    let mut estimate: Option<u64> = None;
    // the non-essential words, in descending order of their bounds, are looked up at candidates
    let mut lookups: Vec<usize> = Vec::new();
    let mut lookup_ub: Score = optional_ub;
    let refresh =
        |ness: usize, lookups: &mut Vec<usize>, lookup_ub: &mut Score, clauses: &[Clause]| {
            lookups.clear();
            lookups.extend(content[..ness].iter().rev());
            lookups.extend(optional.iter());
            lookups.sort_by(|&a, &b| {
                clauses[b]
                    .ub
                    .partial_cmp(&clauses[a].ub)
                    .unwrap_or(Ordering::Equal)
            });
            *lookup_ub = lookups.iter().map(|&i| clauses[i].ub).sum();
        };
    refresh(ness, &mut lookups, &mut lookup_ub, &clauses);
    'docs: loop {
        // the next candidate: the smallest document of an essential word
        let mut d = TERMINATED;
        for &ci in &content[ness..] {
            d = d.min(clauses[ci].doc());
        }
        if d == TERMINATED {
            break;
        }
        // pruning begins once the count has passed its bound (or every match is counted apart)
        // and a floor is known: the top k full here, or in another thread
        if run.pruning_since.is_none()
            && (ctx.count_all
                || ctx.counted
                || ctx.count_up_to.is_some_and(|bound| run.count > bound))
            && run.floor().is_some()
        {
            run.pruning_since = Some(run.count);
            let seen = st.scanned + d as u64 + 1;
            estimate = Some(((run.count as f64) * (st.total_docs as f64) / (seen as f64)) as u64);
        }
        if run.pruning_since.is_some() {
            let f = run.floor();
            if f != floor {
                floor = f;
                window_end = 0;
                let before = ness;
                ness = essential_from(f.unwrap_or(0.0), &clauses).max(before);
                if ness >= content.len() {
                    break 'docs;
                }
                if ness != before {
                    refresh(ness, &mut lookups, &mut lookup_ub, &clauses);
                }
            }
        }
        // block-max: while no passage up to the end of the essential words' present blocks can
        // reach the floor, those blocks are skipped unscored
        if let Some(f) = floor {
            if d > window_end {
                let mut upto = TERMINATED - 1;
                let mut bound = lookup_ub;
                for &ci in &content[ness..] {
                    let (b, end) = clauses[ci].block_bound(&norms, block_fix);
                    bound += b;
                    upto = upto.min(end);
                }
                if bound * BOUND_SLACK < f {
                    for &ci in &content[ness..] {
                        for a in clauses[ci].alts.iter_mut() {
                            a.seek(upto.saturating_add(1));
                        }
                    }
                    continue;
                }
                window_end = upto;
            }
        }
        if passes(d, alive, &mut filter_scorers, &mut excluded_scorers) {
            slots.iter_mut().for_each(|s| *s = None);
            let mut partial: Score = 0.0;
            for &ci in &content[ness..] {
                if clauses[ci].doc() == d {
                    let s = clauses[ci].score_at(d, &norms);
                    slots[ci] = s;
                    partial += s.unwrap_or(0.0);
                }
            }
            let mut rest = lookup_ub;
            let mut competitive = true;
            for &ci in &lookups {
                if let Some(f) = floor {
                    if (partial + rest) * BOUND_SLACK < f {
                        competitive = false;
                        break;
                    }
                }
                rest -= clauses[ci].ub;
                if let Some(s) = clauses[ci].score_at(d, &norms) {
                    slots[ci] = Some(s);
                    partial += s;
                }
            }
            if competitive {
                if run.pruning_since.is_none() {
                    run.count += 1;
                }
                // the score in the query's order: content words, then the optional ones
                let mut score: Score = 0.0;
                for (ci, c) in clauses.iter().enumerate() {
                    if c.content {
                        if let Some(s) = slots[ci] {
                            score += s;
                        }
                    }
                }
                for &ci in &optional {
                    if let Some(s) = slots[ci] {
                        score += s;
                    }
                }
                run.top
                    .offer(score, st.seg, d, || pids.first(d).unwrap_or(i64::MAX));
                run.publish();
            }
        }
        for &ci in &content[ness..] {
            clauses[ci].advance_past(d);
        }
    }
    Ok(estimate)
}

/// The exact number of matches in a segment, without scoring: the content words' postings
/// gathered into a bit set, then each passage checked against deletions and the filters.
fn count_segment(
    ctx: &Ctx,
    reader: &SegmentReader,
    filters: &[Box<dyn Weight>],
    excluded: &[Box<dyn Weight>],
    consts: &[Vec<Option<Box<dyn Weight>>>],
) -> tantivy::Result<u64> {
    let max_doc = reader.max_doc();
    let inverted = reader.inverted_index(ctx.body)?;
    let mut bits = vec![0u64; (max_doc as usize).div_ceil(64)];
    for (ci, c) in ctx.spec.clauses.iter().enumerate() {
        if !c.content {
            continue;
        }
        for (ai, a) in c.alts.iter().enumerate() {
            match a {
                AltSpec::Term { term, .. } => {
                    let t = Term::from_field_text(ctx.body, term);
                    let Some(mut bsp) =
                        inverted.read_block_postings(&t, IndexRecordOption::Basic)?
                    else {
                        continue;
                    };
                    loop {
                        let docs = bsp.docs();
                        if docs.is_empty() {
                            break;
                        }
                        for &d in docs {
                            bits[(d >> 6) as usize] |= 1u64 << (d & 63);
                        }
                        bsp.advance();
                    }
                }
                AltSpec::Set { .. } | AltSpec::Fuzzy { .. } => {
                    let weight = consts[ci][ai]
                        .as_ref()
                        .expect("a weight per constant alternative");
                    let mut s = weight.scorer(reader, 1.0)?;
                    let mut d = s.doc();
                    while d != TERMINATED {
                        bits[(d >> 6) as usize] |= 1u64 << (d & 63);
                        d = s.advance();
                    }
                }
            }
        }
    }
    let alive = reader.alive_bitset();
    if alive.is_none() && filters.is_empty() && excluded.is_empty() {
        return Ok(bits.iter().map(|w| w.count_ones() as u64).sum());
    }
    let mut filter_scorers = scorers(filters, reader)?;
    let mut excluded_scorers = scorers(excluded, reader)?;
    let mut n = 0u64;
    for (i, &word) in bits.iter().enumerate() {
        let mut x = word;
        while x != 0 {
            let d = (i as u32) * 64 + x.trailing_zeros();
            x &= x - 1;
            if passes(d, alive, &mut filter_scorers, &mut excluded_scorers) {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// The weights' scorers in a segment (filters: whether a passage matches).
fn scorers(
    weights: &[Box<dyn Weight>],
    reader: &SegmentReader,
) -> tantivy::Result<Vec<Box<dyn Scorer>>> {
    weights.iter().map(|w| w.scorer(reader, 1.0)).collect()
}

#[inline]
fn passes(
    d: DocId,
    alive: Option<&tantivy::fastfield::AliveBitSet>,
    filters: &mut [Box<dyn Scorer>],
    excluded: &mut [Box<dyn Scorer>],
) -> bool {
    alive.is_none_or(|a| a.is_alive(d))
        && filters
            .iter_mut()
            .all(|s| (if s.doc() < d { s.seek(d) } else { s.doc() }) == d)
        && !excluded
            .iter_mut()
            .any(|s| (if s.doc() < d { s.seek(d) } else { s.doc() }) == d)
}

// -- Python -----------------------------------------------------------------------------------

/// The keyword index folder, opened read-only beside tantivy-py's handle.
#[pyclass(module = "archive_native")]
struct KeywordIndex {
    reader: IndexReader,
    bounds: Arc<Mutex<HashMap<(SegmentId, String), Frontier>>>,
}

#[pymethods]
impl KeywordIndex {
    #[new]
    fn new(path: &str) -> PyResult<Self> {
        let index = Index::open_in_dir(path).map_err(|e| PyOSError::new_err(e.to_string()))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: tantivy::TantivyError| PyOSError::new_err(e.to_string()))?;
        Ok(KeywordIndex {
            reader,
            bounds: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The index as committed now (reloaded), as one consistent view.
    fn searcher(&self) -> PyResult<KeywordSearcher> {
        self.reader
            .reload()
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        let searcher = self.reader.searcher();
        // cached bounds of segments gone from the index are dropped
        if let Ok(mut m) = self.bounds.lock() {
            let live: std::collections::HashSet<SegmentId> = searcher
                .segment_readers()
                .iter()
                .map(|r| r.segment_id())
                .collect();
            m.retain(|(seg, _), _| live.contains(seg));
        }
        Ok(KeywordSearcher {
            searcher,
            bounds: self.bounds.clone(),
        })
    }
}

/// One view of the keyword index.
#[pyclass(module = "archive_native")]
struct KeywordSearcher {
    searcher: Searcher,
    bounds: Arc<Mutex<HashMap<(SegmentId, String), Frontier>>>,
}

type Hit = (f64, i64, i64, Option<Py<PyBytes>>);
/// A hit's stored fields: passage id, document id, analysed terms.
type Stored = (i64, i64, Option<Vec<u8>>);

#[pymethods]
impl KeywordSearcher {
    #[getter]
    fn num_docs(&self) -> u64 {
        self.searcher.num_docs()
    }

    #[getter]
    fn num_segments(&self) -> usize {
        self.searcher.segment_readers().len()
    }

    /// The number of live passages holding each of `terms` in `field` (deleted ones left out,
    /// as tantivy's own document frequency does not).
    fn doc_freqs(
        &self,
        py: Python<'_>,
        field_name: &str,
        terms: Vec<String>,
    ) -> PyResult<Vec<u64>> {
        let schema = self.searcher.schema();
        let f = field(schema, field_name).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let searcher = &self.searcher;
        py.detach(|| -> tantivy::Result<Vec<u64>> {
            let mut out = Vec::with_capacity(terms.len());
            for t in &terms {
                let term = Term::from_field_text(f, t);
                let mut n = 0u64;
                for reader in searcher.segment_readers() {
                    let inverted = reader.inverted_index(f)?;
                    match reader.alive_bitset() {
                        None => n += inverted.doc_freq(&term)? as u64,
                        Some(alive) => {
                            if let Some(p) =
                                inverted.read_postings(&term, IndexRecordOption::Basic)?
                            {
                                n += p.doc_freq_given_deletes(alive) as u64;
                            }
                        }
                    }
                }
                out.push(n);
            }
            Ok(out)
        })
        .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The exact number of matches of the query `spec` (filters, deletions and exclusions
    /// applied), counted without scoring.
    #[pyo3(signature = (spec, threads=None))]
    fn count(&self, py: Python<'_>, spec: &str, threads: Option<usize>) -> PyResult<u64> {
        let spec: Spec = serde_json::from_str(spec)
            .map_err(|e| PyValueError::new_err(format!("bad query spec: {e}")))?;
        let body = field(self.searcher.schema(), &spec.field)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let searcher = &self.searcher;
        let bounds = &*self.bounds;
        py.detach(|| {
            let ctx = Ctx {
                searcher,
                body,
                spec: &spec,
                bounds,
                count_up_to: None,
                count_all: true,
                avg_fieldnorm: 0.0,
                threads,
                counted: false,
            };
            count_matches(&ctx)
        })
        .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The top `k` passages of the query `spec` (JSON, see `index/native_rank.py`), best first,
    /// as (score, passage id, document id, stored terms); the number of matches (exact up to
    /// `count_up_to`, all of them when it is None or `count_all`); whether that count is exact;
    /// and an estimate of all matches (the count itself when exact). `threads`: how many to search
    /// with (default: one per core from 100,000 passages on). `counted`: the caller counted the
    /// matches with `count` already: the pass prunes from its start and counts nothing (0).
    #[pyo3(signature = (spec, k, count_up_to=None, count_all=false, threads=None, counted=false))]
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        py: Python<'_>,
        spec: &str,
        k: usize,
        count_up_to: Option<u64>,
        count_all: bool,
        threads: Option<usize>,
        counted: bool,
    ) -> PyResult<(Vec<Hit>, u64, bool, u64)> {
        let spec: Spec = serde_json::from_str(spec)
            .map_err(|e| PyValueError::new_err(format!("bad query spec: {e}")))?;
        let schema = self.searcher.schema();
        let body = field(schema, &spec.field).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let pid_f =
            field(schema, "passage_id").map_err(|e| PyValueError::new_err(e.to_string()))?;
        let doc_f =
            field(schema, "document_id").map_err(|e| PyValueError::new_err(e.to_string()))?;
        let terms_f = schema.get_field("terms").ok();
        let searcher = &self.searcher;
        let bounds = &*self.bounds;
        let result = py.detach(|| -> tantivy::Result<(Outcome, Vec<Stored>)> {
            let mut tokens = 0u64;
            for r in searcher.segment_readers() {
                tokens += r.inverted_index(body)?.total_num_tokens();
            }
            let docs: u64 = searcher
                .segment_readers()
                .iter()
                .map(|r| r.max_doc() as u64)
                .sum();
            let avg_fieldnorm = if docs == 0 {
                0.0
            } else {
                tokens as Score / docs as Score
            };
            let ctx = Ctx {
                searcher,
                body,
                spec: &spec,
                bounds,
                count_up_to,
                count_all,
                avg_fieldnorm,
                threads,
                counted,
            };
            let outcome = search(&ctx, k)?;
            let mut stored = Vec::with_capacity(outcome.top.len());
            for e in &outcome.top {
                let doc: TantivyDocument = searcher.doc(DocAddress::new(e.seg, e.doc))?;
                let pid = doc
                    .get_first(pid_f)
                    .and_then(|v| v.as_i64())
                    .unwrap_or(e.pid);
                let did = doc.get_first(doc_f).and_then(|v| v.as_i64()).unwrap_or(-1);
                let terms = terms_f
                    .and_then(|f| doc.get_first(f))
                    .and_then(|v| v.as_bytes())
                    .map(|b| b.to_vec());
                stored.push((pid, did, terms));
            }
            Ok((outcome, stored))
        });
        let (outcome, stored) = result.map_err(|e| PyValueError::new_err(e.to_string()))?;
        let hits = outcome
            .top
            .iter()
            .zip(stored)
            .map(|(e, (pid, did, terms))| {
                (
                    e.score as f64,
                    pid,
                    did,
                    terms.map(|b| PyBytes::new(py, &b).unbind()),
                )
            })
            .collect();
        Ok((hits, outcome.count, outcome.exact, outcome.estimate))
    }
}

#[pymodule]
fn archive_native(m: &pyo3::Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<KeywordIndex>()?;
    m.add_class::<KeywordSearcher>()?;
    Ok(())
}
