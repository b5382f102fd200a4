//! The model worker's threads (issue 13, "threads in the page"). In the
//! threaded build (wasm atomics, shared memory; `web/threaded_worker.sh`)
//! the worker starts `n − 1` Web Workers (`web/pool_thread.js`), each
//! instantiating this same module on this same memory, and makes them the
//! helpers of a [`SpinPool`](crate::backend::cpu::spin_pool::SpinPool) with
//! the worker's own thread as thread 0: the CPU backend then splits its
//! matrix products by weight rows as natively (`backend::cpu::threads`,
//! logits bit-identical for any count). The plain build runs one thread and
//! says why when asked for more.

use crate::backend::cpu::threads::set_default_threads;
use crate::page_data::thread_plan::MAX_PAGE_THREADS;

/// Starts (once) a pool of `wanted` threads and makes it the CPU backend's
/// default; returns the threads the backend now runs and, when fewer than
/// wanted, why.
pub(crate) async fn ensure(wanted: usize) -> (usize, Option<String>) {
    // The page asks for at most this many; a command posted by hand may not.
    let started = match wanted <= MAX_PAGE_THREADS {
        true => start(wanted).await,
        false => Err(format!(
            "one thread: {wanted} threads were asked for, at most {MAX_PAGE_THREADS} start"
        )),
    };
    let (threads, note) = match started {
        Ok(n) => (n, None),
        Err(why) => (1, Some(why)),
    };
    // Within 1..=MAX_PAGE_THREADS, which the backend accepts.
    let _ = set_default_threads(threads);
    (threads, note)
}

#[cfg(not(target_feature = "atomics"))]
async fn start(wanted: usize) -> Result<usize, String> {
    match wanted {
        0 | 1 => Ok(1),
        _ => Err(format!(
            "one thread: this worker build has no shared memory ({wanted} were asked for)"
        )),
    }
}

#[cfg(target_feature = "atomics")]
use threaded::start;

#[cfg(target_feature = "atomics")]
mod threaded {
    use std::cell::RefCell;

    use js_sys::{Object, Promise, Reflect};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{ErrorEvent, MessageEvent, Worker};

    use crate::backend::cpu::spin_pool::SpinPool;
    use crate::backend::cpu::threads::install_spin_pool;

    /// This threaded build's glue script, next to the worker's loader
    /// (`web/threaded_worker.sh` writes one per variant).
    const GLUE_SCRIPT: &str = if cfg!(target_feature = "relaxed-simd") {
        "worker_mt_relaxed.js"
    } else {
        "worker_mt.js"
    };
    /// One pool thread's script (`web/pool_thread.js`).
    const THREAD_SCRIPT: &str = "pool_thread.js";
    /// How long a pool thread may take to instantiate the module.
    const START_TIMEOUT_MS: i32 = 10_000;

    thread_local! {
        /// The pool's threads (kept alive) and its size, once started.
        static POOL: RefCell<Option<(usize, Vec<Worker>)>> = const { RefCell::new(None) };
    }

    /// Runs this pool thread's task (its helper loop, for good), called
    /// by `pool_thread.js` with the pointer `start` handed it.
    #[wasm_bindgen]
    pub fn pool_thread_run(task: usize) {
        // SAFETY: `start` leaked exactly this box for exactly this thread.
        let task = unsafe { Box::from_raw(task as *mut Box<dyn FnOnce() + Send>) };
        task();
    }

    pub(crate) async fn start(wanted: usize) -> Result<usize, String> {
        if let Some(size) = POOL.with_borrow(|p| p.as_ref().map(|(n, _)| *n)) {
            return match size == wanted {
                true => Ok(size),
                false => Err(format!(
                    "the worker's pool already runs {size} threads ({wanted} were asked for)"
                )),
            };
        }
        if wanted <= 1 {
            return Ok(1);
        }
        let glue = script_url(GLUE_SCRIPT)?;
        let mut threads = Vec::with_capacity(wanted - 1);
        for _ in 1..wanted {
            match spawn(&glue).await {
                Ok(thread) => threads.push(thread),
                Err(why) => {
                    threads.iter().for_each(Worker::terminate);
                    return Err(why);
                }
            }
        }
        let pool = SpinPool::new(wanted);
        for thread in &threads {
            let task: Box<dyn FnOnce() + Send> = Box::new(move || pool.help());
            let task = Box::into_raw(Box::new(task)) as usize;
            if let Err(e) = thread.post_message(&JsValue::from(task)) {
                threads.iter().for_each(Worker::terminate);
                return Err(format!("one thread: a pool thread took no work ({e:?})"));
            }
        }
        install_spin_pool(pool);
        POOL.with_borrow_mut(|p| *p = Some((wanted, threads)));
        Ok(wanted)
    }

    fn script_url(name: &str) -> Result<String, String> {
        let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        web_sys::Url::new_with_base(name, &scope.location().href())
            .map(|u| u.href())
            .map_err(|e| format!("one thread: no address for {name} ({e:?})"))
    }

    /// Starts one pool thread and waits until it has instantiated the
    /// module on the shared memory.
    async fn spawn(glue: &str) -> Result<Worker, String> {
        let failed = |what: &str, e: JsValue| {
            let why = e.as_string().unwrap_or_else(|| format!("{e:?}"));
            format!("one thread: {what} ({why})")
        };
        let thread = Worker::new(&script_url(THREAD_SCRIPT)?)
            .map_err(|e| failed("the browser refused a pool thread", e))?;
        // The first message, or an error, settles the promise; the error is
        // handled here (a script that fails must not reach the page as a
        // crash of the model worker).
        let mut reject = None;
        let ready = Promise::new(&mut |resolve, rejecter| {
            thread.set_onmessage(Some(&resolve));
            reject = Some(rejecter);
        });
        let reject = reject.ok_or("one thread: the browser's Promise did not start")?;
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
            e.prevent_default();
            let _ = reject.call1(&JsValue::NULL, &JsValue::from(e.message()));
        });
        thread.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let init = Object::new();
        for (key, value) in [
            ("glue", JsValue::from(glue)),
            ("module", wasm_bindgen::module()),
            ("memory", wasm_bindgen::memory()),
        ] {
            Reflect::set(&init, &key.into(), &value).map_err(|e| failed("init message", e))?;
        }
        thread
            .post_message(&init)
            .map_err(|e| failed("the shared memory cannot be sent", e))?;
        // A thread that never answers (seen once in Firefox on a reload)
        // must not hold the model back: after START_TIMEOUT_MS, one thread.
        let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let timeout = Promise::new(&mut |resolve, _| {
            let _ = scope
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, START_TIMEOUT_MS);
        });
        let reply = JsFuture::from(Promise::race(&js_sys::Array::of2(&ready, &timeout))).await;
        thread.set_onmessage(None);
        thread.set_onerror(None);
        drop(on_error);
        let started = reply
            .map_err(|e| failed("a pool thread failed to start", e))
            .and_then(|reply| {
                if reply.is_undefined() {
                    let secs = START_TIMEOUT_MS / 1000;
                    return Err(format!(
                        "one thread: a pool thread did not start within {secs} s"
                    ));
                }
                let data = reply.unchecked_into::<MessageEvent>().data();
                match Reflect::get(&data, &"error".into()) {
                    Ok(e) if !e.is_undefined() => Err(failed("a pool thread failed to start", e)),
                    _ => Ok(()),
                }
            });
        match started {
            Ok(()) => Ok(thread),
            Err(why) => {
                thread.terminate();
                Err(why)
            }
        }
    }
}
