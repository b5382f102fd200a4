//! Reading a buffer back to the host without blocking the browser: the
//! mapping callback completes a one-shot future. Natively the device is
//! polled until the mapping is done, so the future is ready when awaited.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::{Error, Result};

#[derive(Default)]
struct Slot {
    done: Option<std::result::Result<(), wgpu::BufferAsyncError>>,
    waker: Option<Waker>,
}

struct Mapped(Arc<Mutex<Slot>>);

impl Future for Mapped {
    type Output = std::result::Result<(), wgpu::BufferAsyncError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.0.lock().expect("not poisoned");
        match s.done.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The first `bytes` of `buffer` (MAP_READ).
pub(super) async fn read_bytes(
    device: &wgpu::Device,
    buffer: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<u8>> {
    let slot = Arc::new(Mutex::new(Slot::default()));
    let s2 = slot.clone();
    buffer
        .slice(..bytes)
        .map_async(wgpu::MapMode::Read, move |r| {
            let mut s = s2.lock().expect("not poisoned");
            s.done = Some(r);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        });
    #[cfg(not(target_arch = "wasm32"))]
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| Error::Backend(format!("webgpu: waiting for the GPU failed: {e}")))?;
    #[cfg(target_arch = "wasm32")]
    let _ = device;
    Mapped(slot)
        .await
        .map_err(|e| Error::Backend(format!("webgpu: reading results back failed: {e}")))?;
    let out = {
        let view = buffer
            .slice(..bytes)
            .get_mapped_range()
            .map_err(|e| Error::Backend(format!("webgpu: mapped range: {e}")))?;
        view.to_vec()
    };
    buffer.unmap();
    Ok(out)
}
