//! The prefix cache and the memo on the real model (CPU backend): a re-run
//! or a new turn computes only what changed, with results bit-identical to
//! computing everything again; hits, misses, eviction, budget accounting, a
//! budget too small for one answer, and PDD's importance kept across runs.

mod common;

use common::model_file;
use persona::backend::cpu::CpuBackend;
use persona::backend::Backend;
use persona::engine::Engine;
use persona::steer::{
    run, EngineViews, Event, Method, Persona, RunConfig, RunStats, Turn, ViewModel, ViewSpec,
    WeightedExpert,
};
use persona::WeightMode;

fn engine(cache_mb: f64) -> Engine<CpuBackend> {
    let mut e = Engine::load_cpu(&model_file(), WeightMode::Quantized).unwrap();
    e.set_cache_mb(cache_mb).unwrap();
    e
}

fn answer(engine: &mut Engine<CpuBackend>, cfg: &RunConfig) -> (Vec<Event>, RunStats) {
    let mut events = Vec::new();
    let stats = pollster::block_on(run(engine, cfg, &mut |e| events.push(e))).unwrap();
    events.pop(); // Done: its timings differ from run to run
    (events, stats)
}

fn tokens(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Token { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn text(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Token { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn history() -> Vec<Turn> {
    use persona::model::Role;
    vec![
        Turn::new(Role::User, "Hi! I'm planning my weekend."),
        Turn::new(Role::Assistant, "Great, what do you have in mind?"),
        Turn::new(Role::User, "Something outdoors, maybe."),
        Turn::new(Role::Assistant, "A hike or a picnic could be lovely."),
    ]
}

fn scr() -> RunConfig {
    RunConfig {
        method: Method::Scr,
        experts: vec![
            WeightedExpert::prompt("E", "You are outgoing and talkative.", 1.0),
            WeightedExpert::prompt("I", "You are quiet and reserved.", -0.5),
        ],
        history: history(),
        user: "What should I bring?".into(),
        max_tokens: 8,
        seed: 3,
        ..RunConfig::default()
    }
}

fn pdd() -> RunConfig {
    let mut cfg = RunConfig {
        method: Method::Pdd,
        persona: Some(Persona::builtin().into_iter().next().unwrap()),
        history: history(),
        user: "What should I bring?".into(),
        max_tokens: 6,
        ..RunConfig::default()
    };
    cfg.pdd.pie_tokens = 6;
    cfg
}

/// A re-run with a moved α (SCR) or β (PDD) computes at most one position
/// per view and gives exactly the events, rewards and log-probs included,
/// of an engine that computes everything (cache off).
#[test]
fn a_rerun_prefills_at_most_one_position_per_view_and_answers_bit_identically() {
    let mut warm = engine(256.0);
    let mut cold = engine(0.0);
    for first in [scr(), pdd()] {
        let views = first.view_count();
        warm.clear_cache();
        let (_, s1) = answer(&mut warm, &first);
        assert_eq!(s1.cached_positions, 0, "{}: a cold cache", s1.method);
        let mut second = first.clone();
        match first.method {
            Method::Scr => second.experts[1].alpha = 0.7,
            _ => second.pdd.beta = 2.0,
        }
        let (got, s2) = answer(&mut warm, &second);
        let (want, s0) = answer(&mut cold, &second);
        assert_eq!(
            got, want,
            "{}: cached and recomputed rows differ",
            s2.method
        );
        // PDD with its importance kept reads only the full persona's view
        // and its top K: the others' last prompt token is never computed.
        let read = match first.method {
            Method::Pdd => 1 + first.pdd.top_k,
            _ => views,
        };
        assert_eq!(s2.prefill_positions, read, "{}: {s2:?}", s2.method);
        assert_eq!(
            s2.cached_positions + views,
            s2.prefill_positions_unshared,
            "{}: every view from the cache but its last token",
            s2.method
        );
        assert_eq!(s0.cached_positions, 0);
        assert!(
            s0.cache_note.is_some(),
            "a budget of 0 keeps nothing, and says so"
        );
        assert!(s2.cache_note.is_none());
        if first.method == Method::Pdd {
            // No PIE token generated again: its |G| calls are gone.
            let g = match &got[0] {
                Event::Importance { pie_tokens, .. } => pie_tokens.len() as u64,
                e => panic!("importance first: {e:?}"),
            };
            assert_eq!(s2.forward_calls + g, s0.forward_calls, "{s2:?} vs {s0:?}");
        }
    }
}

/// The views' next log-probs from cached rows equal a fresh prefill's, bit
/// for bit, for several views sharing a prefix (plain rows).
#[test]
fn views_from_cached_rows_equal_a_fresh_prefill() {
    let mut e = engine(64.0);
    let plain = e.chat_prompt(None, "Tell me about tea.").unwrap();
    let other = e
        .chat_prompt(Some("Be brief."), "Tell me about tea.")
        .unwrap();
    let specs = |prompts: &[&Vec<u32>]| -> Vec<ViewSpec> {
        prompts
            .iter()
            .map(|p| ViewSpec {
                prompt: p.to_vec(),
                mix: vec![],
            })
            .collect()
    };
    let next = |e: &mut Engine<CpuBackend>, s: &[ViewSpec]| {
        let v = pollster::block_on(EngineViews::new(&mut e.backend, &mut e.cache, s, &[])).unwrap();
        let rows: Vec<Vec<f32>> = (0..s.len()).map(|i| v.next(i).to_vec()).collect();
        (rows, v.prefill)
    };
    let s = specs(&[&plain, &other]);
    let (fresh, p1) = next(&mut e, &s);
    assert_eq!(p1.cached, 0);
    let (again, p2) = next(&mut e, &s);
    assert_eq!(p2.positions, 2);
    assert_eq!(
        p2.calls, 1,
        "one call when every view starts from the cache"
    );
    assert!(fresh == again, "bit-identical next rows");
    // A longer prompt starting with a cached one computes only its tail.
    let longer: Vec<u32> = plain.iter().chain(&[28, 339]).copied().collect();
    let (_, p3) = next(&mut e, &specs(&[&longer]));
    assert_eq!((p3.cached, p3.positions), (plain.len(), 2));
}

/// Hits, misses, the budget's accounting, least-recently-used eviction,
/// entries an extension replaces, and a budget too small for any row.
#[test]
fn eviction_and_budget_accounting() {
    let mut e = engine(0.0);
    let per = e.cache.prefix.bytes_per_position();
    // Prompts that share only the template's opening.
    let prompts: Vec<Vec<u32>> = ["Alpha.", "Bravo, be brief.", "Charlie here."]
        .iter()
        .map(|s| {
            e.chat_prompt(Some(s), "Hello there, how are you today?")
                .unwrap()
        })
        .collect();
    let longest = prompts.iter().map(Vec::len).max().unwrap();
    // Room for two prompts' rows, not three.
    let budget_mb = (2 * longest * per + per) as f64 / (1024.0 * 1024.0);
    e.set_cache_mb(budget_mb).unwrap();
    let fill = |e: &mut Engine<CpuBackend>, p: &[u32]| {
        let s = [ViewSpec {
            prompt: p.to_vec(),
            mix: vec![],
        }];
        let v =
            pollster::block_on(EngineViews::new(&mut e.backend, &mut e.cache, &s, &[])).unwrap();
        v.prefill
    };
    let rows_before = e.backend.counters();
    fill(&mut e, &prompts[0]);
    fill(&mut e, &prompts[1]);
    assert_eq!(e.cache.prefix.len(), 2);
    assert_eq!(
        e.cache.prefix.used_bytes(),
        (prompts[0].len() + prompts[1].len()) * per
    );
    // Touch the first, then a third evicts the second (least recently used).
    assert_eq!(fill(&mut e, &prompts[0]).cached, prompts[0].len() - 1);
    fill(&mut e, &prompts[2]);
    assert!(e.cache.prefix.used_bytes() <= e.cache.prefix.budget_bytes());
    assert_eq!(e.cache.prefix.counters.evictions, 1);
    assert_eq!(fill(&mut e, &prompts[0]).cached, prompts[0].len() - 1);
    // The second shares only the template's opening with what is left.
    let p = fill(&mut e, &prompts[1]);
    assert!(p.cached < prompts[1].len() - 1, "{p:?}");
    assert!(e.backend.counters().forward_calls > rows_before.forward_calls);
    // An extension replaces the entry it extends.
    let n = e.cache.prefix.len();
    let longer: Vec<u32> = prompts[0].iter().chain(&[28]).copied().collect();
    fill(&mut e, &longer);
    assert!(e.cache.prefix.len() <= n);
    assert_eq!(e.cache.prefix.peek(&longer, &[]), longer.len());
    // A budget below one row keeps nothing, and says so in the counters.
    e.set_cache_mb(per as f64 / (1024.0 * 1024.0)).unwrap();
    assert!(e.cache.prefix.is_empty(), "a smaller budget evicts");
    let refused = e.cache.prefix.counters.refused;
    assert_eq!(fill(&mut e, &prompts[0]).cached, 0);
    assert!(e.cache.prefix.is_empty());
    assert_eq!(e.cache.prefix.counters.refused, refused + 1);
    // Invalid budgets are clear errors.
    for bad in [-1.0, f64::NAN, f64::INFINITY, 1e9] {
        let err = e.set_cache_mb(bad).unwrap_err().to_string();
        assert!(err.contains("prefix cache budget"), "{err}");
    }
}

/// A run that fails (a forward past the context) frees its rows instead
/// of caching rows of unknown contents, and the next run is unaffected.
#[test]
fn a_failed_run_leaves_nothing_behind() {
    let mut e = engine(64.0);
    let context = e.config().context;
    let prompt = e.chat_prompt(None, "Count to ten.").unwrap();
    let s = [ViewSpec {
        prompt: prompt.clone(),
        mix: vec![],
    }];
    {
        let mut v =
            pollster::block_on(EngineViews::new(&mut e.backend, &mut e.cache, &s, &[])).unwrap();
        let too_long = vec![28u32; context];
        let r = pollster::block_on(v.append(&[(0, &too_long)], persona::backend::Readout::Last));
        assert!(r.is_err());
    }
    assert!(e.cache.prefix.is_empty(), "the failed run's row was freed");
    let v = pollster::block_on(EngineViews::new(&mut e.backend, &mut e.cache, &s, &[])).unwrap();
    assert_eq!(v.prefill.cached, 0);
}

/// Multi-turn: the next turn computes only the new turn's positions on
/// every view (the answer's tokens are already in each view's row).
#[test]
fn a_new_turn_prefills_only_the_new_turn_on_every_view() {
    use persona::model::Role;
    let mut e = engine(256.0);
    for first in [scr(), pdd()] {
        e.clear_cache();
        let (events, s1) = answer(&mut e, &first);
        let mut next = first.clone();
        next.history.push(Turn::new(Role::User, &first.user));
        next.history
            .push(Turn::new(Role::Assistant, &text(&events)));
        next.user = "And what should I wear?".into();
        let (_, s2) = answer(&mut e, &next);
        // What each view held: its old prompt and the answer; what is new:
        // the answer's end, the new user turn and the assistant opener.
        let added = e.chat_prompt_messages(&msgs(&next)).unwrap().len()
            - e.chat_prompt_messages(&msgs(&first)).unwrap().len()
            - tokens(&events).len();
        let views = first.view_count();
        // PDD's attributes outside its top K never read the answer: they
        // compute it with the new turn.
        let unread = match first.method {
            Method::Pdd => views - 1 - first.pdd.top_k,
            _ => 0,
        };
        let bound = views * (added + 1) + unread * tokens(&events).len();
        assert!(
            s2.prefill_positions <= bound,
            "{}: {} positions for {views} views, {added} new tokens each, {unread} views without the answer ({s1:?})",
            s2.method,
            s2.prefill_positions
        );
        assert!(s2.cached_positions > s1.prefill_positions / 2, "{s2:?}");
        assert_eq!(
            s2.prefill_positions + s2.cached_positions,
            s2.prefill_positions_unshared
        );
    }
}

fn msgs(cfg: &RunConfig) -> Vec<persona::model::ChatMessage> {
    let mut m = cfg.history.clone();
    m.push(Turn::new(persona::model::Role::User, &cfg.user));
    m
}

/// The backend's rows are all accounted for: the cache's and nothing else
/// after runs end (no row leaks from forks, takes or evictions).
#[test]
fn rows_are_freed_or_cached() {
    let mut e = engine(256.0);
    for cfg in [scr(), pdd(), scr()] {
        answer(&mut e, &cfg);
    }
    let mut probe = persona::backend::RowId(0);
    let mut live = 0;
    while probe.0 < 256 {
        if e.backend.row_len(probe).is_ok() {
            live += 1;
        }
        probe.0 += 1;
    }
    assert_eq!(live, e.cache.prefix.len());
}

/// A deferred prefill over cached rows computes nothing at once; `ensure`
/// evaluates exactly the views asked for, bit-identical to a fresh
/// prefill, and a view used before it is an error, not a wrong answer.
#[test]
fn deferred_views_are_evaluated_on_demand() {
    let mut e = engine(64.0);
    let prompts: Vec<Vec<u32>> = ["Be brief.", "Be kind."]
        .iter()
        .map(|s| e.chat_prompt(Some(s), "Tell me about tea.").unwrap())
        .collect();
    let specs: Vec<ViewSpec> = prompts
        .iter()
        .map(|p| ViewSpec {
            prompt: p.clone(),
            mix: vec![],
        })
        .collect();
    let fresh: Vec<Vec<f32>> = {
        let v = pollster::block_on(EngineViews::new(&mut e.backend, &mut e.cache, &specs, &[]))
            .unwrap();
        (0..2).map(|i| v.next(i).to_vec()).collect()
    };
    {
        let mut v = pollster::block_on(EngineViews::new_deferred(
            &mut e.backend,
            &mut e.cache,
            &specs,
        ))
        .unwrap();
        assert_eq!((v.prefill.positions, v.prefill.calls), (0, 0));
        assert_eq!(v.len(1), 0);
        let early = pollster::block_on(v.append(&[(1, &[28])], persona::backend::Readout::Last));
        assert!(early.unwrap_err().to_string().contains("ensure"));
        pollster::block_on(v.ensure(&[1])).unwrap();
        assert_eq!((v.prefill.positions, v.prefill.calls), (1, 1));
        assert!(v.next(1) == fresh[1].as_slice(), "bit-identical");
        pollster::block_on(v.ensure(&[1])).unwrap();
        assert_eq!(v.prefill.positions, 1, "a known view is left alone");
    }
    // View 0 stayed pending: its row went back holding all but its last
    // prompt token, view 1's holding the whole prompt.
    assert_eq!(e.cache.prefix.peek(&prompts[0], &[]), prompts[0].len() - 1);
    assert_eq!(e.cache.prefix.peek(&prompts[1], &[]), prompts[1].len());
}
