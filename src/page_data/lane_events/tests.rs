use super::*;
use crate::engine::StopReason;
use crate::steer::RunStats;

fn ready() -> LoadStatus {
    LoadStatus::Ready {
        backend: "cpu (simd128)".into(),
        label: "CPU (wasm simd128)".into(),
        not_gpu: None,
        threads: 2,
        threads_note: None,
        load_ms: 900.0,
        cache: "hit".into(),
        bytes: 1e8,
    }
}

fn seen(gen: GenStatus, answer: Answer) -> Seen {
    Seen {
        lane: Lane::A,
        load: ready(),
        gen,
        answer,
        compare: false,
        backend_choice: BackendChoice::Auto,
        stale_banner: false,
        job: JobKind::Adapter,
        now_ms: 1000.0,
    }
}

fn token(text: &str) -> Event {
    Event::Token {
        index: 0,
        id: 7,
        text: text.into(),
        logprob: -0.5,
        tokens_per_second: Some(12.5),
    }
}

#[test]
fn a_token_is_appended_and_ends_the_prefill() {
    let s = seen(
        GenStatus::Prefill {
            prompt_tokens: Some(9),
        },
        Answer::Plain,
    );
    assert_eq!(
        reduce(&s, token(" Hi")),
        vec![
            Effect::AppendText {
                text: " Hi".into(),
                tokens_per_second: Some(12.5)
            },
            Effect::Gen(GenStatus::Streaming),
        ]
    );
    // Streaming already: only the text.
    let s = seen(GenStatus::Streaming, Answer::Plain);
    assert_eq!(reduce(&s, token("!")).len(), 1);
    // No answer left (a new chat): nothing is written.
    let s = seen(GenStatus::Streaming, Answer::None);
    assert!(reduce(&s, token("!")).is_empty());
}

#[test]
fn done_finishes_the_answer_with_its_statistics() {
    let summary = GenerationSummary {
        prompt_ids: vec![1; 20],
        generated_ids: vec![2; 5],
        text: "Hello!".into(),
        stop_reason: StopReason::Eos,
        prefill_ms: 10.0,
        decode_ms: 100.0,
        prefill_positions: 8,
        cached_positions: 12,
        prefill_tokens_per_second: 2000.0,
        tokens_per_second: 50.0,
    };
    let s = seen(GenStatus::Streaming, Answer::Plain);
    let out = reduce(&s, Event::Done { summary });
    assert_eq!(
        out,
        vec![
            Effect::FinishAnswer {
                text: "Hello!".into(),
                stats: AnswerStats {
                    tokens: 5,
                    tokens_per_second: 50.0,
                    prefill_tokens_per_second: 2000.0,
                    prompt_tokens: 20,
                    cached_positions: 12,
                    stop: StopReason::Eos,
                    backend: "CPU (wasm simd128)".into(),
                },
            },
            Effect::Gen(GenStatus::Idle),
            Effect::BecameIdle,
        ]
    );
    assert!(out[0].follows());
}

#[test]
fn a_steered_done_settles_the_turn_and_frees_the_lane() {
    let done = Event::Trace {
        event: SteerEvent::Done {
            stats: RunStats::default(),
        },
        proposed_text: Vec::new(),
        decode_ms: Some(250.0),
    };
    let s = seen(GenStatus::Streaming, Answer::Traced);
    let out = reduce(&s, done.clone());
    assert!(matches!(
        &out[0],
        Effect::Trace { decode_ms: Some(ms), backend: Some(b), .. }
            if *ms == 250.0 && b == "CPU (wasm simd128)"
    ));
    assert_eq!(
        out[1..],
        [
            Effect::Settle,
            Effect::Gen(GenStatus::Idle),
            Effect::BecameIdle
        ]
    );
    // A lane without a trace in the answer ignores it (and stays busy).
    let s = seen(GenStatus::Streaming, Answer::Plain);
    assert!(reduce(&s, done).is_empty());
}

#[test]
fn started_does_not_undo_a_cancel() {
    let started = Event::Started { prompt_tokens: 30 };
    let s = seen(
        GenStatus::Prefill {
            prompt_tokens: None,
        },
        Answer::Plain,
    );
    assert_eq!(
        reduce(&s, started.clone()),
        vec![Effect::Gen(GenStatus::Prefill {
            prompt_tokens: Some(30)
        })]
    );
    let s = seen(GenStatus::Cancelling, Answer::Plain);
    assert!(reduce(&s, started).is_empty());
}

#[test]
fn cancel_is_sent_once_and_a_job_keeps_its_status() {
    assert_eq!(GenStatus::Idle.cancel(), None);
    assert_eq!(GenStatus::Cancelling.cancel(), None);
    assert_eq!(GenStatus::Streaming.cancel(), Some(GenStatus::Cancelling));
    assert_eq!(
        GenStatus::Prefill {
            prompt_tokens: None
        }
        .cancel(),
        Some(GenStatus::Cancelling)
    );
    assert_eq!(GenStatus::Job.cancel(), Some(GenStatus::Job));
}

#[test]
fn a_model_error_while_loading_fails_the_load() {
    let mut s = seen(GenStatus::Idle, Answer::None);
    s.load = LoadStatus::Starting;
    let out = reduce(&s, Event::error(ErrorKind::ModelFetch, "HTTP 404"));
    assert_eq!(
        out,
        vec![
            Effect::Load(LoadStatus::Failed),
            Effect::BecameIdle,
            Effect::ShowError(ErrorKind::ModelFetch, "HTTP 404".into()),
        ]
    );
    // Not a model error: the load goes on.
    let out = reduce(&s, Event::error(ErrorKind::NotReady, "wait"));
    assert!(!out.contains(&Effect::Load(LoadStatus::Failed)));
}

#[test]
fn an_error_takes_back_the_answer_and_names_lane_b() {
    let mut s = seen(GenStatus::Streaming, Answer::Traced);
    s.lane = Lane::B;
    s.compare = true;
    let out = reduce(&s, Event::error(ErrorKind::ContextOverflow, "too long"));
    assert_eq!(
        out,
        vec![
            Effect::Gen(GenStatus::Idle),
            Effect::TakeBackAnswer,
            Effect::BecameIdle,
            Effect::ShowError(
                ErrorKind::ContextOverflow,
                "(compare lane B) too long".into()
            ),
        ]
    );
}

#[test]
fn an_adapter_error_answers_the_adapter_job() {
    let s = seen(GenStatus::Job, Answer::None);
    assert_eq!(
        reduce(&s, Event::error(ErrorKind::Adapter, "rank 0")),
        vec![
            Effect::AdapterJobCleared,
            Effect::AdapterAnswered,
            Effect::Gen(GenStatus::Idle),
            Effect::BecameIdle,
            Effect::ShowError(ErrorKind::Adapter, "rank 0".into()),
        ]
    );
}

#[test]
fn a_panic_is_a_crash() {
    let s = seen(GenStatus::Streaming, Answer::Plain);
    assert_eq!(
        reduce(&s, Event::error(ErrorKind::Panic, "boom")),
        vec![Effect::Crashed(ErrorKind::Panic, "boom".into())]
    );
}

#[test]
fn abort_stops_the_probe_the_contrast_or_the_adapter_check() {
    let mut s = seen(GenStatus::Job, Answer::None);
    s.job = JobKind::Probe;
    assert_eq!(
        abort(&s),
        vec![Effect::Gen(GenStatus::Idle), Effect::ProbeStopped]
    );
    s.job = JobKind::Contrast;
    assert_eq!(
        abort(&s),
        vec![Effect::Gen(GenStatus::Idle), Effect::ContrastStopped]
    );
    s.job = JobKind::Adapter;
    assert_eq!(
        abort(&s),
        vec![
            Effect::Gen(GenStatus::Idle),
            Effect::AdapterAnswered,
            Effect::AdapterJobCleared
        ]
    );
    assert!(abort(&seen(GenStatus::Idle, Answer::Plain)).is_empty());
}

#[test]
fn contrast_events_fill_their_columns_and_the_last_frees_the_worker() {
    let mut s = seen(GenStatus::Job, Answer::None);
    s.job = JobKind::Contrast;
    let text = Event::ContrastAnswer {
        column: 1,
        text: "Hi".into(),
        done: false,
    };
    assert_eq!(
        reduce(&s, text),
        vec![Effect::ContrastAnswer {
            column: 1,
            text: "Hi".into(),
            done: false
        }]
    );
    let done = reduce(&s, Event::ContrastDone { cancelled: true });
    assert_eq!(
        done,
        vec![
            Effect::ContrastDone { cancelled: true },
            Effect::Gen(GenStatus::Idle),
            Effect::BecameIdle
        ]
    );
}

#[test]
fn a_lost_gpu_restarts_the_answer_on_the_cpu() {
    let s = seen(GenStatus::Streaming, Answer::Traced);
    let out = reduce(
        &s,
        Event::BackendLost {
            backend: "cpu (simd128)".into(),
            label: "CPU (wasm simd128)".into(),
            reason: "reset".into(),
        },
    );
    assert!(matches!(
        &out[0],
        Effect::Load(LoadStatus::Ready { not_gpu: Some(why), load_ms, threads: 2, .. })
            if why == "the GPU was lost: reset" && *load_ms == 900.0
    ));
    assert_eq!(
        out[1..],
        [
            Effect::ShowError(ErrorKind::GpuLost, "the GPU was lost (reset)".into()),
            Effect::Gen(GenStatus::Prefill {
                prompt_tokens: None
            }),
            Effect::RestartTrace,
        ]
    );
}

#[test]
fn ready_clears_a_stale_banner_and_says_why_webgpu_did_not_start() {
    let mut s = seen(GenStatus::Idle, Answer::None);
    s.load = LoadStatus::Preparing { from_cache: false };
    s.stale_banner = true;
    s.backend_choice = BackendChoice::Webgpu;
    let out = reduce(
        &s,
        Event::Ready {
            backend: "cpu".into(),
            label: "CPU (wasm simd128)".into(),
            not_gpu: Some("no adapter".into()),
            threads: 1,
            threads_note: Some("one thread: not isolated".into()),
            load_ms: 1.0,
            cache: "stored".into(),
            bytes: 2.0,
        },
    );
    // The page keeps the thread count and why it is one.
    assert!(matches!(
        &out[0],
        Effect::Load(LoadStatus::Ready { threads: 1, threads_note: Some(n), .. })
            if n == "one thread: not isolated"
    ));
    assert_eq!(
        out[1..],
        [
            Effect::ClearBanner,
            Effect::ShowError(ErrorKind::WebgpuUnavailable, "no adapter".into()),
            Effect::ReplayAdapters,
            Effect::BecameIdle,
        ]
    );
}

#[test]
fn a_download_keeps_its_start_time() {
    let mut s = seen(GenStatus::Idle, Answer::None);
    s.load = LoadStatus::Starting;
    let progress = |loaded| Event::Progress {
        loaded,
        total: Some(100.0),
        from_cache: false,
    };
    let out = reduce(&s, progress(10.0));
    let Effect::Load(load) = &out[0] else {
        panic!("{out:?}");
    };
    assert!(matches!(load, LoadStatus::Downloading { started_ms, .. } if *started_ms == 1000.0));
    s.load = load.clone();
    s.now_ms = 5000.0;
    let out = reduce(&s, progress(50.0));
    assert!(matches!(
        &out[0],
        Effect::Load(LoadStatus::Downloading { started_ms, loaded, .. })
            if *started_ms == 1000.0 && *loaded == 50.0
    ));
    assert_eq!(
        reduce(&s, progress(100.0)),
        vec![Effect::Load(LoadStatus::Preparing { from_cache: false })]
    );
}
